import type { LightMyRequestResponse } from 'fastify';
import onnxProto from 'onnx-proto';
import { Classifier } from '../../src/model/classifier.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaType } from '../../src/proto/schema.js';
import { accurateRecipe } from '../../src/train/recipe.js';
import { decodeCheckpoint } from '../../src/train/checkpoint.js';
import { bytesToFloats, floatsToBytes } from '../../src/proto/schema.js';
import { TRAINING_NICE } from '../../src/server/runner.js';
import { SCHED_IDLE, threadPriorities } from '../helpers/threads.js';
import { writeCsv } from '../helpers/datasets.js';
import { join } from 'node:path';
import { createJob, finished, getJob, longJob, makeDataDir, parseSse, testApp, tinyJob, trainModel, waitFor, waitForJob, type DataDir, type JobBody, type TestApp } from './helpers.js';

describe('the life of a job', () => {
  let data: DataDir;
  let app: TestApp;
  /** A tiny job queued and trained to the end before the tests; they read it and never change it. */
  let trained: { response: LightMyRequestResponse; statuses: Set<string>; job: JobBody };
  let jobId: string;
  let modelId: string;
  let testAccuracy: number;

  beforeAll(async () => {
    data = await makeDataDir();
    app = testApp(data);
    const response = await app.inject({ method: 'POST', url: '/jobs', payload: tinyJob(data) });
    if (response.statusCode !== 202) throw new Error(`POST /jobs answered ${response.statusCode}: ${response.body}`);
    const statuses = new Set<string>();
    const job = await waitForJob(app, response.json<{ id: string }>().id, (j) => {
      statuses.add(j.status);
      return finished(j);
    });
    if (job.status !== 'succeeded' || job.modelId === null) throw new Error(`the tiny job ${job.status}: ${JSON.stringify(job.error)}`);
    trained = { response, statuses, job };
    jobId = job.id;
    modelId = job.modelId;
    testAccuracy = job.test!.accuracy;
  });
  afterAll(async () => {
    await app.close();
    await data.remove();
  });

  it('queues with 202 and a Location, runs, succeeds and produces a model', () => {
    const { response, statuses, job } = trained;
    expect(response.statusCode).toBe(202);
    const body = response.json<{ id: string; status: string }>();
    expect(body.status).toBe('queued');
    expect(response.headers.location).toBe(`/jobs/${body.id}`);
    expect(job.id).toBe(body.id);
    expect(job.status).toBe('succeeded');
    expect(statuses.has('running') || statuses.has('queued')).toBe(true);
    expect(job.history).toHaveLength(1);
    expect(job.history[0]!.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(job.progress?.fraction).toBe(1);
    expect(job.test!.accuracy).toBeGreaterThan(0.75);
    expect(job.modelId).toMatch(/^model-/);
    expect(job.recipe).toMatchObject({ ...accurateRecipe, hidden: [{ width: 64, activation: 'relu' }], batchSize: 100, epochs: 2 });
    expect(job.dataset).toEqual(data.dataset);
    expect(job.startedAt).not.toBeNull();
    expect(job.finishedAt).not.toBeNull();
  });

  it('lists jobs newest first, filtered by status and paginated', async () => {
    const list = async (query: string) => (await app.inject({ url: `/jobs?${query}` })).json<{ jobs: { id: string; status: string }[]; total: number }>();
    const before = (await list('limit=1')).total;
    const older = await createJob(app, tinyJob(data, { epochs: 1 }));
    const newer = await createJob(app, tinyJob(data, { epochs: 1, seed: 2 }));
    for (const id of [older, newer]) expect((await waitForJob(app, id, finished)).status).toBe('succeeded');
    const all = await list('limit=2');
    expect(all.jobs.map((j) => j.id)).toEqual([newer, older]);
    expect(all.total).toBe(before + 2);
    expect((await list('limit=1&offset=1')).jobs.map((j) => j.id)).toEqual([older]);
    const succeeded = await list('status=succeeded&limit=100');
    expect(succeeded.jobs.map((j) => j.id)).toEqual(expect.arrayContaining([newer, older, jobId]));
    expect(new Set(succeeded.jobs.map((j) => j.status))).toEqual(new Set(['succeeded']));
    const cancelled = await list('status=cancelled&limit=100');
    expect(cancelled.jobs.map((j) => j.id)).not.toContain(newer);
    expect(cancelled.jobs.every((j) => j.status === 'cancelled')).toBe(true);
  });

  it('replays every epoch and the end over Server-Sent Events', async () => {
    const response = await app.inject({ url: `/jobs/${jobId}/events` });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = parseSse(response.body);
    expect(events.map((e) => e.event)).toEqual(['epoch', 'epoch', 'end']);
    expect(events[0]!.data).toMatchObject({ fold: 1, epoch: 1, validAccuracy: null });
    expect(events[2]!.data).toMatchObject({ id: jobId, status: 'succeeded', modelId });
  });

  it('serves the report and the curves', async () => {
    const report = await app.inject({ url: `/jobs/${jobId}/report` });
    expect(report.statusCode).toBe(200);
    expect(report.json()).toMatchObject({ jobId, selectedFold: 1, test: { accuracy: testAccuracy } });
    expect(report.json<{ markdown: string }>().markdown).toContain('| Fold');
    const svg = await app.inject({ url: `/jobs/${jobId}/curves.svg` });
    expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(svg.body).toContain('<svg');
    const png = await app.inject({ url: `/jobs/${jobId}/curves.png` });
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.rawPayload.subarray(1, 4).toString()).toBe('PNG');
  });

  it('registers the model with its architecture, metrics and checkpoint', async () => {
    const list = (await app.inject({ url: '/models' })).json<{ models: { id: string }[]; defaultModel: string }>();
    expect(list.models.map((m) => m.id)).toContain(modelId);
    const model = (await app.inject({ url: `/models/${modelId}` })).json<Record<string, unknown>>();
    expect(model).toMatchObject({ id: modelId, jobId, testAccuracy, architecture: { inputRows: 28, inputCols: 28, classes: 10 } });
    const file = await app.inject({ url: `/models/${modelId}/checkpoint` });
    expect(file.headers['content-type']).toBe('application/x-protobuf');
    const checkpoint = decodeCheckpoint(file.rawPayload);
    expect(checkpoint.metrics!.testAccuracy).toBeCloseTo(testAccuracy, 12);
    // The same model as ONNX: the file the classifier exports, its recipe in the metadata.
    const onnxFile = await app.inject({ url: `/models/${modelId}/model.onnx` });
    expect(onnxFile.statusCode).toBe(200);
    expect(onnxFile.headers['content-disposition']).toBe(`attachment; filename="${modelId}.onnx"`);
    expect(Buffer.from(onnxFile.rawPayload).equals(Buffer.from(new Classifier(checkpoint).toOnnx(app.fastmlp.version)))).toBe(true);
    const onnxModel = onnxProto.onnx.ModelProto.decode(onnxFile.rawPayload);
    expect(JSON.parse(onnxModel.metadataProps.find((p) => p.key === 'recipe')!.value!)).toEqual(checkpoint.recipe);
    expect((await app.inject({ url: '/models/model-none/model.onnx' })).statusCode).toBe(404);
  });

  it('predicts the test digits through /predict with the accuracy the job reported', async () => {
    const images = Array.from({ length: data.test.count }, (_, i) => Array.from(data.test.pixels.subarray(i * 784, (i + 1) * 784)));
    const response = await app.inject({ method: 'POST', url: '/predict', payload: { images, model: modelId } });
    expect(response.statusCode).toBe(200);
    const { predictions, model } = response.json<{ model: string; predictions: { label: number; probabilities: number[] }[] }>();
    expect(model).toBe(modelId);
    const correct = predictions.filter((p, i) => p.label === data.test.labels[i]).length;
    expect(correct / data.test.count).toBeCloseTo(testAccuracy, 2);
    expect(predictions[0]!.probabilities).toHaveLength(10);
    expect(predictions[0]!.probabilities.reduce((a, b) => a + b)).toBeCloseTo(1, 4);

    const single = await app.inject({ method: 'POST', url: '/predict', payload: { pixels: images[0], model: modelId } });
    expect(single.json()).toMatchObject({ label: predictions[0]!.label });
    const unit = await app.inject({ method: 'POST', url: '/predict', payload: { pixels: images[0]!.map((v) => v / 255), scale: 'unit', model: modelId } });
    expect(unit.json<{ label: number }>().label).toBe(predictions[0]!.label);
  });

  it('speaks protobuf: PredictRequest in, PredictResponse out', async () => {
    const request = schemaType('PredictRequest');
    const pixels = Float32Array.from(data.test.pixels.subarray(0, 3 * 784));
    const bytes = request.encode(request.fromObject({ pixels: floatsToBytes(pixels), count: 3, scale: 1 })).finish();
    const response = await app.inject({ method: 'POST', url: '/predict', payload: Buffer.from(bytes), headers: { 'content-type': 'application/x-protobuf' } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-protobuf');
    const type = schemaType('PredictResponse');
    const message = type.toObject(type.decode(response.rawPayload)) as { model: string; predictions: { label?: number; probabilities: Uint8Array }[] };
    expect(message.predictions).toHaveLength(3);
    expect(bytesToFloats(message.predictions[0]!.probabilities)).toHaveLength(10);
    const json = await app.inject({ method: 'POST', url: '/predict', payload: { images: [0, 1, 2].map((i) => Array.from(pixels.subarray(i * 784, (i + 1) * 784))) } });
    expect(message.predictions.map((p) => p.label ?? 0)).toEqual(json.json<{ predictions: { label: number }[] }>().predictions.map((p) => p.label));
  });

  it('answers the Open Inference Protocol', async () => {
    expect((await app.inject({ url: '/v2/health/live' })).json()).toEqual({ live: true });
    expect((await app.inject({ url: '/v2/health/ready' })).json()).toEqual({ ready: true });
    const meta = (await app.inject({ url: `/v2/models/${modelId}` })).json<Record<string, unknown>>();
    expect(meta).toMatchObject({ name: modelId, inputs: [{ datatype: 'FP32', shape: [-1, 784] }] });
    expect((await app.inject({ url: '/v2/models/default/ready' })).json()).toMatchObject({ name: 'default', ready: true });
    const data2 = Array.from(data.test.pixels.subarray(0, 2 * 784));
    const response = await app.inject({
      method: 'POST',
      url: `/v2/models/${modelId}/infer`,
      payload: { id: 'r1', inputs: [{ name: 'images', shape: [2, 784], datatype: 'UINT8', data: data2 }] },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json<{ id: string; outputs: { name: string; shape: number[]; data: number[] }[] }>();
    expect(body.id).toBe('r1');
    const labels = body.outputs.find((o) => o.name === 'label')!;
    expect(labels.shape).toEqual([2]);
    const probabilities = body.outputs.find((o) => o.name === 'probabilities')!;
    expect(probabilities.shape).toEqual([2, 10]);
    expect(probabilities.data).toHaveLength(20);
    const fp32 = await app.inject({
      method: 'POST',
      url: `/v2/models/${modelId}/infer`,
      payload: { inputs: [{ name: 'images', shape: [2, 784], datatype: 'FP32', data: data2.map((v) => v / 255) }], parameters: { scale: 'unit' }, outputs: [{ name: 'label' }] },
    });
    expect(fp32.json<{ outputs: { name: string; data: number[] }[] }>().outputs).toEqual([{ name: 'label', datatype: 'INT64', shape: [2], data: labels.data }]);
  });

  it('cancels a running job within a batch, idempotently, and refuses to cancel a finished one', async () => {
    const id = await createJob(app, longJob(data));
    await waitForJob(app, id, (j) => j.status === 'running' && (j.history[0]?.epochs.length ?? 0) >= 1);
    const first = await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` });
    expect(first.statusCode).toBe(202);
    expect(['cancelling', 'cancelled']).toContain(first.json<{ status: string }>().status);
    // While it stops, a second cancel is accepted again; once it has stopped, it is a finished job.
    const again = await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` });
    expect([202, 409]).toContain(again.statusCode);
    const job = await waitForJob(app, id, finished, 10_000);
    expect(job.status).toBe('cancelled');
    expect(job.modelId).toBeNull();
    const late = await app.inject({ method: 'POST', url: `/jobs/${id}/cancel` });
    expect(late.statusCode).toBe(409);
    expect((await app.inject({ method: 'POST', url: `/jobs/${jobId}/cancel` })).statusCode).toBe(409);
  });

  it('cancels a queued job at once, and keeps answering /predict while a job trains', async () => {
    const running = await createJob(app, longJob(data));
    const queued = await createJob(app, tinyJob(data));
    expect((await getJob(app, queued)).status).toBe('queued');
    expect((await app.inject({ method: 'POST', url: `/jobs/${queued}/cancel` })).json()).toEqual({ id: queued, status: 'cancelled' });
    await waitForJob(app, running, (j) => j.status === 'running');
    const during = await app.inject({ method: 'POST', url: '/predict', payload: { pixels: Array.from(data.test.pixels.subarray(0, 784)) } });
    expect(during.statusCode).toBe(200);
    if (process.platform === 'linux') {
      // The job's thread runs below the event loop, which keeps its priority.
      const idle = () => [...threadPriorities()].filter(([, p]) => p.policy === SCHED_IDLE && p.nice === TRAINING_NICE);
      await waitFor(() => idle().length > 0, 10_000, `a thread of job ${running} at SCHED_IDLE, nice ${TRAINING_NICE}`);
      expect(threadPriorities().get(String(process.pid))).toEqual({ nice: 0, policy: 0 });
    }
    expect((await app.inject({ method: 'DELETE', url: `/jobs/${running}` })).statusCode).toBe(409);
    await app.inject({ method: 'POST', url: `/jobs/${running}/cancel` });
    await waitForJob(app, running, finished, 10_000);
  });

  it('trains on a CSV pair in the data directory to the model its idx files give', async () => {
    await writeCsv(join(data.dir, 'digits', 'train.csv'), data.train);
    await writeCsv(join(data.dir, 'digits', 'test.csv.gz'), data.test, { gzip: true });
    const id = await createJob(app, tinyJob(data, { dataset: { train: 'digits/train.csv', test: 'digits/test.csv.gz' } }));
    const job = await waitForJob(app, id, finished);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.dataset).toEqual({ train: 'digits/train.csv', test: 'digits/test.csv.gz' });
    expect(job.test).toEqual(trained.job.test);
  });

  it('deletes a finished job and a model with its checkpoint', async () => {
    const other = await trainModel(app, data);
    expect((await app.inject({ method: 'DELETE', url: `/jobs/${other.id}` })).statusCode).toBe(204);
    expect((await app.inject({ url: `/jobs/${other.id}` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: `/models/${other.modelId}` })).statusCode).toBe(204);
    expect((await app.inject({ url: `/models/${other.modelId}` })).statusCode).toBe(404);
    expect((await app.inject({ url: `/models/${other.modelId}/checkpoint` })).statusCode).toBe(404);
    // The other model still answers.
    expect((await app.inject({ url: `/models/${modelId}` })).statusCode).toBe(200);
  });
});
