import { describe, expect, it } from 'vitest';
import { importOnnx } from '../../src/onnx/import.js';
import { encodeCheckpoint } from '../../src/train/checkpoint.js';
import { tinyCheckpoints } from '../helpers/models.js';
import { refusals, torchFixture } from '../helpers/onnx-graphs.js';
import { appPerTest, makeDataDir, testApp, type TestApp } from './helpers.js';

interface ModelBody {
  id: string;
  name: string | null;
  version: number | null;
  recipe: unknown;
  metrics: unknown;
  testAccuracy: number | null;
  importedFrom: { producerName: string; input: unknown } | null;
  architecture: { layers: { activation: string }[] };
}

const gemm = torchFixture('torch-gemm');
const convention = 'inputScale=unit&mean=0.1307&std=0.3081';

function upload(app: TestApp, bytes: Uint8Array, query = '', headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: `/models${query ? `?${query}` : ''}`, headers: { 'content-type': 'application/octet-stream', ...headers }, payload: Buffer.from(bytes) });
}

describe('POST /models', () => {
  const ctx = appPerTest();
  const pixels = () => Array.from(ctx.data.test.pixels.subarray(0, 784));

  it('imports a PyTorch model that /predict, KServe v2 and the model list serve, the name giving versions', async () => {
    const created = await upload(ctx.app, gemm.bytes, `name=torch&${convention}`);
    expect(created.statusCode, created.body).toBe(201);
    const model = created.json<ModelBody>();
    expect(model).toMatchObject({ name: 'torch', version: 1, recipe: null, metrics: null, testAccuracy: null, importedFrom: { producerName: 'pytorch', input: { scale: 'unit', mean: 0.1307, std: 0.3081 } } });
    expect(model.architecture.layers.map((l) => l.activation)).toEqual(['relu', 'sigmoid', 'softmax']);

    // The first test digit, as PyTorch classified it, in bytes and in 0–1.
    const predict = await ctx.app.inject({ method: 'POST', url: '/predict', payload: { model: 'torch', pixels: pixels() } });
    expect(predict.statusCode).toBe(200);
    const answer = predict.json<{ model: string; label: number; probabilities: number[] }>();
    expect(answer).toMatchObject({ model: model.id, label: gemm.labels[0] });
    answer.probabilities.forEach((p, j) => expect(Math.abs(p - gemm.probabilities[0]![j]!)).toBeLessThan(1e-5));
    const unit = await ctx.app.inject({ method: 'POST', url: '/predict', payload: { model: model.id, scale: 'unit', pixels: pixels().map((v) => v / 255) } });
    expect(unit.json()).toMatchObject({ label: gemm.labels[0] });
    const infer = await ctx.app.inject({ method: 'POST', url: '/v2/models/torch/infer', payload: { inputs: [{ name: 'images', shape: [1, 784], datatype: 'UINT8', data: pixels() }] } });
    expect(infer.json()).toMatchObject({ model_name: 'torch', model_version: '1', outputs: expect.arrayContaining([expect.objectContaining({ name: 'label', data: [gemm.labels[0]] })]) });

    const again = await upload(ctx.app, torchFixture('torch-matmul').bytes, 'name=torch', { 'content-type': 'application/onnx' });
    expect(again.json()).toMatchObject({ name: 'torch', version: 2, importedFrom: { input: { scale: 'byte', mean: 0, std: 1 } } });
    const list = (await ctx.app.inject({ url: '/models' })).json<{ models: ModelBody[]; defaultModel: string; names: { name: string; versions: { version: number }[] }[] }>();
    expect(list.names).toEqual([expect.objectContaining({ name: 'torch', versions: [expect.objectContaining({ version: 1, testAccuracy: null }), expect.objectContaining({ version: 2 })], resolves: 2 })]);
    expect(list.defaultModel).toBe(list.models[0]!.id);
  });

  it('re-exports an imported model as ONNX that answers as it does', async () => {
    const { id } = (await upload(ctx.app, gemm.bytes, convention)).json<ModelBody>();
    const file = await ctx.app.inject({ url: `/models/${id}/model.onnx` });
    expect(file.statusCode).toBe(200);
    const network = importOnnx(file.rawPayload);
    expect(network.layers.map((l) => [l.inputs, l.outputs])).toEqual([
      [784, 32],
      [32, 16],
      [16, 10],
    ]);
    const reimported = (await upload(ctx.app, file.rawPayload)).json<ModelBody>();
    const labelOf = async (model: string) => (await ctx.app.inject({ method: 'POST', url: '/predict', payload: { model, images: [pixels()] } })).json<{ predictions: { label: number; probabilities: number[] }[] }>().predictions[0]!;
    const [first, second] = [await labelOf(id), await labelOf(reimported.id)];
    expect(second.label).toBe(first.label);
    second.probabilities.forEach((p, j) => expect(Math.abs(p - first.probabilities[j]!)).toBeLessThan(1e-6));
  });

  it('registers a checkpoint file as it is, and refuses a damaged one or an input convention for it', async () => {
    const [checkpoint] = await tinyCheckpoints([2]);
    const bytes = encodeCheckpoint(checkpoint!);
    const created = await upload(ctx.app, bytes, 'name=digits', { 'content-type': 'application/x-protobuf' });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ name: 'digits', version: 1, importedFrom: null, recipe: checkpoint!.recipe, testAccuracy: checkpoint!.metrics.testAccuracy ?? null });
    const stored = await ctx.app.inject({ url: `/models/${created.json<ModelBody>().id}/checkpoint` });
    expect(Buffer.compare(stored.rawPayload, Buffer.from(bytes))).toBe(0);

    const damaged = Uint8Array.from(bytes);
    damaged[damaged.length - 3]! ^= 0xff;
    const refused = await upload(ctx.app, damaged, '', { 'content-type': 'application/x-protobuf' });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ field: 'body', error: expect.stringMatching(/^body: checksum mismatch/) });
    const convention = await upload(ctx.app, bytes, 'inputScale=unit');
    expect(convention.json()).toMatchObject({ statusCode: 400, field: 'querystring.inputScale' });
  });

  it.for(refusals)('answers 400 naming the problem for $name', async ({ bytes, message }) => {
    const response = await upload(ctx.app, bytes());
    expect(response.statusCode).toBe(400);
    const body = response.json<{ error: string; field: string }>();
    expect(body.field).toBe('body');
    expect(body.error.startsWith(`body: ${message}`), body.error).toBe(true);
    expect((await ctx.app.inject({ url: '/models' })).json<{ models: unknown[] }>().models).toEqual([]);
  });

  it('checks the query at the edge and takes no other body type', async () => {
    expect((await upload(ctx.app, gemm.bytes, 'std=0')).json()).toMatchObject({ statusCode: 400, field: 'querystring.std' });
    expect((await upload(ctx.app, gemm.bytes, 'name=Model-1')).json()).toMatchObject({ statusCode: 400, field: 'querystring.name' });
    expect((await upload(ctx.app, gemm.bytes, '', { 'content-type': 'text/plain' })).statusCode).toBe(415);
  });
});

describe('POST /models with limits and a token', () => {
  it('answers 413 above the model body limit and 401 without the token, registering nothing', async () => {
    const data = await makeDataDir();
    const app = testApp(data, { modelBodyLimit: 64 * 1024, token: 'secret', docs: true });
    try {
      await app.ready();
      const bearer = { authorization: 'Bearer secret' };
      expect((await upload(app, gemm.bytes)).statusCode).toBe(401);
      const tooLarge = await upload(app, gemm.bytes, '', bearer);
      expect(tooLarge.statusCode).toBe(413);
      expect(tooLarge.json()).toMatchObject({ field: 'body' });
      expect((await app.inject({ url: '/models' })).json<{ models: unknown[] }>().models).toEqual([]);
      // The OpenAPI document describes the route.
      const docs = (await app.inject({ url: '/docs/json' })).json<{ paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>> }>();
      expect(Object.keys(docs.paths['/models']!['post']!.requestBody!.content)).toEqual(['application/octet-stream', 'application/onnx', 'application/x-protobuf']);
    } finally {
      await app.close();
      await data.remove();
    }
  });

  it('keeps an imported model across a restart of the service', async () => {
    const data = await makeDataDir();
    try {
      let app = testApp(data);
      await app.ready();
      const { id } = (await upload(app, gemm.bytes, `name=torch&${convention}`)).json<ModelBody>();
      await app.close();
      app = testApp(data);
      try {
        await app.ready();
        expect((await app.inject({ url: '/models/torch' })).json()).toMatchObject({ id, version: 1, importedFrom: { producerName: 'pytorch' } });
        const predict = await app.inject({ method: 'POST', url: '/predict', payload: { model: 'torch', pixels: Array.from(data.test.pixels.subarray(0, 784)) } });
        expect(predict.json()).toMatchObject({ model: id, label: gemm.labels[0] });
      } finally {
        await app.close();
      }
    } finally {
      await data.remove();
    }
  });
});
