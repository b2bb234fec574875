/** Training jobs: create, list, show, watch (SSE), cancel, delete, and each job's report and curves. */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DatasetSource } from '../../data/dataset.js';
import { RecipeFieldError, recipeWith } from '../../train/recipe.js';
import type { TrainRecipe } from '../../train/types.js';
import { requireToken } from '../auth.js';
import { HttpError, sendBytes } from '../errors.js';
import type { JobEvent } from '../runner.js';
import { EventStreams } from '../sse.js';
import {
  createJobBody,
  errorSchema,
  idParams,
  jobAccepted,
  jobListQuery,
  jobListSchema,
  jobSchema,
  reportSchema,
  type CreateJobBody,
} from '../schemas.js';
import type { Services } from '../app.js';
import { FINISHED, type JobRecord, type JobSpec } from '../store.js';
import { epochView, foldRows, jobSummaryView, jobView } from '../views.js';

/** A file the job may read: inside the data directory once every symbolic link is followed. */
function insideDataDir(dataDir: string, path: string, field: string): string {
  const absolute = isAbsolute(path) ? path : resolve(dataDir, path);
  if (!existsSync(absolute)) throw new HttpError(400, `${field}: ${path} does not exist in the data directory`, field);
  const real = realpathSync(absolute);
  if (!real.startsWith(dataDir + sep)) throw new HttpError(400, `${field}: ${path} is outside the data directory`, field);
  return real;
}

/**
 * A body's dataset as a job keeps it: paths inside the data directory, or an uploaded dataset's files with
 * its id and class names; `field` names it in errors. On a cluster a folder is refused: workers fetch files.
 */
export function jobDataset(services: Services, dataset: NonNullable<CreateJobBody['dataset']>, field = 'body.dataset'): Pick<JobSpec, 'dataset' | 'datasetId' | 'classNames'> {
  const { options, store, uploads } = services;
  if ('id' in dataset) {
    const record = store.dataset(dataset.id);
    if (record === undefined) throw new HttpError(400, `${field}.id: no dataset ${dataset.id} (GET /datasets lists them)`, `${field}.id`);
    return { dataset: uploads.files(record.id), datasetId: record.id, ...(record.classNames ? { classNames: record.classNames } : {}) };
  }
  const { images, ...paths } = 'images' in dataset ? dataset : { ...dataset, images: undefined };
  const files = Object.fromEntries(
    Object.entries(paths as Record<string, string>).map(([k, p]) => {
      const real = insideDataDir(options.dataDir, p, `${field}.${k}`);
      if (options.cluster && statSync(real).isDirectory()) {
        throw new HttpError(400, `${field}.${k}: ${p} is a folder; fold workers fetch datasets as files: pack it as a zip or tar, or upload it (POST /datasets)`, `${field}.${k}`);
      }
      return [k, real];
    }),
  );
  return { dataset: { ...files, ...(images ? { images } : {}) } as unknown as DatasetSource };
}

/** The named recipe with every given field laid over it. */
export function recipeOf(body: CreateJobBody, field = 'body'): TrainRecipe {
  const { recipe: named, name: _name, dataset: _dataset, testEveryEpoch: _test, ...fields } = body;
  try {
    return recipeWith(named, fields);
  } catch (error) {
    // Fields that pass one by one but not together (a holdout with folds).
    if (error instanceof RecipeFieldError) throw new HttpError(400, `${field}.${error.path}: ${error.problem}`, `${field}.${error.path}`);
    throw error;
  }
}

const withId = { params: idParams };
const notFound = (id: string) => new HttpError(404, `No job ${id}`, 'params.id');

export const jobRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, runner, options } = app.fastmlp;
  const guarded = requireToken(options.token);
  const getJob = (id: string): JobRecord => store.job(id) ?? (() => { throw notFound(id); })();
  const streams = new EventStreams(app);

  app.post(
    '/jobs',
    {
      preHandler: guarded,
      schema: {
        summary: 'Queue a training job',
        description: 'The training settings of the CLI; absent fields come from the named recipe (reference by default).',
        tags: ['jobs'],
        body: createJobBody,
        response: { 202: jobAccepted, 400: errorSchema, 401: errorSchema, 503: errorSchema },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const recipe = recipeOf(body);
      const dataset = body.dataset === undefined ? {} : jobDataset(app.fastmlp, body.dataset);
      // On a cluster every job not finished is in the queues.
      const counts = store.countJobs();
      if (counts.queued + (options.cluster ? counts.running : 0) >= options.maxQueuedJobs) {
        throw new HttpError(503, `The queue is full (${options.maxQueuedJobs} jobs waiting); try again later`, undefined, { 'retry-after': '60' });
      }
      const job = store.createJob({ ...(body.name ? { name: body.name } : {}), recipe, ...dataset, testEveryEpoch: body.testEveryEpoch });
      runner.pump();
      return reply.code(202).header('location', `/jobs/${job.id}`).send({ id: job.id, status: 'queued' });
    },
  );

  app.get(
    '/jobs',
    { schema: { summary: 'List jobs, newest first', tags: ['jobs'], querystring: jobListQuery, response: { 200: jobListSchema, 400: errorSchema } } },
    async (request) => {
      const { status, limit, offset } = request.query;
      const { jobs, total } = store.listJobs({ ...(status ? { status } : {}), limit, offset });
      return { jobs: jobs.map((j) => jobSummaryView(j, options.dataDir)), total, limit, offset };
    },
  );

  app.get(
    '/jobs/:id',
    { schema: { summary: 'A job: status, progress, per-epoch history, fold table, test result', tags: ['jobs'], ...withId, response: { 200: jobSchema, 404: errorSchema } } },
    async (request) => jobView(getJob(request.params.id), options.dataDir),
  );

  app.get(
    '/jobs/:id/events',
    {
      schema: {
        summary: 'Server-Sent Events: one `epoch` event per finished epoch, then one `end` event',
        description: 'Epochs finished before the stream opened are sent first, so a client never misses one.',
        tags: ['jobs'],
        ...withId,
        response: { 200: z.string().describe('text/event-stream'), 404: errorSchema },
      },
    },
    (request, reply) => {
      const job = getJob(request.params.id);
      let unsubscribe = () => {};
      const stream = streams.start(reply, () => unsubscribe());
      const sendEnd = (record: JobRecord) => {
        stream.send('end', { id: record.id, status: record.status, modelId: record.modelId, error: record.error, test: record.result?.test ?? null });
        stream.end();
      };
      // Replaying and subscribing happen in one turn of the event loop: no epoch can fall between them.
      job.history.forEach((epochs, i) => epochs?.forEach((m) => stream.send('epoch', { fold: i + 1, ...epochView(m) })));
      if (FINISHED.has(job.status)) {
        sendEnd(job);
        return;
      }
      unsubscribe = runner.subscribe(job.id, (event: JobEvent) => {
        if (event.type === 'epoch') {
          stream.send('epoch', { fold: event.fold, ...epochView(event.metrics), samplesPerSecond: event.samplesPerSecond, progress: event.progress });
          return;
        }
        sendEnd(store.job(job.id) ?? { ...job, status: event.status, modelId: event.modelId, error: event.error });
      });
    },
  );

  app.post(
    '/jobs/:id/cancel',
    { preHandler: guarded, schema: { summary: 'Cancel a queued or running job', tags: ['jobs'], ...withId, response: { 202: jobAccepted, 401: errorSchema, 404: errorSchema, 409: errorSchema } } },
    async (request, reply) => {
      const job = getJob(request.params.id);
      if (!runner.cancel(job)) throw new HttpError(409, `Job ${job.id} has already finished (${job.status})`);
      return reply.code(202).send({ id: job.id, status: store.job(job.id)!.status });
    },
  );

  app.delete(
    '/jobs/:id',
    { preHandler: guarded, schema: { summary: 'Remove a finished job’s record and report (its model stays)', tags: ['jobs'], ...withId, response: { 204: z.null(), 401: errorSchema, 404: errorSchema, 409: errorSchema } } },
    async (request, reply) => {
      const job = getJob(request.params.id);
      if (!FINISHED.has(job.status)) throw new HttpError(409, `Job ${job.id} is ${job.status}; cancel it first`);
      const sweep = store.sweepOfJob(job.id);
      if (sweep !== undefined) throw new HttpError(409, `Job ${job.id} is a trial of sweep ${sweep}; it stays with the sweep`);
      store.deleteJob(job.id);
      await rm(runner.jobFolder(job.id), { recursive: true, force: true });
      return reply.code(204).send(null);
    },
  );

  const artifact = async (id: string, file: string): Promise<Buffer> => {
    const job = getJob(id);
    if (job.status !== 'succeeded') throw new HttpError(404, `Job ${job.id} is ${job.status}: its report exists once it succeeds`);
    try {
      return await readFile(join(runner.jobFolder(job.id), file));
    } catch {
      throw new HttpError(404, `Job ${job.id} has no ${file}`);
    }
  };

  app.get(
    '/jobs/:id/curves.svg',
    { schema: { summary: 'Loss and accuracy curves of every fold (SVG)', tags: ['jobs'], ...withId, response: { 200: z.string().meta({ format: 'binary' }), 404: errorSchema } } },
    async (request, reply) => sendBytes(reply, 'image/svg+xml', await artifact(request.params.id, 'curves.svg')),
  );
  app.get(
    '/jobs/:id/curves.png',
    { schema: { summary: 'Loss and accuracy curves of every fold (PNG)', tags: ['jobs'], ...withId, response: { 200: z.string().meta({ format: 'binary' }), 404: errorSchema } } },
    async (request, reply) => sendBytes(reply, 'image/png', await artifact(request.params.id, 'curves.png')),
  );
  app.get(
    '/jobs/:id/report',
    { schema: { summary: 'The fold table and the test result', tags: ['jobs'], ...withId, response: { 200: reportSchema, 404: errorSchema } } },
    async (request) => {
      const markdown = (await artifact(request.params.id, 'report.md')).toString('utf8');
      const job = getJob(request.params.id);
      const result = job.result!;
      return { jobId: job.id, selectedFold: result.selectedFold, test: result.test, seconds: result.seconds, folds: foldRows(result.folds), markdown };
    },
  );
};
