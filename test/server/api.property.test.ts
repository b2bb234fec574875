/**
 * The HTTP API under a few thousand generated requests: every route, random methods, content types and
 * headers, bodies from near-valid to garbage. Whatever comes in, the answer is never a 5xx other than a
 * 503 that says why, every 4xx is a JSON error (a 400 names its field), and the service is as it was after.
 */
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floatsToBytes, schemaType } from '../../src/proto/schema.js';
import { DEFAULT_MODEL_NAME } from '../../src/server/routes/v2.js';
import { makeDataDir, testApp, tinyJob, trainModel, type DataDir, type TestApp } from './helpers.js';

const SEED = 1_234_567;
/** Guards creating, cancelling and deleting; never sent, so no request here queues a job or removes a model. */
const TOKEN = 'not-sent-by-any-request';

/** The probes whose 503 is the answer itself: not ready, with what is missing. */
const READINESS = new Set(['/readyz', '/v2/health/ready']);

interface Known {
  jobId: string;
  modelId: string;
  pixels: number[];
}

/** A JSON value a field might hold instead of the right one. */
const junk = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 256, 1e309, -0.5, '', '0', [], {}, Number.NaN, 'NaN'),
  fc.integer({ min: -1000, max: 1000 }),
  fc.double(),
  fc.string({ maxLength: 12 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** An object with one field set, removed or added. */
function mutated(base: Record<string, unknown>, keys: readonly string[]) {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(base) },
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...keys), junk).map(([key, value]) => ({ ...base, [key]: value })) },
    { weight: 1, arbitrary: fc.constantFrom(...keys).map((key) => Object.fromEntries(Object.entries(base).filter(([k]) => k !== key))) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 10 }), junk).map(([key, value]) => ({ ...base, [key]: value })) },
  );
}

/** An image near a real one: as it is, one value changed, or too short or long. */
function nearImage(pixels: number[]) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(pixels) },
    { weight: 3, arbitrary: fc.tuple(fc.nat(pixels.length - 1), junk).map(([i, value]) => pixels.map((v, j) => (j === i ? value : v))) },
    { weight: 1, arbitrary: fc.nat(pixels.length + 4).map((n) => Array.from({ length: n }, (_, i) => pixels[i % pixels.length]!)) },
    { weight: 1, arbitrary: fc.constant(pixels.map((v) => v / 255)) },
  );
}

function predictJson(known: Known) {
  const { pixels, modelId } = known;
  const valid = fc.oneof(
    fc.constant({ pixels }),
    fc.constant({ pixels: pixels.map((v) => v / 255), scale: 'unit' }),
    fc.constant({ pixels, scale: 'byte', model: modelId }),
    fc.integer({ min: 1, max: 3 }).map((n) => ({ images: Array.from({ length: n }, () => pixels) })),
  );
  const nearImages = fc.tuple(fc.integer({ min: 0, max: 3 }), nearImage(pixels)).map(([n, near]) => ({ images: Array.from({ length: n }, (_, i) => (i === n - 1 ? near : pixels)) }));
  return fc.oneof(
    { weight: 2, arbitrary: valid },
    { weight: 2, arbitrary: fc.oneof(nearImage(pixels).map((near) => ({ pixels: near })), nearImages) },
    { weight: 3, arbitrary: valid.chain((body) => mutated(body, ['pixels', 'images', 'scale', 'model'])) },
  );
}

function predictProtobuf(known: Known) {
  const type = schemaType('PredictRequest');
  const valid = fc.record({
    count: fc.integer({ min: 1, max: 3 }),
    model: fc.constantFrom('', known.modelId),
    scale: fc.constantFrom(0, 1),
  }).map((message) => ({ ...message, images: message.count, extra: 0, poison: undefined }));
  const near = fc.record({
    count: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(1000, 1001, 4_294_967_295)),
    images: fc.integer({ min: 0, max: 3 }),
    extra: fc.constantFrom(0, 0, 1, -1),
    poison: fc.option(fc.tuple(fc.nat(783), fc.constantFrom(Number.NaN, -1, 256, Number.POSITIVE_INFINITY, 0.5))),
    model: fc.oneof(fc.constant(''), fc.constant(known.modelId), fc.string({ maxLength: 70 })),
    scale: fc.integer({ min: 0, max: 3 }),
  });
  return fc.oneof(valid, near).map(({ count, images, extra, poison, model, scale }) => {
    const pixels = Float32Array.from({ length: Math.max(0, images * 784 + extra) }, (_, i) => known.pixels[i % 784]!);
    if (poison && pixels.length > poison[0]) pixels[poison[0]] = poison[1];
    return Buffer.from(type.encode(type.fromObject({ pixels: floatsToBytes(pixels), count, model, scale })).finish());
  });
}

function v2Infer(known: Known) {
  const input = fc.record({ n: fc.integer({ min: 1, max: 2 }), unit: fc.boolean(), nested: fc.boolean() }).map(({ n, unit, nested }) => {
    const rows = Array.from({ length: n }, () => (unit ? known.pixels.map((v) => v / 255) : known.pixels));
    return { body: { inputs: [{ name: 'images', shape: [n, 784], datatype: unit ? 'FP32' : 'UINT8', data: nested ? rows : rows.flat() }], ...(unit ? { parameters: { scale: 'unit' } } : {}) }, n };
  });
  const keys = ['name', 'shape', 'datatype', 'data', 'parameters'];
  return fc.oneof(
    { weight: 2, arbitrary: input.map(({ body }) => body) },
    { weight: 1, arbitrary: input.map(({ body }) => ({ ...body, id: 'r1', outputs: [{ name: 'label' }] })) },
    { weight: 3, arbitrary: input.chain(({ body }) => mutated(body.inputs[0]!, keys).map((first) => ({ ...body, inputs: [first] }))) },
    { weight: 2, arbitrary: input.chain(({ body }) => mutated(body, ['id', 'inputs', 'parameters', 'outputs'])) },
  );
}

function jobBody(data: DataDir) {
  const base = tinyJob(data);
  const paths = fc.constantFrom('../../../etc/passwd', '/etc/hostname', 'digits/none.idx', data.dataset.trainImages, '');
  return fc.oneof(
    mutated(base, [...Object.keys(base), 'lr', 'folds', 'seed', 'optimizer', 'schedule', 'init', 'normalization', 'testEveryEpoch']),
    paths.map((path) => ({ ...base, dataset: { ...data.dataset, trainImages: path } })),
    fc.constant({}),
  );
}

/** A value one time in five, else undefined. */
const rarely = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });

/** A body: a JS value sent as JSON, bytes or text as they are, or nothing. */
type Body = { json: unknown } | { raw: Buffer | string } | undefined;

interface Spec {
  method: string;
  path: string;
  body: Body;
  contentType: string | undefined;
  headers: Record<string, string>;
}

const garbage: fc.Arbitrary<Body> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((json) => ({ json })),
  fc.string({ maxLength: 40 }).map((raw) => ({ raw })),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ raw: Buffer.from(bytes) })),
  fc.constantFrom<Body>(undefined, { raw: '' }, { raw: '{' }, { raw: '{"pixels": [1,' }, { raw: '{"__proto__": {"x": 1}}' }, { raw: 'null' }),
);

/** A JSON body cut short or left alone. */
const truncated = (body: fc.Arbitrary<unknown>): fc.Arbitrary<Body> =>
  fc.tuple(body, rarely(fc.double({ min: 0, max: 1, noNaN: true }))).map(([json, cut]) => {
    if (cut === undefined) return { json };
    const text = JSON.stringify(json) ?? '';
    return { raw: text.slice(0, Math.floor(text.length * cut)) };
  });

function requests(known: Known, data: DataDir): fc.Arbitrary<Spec> {
  const segment = fc.oneof(
    fc.constantFrom(known.jobId, known.modelId, 'default', 'job-000000000000', 'model-000000000000', '', '.', '..', '%', '%zz', '%E0%A4%A', 'x'.repeat(65), 'x'.repeat(101)),
    fc.string({ maxLength: 20 }).map(encodeURIComponent),
    fc.string({ unit: 'grapheme', maxLength: 8 }).map(encodeURIComponent),
  );
  const modelName = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(DEFAULT_MODEL_NAME, known.modelId) }, { weight: 1, arbitrary: segment });
  const query = fc.oneof(
    fc
      .dictionary(fc.constantFrom('status', 'limit', 'offset', 'foo', ''), fc.oneof(fc.constantFrom('queued', 'succeeded', 'finished', '-1', '0', '1', '100', '101', 'abc', ''), fc.string({ maxLength: 8 })), { maxKeys: 3 })
      .map((params) => new URLSearchParams(params).toString()),
    fc.constantFrom('limit=1&limit=2', '%', 'status', '=', 'limit=1e3', 'offset=0x10'),
  );
  const noBody = fc.constant<Body>(undefined);
  // [method, path, body] of every route, with generated parts.
  const routes: fc.Arbitrary<[string, string, Body]>[] = [
    fc.tuple(fc.constant('POST'), fc.constant('/predict'), fc.oneof({ weight: 5, arbitrary: truncated(predictJson(known)) }, { weight: 1, arbitrary: garbage })),
    fc.tuple(fc.constant('POST'), fc.constant('/predict'), fc.oneof(predictProtobuf(known).map((raw) => ({ raw })), garbage)),
    fc.tuple(fc.constant('GET'), fc.constantFrom('/v2', '/v2/health/live', '/v2/health/ready'), noBody),
    fc.tuple(fc.constant('GET'), modelName.map((name) => `/v2/models/${name}`), noBody),
    fc.tuple(fc.constant('GET'), modelName.map((name) => `/v2/models/${name}/ready`), noBody),
    fc.tuple(fc.constant('POST'), modelName.map((name) => `/v2/models/${name}/infer`), fc.oneof({ weight: 4, arbitrary: truncated(v2Infer(known)) }, { weight: 1, arbitrary: garbage })),
    fc.tuple(fc.constant('POST'), fc.constant('/jobs'), fc.oneof({ weight: 3, arbitrary: truncated(jobBody(data)) }, { weight: 1, arbitrary: garbage })),
    fc.tuple(fc.constant('GET'), query.map((q) => `/jobs?${q}`), noBody),
    fc.tuple(fc.constant('GET'), fc.tuple(segment, fc.constantFrom('', '/events', '/report', '/curves.svg', '/curves.png')).map(([id, tail]) => `/jobs/${id}${tail}`), noBody),
    fc.tuple(fc.constantFrom('POST', 'DELETE'), fc.tuple(segment, fc.constantFrom('/cancel', '')).map(([id, tail]) => `/jobs/${id}${tail}`), garbage),
    fc.tuple(fc.constant('GET'), fc.tuple(segment, fc.constantFrom('', '/checkpoint')).map(([id, tail]) => `/models/${id}${tail}`), noBody),
    fc.tuple(fc.constantFrom('GET', 'DELETE'), fc.constant('/models'), noBody),
    fc.tuple(fc.constant('DELETE'), segment.map((id) => `/models/${id}`), noBody),
    fc.tuple(fc.constant('GET'), fc.constantFrom('/healthz', '/readyz', '/metrics', '/', '/docs', '/docs/json', '/docs/static/none.js', '/web/none.js'), noBody),
    fc.tuple(fc.constant('GET'), fc.webPath().map((path) => (path.startsWith('/') ? path : `/${path}`)), noBody),
  ];
  return fc.record({
    route: fc.oneof(...routes),
    // Mostly the route's own method, sometimes any.
    method: rarely(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS')),
    contentType: rarely(
      fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/x-protobuf', 'text/plain', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'garbage', 'application/json; charset=latin1'),
    ),
    headers: fc.record(
      {
        accept: fc.constantFrom('application/json', '*/*', 'text/html', 'application/x-protobuf', 'text/event-stream', 'x/y;q=oops'),
        authorization: fc.constantFrom('Bearer wrong', 'Basic abc', 'Bearer ', 'Bearer'),
        'x-request-id': fc.string({ maxLength: 16 }),
        'accept-encoding': fc.constantFrom('gzip', 'identity', 'br, zstd'),
      },
      { requiredKeys: [] },
    ),
  }).map(({ route: [routeMethod, path, body], method, contentType, headers }) => ({
    method: method ?? routeMethod,
    path,
    body,
    // A protobuf message goes out as protobuf unless another type was drawn.
    contentType: contentType ?? (body && 'raw' in body && Buffer.isBuffer(body.raw) && path === '/predict' ? 'application/x-protobuf' : undefined),
    headers,
  }));
}

function injectOptions(spec: Spec): InjectOptions {
  const headers: Record<string, string> = { ...spec.headers };
  if (spec.contentType !== undefined) headers['content-type'] = spec.contentType;
  const options: InjectOptions = { method: spec.method as InjectOptions['method'], url: spec.path, headers };
  if (spec.body === undefined) return options;
  if ('json' in spec.body) {
    headers['content-type'] ??= 'application/json';
    return { ...options, payload: JSON.stringify(spec.body.json) ?? 'null' };
  }
  return { ...options, payload: spec.body.raw };
}

/** What every answer must be, whatever the request. */
function checkAnswer(spec: Spec, response: LightMyRequestResponse): void {
  const status = response.statusCode;
  const what = `${spec.method} ${spec.path} (${spec.contentType ?? 'no content type'}) answered ${status}: ${response.body.slice(0, 300)}`;
  expect(status < 500 || status === 503, what).toBe(true);
  // A HEAD answer has no body to read.
  if (spec.method === 'HEAD') return;
  const json = /^application\/json/.test(String(response.headers['content-type']));
  if (status < 400) {
    if (json) expect(() => JSON.parse(response.body), what).not.toThrow();
    return;
  }
  expect(json, what).toBe(true);
  const body = JSON.parse(response.body) as Record<string, unknown>;
  const path = spec.path.split('?')[0]!;
  if (status === 503 && READINESS.has(path)) {
    expect(body.status === 'unavailable' || body.ready === false, what).toBe(true);
    return;
  }
  expect(body.statusCode, what).toBe(status);
  expect(typeof body.error === 'string' && body.error.length > 0, what).toBe(true);
  if (status === 503) expect(body.error, what).not.toMatch(/^Service Unavailable$/i);
  // Where a route validates what it is given, the error names the field.
  if (status === 400 || status === 415) expect(typeof body.field === 'string' && /^(body|querystring|params|headers|url)\b/.test(body.field), what).toBe(true);
}

async function runRequests(app: TestApp, known: Known, data: DataDir, numRuns: number, seed: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(requests(known, data), async (spec) => {
      checkAnswer(spec, await app.inject(injectOptions(spec)));
    }),
    { seed, numRuns, endOnFailure: false },
  );
}

const predictOne = (app: TestApp, pixels: number[]) => app.inject({ method: 'POST', url: '/predict', payload: { pixels } });

describe('the HTTP API under generated requests', () => {
  let data: DataDir;
  let known: Known;

  beforeAll(async () => {
    data = await makeDataDir();
    const trainer = testApp(data);
    try {
      const job = await trainModel(trainer, data);
      known = { jobId: job.id, modelId: job.modelId, pixels: Array.from(data.test.pixels.subarray(0, 784)) };
    } finally {
      await trainer.close();
    }
  });
  afterAll(async () => {
    await data.remove();
  });

  it('answers every request with a 4xx naming the field, a 2xx, or a 503 that says why; then answers as before', async () => {
    const app = testApp(data, { token: TOKEN, docs: true });
    try {
      const before = await predictOne(app, known.pixels);
      expect(before.statusCode, before.body).toBe(200);
      await runRequests(app, known, data, 2500, SEED);
      expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
      expect((await app.inject({ url: '/readyz' })).json()).toMatchObject({ status: 'ok', model: known.modelId, training: 0 });
      const after = await predictOne(app, known.pixels);
      expect(after.statusCode, after.body).toBe(200);
      expect(after.json()).toEqual(before.json());
      expect((await app.inject({ url: '/models' })).json<{ models: unknown[] }>().models).toHaveLength(1);
      expect((await app.inject({ url: '/jobs' })).json<{ total: number }>().total).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('without a model, answers /predict with a 503 that says why, and the rest as always', async () => {
    const empty = await makeDataDir();
    const app = testApp(empty, { token: TOKEN });
    try {
      const none = await predictOne(app, known.pixels);
      expect(none.statusCode).toBe(503);
      expect(none.json<{ error: string }>().error).toMatch(/^No model yet: no job is training/);
      await runRequests(app, known, empty, 500, SEED + 1);
      expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
      expect((await predictOne(app, known.pixels)).statusCode).toBe(503);
      expect((await app.inject({ url: '/jobs' })).json<{ total: number }>().total).toBe(0);
    } finally {
      await app.close();
      await empty.remove();
    }
  });
});
