/** Hyperparameter sweeps: create (every trial a job), list, show, watch (SSE), cancel. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SweepSpaceError, trialParams, trialRecipe } from '../../sweep/space.js';
import type { TrainRecipe } from '../../train/types.js';
import { requireToken } from '../auth.js';
import { HttpError } from '../errors.js';
import { EventStreams } from '../sse.js';
import { createSweepBody, errorSchema, idParams, sweepAccepted, sweepListQuery, sweepListSchema, sweepSchema } from '../schemas.js';
import { FINISHED, type SweepRecord } from '../store.js';
import { sweepView } from '../views.js';
import { jobDataset, recipeOf } from './jobs.js';

const withId = { params: idParams };

export const sweepRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, runner, options } = app.fastmlp;
  const guarded = requireToken(options.token);
  const getSweep = (id: string): SweepRecord => store.sweep(id) ?? (() => { throw new HttpError(404, `No sweep ${id}`, 'params.id'); })();
  const view = (sweep: SweepRecord) => sweepView(sweep, (id) => store.job(id));
  const streams = new EventStreams(app);

  app.post(
    '/sweeps',
    {
      preHandler: guarded,
      schema: {
        summary: 'Start a hyperparameter sweep',
        description: 'Every trial is a job (with its folds), queued at once; on a cluster they fan out over every worker.',
        tags: ['sweeps'],
        body: createSweepBody,
        response: { 202: sweepAccepted, 400: errorSchema, 401: errorSchema },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const base = recipeOf(body.base, 'body.base');
      const dataset = body.base.dataset === undefined ? {} : jobDataset(app.fastmlp, body.base.dataset, 'body.base.dataset');
      let trials: { job: { recipe: TrainRecipe; testEveryEpoch: boolean }; params: Record<string, unknown> }[];
      try {
        const plan = { space: body.space, strategy: body.strategy, seed: body.seed, ...(body.trials !== undefined ? { trials: body.trials } : {}) };
        trials = trialParams(plan).map((params, i) => ({ job: { recipe: trialRecipe(base, params, i), testEveryEpoch: body.base.testEveryEpoch, ...dataset }, params }));
      } catch (error) {
        if (!(error instanceof SweepSpaceError)) throw error;
        // A combination that is no valid recipe is the space's; anything else names its own field.
        if (error.path.startsWith('trial ')) throw new HttpError(400, `body.space: ${error.message}`, 'body.space');
        throw new HttpError(400, `body.${error.message}`, `body.${error.path}`);
      }
      const sweep = store.createSweep(
        { base: body.base as Record<string, unknown>, space: body.space, strategy: body.strategy, seed: body.seed, metric: body.metric, ...(body.trials !== undefined ? { trials: body.trials } : {}) },
        trials,
      );
      runner.pump();
      return reply.code(202).header('location', `/sweeps/${sweep.id}`).send({ id: sweep.id, status: 'queued', trials: sweep.trials.length });
    },
  );

  app.get(
    '/sweeps',
    { schema: { summary: 'List sweeps, newest first', tags: ['sweeps'], querystring: sweepListQuery, response: { 200: sweepListSchema, 400: errorSchema } } },
    async (request) => {
      const { limit, offset } = request.query;
      const { sweeps, total } = store.listSweeps({ limit, offset });
      return { sweeps: sweeps.map(view), total, limit, offset };
    },
  );

  app.get(
    '/sweeps/:id',
    { schema: { summary: 'A sweep: status, trials with their validation accuracy, the best trial', tags: ['sweeps'], ...withId, response: { 200: sweepSchema, 404: errorSchema } } },
    async (request) => view(getSweep(request.params.id)),
  );

  app.get(
    '/sweeps/:id/events',
    {
      schema: {
        summary: 'Server-Sent Events: one `trial` event per finished trial, then one `end` event',
        description: 'Trials finished before the stream opened are sent first.',
        tags: ['sweeps'],
        ...withId,
        response: { 200: z.string().describe('text/event-stream'), 404: errorSchema },
      },
    },
    (request, reply) => {
      const sweep = getSweep(request.params.id);
      const unsubscribers: (() => void)[] = [];
      const stream = streams.start(reply, () => unsubscribers.forEach((u) => u()));
      const sent = new Set<string>();
      // Replaying and subscribing happen in one turn of the event loop: no trial can end between them.
      const report = () => {
        const now = view(sweep);
        for (const trial of now.trials) {
          if (FINISHED.has(trial.status) && !sent.has(trial.jobId)) {
            sent.add(trial.jobId);
            stream.send('trial', trial);
          }
        }
        if (now.trials.every((t) => FINISHED.has(t.status))) {
          stream.send('end', { id: now.id, status: now.status, best: now.best });
          stream.end();
        }
      };
      for (const trial of sweep.trials) unsubscribers.push(runner.subscribe(trial.jobId, (event) => event.type === 'end' && report()));
      report();
    },
  );

  app.post(
    '/sweeps/:id/cancel',
    { preHandler: guarded, schema: { summary: 'Cancel every trial not finished', tags: ['sweeps'], ...withId, response: { 202: sweepAccepted, 401: errorSchema, 404: errorSchema, 409: errorSchema } } },
    async (request, reply) => {
      const sweep = getSweep(request.params.id);
      const before = view(sweep);
      if (FINISHED.has(before.status) || sweep.cancelled) throw new HttpError(409, `Sweep ${sweep.id} has already finished (${before.status})`);
      store.markSweepCancelled(sweep.id);
      for (const trial of sweep.trials) {
        const job = store.job(trial.jobId);
        if (job && !FINISHED.has(job.status)) runner.cancel(job);
      }
      const after = view(store.sweep(sweep.id)!);
      return reply.code(202).send({ id: sweep.id, status: after.status, trials: sweep.trials.length });
    },
  );
};
