/**
 * The cluster against the embedded mode, in one run, over a redis-server of the benchmark's own: the
 * reference recipe with 4 folds, one native thread per worker,
 * - in this process (trainInWorker), the embedded mode's one job;
 * - on 1 fold worker and on 2, through the queues (ClusterCoordinator, FoldWorker, selectInWorker):
 *   seconds, speed-up of 2 workers over 1, and the queue's overhead per fold: from the moment a fold could
 *   start (queued, and its worker free) to the moment a worker took it, and from the last fold's end to
 *   the service holding every fold.
 * - a sweep of 8 short trials (the accurate recipe, 1 epoch, 8 learning rates): in this process, trial after
 *   trial on both cores, and on 2 fold workers of one thread each.
 * Every run must give the same checkpoint, to the bit; the benchmark fails otherwise.
 * `FASTMLP_SCALE_EPOCHS` shortens the folds (default: the recipe's 50).
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { cpus } from 'node:os';
import { ClusterCoordinator } from '../src/cluster/coordinator.js';
import { FoldWorker } from '../src/cluster/fold-worker.js';
import { FOLD_QUEUE, foldJobId, type FoldJobResult } from '../src/cluster/protocol.js';
import { encodeCheckpoint } from '../src/train/checkpoint.js';
import { runSweep } from '../src/sweep/run.js';
import { accurateRecipe, referenceRecipe, validateRecipe } from '../src/train/recipe.js';
import { selectInWorker, trainInWorker } from '../src/train/run.js';
import { TestRedis } from '../test/helpers/redis.js';
import { median, round } from './stats.js';

const FOLDS = 4;

interface ClusterRun {
  seconds: number;
  /** Per fold: ms from when it could start to when a worker took it. */
  startOverheadMs: number[];
  /** ms from the last fold's end to the service holding every fold. */
  collectOverheadMs: number;
  checkpoint: Uint8Array;
}

async function onCluster(redis: TestRedis, workers: number, recipe: ReturnType<typeof validateRecipe>, jobId: string): Promise<ClusterRun> {
  const coordinator = new ClusterCoordinator({ redis: redis.url });
  await coordinator.ready();
  coordinator.start();
  const pool = await Promise.all(Array.from({ length: workers }, (_, i) => FoldWorker.start({ redis: redis.url, threads: 1, name: `bench-${workers}-${i}` })));
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue(FOLD_QUEUE, { connection: client });
  try {
    const started = performance.now();
    const trained = await coordinator.train({ jobId, recipe, testEveryEpoch: false });
    const collected = Date.now();
    const { result } = await selectInWorker({ recipe, folds: trained.folds, threads: 1 });
    trained.release();
    const seconds = (performance.now() - started) / 1000;
    // The folds' own clock marks (Redis keeps them with the finished jobs).
    const folds = await Promise.all(Array.from({ length: FOLDS }, (_, i) => queue.getJob(foldJobId(jobId, i + 1))));
    const marks = folds.map((f) => ({ queued: f!.timestamp, taken: f!.processedOn!, done: f!.finishedOn!, worker: (f!.returnvalue as FoldJobResult).worker }));
    const startOverheadMs = marks.map((m) => {
      // Its worker was free once the fold it trained before this one was done.
      const before = marks.filter((o) => o.worker === m.worker && o.done <= m.taken).map((o) => o.done);
      return m.taken - Math.max(m.queued, ...before);
    });
    return { seconds, startOverheadMs, collectOverheadMs: collected - Math.max(...marks.map((m) => m.done)), checkpoint: encodeCheckpoint(result.checkpoint) };
  } finally {
    await queue.close();
    client.disconnect();
    await Promise.all(pool.map((w) => w.close()));
    await coordinator.close();
  }
}

/** The sweep in this process (both cores) and on 2 workers of one thread: seconds of each, same best trial. */
async function sweeps(redis: TestRedis): Promise<{ trials: number; embeddedSeconds: number; twoWorkersSeconds: number; sameBest: boolean }> {
  const base = validateRecipe({ ...accurateRecipe, epochs: 1 });
  const plan = { space: { lr: [3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2] }, strategy: 'grid' as const, seed: 1 };
  const here = await runSweep({ base, plan });
  const pool = await Promise.all([0, 1].map((i) => FoldWorker.start({ redis: redis.url, threads: 1, name: `bench-sweep-${i}` })));
  try {
    const there = await runSweep({ base, plan, redis: redis.url, threads: 1 });
    return { trials: here.trials.length, embeddedSeconds: round(here.seconds, 2), twoWorkersSeconds: round(there.seconds, 2), sameBest: here.best === there.best };
  } finally {
    await Promise.all(pool.map((w) => w.close()));
  }
}

export async function benchScale(): Promise<Record<string, unknown>> {
  const epochs = Number(process.env.FASTMLP_SCALE_EPOCHS ?? referenceRecipe.epochs);
  const recipe = validateRecipe({ ...referenceRecipe, folds: FOLDS, epochs });
  const redis = await TestRedis.start();
  try {
    const embeddedStart = performance.now();
    const embedded = await trainInWorker({ recipe, threads: 1 });
    const embeddedSeconds = (performance.now() - embeddedStart) / 1000;
    const one = await onCluster(redis, 1, recipe, 'bench-one');
    const two = await onCluster(redis, 2, recipe, 'bench-two');
    const reference = Buffer.from(encodeCheckpoint(embedded.result.checkpoint));
    for (const [name, run] of [['1 worker', one], ['2 workers', two]] as const) {
      if (!reference.equals(Buffer.from(run.checkpoint))) throw new Error(`the checkpoint of ${name} differs from the embedded run's`);
    }
    const overheads = [...one.startOverheadMs, ...two.startOverheadMs];
    const sweep = await sweeps(redis);
    return {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      recipe: `reference, ${FOLDS} folds × ${epochs} epochs, 1 native thread per worker`,
      embeddedSeconds: round(embeddedSeconds, 2),
      oneWorkerSeconds: round(one.seconds, 2),
      twoWorkersSeconds: round(two.seconds, 2),
      speedUp: round(one.seconds / two.seconds, 3),
      clusterOverOneThreadEmbedded: round(one.seconds / embeddedSeconds, 3),
      foldStartOverheadMs: { median: round(median(overheads), 1), max: round(Math.max(...overheads), 1) },
      collectOverheadMs: { oneWorker: one.collectOverheadMs, twoWorkers: two.collectOverheadMs },
      sameCheckpoint: true,
      testAccuracy: embedded.result.test.accuracy,
      sweep: { ...sweep, speedUp: round(sweep.embeddedSeconds / sweep.twoWorkersSeconds, 3) },
    };
  } finally {
    await redis.close();
  }
}

export function printScale(r: Record<string, unknown>): void {
  const o = r as Awaited<ReturnType<typeof benchScale>> & {
    foldStartOverheadMs: { median: number; max: number };
    collectOverheadMs: { oneWorker: number; twoWorkers: number };
    sweep: Awaited<ReturnType<typeof sweeps>> & { speedUp: number };
  };
  console.log(`scale: ${String(o.recipe)} on ${String(o.cpu)} (${String(o.cores)} cores)`);
  console.log(`  embedded, 1 thread   ${String(o.embeddedSeconds)} s`);
  console.log(`  cluster, 1 worker    ${String(o.oneWorkerSeconds)} s (${String(o.clusterOverOneThreadEmbedded)}× the embedded run)`);
  console.log(`  cluster, 2 workers   ${String(o.twoWorkersSeconds)} s: speed-up ${String(o.speedUp)}`);
  console.log(`  queue overhead per fold: start ${o.foldStartOverheadMs.median} ms median (max ${o.foldStartOverheadMs.max}); last fold to service ${o.collectOverheadMs.oneWorker} / ${o.collectOverheadMs.twoWorkers} ms`);
  console.log(`  every run the same checkpoint, test accuracy ${String(o.testAccuracy)}`);
  const w = o.sweep;
  console.log(`  sweep of ${w.trials} short trials: in-process (2 threads) ${w.embeddedSeconds} s, 2 workers (1 thread each) ${w.twoWorkersSeconds} s: ${w.speedUp}×${w.sameBest ? ', same best trial' : ', ANOTHER best trial'}`);
}
