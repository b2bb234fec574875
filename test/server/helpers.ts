/** A small MNIST in a temporary data directory, tiny recipes, and waiting for jobs. */
import { afterEach, beforeEach } from 'vitest';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset, mnistPaths, subset, type ImageSet } from '../../src/data/dataset.js';
import { writeIdx } from '../../src/data/idx.js';
import { buildApp, type AppOptions } from '../../src/server/app.js';

export type TestApp = ReturnType<typeof buildApp>;

export interface DataDir {
  dir: string;
  /** Paths relative to the data directory, as a job body gives them. */
  dataset: { trainImages: string; trainLabels: string; testImages: string; testLabels: string };
  train: ImageSet;
  test: ImageSet;
  remove(): Promise<void>;
}

let cached: { train: ImageSet; test: ImageSet } | undefined;

/** The first 2000 training and 500 test images of MNIST, written as idx files under <dir>/digits. */
export async function makeDataDir(): Promise<DataDir> {
  if (cached === undefined) {
    const mnist = await loadDataset(mnistPaths());
    cached = {
      train: subset(mnist.train, Int32Array.from({ length: 2000 }, (_, i) => i)),
      test: subset(mnist.test, Int32Array.from({ length: 500 }, (_, i) => i)),
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'fastmlp-server-'));
  await mkdir(join(dir, 'digits'));
  const dataset = {
    trainImages: 'digits/train-images.idx',
    trainLabels: 'digits/train-labels.idx',
    testImages: 'digits/test-images.idx',
    testLabels: 'digits/test-labels.idx',
  };
  const { train, test } = cached;
  await writeIdx(join(dir, dataset.trainImages), [train.count, train.rows, train.cols], train.pixels);
  await writeIdx(join(dir, dataset.trainLabels), [train.count], train.labels);
  await writeIdx(join(dir, dataset.testImages), [test.count, test.rows, test.cols], test.pixels);
  await writeIdx(join(dir, dataset.testLabels), [test.count], test.labels);
  return { dir, dataset, train, test, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A job body that trains in well under a second: 784→64 ReLU→10, Adam, 2 epochs, no folds. */
export function tinyJob(data: DataDir, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    recipe: 'accurate',
    hidden: [{ width: 64, activation: 'relu' }],
    batchSize: 100,
    epochs: 2,
    dataset: data.dataset,
    ...overrides,
  };
}

/** A job that keeps training until cancelled: many epochs of small batches. */
export function longJob(data: DataDir): Record<string, unknown> {
  return tinyJob(data, { hidden: [{ width: 256, activation: 'relu' }], batchSize: 10, epochs: 1000 });
}

/** A data directory and a ready app of its own for every test of the block, closed and removed after it. */
export function appPerTest(options: Partial<AppOptions> = {}): { data: DataDir; app: TestApp } {
  const context = {} as { data: DataDir; app: TestApp };
  beforeEach(async () => {
    context.data = await makeDataDir();
    context.app = testApp(context.data, options);
    await context.app.ready();
  });
  afterEach(async () => {
    await context.app.close();
    await context.data.remove();
  });
  return context;
}

export function testApp(data: DataDir, options: Partial<AppOptions> = {}): TestApp {
  return buildApp({ dataDir: data.dir, bootstrap: false, defaultMetrics: false, docs: false, threads: 1, ...options });
}

export interface JobBody {
  id: string;
  status: string;
  history: { fold: number; epochs: { epoch: number }[] }[];
  test: { accuracy: number; loss: number } | null;
  modelId: string | null;
  error: { reason: string; message: string } | null;
  progress: { fraction: number; epoch: number } | null;
  [key: string]: unknown;
}

export async function getJob(app: TestApp, id: string): Promise<JobBody> {
  const response = await app.inject({ method: 'GET', url: `/jobs/${id}` });
  return response.json<JobBody>();
}

/**
 * Polls `condition` until it gives a value (anything but undefined or false), which it returns; past
 * `deadlineMs` it fails, saying what it waited for (a function is asked at that moment, with the latest state).
 */
export async function waitFor<T>(
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  deadlineMs: number,
  message: string | (() => string),
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`waited ${deadlineMs} ms for ${typeof message === 'string' ? message : message()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Polls until the job's status satisfies `done`. */
export async function waitForJob(app: TestApp, id: string, done: (job: JobBody) => boolean, timeoutMs = 30_000): Promise<JobBody> {
  let last: JobBody | undefined;
  return waitFor(
    async () => {
      last = await getJob(app, id);
      return done(last) && last;
    },
    timeoutMs,
    () => `job ${id} (still ${last?.status ?? 'unknown'}, ${last?.history.reduce((sum, fold) => sum + fold.epochs.length, 0) ?? 0} epochs)`,
  );
}

export const finished = (job: JobBody) => ['succeeded', 'failed', 'cancelled'].includes(job.status);

/** Trains tinyJob through the app: its finished job, which succeeded. */
export async function trainModel(app: TestApp, data: DataDir): Promise<JobBody & { modelId: string }> {
  const job = await waitForJob(app, await createJob(app, tinyJob(data)), finished);
  if (job.status !== 'succeeded' || job.modelId === null) throw new Error(`the tiny job ${job.status}: ${JSON.stringify(job.error)}`);
  return { ...job, modelId: job.modelId };
}

export async function createJob(app: TestApp, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/jobs', payload: body, headers });
  if (response.statusCode !== 202) throw new Error(`POST /jobs answered ${response.statusCode}: ${response.body}`);
  return response.json<{ id: string }>().id;
}

/** Server-Sent Events of a finished stream, in order. */
export function parseSse(text: string): { event: string; data: Record<string, unknown> }[] {
  return text
    .split('\n\n')
    .filter((block) => block.includes('data: '))
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const data = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)) as Record<string, unknown>;
      return { event, data };
    });
}
