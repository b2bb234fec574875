/**
 * K-fold cross-validation as the report does it, in the three steps the report describes: prepare (the
 * training set's statistics, the seeded folds), train each fold keeping the epoch with the best validation
 * accuracy (trainFold), then select the fold whose best checkpoint validates best and evaluate it on the test
 * set, optionally with the ensemble of every fold's checkpoint (selectFold). With folds = 1 the whole training
 * set trains and the last epoch is kept, or, with a holdout, all but the held-out share, which picks the epoch.
 */
import type { Dataset } from '../data/dataset.js';
import type { Standardization } from '../data/normalize.js';
import type { TrainedCheckpoint } from './checkpoint.js';
import { trainFold } from './fold.js';
import { prepareRun } from './prepare.js';
import { validateRecipe } from './recipe.js';
import { checkTrainingState, ResumeStateError, type FinishedFold, type TrainingState } from './resume.js';
import { selectFold } from './select.js';
import type { StopSignal } from './trainer.js';
import type { FoldSummary, TestResult, TrainEvent, TrainRecipe } from './types.js';

export type { TrainEvent } from './types.js';

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
  checkpoint: TrainedCheckpoint;
  /** Every fold's best checkpoint, in fold order. */
  foldCheckpoints: TrainedCheckpoint[];
  normalization: Standardization;
  seconds: number;
}

/** Runs the recipe's cross-validation on the dataset's training set and tests the selected checkpoint. */
export function trainKFold(options: KFoldOptions): KFoldResult {
  const started = performance.now();
  const run = prepareRun(options.recipe, options.dataset);
  const { recipe } = run;
  const trainSamples = run.dataset.train.count;
  const resume = options.resume;
  if (resume) checkResumable(resume, recipe, trainSamples);
  const secondsBefore = resume?.seconds ?? 0;
  const seconds = () => secondsBefore + (performance.now() - started) / 1000;
  const finished: FinishedFold[] = resume ? resume.completed.map((c) => ({ summary: { ...c.summary, history: c.summary.history.map((m) => ({ ...m })) }, bestParams: c.bestParams.slice() })) : [];
  const onSnapshot = options.onSnapshot;
  for (const plan of run.folds) {
    if (resume && plan.fold < resume.fold) continue;
    const fold = trainFold(run, plan.fold, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.testEveryEpoch ? { testEveryEpoch: true } : {}),
      ...(resume?.fold === plan.fold ? { resume } : {}),
      ...(onSnapshot ? { onSnapshot: (state) => onSnapshot({ recipe, trainSamples, seconds: seconds(), completed: [...finished], ...state }) } : {}),
    });
    finished.push(fold);
  }
  const selection = selectFold(run, finished, { ensemble: options.ensemble ?? false });
  const { test, ensembleTest } = selection;
  options.onEvent?.({ type: 'test', fold: selection.selectedFold, test, ...(ensembleTest ? { ensembleTest } : {}) });
  return { folds: finished.map((f) => f.summary), ...selection, normalization: run.normalization, seconds: seconds() };
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
