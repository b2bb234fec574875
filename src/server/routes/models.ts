/** Trained models: list, show, download the checkpoint or the ONNX model, delete. */
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { requireToken } from '../auth.js';
import { HttpError, sendBytes } from '../errors.js';
import { errorSchema, idParams, modelListSchema, modelSchema } from '../schemas.js';
import type { ModelRecord } from '../store.js';
import { modelView } from '../views.js';

export const modelRoutes: FastifyPluginAsyncZod = async (app) => {
  const { models, options } = app.fastmlp;
  const getModel = (id: string): ModelRecord => {
    const model = models.get(id);
    if (model === undefined) throw new HttpError(404, `No model ${id}`, 'params.id');
    return model;
  };

  app.get(
    '/models',
    { schema: { summary: 'Every model, best test accuracy first', tags: ['models'], response: { 200: modelListSchema } } },
    async () => {
      const list = models.list();
      return { models: list.map(modelView), defaultModel: list[0]?.id ?? null };
    },
  );

  app.get(
    '/models/:id',
    { schema: { summary: 'A model: architecture, metrics, source job', tags: ['models'], params: idParams, response: { 200: modelSchema, 404: errorSchema } } },
    async (request) => modelView(getModel(request.params.id)),
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
      await models.remove(getModel(request.params.id));
      return reply.code(204).send(null);
    },
  );
};
