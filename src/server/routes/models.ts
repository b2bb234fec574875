/**
 * Models: list, show, download the checkpoint or the ONNX model, delete; names' aliases; and POST /models,
 * which registers an ONNX model (imported) or a checkpoint file as trained models are registered.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { onnxCheckpoint } from '../../model/import.js';
import { OnnxImportError } from '../../onnx/import.js';
import { CheckpointError, decodeCheckpoint, isCheckpointFile, saveCheckpoint, type Checkpoint } from '../../train/checkpoint.js';
import { requireToken } from '../auth.js';
import { HttpError, sendBytes } from '../errors.js';
import { aliasBody, aliasParams, aliasSchema, errorSchema, idParams, importModelQuery, modelListSchema, modelSchema } from '../schemas.js';
import { newId, type ModelRecord } from '../store.js';
import { modelView } from '../views.js';

/** The bodies POST /models takes, read whole: what they are is told by their content, not their type. */
const MODEL_BODY_TYPES = ['application/octet-stream', 'application/onnx', 'application/x-protobuf'];

/** The checkpoint a POST /models body holds: a checkpoint file as it is, or an ONNX model imported. */
function uploadedCheckpoint(body: Uint8Array, query: z.infer<typeof importModelQuery>): Checkpoint {
  try {
    if (!isCheckpointFile(body)) return onnxCheckpoint(body, query, 'body').checkpoint;
    const stated = (['inputScale', 'mean', 'std'] as const).find((key) => query[key] !== undefined);
    if (stated) throw new HttpError(400, `querystring.${stated}: a checkpoint file carries its own standardization; ${stated} is for ONNX models`, `querystring.${stated}`);
    return decodeCheckpoint(body, 'body');
  } catch (error) {
    // The message names the node (ONNX) or the damage (a checkpoint).
    if (error instanceof OnnxImportError || error instanceof CheckpointError) throw new HttpError(400, error.message, 'body');
    throw error;
  }
}

export const modelRoutes: FastifyPluginAsyncZod = async (app) => {
  const { models, options } = app.fastmlp;
  // An id, or a name as /predict takes it (digits, digits@3, digits@production).
  const getModel = (id: string): ModelRecord => {
    const model = models.resolve(id);
    if (model === undefined) throw new HttpError(404, `No model ${id}`, 'params.id');
    return model;
  };
  const view = (m: ModelRecord) => modelView(m, models.aliasesOf(m));
  for (const type of MODEL_BODY_TYPES) app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: options.modelBodyLimit }, (_request, body, done) => done(null, body));

  app.post(
    '/models',
    {
      // Before the body is read: without the token, an upload is refused unread.
      onRequest: requireToken(options.token),
      bodyLimit: options.modelBodyLimit,
      schema: {
        summary: 'Register a model: an ONNX model (imported) or a checkpoint file',
        description:
          'The body is an ONNX ModelProto (an MLP of Gemm or MatMul + Add, Relu or Sigmoid and an optional Softmax, 784 inputs, as torch.onnx.export writes one) or a fastmlp checkpoint file (CheckpointFile of proto/fastmlp.proto), told apart by their content. ' +
          'An ONNX model’s input convention is stated in the query (inputScale, mean, std); /predict then takes pixels as for every other model. A graph fastmlp does not import is 400 naming the node.',
        tags: ['models'],
        consumes: MODEL_BODY_TYPES,
        querystring: importModelQuery,
        body: z.unknown().describe('the bytes of an .onnx or .fmlp file'),
        response: { 201: modelSchema, 400: errorSchema, 401: errorSchema, 413: errorSchema, 415: errorSchema },
      },
    },
    async (request, reply) => {
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!MODEL_BODY_TYPES.includes(type)) throw new HttpError(415, `headers.content-type: a model is sent as the bytes of its file, ${MODEL_BODY_TYPES.join(', ')}; not ${type || 'without a type'}`, 'headers.content-type');
      // An empty body reaches no parser.
      const body = request.body instanceof Uint8Array ? request.body : new Uint8Array(0);
      const { name, ...convention } = request.query;
      const checkpoint = uploadedCheckpoint(body, convention);
      const id = newId('model');
      const folder = join(options.dataDir, 'models');
      await mkdir(folder, { recursive: true });
      const checkpointPath = join(folder, `${id}.fmlp`);
      await saveCheckpoint(checkpointPath, checkpoint);
      models.add(
        {
          id,
          name: name ?? null,
          jobId: null,
          createdAt: new Date().toISOString(),
          checkpointPath,
          architecture: checkpoint.architecture,
          recipe: checkpoint.recipe ?? null,
          metrics: checkpoint.metrics ?? null,
          importedFrom: checkpoint.importedFrom ?? null,
          testAccuracy: checkpoint.metrics?.testAccuracy ?? null,
        },
        checkpoint,
      );
      request.log.info({ model: id, name, importedFrom: checkpoint.importedFrom?.producerName }, 'model registered');
      return reply.code(201).send(view(models.get(id)!));
    },
  );

  app.get(
    '/models',
    { schema: { summary: 'Every model, best test accuracy first', tags: ['models'], response: { 200: modelListSchema } } },
    async () => {
      const list = models.list();
      const names = models.names().map(({ name, versions, aliases }) => ({
        name,
        versions: versions.map((m) => ({ version: m.version!, id: m.id, testAccuracy: m.testAccuracy })),
        aliases,
        resolves: models.resolve(name)!.version!,
      }));
      return { models: list.map(view), defaultModel: list[0]?.id ?? null, names };
    },
  );

  app.get(
    '/models/:id',
    { schema: { summary: 'A model: architecture, metrics, source job', tags: ['models'], params: idParams, response: { 200: modelSchema, 404: errorSchema } } },
    async (request) => view(getModel(request.params.id)),
  );

  app.get(
    '/models/:id/checkpoint',
    {
      schema: {
        summary: 'The checkpoint file (protobuf CheckpointFile of proto/fastmlp.proto)',
        tags: ['models'],
        params: idParams,
        response: { 200: z.string().describe('application/x-protobuf'), 404: errorSchema },
      },
    },
    async (request, reply) => {
      const model = getModel(request.params.id);
      const bytes = await readFile(model.checkpointPath).catch(() => {
        throw new HttpError(404, `The checkpoint of model ${model.id} is missing from the data directory`);
      });
      reply.header('content-disposition', `attachment; filename="${model.id}.fmlp"`);
      return sendBytes(reply, 'application/x-protobuf', bytes);
    },
  );

  app.get(
    '/models/:id/model.onnx',
    {
      schema: {
        summary: 'The model as ONNX (opset 13): pixels FLOAT [N, 784] 0–255 in; probabilities FLOAT [N, 10] and label INT64 [N] out',
        tags: ['models'],
        params: idParams,
        response: { 200: z.string().describe('application/octet-stream'), 404: errorSchema },
      },
    },
    async (request, reply) => {
      const model = getModel(request.params.id);
      const classifier = await models.classifier(model).catch((error: unknown) => {
        throw new HttpError(404, `The checkpoint of model ${model.id} cannot be read from the data directory: ${error instanceof Error ? error.message : String(error)}`);
      });
      reply.header('content-disposition', `attachment; filename="${model.id}.onnx"`);
      return sendBytes(reply, 'application/octet-stream', classifier.toOnnx(app.fastmlp.version));
    },
  );

  app.delete(
    '/models/:id',
    {
      preHandler: requireToken(options.token),
      schema: { summary: 'Remove a model and its checkpoint', tags: ['models'], params: idParams, response: { 204: z.null(), 401: errorSchema, 404: errorSchema } },
    },
    async (request, reply) => {
      const model = getModel(request.params.id);
      const aliases = models.aliasesOf(model);
      if (aliases.length > 0) throw new HttpError(409, `Model ${model.id} is ${model.name}@${model.version}, which the alias ${aliases.join(', ')} points at; move or delete the alias first`);
      await models.remove(model);
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/models/:name/aliases/:alias',
    {
      preHandler: requireToken(options.token),
      schema: {
        summary: 'Point an alias of a model name at one of its versions (e.g. production → 3)',
        description: '`/predict` with `model: "digits"` uses the `production` version when that alias is set, else the latest.',
        tags: ['models'],
        params: aliasParams,
        body: aliasBody,
        response: { 200: aliasSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (request) => {
      const { name, alias } = request.params;
      const { version } = request.body;
      if (!models.setAlias(name, alias, version)) throw new HttpError(404, `No model ${name}@${version}`, 'body.version');
      return { name, alias, version };
    },
  );

  app.delete(
    '/models/:name/aliases/:alias',
    {
      preHandler: requireToken(options.token),
      schema: { summary: 'Remove an alias', tags: ['models'], params: aliasParams, response: { 204: z.null(), 400: errorSchema, 401: errorSchema, 404: errorSchema } },
    },
    async (request, reply) => {
      const { name, alias } = request.params;
      if (!models.deleteAlias(name, alias)) throw new HttpError(404, `No alias ${alias} of ${name}`, 'params.alias');
      return reply.code(204).send(null);
    },
  );
};
