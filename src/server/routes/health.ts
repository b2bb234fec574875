/** Liveness and readiness. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

const health = z.object({ status: z.enum(['ok', 'unavailable']), store: z.boolean().optional(), model: z.string().nullable().optional(), training: z.number().int().optional() });

export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, models, runner } = app.fastmlp;

  app.get('/healthz', { schema: { summary: 'The process answers', tags: ['health'], response: { 200: health } } }, async () => ({ status: 'ok' as const }));

  app.get(
    '/readyz',
    { schema: { summary: 'The store is open and a model is available or one is training', tags: ['health'], response: { 200: health, 503: health } } },
    async (_request, reply) => {
      const open = store.open;
      const model = open ? (models.best()?.id ?? null) : null;
      const training = runner.busy + (open ? store.countJobs().queued : 0);
      const ready = open && (model !== null || training > 0);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', store: open, model, training });
    },
  );
};
