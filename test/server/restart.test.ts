import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/server.js';
import { JobStore } from '../../src/server/store.js';
import { trainKFold } from '../../src/train/kfold.js';
import { accurateRecipe } from '../../src/train/recipe.js';
import { encodeTrainingState } from '../../src/train/resume.js';
import type { TrainRecipe } from '../../src/train/types.js';
import { smallMnist } from '../helpers/datasets.js';
import { exitOf, killAll, serveInChild } from '../helpers/processes.js';
import { createJob, finished, getJob, longJob, makeDataDir, parseSse, testApp, tinyJob, waitFor, waitForJob, type DataDir, type JobBody, type TestApp } from './helpers.js';

const resumeFile = (data: DataDir, id: string) => join(data.dir, 'jobs', id, 'resume.bin');

/** Queues the job and waits until it has finished `epochs` epochs and its resume state is on disk. */
async function startJob(url: string, data: DataDir, body: Record<string, unknown> = longJob(data), epochs = 1): Promise<string> {
  const created = await fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(created.status).toBe(202);
  const { id } = (await created.json()) as { id: string };
  let last: JobBody | undefined;
  const finishedEpochs = (job: JobBody) => job.history.reduce((sum, fold) => sum + fold.epochs.length, 0);
  await waitFor(
    async () => {
      const job = (last = (await (await fetch(`${url}/jobs/${id}`)).json()) as JobBody);
      if (!['queued', 'running'].includes(job.status)) throw new Error(`job ${id} is ${job.status}: ${JSON.stringify(job.error)}`);
      return job.status === 'running' && finishedEpochs(job) >= epochs && existsSync(resumeFile(data, id));
    },
    30_000,
    () => `job ${id} to run ${epochs} epochs and save its resume state (it is ${last?.status}, ${last ? finishedEpochs(last) : 0} epochs, resume state ${existsSync(resumeFile(data, id)) ? 'saved' : 'not saved'})`,
  );
  return id;
}

async function checkpointBytes(app: TestApp, modelId: string): Promise<Buffer> {
  const response = await app.inject({ url: `/models/${modelId}/checkpoint` });
  expect(response.statusCode).toBe(200);
  return response.rawPayload;
}

/** The history without the wall times, which differ from run to run. */
function withoutTimes(job: JobBody): unknown {
  return job.history.map((fold) => ({ ...fold, epochs: fold.epochs.map((m) => ({ ...m, seconds: undefined })) }));
}

describe('persistence across restarts', () => {
  // Each test over a data directory of its own: what one leaves running, the next start would resume.
  let data: DataDir;

  beforeEach(async () => {
    data = await makeDataDir();
  });
  afterEach(async () => {
    await killAll();
    await data.remove();
  });

  it('a new process over the same data directory sees the jobs and models and predicts', async () => {
    const first = testApp(data);
    let id: string, trained: JobBody, prediction: unknown;
    try {
      id = await createJob(first, tinyJob(data));
      trained = await waitForJob(first, id, finished);
      prediction = (await first.inject({ method: 'POST', url: '/predict', payload: { pixels: Array.from(data.test.pixels.subarray(0, 784)) } })).json();
    } finally {
      await first.close();
    }

    const second = testApp(data);
    try {
      const job = await getJob(second, id);
      expect(job).toEqual(trained);
      const models = (await second.inject({ url: '/models' })).json<{ defaultModel: string }>();
      expect(models.defaultModel).toBe(trained.modelId);
      const again = await second.inject({ method: 'POST', url: '/predict', payload: { pixels: Array.from(data.test.pixels.subarray(0, 784)) } });
      expect(again.json()).toEqual(prediction);
      expect((await second.inject({ url: `/jobs/${id}/report` })).statusCode).toBe(200);
    } finally {
      await second.close();
    }
  });

  it('a job running when the process is killed resumes from its last resume state and trains the same model', async () => {
    // Two folds of 6 epochs in batches of 10: long enough to be killed inside, short enough to finish after.
    const body = tinyJob(data, { hidden: [{ width: 128, activation: 'relu' }], batchSize: 10, epochs: 6, folds: 2, optimizer: { kind: 'momentum', momentum: 0.9, nesterov: false }, lr: 0.01 });
    const { child, url } = await serveInChild(data.dir);
    const id = await startJob(url, data, body, 2);
    child.kill('SIGKILL');
    await exitOf(child);

    const app = testApp(data);
    try {
      // Before the app is ready nothing runs: the job waits at the front of the queue, flagged to resume.
      const queued = await getJob(app, id);
      expect(queued.status).toMatch(/^(queued|running)$/);
      expect(queued.resumedFromEpoch).toBeGreaterThan(0);
      expect(queued.resumes).toBe(1);
      const resumed = await waitForJob(app, id, finished);
      expect(resumed.status).toBe('succeeded');
      expect(resumed.error).toBeNull();
      expect(resumed.history.map((f) => f.epochs.map((e) => e.epoch))).toEqual([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]]);
      // Removed once the store says the job succeeded (in that order, so a crash in between leaves only a stray file).
      await waitFor(() => !existsSync(resumeFile(data, id)), 10_000, `the resume state of job ${id} to be removed after it succeeded`);

      // The same job, never stopped.
      const again = await waitForJob(app, await createJob(app, body), finished);
      expect(again.status).toBe('succeeded');
      expect(again.resumedFromEpoch).toBeNull();
      expect(again.resumes).toBe(0);
      expect(resumed.test).toEqual(again.test);
      expect(withoutTimes(resumed)).toEqual(withoutTimes(again));
      expect((await checkpointBytes(app, resumed.modelId!)).equals(await checkpointBytes(app, again.modelId!))).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('a job whose resume state is damaged or missing comes back failed with reason "interrupted"', async () => {
    const { child, url } = await serveInChild(data.dir, ['--concurrency', '2']);
    const damaged = await startJob(url, data);
    const missing = await startJob(url, data);
    child.kill('SIGKILL');
    await exitOf(child);
    const bytes = await readFile(resumeFile(data, damaged));
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(resumeFile(data, damaged), bytes);
    await rm(resumeFile(data, missing));

    const app = testApp(data);
    try {
      for (const [id, problem] of [[damaged, /checksum mismatch/], [missing, /no resume state/]] as const) {
        const job = await getJob(app, id);
        expect(job.status).toBe('failed');
        expect(job.error).toMatchObject({ reason: 'interrupted', message: expect.stringMatching(problem) });
        expect(job.history[0]!.epochs.length).toBeGreaterThanOrEqual(1);
        expect(job.finishedAt).not.toBeNull();
        expect(job.resumes).toBe(0);
        expect(existsSync(resumeFile(data, id))).toBe(false);
      }
    } finally {
      await app.close();
    }
  });

  it('SIGTERM stops the running job, keeps its resume state and exits 0; the next start resumes it', async () => {
    const { child, url } = await serveInChild(data.dir);
    const id = await startJob(url, data);
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
    expect(existsSync(resumeFile(data, id))).toBe(true);

    const app = testApp(data);
    try {
      const job = await getJob(app, id);
      expect(job.error).toBeNull();
      expect(job.resumedFromFold).toBe(1);
      expect(job.resumedFromEpoch).toBeGreaterThanOrEqual(1);
      expect(job.history[0]!.epochs).toHaveLength(job.resumedFromEpoch as number);
      await waitForJob(app, id, (j) => j.status === 'running');
      expect((await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` })).statusCode).toBe(202);
      expect((await waitForJob(app, id, finished)).status).toBe('cancelled');
      expect(existsSync(resumeFile(data, id))).toBe(false);
    } finally {
      await app.close();
    }
  });
  it('at start-up cancels a job left cancelling, and fails one the service stopped during three resumes in a row', async () => {
    const recipe: TrainRecipe = { ...accurateRecipe, hidden: [{ width: 8, activation: 'relu' }], epochs: 2 };
    let bytes: Uint8Array | undefined;
    trainKFold({ recipe, dataset: await smallMnist(300, 100), onSnapshot: (state) => void (bytes ??= encodeTrainingState(state)) });
    const store = new JobStore(join(data.dir, 'fastmlp.db'));
    const spec = { recipe, testEveryEpoch: false };
    const stuck = store.createJob(spec);
    const cancelling = store.createJob(spec);
    for (const job of [stuck, cancelling]) {
      store.markRunning(job.id);
      await mkdir(join(data.dir, 'jobs', job.id), { recursive: true });
      await writeFile(resumeFile(data, job.id), bytes!);
    }
    store.markCancelling(cancelling.id);
    // As if it had resumed three times from fold 1, epoch 1, and the service had stopped again each time.
    const progress = { fold: 1, folds: 1, epoch: 1, epochs: 2, fraction: 0.5, samplesPerSecond: null, etaSeconds: null };
    store.queueToResume(stuck.id, { fold: 1, epoch: 1, times: 3 }, [], progress);
    store.markRunning(stuck.id);
    store.close();

    const app = testApp(data);
    try {
      const failed = await getJob(app, stuck.id);
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatchObject({ reason: 'interrupted', message: expect.stringMatching(/resumed 3 times from fold 1, epoch 1/) });
      expect((await getJob(app, cancelling.id)).status).toBe('cancelled');
      for (const id of [stuck.id, cancelling.id]) expect(existsSync(resumeFile(data, id))).toBe(false);
    } finally {
      await app.close();
    }
  });
});

describe('a real listening server', () => {
  let data: DataDir;

  beforeAll(async () => {
    data = await makeDataDir();
  });
  afterAll(async () => {
    await data.remove();
  });

  it('streams each epoch live over Server-Sent Events, then the end', async () => {
    const server = await startServer({ host: '127.0.0.1', port: 0, dataDir: data.dir, bootstrap: false, logger: false, defaultMetrics: false, threads: 1 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const created = await fetch(`${server.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(tinyJob(data, { epochs: 4 })) });
      const { id } = (await created.json()) as { id: string };
      const stream = await fetch(`${server.url}/jobs/${id}/events`, { signal: AbortSignal.timeout(30_000) });
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events = parseSse(await stream.text());
      expect(events.map((e) => e.event)).toEqual(['epoch', 'epoch', 'epoch', 'epoch', 'end']);
      expect(events.slice(0, 4).map((e) => e.data.epoch)).toEqual([1, 2, 3, 4]);
      expect(events[4]!.data).toMatchObject({ id, status: 'succeeded' });
      const docs = await fetch(`${server.url}/docs/json`);
      const openapi = (await docs.json()) as { paths: Record<string, unknown> };
      expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/jobs', '/jobs/{id}', '/predict', '/models', '/metrics', '/v2/models/{name}/infer']));
    } finally {
      await server.close();
    }
  });
});
