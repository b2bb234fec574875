/**
 * The Open Inference Protocol (KServe v2) over REST, so its standard clients work unchanged. A model's name
 * is its id, a model name (its versions under /versions/:version), or "default" for the best model. FP32 inputs are 0–255 like UINT8 unless the request's
 * parameters say `"scale": "unit"`.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HttpError } from '../errors.js';
import { classify, pickModel } from '../predictor.js';
import { IMAGE_PIXELS, errorSchema, v2InferBody, v2InferResponse, v2ModelMetadata, v2ModelParams, v2VersionParams } from '../schemas.js';
import type { ModelRecord } from '../store.js';

export const DEFAULT_MODEL_NAME = 'default';

const live = z.object({ live: z.boolean() });
const ready = z.object({ ready: z.boolean() });
const modelReady = z.object({ name: z.string(), ready: z.boolean() });
const serverMetadata = z.object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) });

export const v2Routes: FastifyPluginAsyncZod = async (app) => {
  const deps = app.fastmlp;
  const { store, models } = deps;
  const model = (name: string): ModelRecord => pickModel(deps, name === DEFAULT_MODEL_NAME ? undefined : name, 'params.name');

  app.get('/v2', { schema: { summary: 'Server metadata', tags: ['v2'], response: { 200: serverMetadata } } }, async () => ({
    name: 'fastmlp',
    version: deps.version,
    extensions: [],
  }));
  app.get('/v2/health/live', { schema: { summary: 'Server liveness', tags: ['v2'], response: { 200: live } } }, async () => ({ live: true }));
  app.get('/v2/health/ready', { schema: { summary: 'Server readiness: a model can answer', tags: ['v2'], response: { 200: ready, 503: ready } } }, async (_request, reply) => {
    const isReady = store.open && models.best() !== undefined;
    return reply.code(isReady ? 200 : 503).send({ ready: isReady });
  });

  // Every model route twice: /v2/models/:name (an id, a name, or "default") and, as the protocol defines
  // versions, /v2/models/:name/versions/:version (a version of a named model).
  for (const versioned of [false, true]) {
    const path = versioned ? '/v2/models/:name/versions/:version' : '/v2/models/:name';
    const params = versioned ? v2VersionParams : v2ModelParams;
    const ref = (p: { name: string; version?: string }) => (p.version === undefined ? p.name : `${p.name}@${p.version}`);
    app.get(
      path,
      { schema: { summary: 'Model metadata: inputs and outputs', tags: ['v2'], params, response: { 200: v2ModelMetadata, 404: errorSchema, 503: errorSchema } } },
      async (request) => {
        const record = model(ref(request.params));
        const { inputRows, inputCols, classes } = record.architecture;
        const { classNames } = await models.classifier(record);
        const versions = record.name === null ? [record.id] : models.names().find((n) => n.name === record.name)!.versions.map((m) => String(m.version));
        return {
          name: request.params.name,
          versions,
          platform: 'fastmlp',
          inputs: [{ name: 'images', datatype: 'FP32', shape: [-1, inputRows * inputCols] }],
          outputs: [
            { name: 'probabilities', datatype: 'FP32', shape: [-1, classes] },
            { name: 'label', datatype: 'INT64', shape: [-1] },
            ...(classNames ? [{ name: 'class_name', datatype: 'BYTES', shape: [-1] }] : []),
          ],
        };
      },
    );

    app.get(
      `${path}/ready`,
      { schema: { summary: 'Model readiness', tags: ['v2'], params, response: { 200: modelReady, 404: errorSchema, 503: errorSchema } } },
      async (request) => {
        const record = model(ref(request.params));
        await models.classifier(record);
        return { name: request.params.name, ready: true };
      },
    );

    app.post(
      `${path}/infer`,
      {
        schema: {
          summary: 'Inference: inputs [{ name, shape: [n, 784], datatype: FP32 | UINT8, data }]',
          tags: ['v2'],
          params,
          body: v2InferBody,
          response: { 200: v2InferResponse, 400: errorSchema, 404: errorSchema, 413: errorSchema, 503: errorSchema },
        },
      },
      async (request) => {
        const { name } = request.params;
        const body = request.body;
        const record = model(ref(request.params));
        const input = body.inputs[0]!;
        const data = input.data.flat();
        const n = input.shape[0];
        if (n * IMAGE_PIXELS !== data.length) throw new HttpError(400, 'body.inputs.0.data: does not match the shape', 'body.inputs.0.data');
        const pixels = input.datatype === 'UINT8' ? Uint8Array.from(data) : Float32Array.from(data);
        const scale = input.datatype === 'FP32' && body.parameters?.scale === 'unit' ? 'unit' : 'byte';
        const { labels, probabilities, classes, classNames } = await classify(deps, record, pixels, scale, 'body.inputs.0.data');
        const wanted = new Set((body.outputs ?? [{ name: 'probabilities' }, { name: 'label' }, ...(classNames ? [{ name: 'class_name' }] : [])]).map((o) => o.name));
        const outputs = [];
        if (wanted.has('probabilities')) outputs.push({ name: 'probabilities', datatype: 'FP32', shape: [n, classes], data: Array.from(probabilities) });
        if (wanted.has('label')) outputs.push({ name: 'label', datatype: 'INT64', shape: [n], data: Array.from(labels) });
        if (wanted.has('class_name')) {
          if (!classNames) throw new HttpError(400, `body.outputs: model ${record.id} does not name its classes; it has no class_name output`, 'body.outputs');
          outputs.push({ name: 'class_name', datatype: 'BYTES', shape: [n], data: Array.from(labels, (l) => classNames[l]!) });
        }
        const version = record.version === null ? record.id : String(record.version);
        return { model_name: name, model_version: version, ...(body.id !== undefined ? { id: body.id } : {}), outputs };
      },
    );
  }
};
