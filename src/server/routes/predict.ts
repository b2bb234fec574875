/**
 * POST /predict: one image or a batch, as JSON or as the PredictRequest / PredictResponse protobuf messages
 * of proto/fastmlp.proto (Content-Type application/x-protobuf).
 */
import { serializerCompiler, validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { bytesToFloats, floatsToBytes, schemaType } from '../../proto/schema.js';
import { HttpError, sendBytes } from '../errors.js';
import { lazyChildLoggerFactory } from '../lazy-logger.js';
import { classify, pickModel } from '../predictor.js';
import { native } from '../../native.js';
import { FloatArena, joinFloats } from '../float-arena.js';
import { CheckedPredictInput, IMAGE_PIXELS, MAX_BATCH, acceptPixelsJson, acceptPredictBody, errorSchema, predictBody, predictResponse, type PredictInput } from '../schemas.js';

const PROTOBUF = 'application/x-protobuf';
const fromProtobuf = new WeakSet<FastifyRequest>();

interface PredictRequestMessage {
  pixels: Uint8Array;
  count: number;
  model: string;
  scale: string;
}

/** A PredictRequest as the body it stands for: checked already, or as JSON values for the schema's verdict. */
function decodeRequest(bytes: Buffer): PredictInput {
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

function encodeResponse(model: string, labels: Int32Array, probabilities: Float32Array, classes: number): Buffer {
  const type = schemaType('PredictResponse');
  const predictions = Array.from(labels, (label, i) => ({ label, probabilities: floatsToBytes(probabilities.subarray(i * classes, (i + 1) * classes)) }));
  return Buffer.from(type.encode(type.fromObject({ model, predictions })).finish());
}

export const predictRoutes: FastifyPluginAsyncZod = async (app) => {
  const deps = app.fastmlp;
  app.addContentTypeParser(PROTOBUF, { parseAs: 'buffer' }, (request, body, done) => {
    try {
      fromProtobuf.add(request);
      done(null, decodeRequest(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // JSON straight into floats when it has the plain shape of a prediction; any other JSON as usual.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const arena = new FloatArena();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const read = native.readPixelsJson(body as Buffer, IMAGE_PIXELS, MAX_BATCH, arena.free());
    const input = read && acceptPixelsJson(read);
    if (input) {
      arena.take(input.floats);
      done(null, input);
    } else {
      parseJson(request, (body as Buffer).toString('utf8'), done);
    }
  });

  app.post(
    '/predict',
    {
      // Thousands of requests a second: their count and latency are in /metrics; per-request log lines
      // (two JSON lines each) would cost a fifth of the time spent on a request.
      logLevel: 'warn',
      childLoggerFactory: lazyChildLoggerFactory,
      schema: {
        summary: 'Classify one image (pixels) or a batch (images)',
        description: `JSON, or a PredictRequest message with Content-Type ${PROTOBUF} (answered with a PredictResponse). At most ${MAX_BATCH} images.`,
        tags: ['predict'],
        body: predictBody,
        response: { 200: predictResponse, 400: errorSchema, 404: errorSchema, 413: errorSchema, 503: errorSchema },
      },
      // The body: acceptPredictBody takes predictBody's decision in one pass; zod answers what it declines.
      validatorCompiler: (route) => {
        const byZod = validatorCompiler(route as unknown as Parameters<typeof validatorCompiler>[0]);
        if (route.httpPart !== 'body') return byZod;
        return (data: unknown) => {
          if (data instanceof CheckedPredictInput) return { value: data };
          const value = acceptPredictBody(data);
          return value === undefined ? byZod(data) : { value };
        };
      },
      // A 200 is built below from typed model output; re-checking its 10 probabilities with zod per request
      // would cost more than computing them. Errors keep the checked serializer.
      serializerCompiler: (route) =>
        route.httpStatus === '200' ? (data: unknown) => JSON.stringify(data) : serializerCompiler(route as unknown as Parameters<typeof serializerCompiler>[0]),
    },
    async (request, reply) => {
      const body: PredictInput = request.body;
      const model = pickModel(deps, body.model, 'body.model');
      const flat = body instanceof CheckedPredictInput ? body.floats : joinFloats(body.images ?? [body.pixels!]);
      const { labels, probabilities, classes } = await classify(deps, model, flat, body.scale, body.images ? 'body.images' : 'body.pixels');
      if (fromProtobuf.has(request)) return sendBytes(reply, PROTOBUF, encodeResponse(model.id, labels, probabilities, classes));
      if (body.pixels) {
        // The answer's JSON written directly: numbers print as JSON.stringify prints them.
        let json = `{"model":${JSON.stringify(model.id)},"label":${labels[0]!},"probabilities":[`;
        for (let j = 0; j < classes; j++) json += (j === 0 ? '' : ',') + String(probabilities[j]!);
        return sendBytes(reply, 'application/json; charset=utf-8', `${json}]}`);
      }
      const row = (i: number) => Array.from(probabilities.subarray(i * classes, (i + 1) * classes));
      return { model: model.id, predictions: Array.from(labels, (label, i) => ({ label, probabilities: row(i) })) };
    },
  );
};
