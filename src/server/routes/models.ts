/** Trained models: list, show, download the checkpoint or the ONNX model, delete; names' aliases. */
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { requireToken } from '../auth.js';
import { HttpError, sendBytes } from '../errors.js';
import { aliasBody, aliasParams, aliasSchema, errorSchema, idParams, modelListSchema, modelSchema } from '../schemas.js';
import type { ModelRecord } from '../store.js';
import { modelView } from '../views.js';

export const modelRoutes: FastifyPluginAsyncZod = async (app) => {
  const { models, options } = app.fastmlp;
  // An id, or a name as /predict takes it (digits, digits@3, digits@production).
  const getModel = (id: string): ModelRecord => {
    const model = models.resolve(id);
    if (model === undefined) throw new HttpError(404, `No model ${id}`, 'params.id');
    return model;
  };
  const view = (m: ModelRecord) => modelView(m, models.aliasesOf(m));

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
