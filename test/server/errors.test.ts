import type { InjectOptions } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { schemaType, floatsToBytes } from '../../src/proto/schema.js';
import { JobStore } from '../../src/server/store.js';
import { accurateRecipe } from '../../src/train/recipe.js';
import { createJob, finished, longJob, makeDataDir, testApp, tinyJob, waitForJob, type DataDir, type TestApp } from './helpers.js';

interface ErrorBody {
  statusCode: number;
  error: string;
  field?: string;
}

describe('bad input is answered, never a crash', () => {
  let data: DataDir;
  let app: TestApp;
  const image = () => new Array<number>(784).fill(0);

  beforeAll(async () => {
    data = await makeDataDir();
    app = testApp(data, { bodyLimit: 256 * 1024, maxQueuedJobs: 1 });
    const id = await createJob(app, tinyJob(data));
    await waitForJob(app, id, finished);
  });
  afterAll(async () => {
    await app.close();
    await data.remove();
  });

  async function expectError(request: InjectOptions, status: number, field?: string): Promise<ErrorBody> {
    const response = await app.inject(request);
    expect(response.statusCode, response.body).toBe(status);
    const body = response.json<ErrorBody>();
    expect(body.statusCode).toBe(status);
    expect(body.error.length).toBeGreaterThan(0);
    if (field !== undefined) expect(body.field).toBe(field);
    return body;
  }
  const predict = (payload: unknown) => ({ method: 'POST' as const, url: '/predict', payload: payload as Record<string, unknown> });

  it('names the field of a wrong /predict body', async () => {
    await expectError(predict({ pixels: [1, 2, 3] }), 400, 'body.pixels');
    await expectError(predict({ pixels: [...image().slice(1), 'x'] }), 400, 'body.pixels.783');
    await expectError(predict({ pixels: [...image().slice(1), 256] }), 400, 'body.pixels.783');
    await expectError(predict({ pixels: [-1, ...image().slice(1)] }), 400, 'body.pixels.0');
    await expectError(predict({ pixels: [2, ...image().slice(1)], scale: 'unit' }), 400, 'body.pixels.0');
    await expectError(predict({ pixels: image(), scale: 'percent' }), 400, 'body.scale');
    await expectError(predict({ pixels: image(), colour: true }), 400, 'body');
    await expectError(predict({}), 400, 'body.pixels');
    await expectError(predict({ pixels: image(), images: [image()] }), 400, 'body.images');
    await expectError(predict({ images: [] }), 400, 'body.images');
    await expectError(predict({ images: [image(), [1]] }), 400, 'body.images.1');
    const malformed = { method: 'POST' as const, url: '/predict', payload: '{"pixels": [1,', headers: { 'content-type': 'application/json' } };
    await expectError(malformed, 400, 'body');
    await expectError({ ...malformed, payload: '' }, 400, 'body');
    await expectError({ ...malformed, headers: { 'content-type': 'application/xml' } }, 415, 'headers.content-type');
  });

  it('names the part of a request Fastify refuses before any route sees it', async () => {
    await expectError({ url: '/jobs/%E0%A4%A' }, 400, 'url');
    await expectError({ url: `/jobs/${'x'.repeat(101)}` }, 414, 'params');
    await expectError({ method: 'POST', url: '/jobs', payload: '{}', headers: { 'content-type': 'application/json', 'content-length': '1' } }, 400, 'headers.content-length');
  });

  it('refuses NaN and a wrong count in protobuf', async () => {
    const type = schemaType('PredictRequest');
    const encode = (pixels: Float32Array, count: number) => Buffer.from(type.encode(type.fromObject({ pixels: floatsToBytes(pixels), count })).finish());
    const headers = { 'content-type': 'application/x-protobuf' };
    const nan = new Float32Array(784);
    nan[5] = Number.NaN;
    await expectError({ method: 'POST', url: '/predict', payload: encode(nan, 1), headers }, 400, 'body.images.0.5');
    await expectError({ method: 'POST', url: '/predict', payload: encode(new Float32Array(784), 2), headers }, 400, 'body.pixels');
    await expectError({ method: 'POST', url: '/predict', payload: Buffer.from([0xff, 0xff, 0xff]), headers }, 400, 'body');
  });

  it('answers 413 for a body over the limit', async () => {
    const images = Array.from({ length: 200 }, () => new Array<number>(784).fill(255));
    await expectError(predict({ images }), 413);
  });

  it('answers 404 for unknown jobs, models and routes', async () => {
    await expectError({ url: '/jobs/job-000000000000' }, 404, 'params.id');
    await expectError({ url: '/jobs/job-000000000000/events' }, 404);
    await expectError({ method: 'POST', url: '/jobs/job-000000000000/cancel' }, 404);
    await expectError({ method: 'DELETE', url: '/jobs/job-000000000000' }, 404);
    await expectError({ url: '/models/model-000000000000' }, 404);
    await expectError({ method: 'DELETE', url: '/models/model-000000000000' }, 404);
    await expectError(predict({ pixels: image(), model: 'model-000000000000' }), 404, 'body.model');
    await expectError({ url: '/v2/models/model-000000000000' }, 404);
    await expectError({ url: '/nowhere' }, 404);
  });

  it('names the field of a wrong job body, including a dataset outside the data directory', async () => {
    await expectError({ method: 'POST', url: '/jobs', payload: { epochs: 0 } }, 400, 'body.epochs');
    await expectError({ method: 'POST', url: '/jobs', payload: { epochs: 1001 } }, 400, 'body.epochs');
    await expectError({ method: 'POST', url: '/jobs', payload: { folds: 11 } }, 400, 'body.folds');
    // Fields that fit one by one but not together.
    await expectError({ method: 'POST', url: '/jobs', payload: { folds: 3, holdout: 0.1 } }, 400, 'body.holdout');
    await expectError({ method: 'POST', url: '/jobs', payload: { recipe: 'accurate', holdout: 0.6 } }, 400, 'body.holdout');
    await expectError({ method: 'POST', url: '/jobs', payload: { recipe: 'accurate', precision: 'fp16' } }, 400, 'body.precision');
    await expectError({ method: 'POST', url: '/jobs', payload: { hidden: [{ width: 4097, activation: 'relu' }] } }, 400, 'body.hidden.0.width');
    await expectError({ method: 'POST', url: '/jobs', payload: { lr: 'fast' } }, 400, 'body.lr');
    await expectError({ method: 'POST', url: '/jobs', payload: { optimizer: { kind: 'adam' } } }, 400, 'body.optimizer.beta1');
    await expectError({ method: 'POST', url: '/jobs', payload: { learningRate: 0.1 } }, 400, 'body');
    await expectError({ method: 'POST', url: '/jobs', payload: { recipe: 'fastest' } }, 400, 'body.recipe');
    const outside = { ...data.dataset, trainImages: '../../../etc/passwd' };
    await expectError({ method: 'POST', url: '/jobs', payload: { dataset: outside } }, 400, 'body.dataset.trainImages');
    await expectError({ method: 'POST', url: '/jobs', payload: { dataset: { ...data.dataset, testLabels: '/etc/hostname' } } }, 400, 'body.dataset.testLabels');
    await expectError({ method: 'POST', url: '/jobs', payload: { dataset: { ...data.dataset, testImages: 'digits/none.idx' } } }, 400, 'body.dataset.testImages');
    await expectError({ method: 'POST', url: '/jobs', payload: { dataset: { train: 'digits/none.csv', test: 'digits/none.csv' } } }, 400, 'body.dataset.train');
    await expectError({ method: 'POST', url: '/jobs', payload: { dataset: { train: 'digits/train-images.idx' } } }, 400, 'body.dataset');
    await expectError({ url: '/jobs?status=finished' }, 400, 'querystring.status');
    await expectError({ url: '/jobs?limit=0' }, 400, 'querystring.limit');
  });

  it('fails a job whose files are not idx files, with the reason', async () => {
    await writeFile(join(data.dir, 'digits', 'junk.idx'), 'not an idx file');
    const id = await createJob(app, tinyJob(data, { dataset: { ...data.dataset, trainImages: 'digits/junk.idx' } }));
    const job = await waitForJob(app, id, finished);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ reason: 'error' });
    expect(job.error!.message).toContain('junk.idx');
  });

  it('answers 409 and 503 for a full queue', async () => {
    const running = await createJob(app, longJob(data));
    await waitForJob(app, running, (j) => j.status === 'running');
    const queued = await createJob(app, tinyJob(data));
    const full = await app.inject({ method: 'POST', url: '/jobs', payload: tinyJob(data) });
    expect(full.statusCode).toBe(503);
    expect(full.headers['retry-after']).toBeDefined();
    await expectError({ method: 'DELETE', url: `/jobs/${running}` }, 409);
    await app.inject({ method: 'POST', url: `/jobs/${queued}/cancel` });
    await app.inject({ method: 'POST', url: `/jobs/${running}/cancel` });
    await waitForJob(app, running, finished, 10_000);
  });
});

describe('before the first model', () => {
  // Each test over an empty data directory of its own.
  let data: DataDir;
  let app: TestApp | undefined;

  beforeEach(async () => {
    data = await makeDataDir();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await data.remove();
  });

  it('answers /predict with 503 and says where to watch the bootstrap job', async () => {
    app = testApp(data, { bootstrap: true });
    const jobs = (await app.inject({ url: '/jobs' })).json<{ jobs: { id: string; recipe: unknown }[]; total: number }>();
    expect(jobs.total).toBe(1);
    expect(jobs.jobs[0]!.recipe).toEqual(accurateRecipe);
    const id = jobs.jobs[0]!.id;
    const response = await app.inject({ method: 'POST', url: '/predict', payload: { pixels: new Array(784).fill(0) } });
    expect(response.statusCode).toBe(503);
    expect(response.json<ErrorBody>().error).toContain(`/jobs/${id}/events`);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/v2/health/ready' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` })).statusCode).toBe(202);
    expect((await waitForJob(app, id, finished)).status).toBe('cancelled');
  });

  it('does not bootstrap again over a store that has jobs, and is not ready without model or job', async () => {
    const store = new JobStore(join(data.dir, 'fastmlp.db'));
    store.finish(store.createJob({ recipe: accurateRecipe, testEveryEpoch: false }).id, 'cancelled');
    store.close();
    app = testApp(data, { bootstrap: true });
    expect((await app.inject({ url: '/jobs' })).json<{ total: number }>().total).toBe(1);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
  });

  it('needs the bearer token to create, cancel or delete when one is set', async () => {
    app = testApp(data, { token: 's3cret' });
    const denied = await app.inject({ method: 'POST', url: '/jobs', payload: tinyJob(data) });
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Bearer');
    expect((await app.inject({ method: 'POST', url: '/jobs', payload: tinyJob(data), headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    const id = await createJob(app, tinyJob(data), { authorization: 'Bearer s3cret' });
    expect((await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` })).statusCode).toBe(401);
    expect((await app.inject({ method: 'DELETE', url: `/jobs/${id}` })).statusCode).toBe(401);
    expect((await app.inject({ url: `/jobs/${id}` })).statusCode).toBe(200);
    await waitForJob(app, id, finished);
  });
});
