/**
 * The body of POST /predict, in one place: its zod schema (the OpenAPI document and the 400 messages), the
 * fast verdicts that take zod's decision on the bodies it accepts, and the two readings of the bytes: JSON
 * (straight into floats when the body has the plain shape of a prediction, else JSON.parse) and the
 * PredictRequest protobuf message. Every reading ends with the same verdict as predictBody.
 */
import type { FastifyBodyParser } from 'fastify';
import { z } from 'zod';
import { bytesToFloats, schemaType } from '../proto/schema.js';
import { native, type PixelsJson } from '../native.js';
import { HttpError } from './errors.js';
import { IMAGE_PIXELS, MAX_BATCH, checkRange } from './schemas.js';

const scale = z.enum(['byte', 'unit']).default('byte').describe('byte: 0–255 as in MNIST; unit: 0–1');
const image = z.array(z.number()).length(IMAGE_PIXELS);

export const predictBody = z
  .object({
    pixels: image.optional().describe('one image, 784 values row by row, white digit on black'),
    images: z.array(image).min(1).max(MAX_BATCH).optional().describe(`a batch of up to ${MAX_BATCH} images`),
    scale,
    model: z.string().min(1).max(64).optional().describe('a model id; default: the best model'),
  })
  .strict()
  .superRefine((body, ctx) => {
    if ((body.pixels === undefined) === (body.images === undefined)) {
      ctx.addIssue({ code: 'custom', path: body.pixels === undefined ? ['pixels'] : ['images'], message: 'Expected exactly one of pixels (one image) or images (a batch)' });
      return;
    }
    const max = body.scale === 'unit' ? 1 : 255;
    if (body.pixels !== undefined) checkRange(body.pixels, max, ['pixels'], ctx);
    body.images?.every((values, i) => checkRange(values, max, ['images', i], ctx));
  });
export type PredictBody = z.infer<typeof predictBody>;

/** A body as the predict route reads it: images as plain arrays, or as floats read straight from the bytes. */
export type PredictInput = Omit<PredictBody, 'pixels' | 'images'> & { pixels?: ArrayLike<number>; images?: ArrayLike<number>[] };

/** 784 numbers from 0 to max. */
function isImage(values: unknown, max: number): values is number[] {
  if (!Array.isArray(values) || values.length !== IMAGE_PIXELS) return false;
  for (let i = 0; i < IMAGE_PIXELS; i++) {
    const v: unknown = values[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= max)) return false;
  }
  return true;
}

/** predictBody's checks of scale and model: their values, or undefined. */
function acceptTail(scale: unknown = 'byte', model?: unknown): Pick<PredictBody, 'scale' | 'model'> | undefined {
  if (scale !== 'byte' && scale !== 'unit') return undefined;
  if (model === undefined) return { scale };
  return typeof model === 'string' && model.length >= 1 && model.length <= 64 ? { scale, model } : undefined;
}

/**
 * predictBody's verdict on a body in one pass over its pixels, for the bodies it accepts: the value it
 * would give, or undefined for anything else, which then goes to predictBody itself for the 400 and its
 * message. zod checks each of an image's 784 values through its general machinery (what that costs against
 * a prediction: `npm run bench -- serve`); this takes the same decisions directly.
 */
export function acceptPredictBody(body: unknown): PredictBody | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { pixels, images, scale, model, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return undefined;
  const tail = acceptTail(scale, model);
  if (tail === undefined) return undefined;
  const max = tail.scale === 'unit' ? 1 : 255;
  if (pixels !== undefined && images === undefined) return isImage(pixels, max) ? { pixels, ...tail } : undefined;
  if (images === undefined || pixels !== undefined || !Array.isArray(images)) return undefined;
  if (images.length < 1 || images.length > MAX_BATCH || !images.every((image) => isImage(image, max))) return undefined;
  return { images: images as number[][], ...tail };
}

/**
 * A body read straight into floats (by native.readPixelsJson or from protobuf) and accepted by
 * acceptPixelsJson: checked already, with the values of all its images one after the other in `floats`.
 */
export class CheckedPredictInput implements PredictInput {
  readonly pixels?: Float32Array;
  readonly images?: Float32Array[];
  readonly model?: string;

  constructor(
    readonly floats: Float32Array,
    batch: boolean,
    readonly scale: 'byte' | 'unit',
    model: string | undefined,
  ) {
    if (batch) this.images = Array.from({ length: floats.length / IMAGE_PIXELS }, (_, i) => floats.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS));
    else this.pixels = floats;
    if (model !== undefined) this.model = model;
  }
}

/**
 * The same verdict on a body read by native.readPixelsJson (which checked its shape and counts), from the
 * values' extremes as doubles: the checked input, or undefined.
 */
export function acceptPixelsJson(read: PixelsJson): CheckedPredictInput | undefined {
  const tail = acceptTail(read.scale, read.model);
  if (tail === undefined || !(read.min >= 0 && read.max <= (tail.scale === 'unit' ? 1 : 255))) return undefined;
  return new CheckedPredictInput(read.pixels, read.batch, tail.scale, tail.model);
}

/** The route's verdict short of zod: a body read into floats as it is, else acceptPredictBody's value, or undefined (ask zod). */
export function checkedPredictBody(data: unknown): PredictInput | undefined {
  return data instanceof CheckedPredictInput ? data : acceptPredictBody(data);
}

/** Every image of an accepted body one after the other, as the classifier takes them. */
export function predictFloats(body: PredictInput): Float32Array {
  return body instanceof CheckedPredictInput ? body.floats : joinFloats(body.images ?? [body.pixels!]);
}

/**
 * The JSON content parser of /predict: a body with the plain shape of a prediction is read straight into
 * floats and checked at once; any other JSON goes to `fallback` (Fastify's JSON.parse) and then to the
 * validator.
 */
export function predictJsonParser(fallback: FastifyBodyParser<string>): FastifyBodyParser<Buffer> {
  return (request, body, done) => {
    const read = native.readPixelsJson(body, IMAGE_PIXELS, MAX_BATCH);
    const input = read && acceptPixelsJson(read);
    if (input) done(null, input);
    else fallback(request, body.toString('utf8'), done);
  };
}

/** The parts one after the other as floats, into the start of `into` when it is long enough. */
export function joinFloats(parts: readonly ArrayLike<number>[], into?: Float32Array): Float32Array {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const joined = into !== undefined && into.length >= length ? into.subarray(0, length) : new Float32Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

interface PredictRequestMessage {
  pixels: Uint8Array;
  count: number;
  model: string;
  scale: string;
}

/** A PredictRequest as the body it stands for: checked already, or as JSON values for the schema's verdict. */
export function decodePredictRequest(bytes: Buffer): PredictInput {
  const type = schemaType('PredictRequest');
  let message: PredictRequestMessage;
  try {
    message = type.toObject(type.decode(bytes), { enums: String, defaults: true, longs: Number }) as PredictRequestMessage;
  } catch (error) {
    throw new HttpError(400, `body: not a PredictRequest message (${(error as Error).message})`, 'body');
  }
  if (message.pixels.length % 4 !== 0) throw new HttpError(400, 'body.pixels: not a whole number of floats', 'body.pixels');
  const pixels = bytesToFloats(message.pixels);
  if (message.count < 1 || message.count > MAX_BATCH) throw new HttpError(400, `body.count: expected 1 to ${MAX_BATCH} images but received ${message.count}`, 'body.count');
  if (pixels.length !== message.count * IMAGE_PIXELS) {
    throw new HttpError(400, `body.pixels: expected ${message.count} × ${IMAGE_PIXELS} values but received ${pixels.length}`, 'body.pixels');
  }
  const scale = message.scale === 'SCALE_UNIT' ? 'unit' : 'byte';
  let min = Infinity, max = -Infinity;
  for (const v of pixels) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const model = message.model ? { model: message.model } : {};
  const input = acceptPixelsJson({ pixels, images: message.count, batch: true, scale, ...model, min, max });
  if (input) return input;
  const images: number[][] = [];
  for (let i = 0; i < message.count; i++) images.push(Array.from(pixels.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS)));
  return { images, scale, ...model };
}
