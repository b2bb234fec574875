/**
 * The cluster in one process against a real redis-server: the coordinator and fold workers, each fold in
 * a worker thread. The same through separate processes (serve, `fastmlp worker`, kill -9, Redis restarts)
 * is in cluster.integration.test.ts.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterCoordinator, ClusterJobFailed } from '../../src/cluster/coordinator.js';
import { CANCELLED_REASON, FoldWorker } from '../../src/cluster/fold-worker.js';
import { FOLD_QUEUE, foldJobId, keys } from '../../src/cluster/protocol.js';
import { encodeCheckpoint } from '../../src/train/checkpoint.js';
import { decodeFoldSnapshot } from '../../src/train/resume.js';
import { referenceRecipe, validateRecipe } from '../../src/train/recipe.js';
import { selectInWorker, trainInWorker } from '../../src/train/run.js';
import { TrainingCancelled } from '../../src/train/trainer.js';
import type { TrainEvent, TrainRecipe } from '../../src/train/types.js';
import { haveRedis, TestRedis } from '../helpers/redis.js';

/** Three folds of two short epochs on MNIST (the workers' dataset). */
const recipe: TrainRecipe = validateRecipe({ ...referenceRecipe, hidden: [{ width: 16, activation: 'relu' }], init: 'he', batchSize: 1000, epochs: 2, seed: 5 });

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, deadlineMs = 60_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!haveRedis)('the cluster in one process', () => {
  let redis: TestRedis;
  let client: Redis;
  let coordinator: ClusterCoordinator;
  let workers: FoldWorker[] = [];
  let jobs = 0;
  const nextId = () => `job_test${++jobs}`;

  beforeAll(async () => {
    redis = await TestRedis.start();
    client = new Redis(redis.url);
    coordinator = new ClusterCoordinator({ redis: redis.url, checkIntervalMs: 200 });
    await coordinator.ready();
    coordinator.start();
  });

  afterEach(async () => {
    await Promise.all(workers.map((w) => w.close()));
    workers = [];
  });

  afterAll(async () => {
    await coordinator?.close();
    client?.disconnect();
    await redis?.close();
  });

  const startWorkers = async (...names: string[]) => {
    workers = await Promise.all(names.map((name) => FoldWorker.start({ redis: redis.url, threads: 1, name, lockMs: 5000 })));
  };

  it('trains the folds on two workers and selects the model the same recipe gives in one run, to the bit', async () => {
    await startWorkers('worker-a', 'worker-b');
    const events: { event: TrainEvent; worker: string }[] = [];
    const jobId = nextId();
    const trained = await coordinator.train({ jobId, recipe, testEveryEpoch: false }, { onEvent: (event, worker) => events.push({ event, worker }) });
    const { result } = await selectInWorker({ recipe, folds: trained.folds, threads: 1 });
    trained.release();
    const whole = await trainInWorker({ recipe, threads: 1 });
    expect(Buffer.from(encodeCheckpoint(result.checkpoint)).equals(Buffer.from(encodeCheckpoint(whole.result.checkpoint)))).toBe(true);
    expect(result.test).toEqual(whole.result.test);
    expect(trained.folds.map((f) => f.summary.fold)).toEqual([1, 2, 3]);
    // Both workers took folds: each takes one at a time and three were waiting when both were idle.
    expect(new Set(trained.workers)).toEqual(new Set(['worker-a', 'worker-b']));
    const epochs = events.filter((e) => e.event.type === 'epoch');
    expect(epochs).toHaveLength(3 * recipe.epochs);
    // Progress is the whole job's: it only grows, and ends at 1.
    const progress = epochs.map((e) => (e.event.type === 'epoch' ? e.event.progress : 0));
    expect(progress.every((p, i) => i === 0 || p >= progress[i - 1]!)).toBe(true);
    expect(progress.at(-1)).toBeCloseTo(1, 12);
    // Released, the parent completes and the job's values leave Redis.
    await until('the job values to go', async () => (await client.exists(...keys.all(jobId, 3))) === 0 || undefined);
  });

  it('resumes a fold from its snapshot in Redis, and drops one it cannot resume from', async () => {
    // A snapshot of fold 1 after its first epoch, as a worker that died would have left it.
    const jobA = nextId();
    const first = await snapshotOfFold1(jobA);
    await coordinator.cancel(jobA, 3);
    const jobB = nextId();
    await client.set(keys.snapshot(jobB, 1), first);
    const jobC = nextId();
    await client.set(keys.snapshot(jobC, 1), Buffer.from('not a snapshot'));
    await startWorkers('worker-a');
    const resumedEvents: TrainEvent[] = [];
    const b = await coordinator.train({ jobId: jobB, recipe, testEveryEpoch: false }, { onEvent: (e) => e.type === 'fold-start' && resumedEvents.push(e) });
    const c = await coordinator.train({ jobId: jobC, recipe, testEveryEpoch: false });
    expect(resumedEvents).toContainEqual(expect.objectContaining({ type: 'fold-start', fold: 1, resumedAfterEpoch: decodeFoldSnapshot(first).epoch }));
    const whole = await trainInWorker({ recipe, threads: 1 });
    for (const trained of [b, c]) {
      const { result } = await selectInWorker({ recipe, folds: trained.folds, threads: 1 });
      trained.release();
      expect(Buffer.from(encodeCheckpoint(result.checkpoint)).equals(Buffer.from(encodeCheckpoint(whole.result.checkpoint)))).toBe(true);
    }
  });

  it('cancels across workers: the running folds stop within a batch, are not retried, and the workers go on', async () => {
    await startWorkers('worker-a', 'worker-b');
    const long = { ...recipe, epochs: 1000 };
    const jobId = nextId();
    const controller = new AbortController();
    const started = new Set<number>();
    const training = coordinator.train({ jobId, recipe: long, testEveryEpoch: false }, { signal: controller.signal, onEvent: (e) => e.type === 'epoch' && started.add(e.fold) });
    await until('two folds to train', () => started.size >= 2 || undefined);
    await coordinator.cancel(jobId, 3);
    controller.abort();
    await expect(training).rejects.toBeInstanceOf(TrainingCancelled);
    const queue = new Queue(FOLD_QUEUE, { connection: client });
    try {
      for (const fold of [1, 2, 3]) {
        const state = await until(`fold ${fold} to stop`, async () => {
          const s = await queue.getJobState(foldJobId(jobId, fold));
          if (s === 'unknown') return 'removed';
          const job = await queue.getJob(foldJobId(jobId, fold));
          return s === 'failed' && job ? `${s}: ${job.failedReason} after ${job.attemptsMade}` : undefined;
        });
        expect(['removed', `failed: ${CANCELLED_REASON} after 1`]).toContain(state);
      }
    } finally {
      await queue.close();
    }
    expect(workers.map((w) => w.busy)).toEqual([0, 0]);
    const next = await coordinator.train({ jobId: nextId(), recipe, testEveryEpoch: false });
    next.release();
    expect(next.folds).toHaveLength(3);
  });

  it('fails a job visibly when its flow vanishes from Redis', async () => {
    const jobId = nextId();
    const training = coordinator.train({ jobId, recipe, testEveryEpoch: false });
    // No worker takes it; the data goes as with a Redis restarted without its files.
    await until('the job to be queued', async () => (await client.exists(`bull:fastmlp-select:${jobId}`)) === 1 || undefined);
    await client.flushall();
    await expect(training).rejects.toThrow(ClusterJobFailed);
    await expect(training).rejects.toThrow(/no longer in Redis/);
  });

  /** Fold 1 of a job trained by one worker up to its first epoch's snapshot; the job then cancelled. */
  async function snapshotOfFold1(jobId: string): Promise<Buffer> {
    await startWorkers('snapshotter');
    const controller = new AbortController();
    const training = coordinator.train({ jobId, recipe, testEveryEpoch: false }, { signal: controller.signal });
    const bytes = await until('a snapshot of fold 1', async () => (await client.getBuffer(keys.snapshot(jobId, 1))) ?? undefined);
    controller.abort();
    await training.catch(() => undefined);
    await Promise.all(workers.map((w) => w.close()));
    workers = [];
    return bytes;
  }
});
