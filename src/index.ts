/**
 * fastmlp: train and serve multilayer perceptrons for image classification on a SIMD C++ core.
 * The names below are the public library API the README documents.
 */
import { native as addon, type LibraryNative } from './native.js';

/** The native core: GEMM, the elementwise kernels, threads and instruction sets (see src/native.ts). */
export const native: LibraryNative = addon;
export { withCallerThreads } from './native.js';
export type { Isa, GemmArgs, LibraryNative, PoolInfo, Precision, StandardizedRows } from './native.js';

export { datasetLayout, fileFormat, loadDataset, loadImageSet, loadLabelledFile, loadLabelledPart, loadMnist, mnistPaths, subset } from './data/dataset.js';
export { ImageFolderError, decodeImage, readImageFolder } from './data/images.js';
export type { FolderImages, ImageOptions } from './data/images.js';
export { ArchiveError, archiveKind, extractArchive } from './data/archive.js';
export type { ArchiveKind, ExtractLimits } from './data/archive.js';
export type { Dataset, DatasetFiles, DatasetPair, DatasetSource, ImageSet, ImageSetFiles } from './data/dataset.js';
export { CsvFormatError, readCsvImages } from './data/csv.js';
export type { CsvImages, CsvOptions } from './data/csv.js';
export { IdxFormatError, readIdx, readIdxImages, readIdxLabels, writeIdx } from './data/idx.js';
export { computeStandardization, inverseStd } from './data/normalize.js';
export type { NormalizationMode, Standardization } from './data/normalize.js';
export { oneHot } from './data/one-hot.js';
export { kFold, shuffledIndices } from './data/split.js';

export { Mlp } from './nn/mlp.js';
export type { MlpShape } from './nn/mlp.js';
export { matrix } from './nn/matrix.js';
export type { Matrix } from './nn/matrix.js';
export { Activation, InnerProduct, SoftmaxCrossEntropy } from './nn/layers.js';
export { Adam, GradientDescent, Momentum, createOptimizer, learningRate } from './nn/optimizers.js';
export type { Optimizer, OptimizerState } from './nn/optimizers.js';
export { InferenceNetwork } from './nn/inference.js';
export type { Images, InferenceLayer, InputStandardization, PredictOptions } from './nn/inference.js';
export { Rng } from './nn/rng.js';
export type { RngState } from './nn/rng.js';

export { trainKFold } from './train/kfold.js';
export type { KFoldOptions, KFoldResult, TrainEvent } from './train/kfold.js';
export { prepareRun } from './train/prepare.js';
export type { FoldPlan, PreparedRun } from './train/prepare.js';
export { trainFold } from './train/fold.js';
export type { FoldOptions, FoldState } from './train/fold.js';
export { selectFold } from './train/select.js';
export type { Selection } from './train/select.js';
export { runTraining, selectInWorker, trainFoldInWorker, trainInWorker, TrainingWorkerExited } from './train/run.js';
export type { FoldWorkerOptions, RunOptions, RunOutcome, SelectWorkerOptions, WorkerRunOptions } from './train/run.js';
export {
  decodeFinishedFold,
  decodeFoldSnapshot,
  decodeTrainingState,
  encodeFinishedFold,
  encodeFoldSnapshot,
  encodeTrainingState,
  ResumeStateError,
} from './train/resume.js';
export type { FinishedFold, FoldSnapshot, TrainingState } from './train/resume.js';
export { accurateRecipe, RecipeFieldError, recipes, recipeWith, referenceRecipe, recipeSchema, validateRecipe } from './train/recipe.js';
export { CheckpointError, decodeCheckpoint, encodeCheckpoint, isCheckpointFile, loadCheckpoint, saveCheckpoint } from './train/checkpoint.js';
export type { Checkpoint, ImportedFrom, InputConvention, TrainedCheckpoint } from './train/checkpoint.js';
export { exportOnnx, ONNX_IR_VERSION, ONNX_OPSET } from './onnx/export.js';
export type { OnnxExportOptions } from './onnx/export.js';
export { importOnnx, OnnxImportError } from './onnx/import.js';
export type { OnnxNetwork } from './onnx/import.js';
export { onnxCheckpoint } from './model/import.js';
export type { OnnxImportOptions } from './model/import.js';
export { Classifier, type ClassifierOptions } from './model/classifier.js';
export type { Evaluation, PixelScale, Predictions } from './model/classifier.js';
export { TrainingCancelled } from './train/trainer.js';
export type { EpochMetrics, FoldSummary, TestResult, TrainRecipe } from './train/types.js';

export { ClusterCoordinator, ClusterJobFailed } from './cluster/coordinator.js';
export type { ClusterJobSpec, ClusterStats, ClusterTrainOptions, CoordinatorOptions, TrainedFolds } from './cluster/coordinator.js';
export { FoldWorker } from './cluster/fold-worker.js';
export type { ClusterLog, FoldWorkerOptions as ClusterWorkerOptions } from './cluster/fold-worker.js';

export { runSweep } from './sweep/run.js';
export type { SweepOptions, SweepResult, TrialOutcome } from './sweep/run.js';
export { bestTrial, DEFAULT_HOLDOUT, MAX_TRIALS, SweepSpaceError, sweepSpaceSchema, trialParams, trialRecipe, trialScore } from './sweep/space.js';
export type { Range, SweepPlan, SweepSpace } from './sweep/space.js';

export { buildApp, DEFAULT_BODY_LIMIT } from './server/app.js';
export { DEFAULT_MODEL_BODY_LIMIT } from './server/schemas.js';
export type { AppOptions } from './server/app.js';
export { startServer } from './server/server.js';
export type { RunningServer, ServeOptions } from './server/server.js';
