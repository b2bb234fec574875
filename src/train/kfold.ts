/**
 * K-fold cross-validation as the report does it: for each fold, train on the other folds and keep the epoch
 * with the best validation accuracy; then take the fold whose best checkpoint validates best and evaluate it
 * on the test set. Optionally the ensemble of every fold's checkpoint (averaged probabilities) as well.
 * With folds = 1 the whole training set trains, there is no validation part, and the last epoch is kept.
 */
import type { Dataset, ImageSet } from '../data/dataset.js';
import { computeStandardization, inverseStd, type Standardization } from '../data/normalize.js';
import { kFold, shuffledIndices } from '../data/split.js';
import { Mlp } from '../nn/mlp.js';
import { createOptimizer, type Optimizer } from '../nn/optimizers.js';
import { Rng } from '../nn/rng.js';
import type { Checkpoint } from './checkpoint.js';
import { checkTrainingState, ResumeStateError, type TrainingState } from './resume.js';
import { toCheckpoint } from './snapshot.js';
import { BatchLoader, EVALUATION_ROWS, evaluate, trainEpoch, type StopSignal } from './trainer.js';
import type { EpochMetrics, FoldSummary, TestResult, TrainRecipe } from './types.js';
import { validateRecipe } from './recipe.js';

export type TrainEvent =
  | {
      type: 'fold-start';
      fold: number;
      folds: number;
      epochs: number;
      trainSamples: number;
      validSamples: number;
      /** When the run resumes inside this fold: the epochs it had finished before. */
      resumedAfterEpoch?: number;
    }
  | { type: 'batch'; fold: number; epoch: number; batch: number; batches: number; progress: number }
  | { type: 'epoch'; fold: number; metrics: EpochMetrics; samplesPerSecond: number; progress: number }
  | { type: 'fold-end'; summary: FoldSummary }
  | { type: 'test'; fold: number; test: TestResult; ensembleTest?: TestResult };

export interface KFoldOptions {
  recipe: TrainRecipe;
  dataset: Dataset;
  signal?: StopSignal;
  onEvent?: (event: TrainEvent) => void;
  /** Also evaluate the ensemble of all fold checkpoints on the test set. */
  ensemble?: boolean;
  /** Evaluate the test set after every epoch too (reported in EpochMetrics.testAccuracy; never used to choose). */
  testEveryEpoch?: boolean;
  /**
   * Continue the run this state was taken from, with the same recipe and training set: folds already
   * finished are not trained again, and the result is bit for bit that of the run had it never stopped.
   */
  resume?: TrainingState;
  /**
   * Called after every finished epoch with the state to resume from. Its arrays are views of the live
   * buffers, valid during the call only: building it copies nothing, so it costs nothing until used.
   */
  onSnapshot?: (state: TrainingState) => void;
}

export interface KFoldResult {
  folds: FoldSummary[];
  selectedFold: number;
  test: TestResult;
  ensembleTest?: TestResult;
  /** The selected fold's best epoch, with its test result. */
  checkpoint: Checkpoint;
  /** Every fold's best checkpoint, in fold order. */
  foldCheckpoints: Checkpoint[];
  normalization: Standardization;
  seconds: number;
}

function samples(set: ImageSet, normalization: Standardization) {
  return {
    pixels: set.pixels,
    features: set.features,
    labels: Int32Array.from(set.labels),
    mean: normalization.mean,
    invStd: inverseStd(normalization),
  };
}

/** Runs the recipe's cross-validation on the dataset's training set and tests the selected checkpoint. */
export function trainKFold(options: KFoldOptions): KFoldResult {
  const recipe = validateRecipe(options.recipe);
  const { dataset, signal, onEvent } = options;
  const started = performance.now();
  const rng = new Rng(recipe.seed);
  const { train, test } = dataset;
  // Training-set statistics only, as the report standardizes.
  const normalization = computeStandardization(train, recipe.normalization);
  const trainLoader = new BatchLoader(samples(train, normalization));
  const testLoader = new BatchLoader(samples(test, normalization));
  const testIndices = testLoader.packingOrder(Int32Array.from({ length: test.count }, (_, i) => i));

  const splits =
    recipe.folds === 1
      ? [{ fold: 1, train: shuffledIndices(train.count, rng), validation: new Int32Array(0) }]
      : kFold(train.count, recipe.folds, rng);
  const shape = { inputs: train.features, hidden: recipe.hidden, classes: Math.max(train.classes, test.classes) };
  const totalBatches = splits.reduce((sum, s) => sum + Math.ceil(s.train.length / recipe.batchSize), 0) * recipe.epochs;
  let batchesDone = 0;

  const resume = options.resume;
  if (resume) checkResumable(resume, recipe, train.count);
  const secondsBefore = resume?.seconds ?? 0;
  const summaries: FoldSummary[] = resume ? resume.completed.map((c) => ({ ...c.summary, history: c.summary.history.map((m) => ({ ...m })) })) : [];
  const best: Float32Array[] = resume ? resume.completed.map((c) => c.bestParams.slice()) : [];
  for (const split of splits) {
    // Every fold forks the run's generator, a finished one too, so later folds draw what they always drew.
    const foldRng = rng.fork();
    const batchesPerEpoch = Math.ceil(split.train.length / recipe.batchSize);
    const totalSteps = batchesPerEpoch * recipe.epochs;
    if (resume && split.fold < resume.fold) {
      batchesDone += totalSteps;
      continue;
    }
    const at = resume?.fold === split.fold ? resume : undefined;
    const model = at ? new Mlp(shape) : Mlp.initialized(shape, recipe.init, foldRng);
    const optimizer = createOptimizer(recipe.optimizer, recipe.weightDecay);
    const order = split.train.slice();
    const bestParams = model.params.slice();
    // Loss and accuracy do not depend on the order: the one that packs fastest.
    const trainPart = trainLoader.packingOrder(split.train);
    const validPart = trainLoader.packingOrder(split.validation);
    const history: EpochMetrics[] = [];
    let bestIndex = -1;
    if (at) {
      restoreFold(at, { model, optimizer, foldRng, order, bestParams, history });
      bestIndex = at.bestIndex;
      batchesDone += at.epoch * batchesPerEpoch;
    }
    onEvent?.({
      type: 'fold-start',
      fold: split.fold,
      folds: splits.length,
      epochs: recipe.epochs,
      trainSamples: order.length,
      validSamples: split.validation.length,
      ...(at ? { resumedAfterEpoch: at.epoch } : {}),
    });

    for (let epoch = (at?.epoch ?? 0) + 1; epoch <= recipe.epochs; epoch++) {
      const epochStart = performance.now();
      const running = trainEpoch({
        recipe,
        model,
        optimizer,
        loader: trainLoader,
        order,
        random: foldRng,
        stepsBefore: (epoch - 1) * batchesPerEpoch,
        totalSteps,
        signal,
        onBatch: (batch, batches) => {
          batchesDone++;
          onEvent?.({ type: 'batch', fold: split.fold, epoch, batch: batch + 1, batches, progress: batchesDone / totalBatches });
        },
      });
      const trainedSeconds = (performance.now() - epochStart) / 1000;
      // With a validation part, the training part is measured after the epoch as the report does; without
      // one (folds = 1), the epoch's running figures stand in and save a pass over the whole training set.
      const fit = validPart.length > 0 ? evaluate(model, trainLoader, trainPart) : running;
      const valid = evaluate(model, trainLoader, validPart);
      const metrics: EpochMetrics = {
        epoch,
        trainLoss: fit.loss,
        trainAccuracy: fit.accuracy,
        validLoss: valid.loss,
        validAccuracy: valid.accuracy,
        seconds: 0,
      };
      if (options.testEveryEpoch) {
        const t = evaluate(model, testLoader, testIndices);
        metrics.testLoss = t.loss;
        metrics.testAccuracy = t.accuracy;
      }
      metrics.seconds = (performance.now() - epochStart) / 1000;
      history.push(metrics);
      // The best validation accuracy, the first of equals; with no validation part, the latest epoch.
      const improved = split.validation.length === 0 || bestIndex < 0 || valid.accuracy > history[bestIndex]!.validAccuracy;
      if (improved) {
        bestIndex = history.length - 1;
        bestParams.set(model.params);
      }
      onEvent?.({ type: 'epoch', fold: split.fold, metrics, samplesPerSecond: order.length / trainedSeconds, progress: batchesDone / totalBatches });
      options.onSnapshot?.({
        recipe,
        trainSamples: train.count,
        seconds: secondsBefore + (performance.now() - started) / 1000,
        completed: summaries.map((summary, i) => ({ summary, bestParams: best[i]! })),
        fold: split.fold,
        epoch,
        params: model.params,
        optimizer: optimizer.exportState(),
        rng: foldRng.getState(),
        order,
        bestParams,
        bestIndex,
        history,
      });
    }
    const chosen = history[bestIndex]!;
    const summary: FoldSummary = {
      fold: split.fold,
      history,
      bestEpoch: chosen.epoch,
      trainAccuracy: chosen.trainAccuracy,
      validAccuracy: chosen.validAccuracy,
    };
    summaries.push(summary);
    best.push(bestParams);
    onEvent?.({ type: 'fold-end', summary });
  }

  // The fold whose best checkpoint validates best (the first of equals).
  let selected = 0;
  summaries.forEach((s, i) => {
    if (s.validAccuracy > summaries[selected]!.validAccuracy) selected = i;
  });
  const model = new Mlp(shape);
  const foldCheckpoints = summaries.map((s, i) => {
    const chosen = s.history[s.bestEpoch - 1]!;
    return toCheckpoint(model, {
      inputRows: train.rows,
      inputCols: train.cols,
      normalization,
      recipe,
      metrics: {
        fold: recipe.folds === 1 ? 0 : s.fold,
        epoch: s.bestEpoch,
        trainLoss: chosen.trainLoss,
        trainAccuracy: chosen.trainAccuracy,
        validLoss: chosen.validLoss,
        validAccuracy: chosen.validAccuracy,
      },
    }, best[i]!);
  });
  model.params.set(best[selected]!);
  const testResult = evaluate(model, testLoader, testIndices);
  const checkpoint = foldCheckpoints[selected]!;
  checkpoint.metrics.testLoss = testResult.loss;
  checkpoint.metrics.testAccuracy = testResult.accuracy;
  const ensembleTest = options.ensemble && best.length > 1 ? evaluateEnsemble(model, best, testLoader, testIndices, shape.classes) : undefined;
  onEvent?.({ type: 'test', fold: summaries[selected]!.fold, test: testResult, ...(ensembleTest ? { ensembleTest } : {}) });

  return {
    folds: summaries,
    selectedFold: summaries[selected]!.fold,
    test: testResult,
    ...(ensembleTest ? { ensembleTest } : {}),
    checkpoint,
    foldCheckpoints,
    normalization,
    seconds: secondsBefore + (performance.now() - started) / 1000,
  };
}

/** A state resumes only the run it was taken from: same recipe, same number of training samples. */
function checkResumable(state: TrainingState, recipe: TrainRecipe, trainSamples: number): void {
  checkTrainingState(state, 'resume');
  // Both went through the recipe schema, which fixes the key order.
  if (JSON.stringify(validateRecipe(state.recipe)) !== JSON.stringify(recipe)) {
    throw new ResumeStateError('resume', 'the state was taken under another recipe');
  }
  if (state.trainSamples !== trainSamples) {
    throw new ResumeStateError('resume', `the state was taken on ${state.trainSamples} training samples, not ${trainSamples}`);
  }
}

/** Puts a fold back as the state left it, after checking that the state fits the fold. */
function restoreFold(
  state: TrainingState,
  fold: { model: Mlp; optimizer: Optimizer; foldRng: Rng; order: Int32Array; bestParams: Float32Array; history: EpochMetrics[] },
): void {
  const { model, order } = fold;
  // order still holds the fold's training part as split; sorted, it is what a shuffle of it sorts to.
  const trainPart = order.slice().sort();
  if (state.params.length !== model.params.length) {
    throw new ResumeStateError('resume', `the state holds ${state.params.length} parameters, the network ${model.params.length}`);
  }
  // The order must shuffle exactly the fold's training part: the splits were recomputed from the seed.
  const sorted = state.order.slice().sort();
  if (sorted.length !== trainPart.length || sorted.some((v, i) => v !== trainPart[i])) {
    throw new ResumeStateError('resume', `the order is not a shuffle of fold ${state.fold}'s training part`);
  }
  model.params.set(state.params);
  fold.optimizer.importState(model, state.optimizer);
  fold.foldRng.setState(state.rng);
  order.set(state.order);
  fold.bestParams.set(state.bestParams);
  fold.history.push(...state.history.map((m) => ({ ...m })));
}

/** Accuracy and loss of the averaged class probabilities of several parameter sets of one network. */
function evaluateEnsemble(model: Mlp, members: Float32Array[], loader: BatchLoader, indices: Int32Array, classes: number): TestResult {
  const sum = new Float64Array(indices.length * classes);
  const labels = new Int32Array(indices.length);
  for (const params of members) {
    model.params.set(params);
    for (let start = 0; start < indices.length; start += EVALUATION_ROWS) {
      const chunk = indices.subarray(start, Math.min(indices.length, start + EVALUATION_ROWS));
      const batch = loader.load(chunk);
      labels.set(batch.labels, start);
      const p = model.predict(batch.x).data;
      for (let i = 0; i < chunk.length * classes; i++) sum[start * classes + i]! += p[i]!;
    }
  }
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < indices.length; i++) {
    const row = sum.subarray(i * classes, (i + 1) * classes);
    let top = 0;
    for (let j = 1; j < classes; j++) if (row[j]! > row[top]!) top = j;
    if (top === labels[i]) correct++;
    loss -= Math.log(Math.max(row[labels[i]!]! / members.length, 1e-30));
  }
  return { accuracy: correct / indices.length, loss: loss / indices.length };
}
