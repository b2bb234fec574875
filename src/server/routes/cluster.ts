/** What fold workers fetch from the service: the files of a dataset of its own, by their SHA-256. */
import { createReadStream } from 'node:fs';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SHA256 } from '../../cluster/datasets.js';
import { requireToken } from '../auth.js';
import { HttpError, sendBytes } from '../errors.js';
import { errorSchema } from '../schemas.js';

export const clusterRoutes: FastifyPluginAsyncZod = async (app) => {
  const { cluster, options } = app.fastmlp;
  app.get(
    '/cluster/files/:hash',
    {
      // Datasets may be private: the token guards them as it guards creating jobs.
      preHandler: requireToken(options.token),
      schema: {
        summary: 'A dataset file of a job under way on the cluster, by its SHA-256 (for fold workers)',
        tags: ['cluster'],
        params: z.object({ hash: z.string().regex(SHA256, 'Expected a SHA-256 in lower-case hex') }),
        response: { 200: z.string().describe('application/octet-stream'), 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const path = cluster?.datasetFile(request.params.hash);
      if (path === undefined) throw new HttpError(404, `No file of a job under way has SHA-256 ${request.params.hash}`, 'params.hash');
      return sendBytes(reply, 'application/octet-stream', createReadStream(path));
    },
  );
};
