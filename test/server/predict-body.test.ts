import { isDeepStrictEqual } from 'node:util';
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { Rng } from '../../src/nn/rng.js';
import {
  CheckedPredictInput,
  acceptPixelsJson,
  acceptPredictBody,
  checkedPredictBody,
  joinFloats,
  predictBody,
  predictJsonParser,
  type PredictBody,
  type PredictInput,
} from '../../src/server/predict-body.js';
import { IMAGE_PIXELS, MAX_BATCH } from '../../src/server/schemas.js';
import { makeDataDir, testApp, trainModel, type DataDir, type TestApp } from './helpers.js';

const rng = new Rng(7);
const image = (max = 255, integer = true) => Array.from({ length: IMAGE_PIXELS }, () => (integer ? rng.uniformInt(max + 1) : rng.nextDouble() * max));
const filled = (value: number) => new Array<number>(IMAGE_PIXELS).fill(value);
/** An image of small integers with one value changed. */
const withPixel = (i: number, value: unknown): unknown[] => image().map((v, j) => (j === i ? value : v));

/** Why the native reader may decline a valid body, as its documentation says; the JSON.parse fallback then reads it. */
type ReaderDeclines = 'non-ASCII string' | 'escaped string';

interface Row {
  name: string;
  body: unknown;
  /** Accepted with this value, or rejected naming this field (as the 400 does). */
  verdict: { value: PredictBody; readerDeclines?: ReaderDeclines } | { field: string };
}

const one = image();
const fractional = image(255, false);
const unit = image(1, false);
const three = [image(), image(), image()];
const batch = Array.from({ length: MAX_BATCH }, () => image(1, false));

/** Every body the three verdicts are asked about, valid and invalid, with the verdict each must give. */
const rows: Row[] = [
  { name: 'one image', body: { pixels: one }, verdict: { value: { pixels: one, scale: 'byte' } } },
  { name: 'fractions, scale byte', body: { pixels: fractional, scale: 'byte' }, verdict: { value: { pixels: fractional, scale: 'byte' } } },
  { name: 'unit scale and a model', body: { pixels: unit, scale: 'unit', model: 'model-1' }, verdict: { value: { pixels: unit, scale: 'unit', model: 'model-1' } } },
  { name: 'keys in another order', body: { model: 'm', scale: 'unit', pixels: unit }, verdict: { value: { pixels: unit, scale: 'unit', model: 'm' } } },
  { name: 'all 255', body: { pixels: filled(255) }, verdict: { value: { pixels: filled(255), scale: 'byte' } } },
  { name: 'all 0 and a one-letter model', body: { pixels: filled(0), model: 'm' }, verdict: { value: { pixels: filled(0), scale: 'byte', model: 'm' } } },
  { name: 'below a float', body: { pixels: filled(5e-324), scale: 'unit' }, verdict: { value: { pixels: filled(5e-324), scale: 'unit' } } },
  { name: 'a batch of one', body: { images: [one] }, verdict: { value: { images: [one], scale: 'byte' } } },
  { name: 'a model of 64 letters', body: { images: three, model: 'x'.repeat(64) }, verdict: { value: { images: three, scale: 'byte', model: 'x'.repeat(64) } } },
  { name: 'the largest batch', body: { images: batch, scale: 'unit' }, verdict: { value: { images: batch, scale: 'unit' } } },
  { name: 'a model with an accent', body: { pixels: one, model: 'modèle' }, verdict: { value: { pixels: one, scale: 'byte', model: 'modèle' }, readerDeclines: 'non-ASCII string' } },
  { name: 'a model with a quote', body: { pixels: one, model: 'a"b' }, verdict: { value: { pixels: one, scale: 'byte', model: 'a"b' }, readerDeclines: 'escaped string' } },

  { name: 'null', body: null, verdict: { field: 'body' } },
  { name: 'an array', body: [], verdict: { field: 'body' } },
  { name: 'a string', body: 'pixels', verdict: { field: 'body' } },
  { name: 'no image', body: {}, verdict: { field: 'body.pixels' } },
  { name: 'only a scale', body: { scale: 'unit' }, verdict: { field: 'body.pixels' } },
  { name: 'pixels and images', body: { pixels: one, images: [one] }, verdict: { field: 'body.images' } },
  { name: 'a value short', body: { pixels: one.slice(1) }, verdict: { field: 'body.pixels' } },
  { name: 'a value too many', body: { pixels: [...one, 1] }, verdict: { field: 'body.pixels' } },
  { name: 'pixels as a string', body: { pixels: 'abc' }, verdict: { field: 'body.pixels' } },
  { name: 'a negative value', body: { pixels: withPixel(5, -1) }, verdict: { field: 'body.pixels.5' } },
  { name: 'above 255', body: { pixels: withPixel(783, 255.5) }, verdict: { field: 'body.pixels.783' } },
  { name: 'above 255 by less than a float tells', body: { pixels: withPixel(0, 255.00000001) }, verdict: { field: 'body.pixels.0' } },
  { name: 'NaN (null in JSON)', body: { pixels: withPixel(0, Number.NaN) }, verdict: { field: 'body.pixels.0' } },
  { name: 'a string value', body: { pixels: withPixel(9, '7') }, verdict: { field: 'body.pixels.9' } },
  { name: 'a null value', body: { pixels: withPixel(9, null) }, verdict: { field: 'body.pixels.9' } },
  { name: 'bytes read as unit', body: { pixels: [2, ...unit.slice(1)], scale: 'unit' }, verdict: { field: 'body.pixels.0' } },
  { name: 'an unknown scale', body: { pixels: one, scale: 'percent' }, verdict: { field: 'body.scale' } },
  { name: 'a null scale', body: { pixels: one, scale: null }, verdict: { field: 'body.scale' } },
  { name: 'an empty model', body: { pixels: one, model: '' }, verdict: { field: 'body.model' } },
  { name: 'a model of 65 letters', body: { pixels: one, model: 'x'.repeat(65) }, verdict: { field: 'body.model' } },
  { name: 'a model that is a number', body: { pixels: one, model: 3 }, verdict: { field: 'body.model' } },
  { name: 'an unknown key', body: { pixels: one, extra: true }, verdict: { field: 'body' } },
  { name: 'no images', body: { images: [] }, verdict: { field: 'body.images' } },
  { name: 'a short second image', body: { images: [one, one.slice(2)] }, verdict: { field: 'body.images.1' } },
  { name: 'images as one flat image', body: { images: one }, verdict: { field: 'body.images.0' } },
  { name: 'a value out of range in the second image', body: { images: [one, withPixel(7, 256)] }, verdict: { field: 'body.images.1.7' } },
  { name: 'one image too many', body: { images: [...batch, one] }, verdict: { field: 'body.images' } },
];

/** A verdict in one form for every reading: the values as floats, whether a batch, the scale and model. */
function asFloats(input: PredictInput) {
  const images = input.images ?? [input.pixels!];
  return {
    floats: Float32Array.from(images.flatMap((values) => Array.from(values))),
    batch: input.images !== undefined,
    scale: input.scale,
    model: input.model,
  };
}

/** toEqual, with its diff, only when a quick comparison finds a difference: bodies of a whole batch are large. */
function expectSame(actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual).toEqual(expected);
}

const bytesOf = (body: unknown) => Buffer.from(JSON.stringify(body));

/** The JSON content parser of the route, with JSON.parse as its fallback: what it hands the validator. */
function parsed(bytes: Buffer): unknown {
  const parser = predictJsonParser((_request, text, done) => done!(null, JSON.parse(text)));
  let result: unknown;
  void (parser as (request: FastifyRequest, body: Buffer, done: (error: Error | null, value?: unknown) => void) => void)({} as FastifyRequest, bytes, (error, value) => {
    if (error) throw error;
    result = value;
  });
  return result;
}

describe('the /predict body', () => {
  it.each(rows)('$name: zod, acceptPredictBody, the native reader and the content parser agree', ({ body, verdict }) => {
    const byZod = predictBody.safeParse(body);
    const fast = acceptPredictBody(body);
    const read = native.readPixelsJson(bytesOf(body), IMAGE_PIXELS, MAX_BATCH);
    const byReader = read && acceptPixelsJson(read);
    const byParser = checkedPredictBody(parsed(bytesOf(body)));
    if ('field' in verdict) {
      expect(byZod.success).toBe(false);
      expect(['body', ...byZod.error!.issues[0]!.path].join('.')).toBe(verdict.field);
      expect(fast).toBeUndefined();
      expect(byReader).toBeUndefined();
      expect(byParser).toBeUndefined();
      return;
    }
    expectSame(byZod.success && byZod.data, verdict.value);
    expectSame(fast, verdict.value);
    const expected = asFloats(verdict.value);
    if (verdict.readerDeclines === undefined) {
      expect(byReader).toBeInstanceOf(CheckedPredictInput);
      expectSame(asFloats(byReader!), expected);
      expect(byParser).toBeInstanceOf(CheckedPredictInput);
    } else {
      expect(read).toBeUndefined();
      // JSON.parse read it; the validator's one pass accepts what it gives.
      expectSame(byParser, verdict.value);
    }
    expectSame(asFloats(byParser!), expected);
  });
});

describe('the /predict body through the route', () => {
  let data: DataDir;
  let app: TestApp;
  let modelId: string;

  beforeAll(async () => {
    data = await makeDataDir();
    app = testApp(data);
    ({ modelId } = await trainModel(app, data));
  });
  afterAll(async () => {
    await app.close();
    await data.remove();
  });

  const named = (...names: string[]) => rows.filter((row) => names.includes(row.name));

  it.each(
    named('one image', 'a batch of one', 'a model with an accent', 'unit scale and a model', 'null', 'a negative value', 'NaN (null in JSON)', 'an unknown key', 'bytes read as unit', 'a short second image'),
  )('$name: the same verdict, and a 400 names the same field', async ({ body, verdict }) => {
    const response = await app.inject({ method: 'POST', url: '/predict', payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    if ('field' in verdict) {
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ statusCode: 400, field: verdict.field });
    } else if (verdict.value.model === undefined) {
      expect(response.statusCode, response.body).toBe(200);
      const answer = response.json<{ model: string; label?: number; predictions?: unknown[] }>();
      expect(answer.model).toBe(modelId);
      expect(verdict.value.images ? answer.predictions : answer.label).toBeDefined();
    } else {
      // Past the validator: the route looks the model up, which does not exist.
      expect(response.statusCode, response.body).toBe(404);
      expect(response.json()).toMatchObject({ statusCode: 404, field: 'body.model' });
    }
  });
});

describe('joinFloats', () => {
  it('copies the parts one after the other, into `into` when it is long enough', () => {
    const buffer = Float32Array.from({ length: 10 }, (_, i) => i);
    const into = new Float32Array(8);
    const joined = joinFloats([buffer.subarray(4, 6), buffer.subarray(2, 4)], into);
    expect(joined.buffer).toBe(into.buffer);
    expect(Array.from(joined)).toEqual([4, 5, 2, 3]);
    const short = joinFloats([buffer.subarray(0, 2), buffer.subarray(3, 5)], new Float32Array(3));
    expect(short.length).toBe(4);
    expect(Array.from(short)).toEqual([0, 1, 3, 4]);
    expect(Array.from(joinFloats([Uint8Array.of(1, 255), buffer.subarray(2, 3)]))).toEqual([1, 255, 2]);
    expect(Array.from(joinFloats([[1, 2], [0.5]]))).toEqual([1, 2, 0.5]);
    expect(joinFloats([]).length).toBe(0);
  });
});
