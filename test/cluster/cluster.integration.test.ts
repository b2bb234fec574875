/**
 * The cluster through real processes, as it is deployed: `fastmlp serve --redis` and `fastmlp worker`s on
 * one redis-server, each test with a Redis and a data directory of its own. Folds are 784→16 ReLU→10
 * networks on MNIST, a few seconds each; every worker runs one native thread, as does the in-process run
 * each model is compared with, bit for bit.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashFile } from '../../src/cluster/datasets.js';
import { keys, FOLD_QUEUE, foldJobId } from '../../src/cluster/protocol.js';
import { loadDataset, mnistPaths, type Dataset } from '../../src/data/dataset.js';
import { Classifier } from '../../src/model/classifier.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint.js';
import { decodeFoldSnapshot } from '../../src/train/resume.js';
import { trainInWorker } from '../../src/train/run.js';
import type { TrainRecipe } from '../../src/train/types.js';
import { exitOf, killAll, runCli, serveInChild, startCli, type CliProcess } from '../helpers/processes.js';
import { haveRedis, TestRedis } from '../helpers/redis.js';
import { makeDataDir, waitFor, type DataDir } from '../server/helpers.js';

/** A fold worker process of one native thread whose fold locks expire 3 s after it stops renewing them. */
function startWorker(redis: TestRedis): Promise<CliProcess> {
  return startCli(['worker', '--redis', redis.url, '--threads', '1', '--lock-duration', '3000'], /fold worker ready/);
}

interface JobView {
  id: string;
  status: string;
  recipe: TrainRecipe;
  modelId: string | null;
  error: { reason: string; message: string } | null;
  folds: { fold: number; worker?: string }[] | null;
  history: { fold: number; epochs: unknown[] }[];
}

async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

async function createJob(url: string, body: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status, await response.clone().text()).toBe(202);
  return (await json<{ id: string }>(response)).id;
}

async function waitForStatus(url: string, id: string, done: (status: string) => boolean, deadlineMs = 120_000): Promise<JobView> {
  let last: JobView | undefined;
  return waitFor(
    async () => {
      const response = await fetch(`${url}/jobs/${id}`).catch(() => undefined);
      if (!response?.ok) return undefined;
      last = await json<JobView>(response);
      return done(last.status) && last;
    },
    deadlineMs,
    () => `job ${id} (still ${last?.status ?? 'unknown'})`,
  );
}

const finished = (status: string) => ['succeeded', 'failed', 'cancelled'].includes(status);

/** Three folds on MNIST; `epochs` sets how long each trains. */
const jobBody = (epochs: number) => ({ recipe: 'reference', hidden: [{ width: 16, activation: 'relu' }], init: 'he', batchSize: 1000, epochs, folds: 3, seed: 7 });

/** The checkpoint the same recipe gives trained in this process's worker thread, one native thread. */
async function trainedHere(recipe: TrainRecipe): Promise<Uint8Array> {
  const { result } = await trainInWorker({ recipe, threads: 1 });
  return encodeCheckpoint(result.checkpoint);
}

async function servedCheckpoint(url: string, modelId: string): Promise<Uint8Array> {
  const response = await fetch(`${url}/models/${modelId}/checkpoint`);
  expect(response.status).toBe(200);
  return new Uint8Array(await response.arrayBuffer());
}

describe.skipIf(!haveRedis)('the cluster through processes', () => {
  let redis: TestRedis;
  let client: Redis;
  let data: DataDir;
  let mnist: Dataset;

  beforeAll(async () => {
    mnist = await loadDataset(mnistPaths());
  });

  beforeEach(async () => {
    redis = await TestRedis.start();
    client = new Redis(redis.url, { maxRetriesPerRequest: null });
    data = await makeDataDir();
  });

  afterEach(async () => {
    await killAll();
    client.disconnect();
    await redis.close();
    await data.remove();
  });

  it('spreads a 3-fold job over two workers, names them per fold, and predicts exactly as the recipe trained in one process', async () => {
    const [a, b] = await Promise.all([startWorker(redis), startWorker(redis)]);
    const { url } = await serveInChild(data.dir, ['--redis', redis.url, '--no-local-worker']);
    const id = await createJob(url, jobBody(3));
    const job = await waitForStatus(url, id, finished);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    // Each worker takes one fold at a time, and three were waiting when both were idle.
    const pids = new Set(job.folds!.map((f) => Number(f.worker!.split(':').at(-1))));
    expect(pids).toEqual(new Set([a.child.pid, b.child.pid]));
    expect(job.history.map((f) => f.epochs.length)).toEqual([3, 3, 3]);

    const here = await trainedHere(job.recipe);
    const there = await servedCheckpoint(url, job.modelId!);
    expect(Buffer.from(there).equals(Buffer.from(here))).toBe(true);
    // And the service answers with that model's predictions.
    const classifier = new Classifier(decodeCheckpoint(here));
    const pixels = mnist.test.pixels.subarray(0, 20 * 784);
    const expected = classifier.predict(pixels);
    const response = await fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: Array.from({ length: 20 }, (_, i) => Array.from(pixels.subarray(i * 784, (i + 1) * 784))) }) });
    expect(response.status).toBe(200);
    const predicted = await json<{ predictions: { label: number }[] }>(response);
    expect(predicted.predictions.map((p) => p.label)).toEqual(Array.from(expected.labels));

    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^fastmlp_cluster_up 1$/m);
    expect(metrics).toMatch(/^fastmlp_cluster_workers 2$/m);
    expect(metrics).toMatch(/^fastmlp_cluster_folds\{state="waiting"\} 0$/m);
  });

  it('a worker killed with SIGKILL mid-fold: another resumes the fold from its snapshot and the model is the same', async () => {
    const victim = await startWorker(redis);
    const { url } = await serveInChild(data.dir, ['--redis', redis.url, '--no-local-worker', '--lock-duration', '3000']);
    const epochs = 30;
    const id = await createJob(url, jobBody(epochs));
    // The victim trains one fold at a time: the first with a snapshot saved, and still epochs to go, is its.
    const fold = await waitFor(
      async () => {
        for (const k of [1, 2, 3]) {
          const bytes = await client.getBuffer(keys.snapshot(id, k));
          if (bytes && decodeFoldSnapshot(bytes).epoch < epochs) return k;
        }
        return undefined;
      },
      60_000,
      'a snapshot of a fold under way',
    );
    victim.child.kill('SIGKILL');
    await exitOf(victim.child);
    const rescuer = await startWorker(redis);
    const job = await waitForStatus(url, id, finished);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.folds![fold - 1]!.worker).toMatch(new RegExp(`:${rescuer.child.pid}$`));
    // It resumed after an epoch, not from the start.
    expect(rescuer.output()).toMatch(new RegExp(`"job":"${id}","fold":${fold},"resumedAfterEpoch":\\d+,"msg":"fold resumed"`));
    expect(Buffer.from(await servedCheckpoint(url, job.modelId!)).equals(Buffer.from(await trainedHere(job.recipe)))).toBe(true);
  });

  it('cancel reaches the worker in another process: its fold stops, is not retried, and the worker takes the next job', async () => {
    const worker = await startWorker(redis);
    const { url } = await serveInChild(data.dir, ['--redis', redis.url, '--no-local-worker']);
    const id = await createJob(url, jobBody(1000));
    await waitFor(async () => (await client.exists(keys.snapshot(id, 1))) === 1, 60_000, 'fold 1 to train an epoch');
    const cancel = await fetch(`${url}/jobs/${id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(202);
    expect((await waitForStatus(url, id, finished)).status).toBe('cancelled');
    const queue = new Queue(FOLD_QUEUE, { connection: client });
    try {
      const state = await waitFor(
        async () => {
          // The state first, then the job as it is in that state.
          if ((await queue.getJobState(foldJobId(id, 1))) !== 'failed') return undefined;
          const fold = await queue.getJob(foldJobId(id, 1));
          return fold && `${fold.failedReason} after ${fold.attemptsMade} attempt(s)`;
        },
        30_000,
        'fold 1 to stop',
      );
      expect(state).toBe('cancelled after 1 attempt(s)');
      // The folds that had not started left the queue, or were dropped by the worker as cancelled.
      for (const fold of [2, 3]) {
        const state = await waitFor(
          async () => {
            const s = await queue.getJobState(foldJobId(id, fold));
            if (s === 'unknown') return 'removed';
            const job = await queue.getJob(foldJobId(id, fold));
            return s === 'failed' && job ? `failed: ${job.failedReason} after ${job.attemptsMade}` : undefined;
          },
          30_000,
          `fold ${fold} to be removed or dropped`,
        );
        expect(state).toMatch(/^(removed|failed: cancelled after 1)$/);
      }
    } finally {
      await queue.close();
    }
    expect(worker.output()).toContain('job cancelled: stopping its folds');
    const next = await createJob(url, jobBody(1));
    expect((await waitForStatus(url, next, finished)).status).toBe('succeeded');
  });

  it('Redis stopped and restarted during a job: /predict answers throughout and the job ends with the same model', async () => {
    // The service's own worker trains here (the default): one process, one Redis.
    const { url } = await serveInChild(data.dir, ['--redis', redis.url, '--lock-duration', '3000']);
    const first = await createJob(url, jobBody(1));
    expect((await waitForStatus(url, first, finished)).status).toBe('succeeded');
    const id = await createJob(url, jobBody(12));
    await waitFor(async () => (await client.exists(keys.snapshot(id, 1))) === 1, 60_000, 'fold 1 to train an epoch');
    client.disconnect();
    await redis.stop();
    const digit = Array.from(mnist.test.pixels.subarray(0, 784));
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pixels: digit }) });
      expect(response.status).toBe(200);
      const job = await json<JobView>(await fetch(`${url}/jobs/${id}`));
      expect(job.status).toBe('running');
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^fastmlp_cluster_up 0$/m);
    await redis.restart();
    const job = await waitForStatus(url, id, finished);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(Buffer.from(await servedCheckpoint(url, job.modelId!)).equals(Buffer.from(await trainedHere(job.recipe)))).toBe(true);
  });

  it('serve restarting while the workers train keeps the job', async () => {
    await startWorker(redis);
    const first = await serveInChild(data.dir, ['--redis', redis.url, '--no-local-worker']);
    const id = await createJob(first.url, jobBody(8));
    await waitFor(async () => (await client.exists(keys.snapshot(id, 1))) === 1, 60_000, 'fold 1 to train an epoch');
    first.child.kill('SIGTERM');
    expect(await exitOf(first.child)).toBe(0);
    const second = await serveInChild(data.dir, ['--redis', redis.url, '--no-local-worker']);
    const job = await waitForStatus(second.url, id, finished);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(Buffer.from(await servedCheckpoint(second.url, job.modelId!)).equals(Buffer.from(await trainedHere(job.recipe)))).toBe(true);
  });

  it('fans a sweep of 4 trials out over two workers and names the best trial', async () => {
    const [a, b] = await Promise.all([startWorker(redis), startWorker(redis)]);
    const { url } = await serveInChild(data.dir, ['--redis', redis.url, '--no-local-worker']);
    const body = { base: { recipe: 'accurate', epochs: 1, hidden: [{ width: 16, activation: 'relu' }] }, space: { lr: [1e-4, 1e-3, 3e-3, 1e-2] } };
    const created = await fetch(`${url}/sweeps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(created.status).toBe(202);
    const { id } = await json<{ id: string }>(created);
    const sweep = await waitFor(
      async () => {
        const s = await json<{ status: string; trials: { jobId: string; validAccuracy: number | null }[]; best: { index: number } | null }>(await fetch(`${url}/sweeps/${id}`));
        return finished(s.status) && s;
      },
      120_000,
      `sweep ${id} to finish`,
    );
    expect(sweep.status).toBe('succeeded');
    const scores = sweep.trials.map((t) => t.validAccuracy!);
    expect(sweep.best!.index).toBe(scores.indexOf(Math.max(...scores)));
    const workers = new Set<number>();
    for (const trial of sweep.trials) {
      const job = await json<JobView>(await fetch(`${url}/jobs/${trial.jobId}`));
      for (const f of job.folds!) workers.add(Number(f.worker!.split(':').at(-1)));
    }
    expect(workers).toEqual(new Set([a.child.pid, b.child.pid]));
  });

  it('fastmlp sweep --redis trains its trials on the workers', async () => {
    await Promise.all([startWorker(redis), startWorker(redis)]);
    const space = `${data.dir}/space.json`;
    await writeFile(space, JSON.stringify({ base: { recipe: 'accurate', epochs: 1, hidden: [{ width: 16, activation: 'relu' }] }, space: { lr: [1e-4, 3e-3] } }));
    const run = await runCli(['sweep', '--space', space, '--redis', redis.url, '--threads', '1', '--json', '--out', `${data.dir}/sweep`]);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { trials: { validAccuracy: number }[]; best: { index: number } };
    const scores = summary.trials.map((t) => t.validAccuracy);
    expect(summary.trials).toHaveLength(2);
    expect(summary.best.index).toBe(scores.indexOf(Math.max(...scores)));
  });

  it('a job on a dataset of its own: workers fetch its files by hash from the service, behind its token, and train the same model', async () => {
    const token = { FASTMLP_TOKEN: 'cluster-secret' };
    const worker = (name: string) => startCli(['worker', '--redis', redis.url, '--threads', '1', '--cache-dir', join(data.dir, name)], /fold worker ready/, 30_000, token);
    await Promise.all([worker('cache-a'), worker('cache-b')]);
    const { url } = await serveInChild(data.dir, ['--redis', redis.url, '--no-local-worker'], token);
    const body = { ...jobBody(2), dataset: data.dataset };
    const created = await fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer cluster-secret' }, body: JSON.stringify(body) });
    expect(created.status).toBe(202);
    const { id } = await json<{ id: string }>(created);
    const job = await waitForStatus(url, id, finished);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const files = { trainImages: join(data.dir, data.dataset.trainImages), trainLabels: join(data.dir, data.dataset.trainLabels), testImages: join(data.dir, data.dataset.testImages), testLabels: join(data.dir, data.dataset.testLabels) };
    const { result } = await trainInWorker({ recipe: job.recipe, files, threads: 1 });
    expect(Buffer.from(await servedCheckpoint(url, job.modelId!)).equals(Buffer.from(encodeCheckpoint(result.checkpoint)))).toBe(true);
    // Each worker keeps the four files under their hashes.
    const hashes = await Promise.all(Object.values(files).map(hashFile));
    for (const cache of ['cache-a', 'cache-b']) expect((await readdir(join(data.dir, cache))).sort()).toEqual([...hashes].sort());
    // The files are the workers' only, behind the token; a hash of nothing under way is a 404.
    expect((await fetch(`${url}/cluster/files/${hashes[0]}`)).status).toBe(401);
    const auth = { headers: { authorization: 'Bearer cluster-secret' } };
    expect(Buffer.from(await (await fetch(`${url}/cluster/files/${hashes[1]}`, auth)).arrayBuffer()).equals(await readFile(files.trainLabels))).toBe(true);
    expect((await fetch(`${url}/cluster/files/${'0'.repeat(64)}`, auth)).status).toBe(404);
    expect((await fetch(`${url}/cluster/files/not-a-hash`, auth)).status).toBe(400);
  });
});
