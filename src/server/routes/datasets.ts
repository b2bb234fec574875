/**
 * Uploaded datasets: POST a zip or tar holding train and test (folders of class folders, CSVs, or the
 * four idx files), list, show with counts per class and a preview grid, delete when no job needs it.
 * A job trains on one with `dataset: { "id": … }`.
 */
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { requireToken } from '../auth.js';
import type { DatasetRecord } from '../dataset-uploads.js';
import { HttpError, sendBytes } from '../errors.js';
import { datasetListSchema, datasetParams, datasetSchema, datasetUploadQuery, errorSchema } from '../schemas.js';

/** Body types an archive may come as; each is streamed to disk as it is, whatever it says. */
const ARCHIVE_TYPES = ['application/zip', 'application/x-zip-compressed', 'application/x-tar', 'application/gzip', 'application/x-gzip', 'application/x-compressed-tar', 'application/octet-stream'];

export const datasetRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, uploads, options } = app.fastmlp;
  // The body stays a stream: the upload store writes it to disk under its own limit.
  app.addContentTypeParser(ARCHIVE_TYPES, (_request, payload, done) => done(null, payload));
  const view = (record: DatasetRecord) => ({ ...record, preview: `/datasets/${record.id}/preview.png`, usedBy: store.jobsOnDataset(record.id) });
  const getDataset = (id: string): DatasetRecord => store.dataset(id) ?? (() => { throw new HttpError(404, `No dataset ${id}`, 'params.id'); })();

  app.post(
    '/datasets',
    {
      preHandler: requireToken(options.token),
      schema: {
        summary: 'Upload a dataset: a zip or tar (plain or gzip) holding train and test',
        description:
          'train and test may be folders of class folders of images (train/3/img001.png; PNG, JPEG, …), CSV files (label,pixel0,…), or the four MNIST idx files. ' +
          'Checked whole, then kept by the SHA-256 of its bytes; the same bytes again answer 200 with the dataset already stored. ' +
          `A job trains on it with \`dataset: { "id": … }\`. Content-Type: one of ${ARCHIVE_TYPES.join(', ')}.`,
        tags: ['datasets'],
        querystring: datasetUploadQuery,
        response: { 200: datasetSchema, 201: datasetSchema, 400: errorSchema, 401: errorSchema, 409: errorSchema, 413: errorSchema, 415: errorSchema },
      },
    },
    async (request, reply) => {
      const { name, size, centre, invert } = request.query;
      const images = { ...(size !== undefined ? { size } : {}), ...(centre ? { centre } : {}), ...(invert ? { invert } : {}) };
      // A body that says it is too large is refused before a byte of it is read.
      if (Number(request.headers['content-length']) > uploads.maxBytes) throw new HttpError(413, `The upload is larger than the limit of ${uploads.maxBytes} bytes`, 'body', { connection: 'close' });
      const body = request.body as Readable | undefined;
      if (body === undefined || typeof (body as Partial<Readable>).pipe !== 'function') throw new HttpError(415, `body: send the archive as one of ${ARCHIVE_TYPES.join(', ')}`, 'body');
      const { record, created } = await uploads.receive(body, { ...(name ? { name } : {}), ...(Object.keys(images).length > 0 ? { images } : {}) });
      return reply.code(created ? 201 : 200).header('location', `/datasets/${record.id}`).send(view(record));
    },
  );

  app.get(
    '/datasets',
    { schema: { summary: 'Every uploaded dataset, newest first', tags: ['datasets'], response: { 200: datasetListSchema } } },
    async () => ({ datasets: store.listDatasets().map(view) }),
  );

  app.get(
    '/datasets/:id',
    { schema: { summary: 'A dataset: image size, classes, counts per class, the jobs using it', tags: ['datasets'], params: datasetParams, response: { 200: datasetSchema, 400: errorSchema, 404: errorSchema } } },
    async (request) => view(getDataset(request.params.id)),
  );

  app.get(
    '/datasets/:id/preview.png',
    {
      schema: {
        summary: 'Three training images of each class, as a PNG grid',
        tags: ['datasets'],
        params: datasetParams,
        response: { 200: z.string().describe('image/png'), 400: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const record = getDataset(request.params.id);
      const png = await readFile(uploads.previewPath(record.id)).catch(() => {
        throw new HttpError(404, `The preview of dataset ${record.id} is missing from the data directory`);
      });
      return sendBytes(reply, 'image/png', png);
    },
  );

  app.delete(
    '/datasets/:id',
    {
      preHandler: requireToken(options.token),
      schema: { summary: 'Remove a dataset (409 while a job that is not finished trains on it)', tags: ['datasets'], params: datasetParams, response: { 204: z.null(), 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema } },
    },
    async (request, reply) => {
      await uploads.remove(request.params.id);
      return reply.code(204).send(null);
    },
  );
};
