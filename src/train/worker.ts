/**
 * Worker-thread entry of a training run: loads the data, runs the K-fold recipe (or resumes it), or one
 * fold of it, or the selection among folds trained elsewhere, and posts its events, its snapshots when
 * asked, and its result back. Cancellation arrives through a shared flag, read between batches.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadDataset, mnistPaths, type Dataset, type DatasetSource } from '../data/dataset.js';
import { standardizeRowsReference } from '../data/normalize.js';
import { native } from '../native.js';
import { Mlp } from '../nn/mlp.js';
import { augmentationPreview } from './augment-preview.js';
import { trainFold } from './fold.js';
import type { ReportDigits } from './report.js';
import { trainKFold, type KFoldResult, type TrainEvent } from './kfold.js';
import { prepareRun } from './prepare.js';
import { decodeFoldSnapshot, decodeTrainingState, encodeFoldSnapshot, encodeTrainingState, ResumeStateError, type FinishedFold } from './resume.js';
import { selectFold } from './select.js';
import { TrainingCancelled, augments } from './trainer.js';
import type { TrainRecipe } from './types.js';

export interface WorkerInput {
  recipe: TrainRecipe;
  files?: DatasetSource;
  ensemble: boolean;
  testEveryEpoch: boolean;
  threads?: number;
  /** Linux nice for the run's threads (native.lowerPriority); absent: unchanged. */
  nice?: number;
  /** With nice: the run's threads take only the cores no other thread wants (Linux SCHED_IDLE). */
  idle?: boolean;
  /** Int32 flag: 1 asks the run to stop. */
  stop: SharedArrayBuffer;
  /** Digits to return preprocessed, for the report's picture. */
  digits: number;
  /** A resume file's bytes: continue the run it was taken from (with `fold`: a fold snapshot's, of that fold). */
  resume?: Uint8Array;
  /** Post a snapshot after an epoch when this many milliseconds have passed since the last one, and always
   * after a fold's last epoch; absent: no snapshots. */
  snapshotIntervalMs?: number;
  /** Train this fold (1-based) of the run alone and answer with 'fold-done', instead of the whole K-fold run. */
  fold?: number;
  /** Train nothing: select among these finished folds (every fold of the run, in order) and answer with 'done'. */
  select?: FinishedFold[];
}

/** A resume file's bytes (their ArrayBuffer is transferred, not copied) and the point they resume from. */
export interface SnapshotMessage {
  type: 'snapshot';
  fold: number;
  epoch: number;
  bytes: Uint8Array<ArrayBuffer>;
}

export type WorkerMessage =
  | { type: 'event'; event: TrainEvent }
  | SnapshotMessage
  | { type: 'done'; result: ReturnType<typeof trainKFold>; digits: ReportDigits }
  | { type: 'fold-done'; fold: FinishedFold }
  | { type: 'error'; error: WorkerError };

/** An error of the run as it crosses to the parent thread: its kind, so that the parent throws the same type. */
export type WorkerError =
  | { kind: 'cancelled' }
  | { kind: 'resume-state'; source: string; problem: string }
  | { kind: 'error'; name: string; message: string };

function describeError(error: unknown): WorkerError {
  if (error instanceof TrainingCancelled) return { kind: 'cancelled' };
  if (error instanceof ResumeStateError) return { kind: 'resume-state', source: error.source, problem: error.problem };
  const e = error instanceof Error ? error : new Error(String(error));
  return { kind: 'error', name: e.name, message: e.message };
}

async function main(input: WorkerInput): Promise<void> {
  const port = parentPort!;
  // Priority first: a run at a lower priority sizes its own pool, not the one its process shares.
  if (input.nice !== undefined) native.lowerPriority(input.nice, input.idle ?? false);
  if (input.threads !== undefined) native.setThreads(input.threads);
  const dataset = await loadDataset(input.files ?? mnistPaths());
  const flag = new Int32Array(input.stop);
  const signal = { get aborted() { return Atomics.load(flag, 0) === 1; } };
  // Batch events are many; forward at most a few per second, and every other event as it comes.
  let lastBatch = 0;
  const onEvent = (event: TrainEvent) => {
    if (event.type === 'batch') {
      const now = performance.now();
      if (now - lastBatch < 100) return;
      lastBatch = now;
    }
    port.postMessage({ type: 'event', event } satisfies WorkerMessage);
  };
  const interval = input.snapshotIntervalMs;
  let lastSnapshot = Number.NEGATIVE_INFINITY;
  // Encoding copies every parameter and buffer once: only when asked, at most once per interval, and
  // always after a fold's last epoch.
  const snapshotDue = (epoch: number, epochs: number) => {
    if (interval === undefined) return false;
    const now = performance.now();
    if (now - lastSnapshot < interval && epoch < epochs) return false;
    lastSnapshot = now;
    return true;
  };
  const postSnapshot = (fold: number, epoch: number, bytes: Uint8Array<ArrayBuffer>) => {
    port.postMessage({ type: 'snapshot', fold, epoch, bytes } satisfies SnapshotMessage, [bytes.buffer]);
  };
  if (input.fold !== undefined) {
    const run = prepareRun(input.recipe, dataset);
    const { recipe } = run;
    const trainSamples = dataset.train.count;
    const resume = input.resume ? decodeFoldSnapshot(input.resume, 'fold snapshot') : undefined;
    if (resume && JSON.stringify(resume.recipe) !== JSON.stringify(recipe)) throw new ResumeStateError('fold snapshot', 'the state was taken under another recipe');
    if (resume && resume.trainSamples !== trainSamples) throw new ResumeStateError('fold snapshot', `the state was taken on ${resume.trainSamples} training samples, not ${trainSamples}`);
    const fold = trainFold(run, input.fold, {
      signal,
      onEvent,
      testEveryEpoch: input.testEveryEpoch,
      ...(resume ? { resume } : {}),
      onSnapshot: (state) => {
        if (snapshotDue(state.epoch, recipe.epochs)) postSnapshot(state.fold, state.epoch, encodeFoldSnapshot({ recipe, trainSamples, ...state }));
      },
    });
    // The best parameters are a copy of the network's own: their buffer moves to the parent.
    port.postMessage({ type: 'fold-done', fold } satisfies WorkerMessage, [fold.bestParams.buffer as ArrayBuffer]);
    return;
  }
  const result = input.select ? selectOnly(input.recipe, dataset, input.select, input.ensemble) : trainKFold({
    recipe: input.recipe,
    dataset,
    ensemble: input.ensemble,
    testEveryEpoch: input.testEveryEpoch,
    ...(input.resume ? { resume: decodeTrainingState(input.resume, 'resume state') } : {}),
    ...(interval === undefined
      ? {}
      : {
          onSnapshot: (state) => {
            if (snapshotDue(state.epoch, state.recipe.epochs)) postSnapshot(state.fold, state.epoch, encodeTrainingState(state));
          },
        }),
    signal,
    onEvent,
  });
  const { train } = dataset;
  const count = Math.min(input.digits, train.count);
  const indices = Int32Array.from({ length: count }, (_, i) => i);
  const images = standardizeRowsReference(train.pixels, train.features, indices, result.normalization, new Float32Array(count * train.features));
  const augment = input.recipe.augment;
  const digits: ReportDigits = {
    images,
    labels: train.labels.slice(0, count),
    rows: train.rows,
    cols: train.cols,
    ...(augments(input.recipe) && count > 0 ? { augmented: augmentationPreview(train, augment!, input.recipe.seed) } : {}),
  };
  port.postMessage({ type: 'done', result, digits } satisfies WorkerMessage);
}

/** The last step of a run whose folds trained elsewhere, with the result trainKFold gives. */
function selectOnly(recipe: TrainRecipe, dataset: Dataset, folds: FinishedFold[], ensemble: boolean): KFoldResult {
  const started = performance.now();
  const run = prepareRun(recipe, dataset);
  if (folds.length !== run.folds.length) throw new RangeError(`Expected the ${run.folds.length} folds of the run but received ${folds.length}`);
  const parameters = new Mlp(run.shape).params.length;
  folds.forEach((f, i) => {
    if (f.summary.fold !== i + 1) throw new RangeError(`Expected fold ${i + 1} in place ${i + 1} but received fold ${f.summary.fold}`);
    if (f.bestParams.length !== parameters) throw new RangeError(`Fold ${i + 1} holds ${f.bestParams.length} parameters, the network ${parameters}`);
  });
  const selection = selectFold(run, folds, { ensemble });
  return { folds: folds.map((f) => f.summary), ...selection, normalization: run.normalization, seconds: (performance.now() - started) / 1000 };
}

main(workerData as WorkerInput).catch((error: unknown) => {
  parentPort!.postMessage({ type: 'error', error: describeError(error) } satisfies WorkerMessage);
});
