import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatasetFiles } from '../../src/data/dataset.js';
import { createMetrics, type ServiceMetrics } from '../../src/server/metrics.js';
import { ModelRegistry } from '../../src/server/model-registry.js';
import { INTERRUPTED_MESSAGE, JobRunner, type JobEvent } from '../../src/server/runner.js';
import { JobStore, type JobSpec } from '../../src/server/store.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { quickRecipe, smallMnist, writeDatasetFiles } from '../helpers/datasets.js';
import { waitFor } from './helpers.js';

const TRAIN_SAMPLES = 600;

describe('the job runner', () => {
  let dataset: { dir: string; files: DatasetFiles };
  let dir: string;
  let store: JobStore;
  let metrics: ServiceMetrics;
  const runners: JobRunner[] = [];

  beforeAll(async () => {
    const folder = await mkdtemp(join(tmpdir(), 'fastmlp-runner-data-'));
    dataset = { dir: folder, files: await writeDatasetFiles(folder, await smallMnist(TRAIN_SAMPLES, 100)) };
  });
  afterAll(async () => {
    await rm(dataset.dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fastmlp-runner-'));
    store = new JobStore(join(dir, 'fastmlp.db'));
    metrics = createMetrics({ store, modelAccuracies: () => [], version: '0.0.0', defaultMetrics: false });
  });
  afterEach(async () => {
    for (const runner of runners.splice(0)) await runner.close();
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function runner(overStore = store): JobRunner {
    const made = new JobRunner({ store: overStore, models: new ModelRegistry(overStore), metrics, log: pino({ level: 'silent' }), dataDir: dir, concurrency: 1, threads: 1 });
    runners.push(made);
    return made;
  }

  const spec = (changes: Parameters<typeof quickRecipe>[0] = {}, files: DatasetFiles = dataset.files): JobSpec => ({ recipe: quickRecipe(changes), dataset: files, testEveryEpoch: false });
  /** Trains until cancelled: many epochs of small batches. */
  const long = () => spec({ epochs: 1000, batchSize: 10 });
  const resumeFile = (id: string) => join(dir, 'jobs', id, 'resume.bin');

  type EpochEvent = Extract<JobEvent, { type: 'epoch' }>;
  type EndEvent = Extract<JobEvent, { type: 'end' }>;

  /** The job's events from now on (before the runner is pumped): its epochs, and its end once it comes. */
  function listen(jobs: JobRunner, id: string): { epochs: EpochEvent[]; end: (timeoutMs?: number) => Promise<EndEvent> } {
    const epochs: EpochEvent[] = [];
    let ended: EndEvent | undefined;
    jobs.subscribe(id, (event) => (event.type === 'epoch' ? epochs.push(event) : (ended = event)));
    return { epochs, end: (timeoutMs = 30_000) => waitFor(() => ended, timeoutMs, () => `the end of job ${id} (${epochs.length} epochs heard)`) };
  }

  const metric = async (name: 'epochsTrained' | 'samplesTrained' | 'trainingSamplesPerSecond') => (await metrics[name].get()).values[0]?.value;

  it('trains a job, keeps its progress and history, and publishes its model', async () => {
    const jobs = runner();
    const job = store.createJob(spec());
    const events = listen(jobs, job.id);
    // The store's row as each epoch is announced: saved before listeners hear of it.
    const rows: ReturnType<JobStore['job']>[] = [];
    jobs.subscribe(job.id, (event) => {
      if (event.type === 'epoch') rows.push(store.job(job.id));
    });
    jobs.pump();
    expect(store.job(job.id)!.status).toBe('running');
    const end = await events.end();
    expect(rows.map((row) => row!.progress)).toEqual(events.epochs.map((e) => e.progress));
    expect(rows.map((row) => row!.history[0]!.length)).toEqual([1, 2]);

    expect(end).toEqual({ type: 'end', status: 'succeeded', modelId: expect.stringMatching(/^model-/), error: null });
    const done = store.job(job.id)!;
    expect(done).toMatchObject({ status: 'succeeded', modelId: end.modelId, error: null, resumes: 0, resumePending: false });
    expect(done.progress).toMatchObject({ fold: 1, folds: 1, epoch: 2, epochs: 2, fraction: 1, etaSeconds: 0 });
    expect(done.history.map((epochs) => epochs.map((m) => m.epoch))).toEqual([[1, 2]]);
    // What listeners heard is what the store keeps.
    expect(events.epochs.map((e) => e.metrics)).toEqual(done.history[0]);
    expect(events.epochs.map((e) => [e.progress.epoch, e.progress.fraction])).toEqual([
      [1, 0.5],
      [2, 1],
    ]);
    expect(done.result!.test.accuracy).toBeGreaterThan(0.5);
    expect(done.startedAt! <= done.finishedAt!).toBe(true);

    const model = store.model(end.modelId!)!;
    expect(model).toMatchObject({ jobId: job.id, checkpointPath: join(dir, 'models', `${end.modelId}.fmlp`), testAccuracy: done.result!.test.accuracy, recipe: job.spec.recipe });
    const checkpoint = await loadCheckpoint(model.checkpointPath);
    expect(checkpoint.metrics).toEqual(model.metrics);
    expect(checkpoint.architecture).toEqual(model.architecture);
    expect(existsSync(join(dir, 'jobs', job.id, 'report.md'))).toBe(true);
    expect(existsSync(resumeFile(job.id))).toBe(false);

    expect(await metric('epochsTrained')).toBe(2);
    expect(await metric('samplesTrained')).toBe(2 * TRAIN_SAMPLES);
    // Zero as soon as the store says the job ended.
    expect(await metric('trainingSamplesPerSecond')).toBe(0);
  });

  it('cancels a running job within a batch: cancelled, no error, no model, no resume state left', async () => {
    const jobs = runner();
    const job = store.createJob(long());
    const events = listen(jobs, job.id);
    jobs.pump();
    await waitFor(() => events.epochs.length > 0 && existsSync(resumeFile(job.id)), 30_000, `the first epoch of job ${job.id} and its resume state`);
    expect(jobs.cancel(store.job(job.id)!)).toBe(true);
    expect(store.job(job.id)!.status).toBe('cancelling');
    expect(await events.end()).toEqual({ type: 'end', status: 'cancelled', modelId: null, error: null });

    const cancelled = store.job(job.id)!;
    expect(cancelled).toMatchObject({ status: 'cancelled', error: null, modelId: null, result: null });
    expect(cancelled.finishedAt).not.toBeNull();
    expect(cancelled.history[0]!.length).toBeGreaterThanOrEqual(1);
    expect(cancelled.history).toEqual([events.epochs.map((e) => e.metrics)]);
    expect(store.listModels()).toEqual([]);
    expect(existsSync(resumeFile(job.id))).toBe(false);
    expect(jobs.cancel(store.job(job.id)!)).toBe(false);
  });

  it('cancels a queued job at once', () => {
    const jobs = runner();
    const running = store.createJob(long());
    const queued = store.createJob(spec());
    jobs.pump();
    expect(store.job(queued.id)!.status).toBe('queued');
    const events: JobEvent[] = [];
    jobs.subscribe(queued.id, (event) => events.push(event));
    expect(jobs.cancel(store.job(queued.id)!)).toBe(true);
    expect(store.job(queued.id)).toMatchObject({ status: 'cancelled', error: null, startedAt: null });
    expect(events).toEqual([{ type: 'end', status: 'cancelled', modelId: null, error: null }]);
    expect(store.job(running.id)!.status).toBe('running');
  });

  it('fails a job whose training fails, with reason "error" and the message of the failure', async () => {
    const junk = join(dir, 'junk.idx');
    await writeFile(junk, 'not an idx file');
    const jobs = runner();
    const job = store.createJob(spec({}, { ...dataset.files, trainImages: junk }));
    const events = listen(jobs, job.id);
    jobs.pump();
    const end = await events.end();

    expect(end).toMatchObject({ status: 'failed', modelId: null, error: { reason: 'error' } });
    expect(end.error!.message).toContain('junk.idx');
    expect(store.job(job.id)).toMatchObject({ status: 'failed', error: end.error, modelId: null, result: null, history: [] });
    expect(store.listModels()).toEqual([]);
  });

  it('fails a job queued to resume whose resume state is missing or refused, as interrupted', async () => {
    const jobs = runner();
    const progress = { fold: 1, folds: 1, epoch: 1, epochs: 2, fraction: 0.5, samplesPerSecond: null, etaSeconds: null };
    const queueToResume = async (bytes?: Uint8Array) => {
      const job = store.createJob(spec());
      store.markRunning(job.id);
      store.queueToResume(job.id, { fold: 1, epoch: 1, times: 1 }, [], progress);
      if (bytes) {
        await mkdir(join(dir, 'jobs', job.id), { recursive: true });
        await writeFile(resumeFile(job.id), bytes);
      }
      return job.id;
    };
    const missing = await queueToResume();
    // Read by the worker, which refuses it.
    const refused = await queueToResume(Buffer.from('not a resume state, but long enough'));
    const heardMissing = listen(jobs, missing);
    const heardRefused = listen(jobs, refused);
    jobs.pump();
    const lost = await heardMissing.end();
    const damaged = await heardRefused.end();

    expect(lost).toMatchObject({ status: 'failed', error: { reason: 'interrupted' } });
    expect(lost.error!.message).toMatch(new RegExp(`^${INTERRUPTED_MESSAGE}; it cannot resume: ENOENT`));
    expect(damaged).toMatchObject({ status: 'failed', error: { reason: 'interrupted' } });
    expect(damaged.error!.message).toBe(`${INTERRUPTED_MESSAGE}; it cannot resume: resume state: not a fastmlp resume file: magic 0x20746f6e instead of "FMRS"`);
    for (const [id, end] of [[missing, lost], [refused, damaged]] as const) {
      expect(store.job(id)).toMatchObject({ status: 'failed', error: end.error, resumePending: false });
      expect(existsSync(resumeFile(id))).toBe(false);
    }
  });

  it('closing stops a running job: interrupted without a resume state, else left running to resume at the next start', async () => {
    // Closed before the first epoch: nothing to resume from.
    const early = runner();
    const first = store.createJob(long());
    const firstEvents = listen(early, first.id);
    early.pump();
    await early.close();
    expect(await firstEvents.end()).toMatchObject({ status: 'failed', error: { reason: 'interrupted', message: INTERRUPTED_MESSAGE } });
    expect(store.job(first.id)).toMatchObject({ status: 'failed', error: { reason: 'interrupted', message: INTERRUPTED_MESSAGE } });

    // Closed with a resume state on disk: the store still says running, and the next runner queues it to resume.
    const late = runner();
    const second = store.createJob(long());
    const events = listen(late, second.id);
    late.pump();
    await waitFor(() => events.epochs.length > 0 && existsSync(resumeFile(second.id)), 30_000, `the first epoch of job ${second.id} and its resume state`);
    await late.close();
    expect(store.job(second.id)).toMatchObject({ status: 'running', error: null, finishedAt: null });
    expect(existsSync(resumeFile(second.id))).toBe(true);

    const next = runner();
    expect(next.recover()).toEqual({ resumed: [second.id], failed: [], cancelled: [] });
    expect(store.job(second.id)).toMatchObject({ status: 'queued', resumePending: true, resumes: 1, resumedFrom: { fold: 1, times: 1 } });
  });
});
