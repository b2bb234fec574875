/** Prometheus metrics in the text exposition format. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

export const metricsRoutes: FastifyPluginAsyncZod = async (app) => {
  const { registry } = app.fastmlp.metrics;
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['metrics'], response: { 200: z.string().describe('text/plain; version=0.0.4') } } },
    async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
};
