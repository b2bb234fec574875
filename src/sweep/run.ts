/**
 * A sweep run by its caller rather than the service: every trial trained in a worker thread, one after
 * another, or with a Redis URL all at once on the cluster's fold workers. Trials compare on validation
 * (trialScore); the best trial's checkpoint is the result.
 */
import { randomBytes } from 'node:crypto';
import { ClusterCoordinator } from '../cluster/coordinator.js';
import type { DatasetSource } from '../data/dataset.js';
import type { TrainedCheckpoint } from '../train/checkpoint.js';
import { selectInWorker, trainInWorker } from '../train/run.js';
import { TrainingCancelled } from '../train/trainer.js';
import type { FoldSummary, TestResult, TrainRecipe } from '../train/types.js';
import { bestTrial, trialParams, trialRecipe, trialScore, type SweepPlan } from './space.js';

export interface SweepOptions {
  /** The recipe every trial starts from. */
  base: TrainRecipe;
  plan: SweepPlan;
  /** Default MNIST; on a cluster, MNIST only. */
  files?: DatasetSource;
  /** Native threads per trial (in this process). */
  threads?: number;
  /** redis://host:port: train on that cluster's fold workers, every trial at once. */
  redis?: string;
  signal?: AbortSignal;
  /** After each trial, in the order they finish. */
  onTrial?: (trial: TrialOutcome, done: number, total: number) => void;
}

export interface TrialOutcome {
  /** 0-based. */
  index: number;
  params: Record<string, unknown>;
  recipe: TrainRecipe;
  folds: FoldSummary[];
  validAccuracy: number;
  test: TestResult;
  seconds: number;
  checkpoint: TrainedCheckpoint;
}

export interface SweepResult {
  /** In trial order. */
  trials: TrialOutcome[];
  /** Index of the best trial by validation accuracy (the first of equals). */
  best: number;
  seconds: number;
}

/** Runs every trial of the plan; rejects with SweepSpaceError before training if the space does not fit. */
export async function runSweep(options: SweepOptions): Promise<SweepResult> {
  const started = performance.now();
  const params = trialParams(options.plan);
  const recipes = params.map((p, i) => trialRecipe(options.base, p, i));
  if (options.redis !== undefined && options.files !== undefined) throw new TypeError('A sweep on a cluster trains on MNIST only: give no dataset files with a Redis URL');
  const trials: TrialOutcome[] = new Array(recipes.length);
  let done = 0;
  const finish = (trial: TrialOutcome) => {
    trials[trial.index] = trial;
    options.onTrial?.(trial, ++done, recipes.length);
  };
  const outcome = (index: number, result: Awaited<ReturnType<typeof trainInWorker>>['result'], seconds: number): TrialOutcome => ({
    index,
    params: params[index]!,
    recipe: recipes[index]!,
    folds: result.folds,
    validAccuracy: trialScore(result.folds),
    test: result.test,
    seconds,
    checkpoint: result.checkpoint,
  });
  if (options.redis === undefined) {
    for (const [index, recipe] of recipes.entries()) {
      if (options.signal?.aborted) throw new TrainingCancelled();
      const t0 = performance.now();
      const { result } = await trainInWorker({ recipe, ...(options.files ? { files: options.files } : {}), ...(options.threads !== undefined ? { threads: options.threads } : {}), ...(options.signal ? { signal: options.signal } : {}) });
      finish(outcome(index, result, (performance.now() - t0) / 1000));
    }
  } else {
    const coordinator = new ClusterCoordinator({ redis: options.redis });
    const id = `sweep-${randomBytes(6).toString('hex')}`;
    try {
      await coordinator.ready();
      const runs = recipes.map(async (recipe, index) => {
        const t0 = performance.now();
        const trained = await coordinator.train({ jobId: `${id}-trial-${index + 1}`, recipe, testEveryEpoch: false }, options.signal ? { signal: options.signal } : {});
        try {
          const { result } = await selectInWorker({ recipe, folds: trained.folds, ...(options.threads !== undefined ? { threads: options.threads } : {}) });
          finish(outcome(index, result, (performance.now() - t0) / 1000));
        } finally {
          trained.release();
        }
      });
      // Every trial waited for before the parents of finished ones are taken.
      coordinator.start();
      const settled = await Promise.allSettled(runs);
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) {
        if (options.signal?.aborted) await Promise.all(recipes.map((r, i) => coordinator.cancel(`${id}-trial-${i + 1}`, r.folds)));
        throw failed.reason;
      }
    } finally {
      await coordinator.close();
    }
  }
  return { trials, best: bestTrial(trials.map((t) => t.validAccuracy)), seconds: (performance.now() - started) / 1000 };
}
