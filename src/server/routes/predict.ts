/**
 * POST /predict: one image or a batch, as JSON or as the PredictRequest / PredictResponse protobuf messages
 * of proto/fastmlp.proto (Content-Type application/x-protobuf).
 */
import { serializerCompiler, validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { floatsToBytes, schemaType } from '../../proto/schema.js';
import { sendBytes } from '../errors.js';
import { checkedPredictBody, decodePredictRequest, predictBody, predictFloats, predictJsonParser, type PredictInput } from '../predict-body.js';
import { classify, pickModel, type Classified } from '../predictor.js';
import { MAX_BATCH, errorSchema, predictResponse } from '../schemas.js';

const PROTOBUF = 'application/x-protobuf';
const fromProtobuf = new WeakSet<FastifyRequest>();

function encodeResponse(model: string, { labels, probabilities, classes, classNames }: Classified): Buffer {
  const type = schemaType('PredictResponse');
  const predictions = Array.from(labels, (label, i) => ({
    label,
    probabilities: floatsToBytes(probabilities.subarray(i * classes, (i + 1) * classes)),
    ...(classNames ? { className: classNames[label] } : {}),
  }));
  return Buffer.from(type.encode(type.fromObject({ model, predictions })).finish());
}

export const predictRoutes: FastifyPluginAsyncZod = async (app) => {
  const deps = app.fastmlp;
  app.addContentTypeParser(PROTOBUF, { parseAs: 'buffer' }, (request, body, done) => {
    try {
      fromProtobuf.add(request);
      done(null, decodePredictRequest(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  // JSON straight into floats when it has the plain shape of a prediction; any other JSON as usual.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, predictJsonParser(app.getDefaultJsonParser('error', 'error')));

  app.post(
    '/predict',
    {
      // Thousands of requests a second: their count and latency are in /metrics; per-request log lines
      // (two JSON lines each) would cost a good part of a request (`npm run bench -- serve`).
      logLevel: 'warn',
      schema: {
        summary: 'Classify one image (pixels) or a batch (images)',
        description: `JSON, or a PredictRequest message with Content-Type ${PROTOBUF} (answered with a PredictResponse). At most ${MAX_BATCH} images.`,
        tags: ['predict'],
        body: predictBody,
        response: { 200: predictResponse, 400: errorSchema, 404: errorSchema, 413: errorSchema, 503: errorSchema },
      },
      // The body: checked while read, or by acceptPredictBody in one pass; zod answers what they decline.
      validatorCompiler: (route) => {
        const byZod = validatorCompiler(route as unknown as Parameters<typeof validatorCompiler>[0]);
        if (route.httpPart !== 'body') return byZod;
        return (data: unknown) => {
          const value = checkedPredictBody(data);
          return value === undefined ? byZod(data) : { value };
        };
      },
      // A 200 is built below from typed model output; re-checking its probabilities with zod per request
      // would cost about what computing them does (`npm run bench -- serve`). Errors keep the checked serializer.
      serializerCompiler: (route) =>
        route.httpStatus === '200' ? (data: unknown) => JSON.stringify(data) : serializerCompiler(route as unknown as Parameters<typeof serializerCompiler>[0]),
    },
    async (request, reply) => {
      const body: PredictInput = request.body;
      const model = pickModel(deps, body.model, 'body.model');
      const classified = await classify(deps, model, predictFloats(body), body.scale, body.images ? 'body.images' : 'body.pixels');
      if (fromProtobuf.has(request)) return sendBytes(reply, PROTOBUF, encodeResponse(model.id, classified));
      const { labels, probabilities, classes, classNames } = classified;
      const className = (label: number) => (classNames ? { className: classNames[label]! } : {});
      if (body.pixels) {
        // The answer's JSON written directly: numbers print as JSON.stringify prints them.
        const name = classNames ? `"className":${JSON.stringify(classNames[labels[0]!])},` : '';
        let json = `{"model":${JSON.stringify(model.id)},"label":${labels[0]!},${name}"probabilities":[`;
        for (let j = 0; j < classes; j++) json += (j === 0 ? '' : ',') + String(probabilities[j]!);
        return sendBytes(reply, 'application/json; charset=utf-8', `${json}]}`);
      }
      const row = (i: number) => Array.from(probabilities.subarray(i * classes, (i + 1) * classes));
      return { model: model.id, predictions: Array.from(labels, (label, i) => ({ label, ...className(label), probabilities: row(i) })) };
    },
  );
};
