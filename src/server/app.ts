/**
 * buildApp: the service as a Fastify instance that does not listen (tests call inject; server.ts listens).
 * Shared services (the job store, the models, the runner, the metrics) are decorators; one plugin per
 * resource registers the routes.
 */
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { ClusterCoordinator } from '../cluster/coordinator.js';
import { FoldWorker } from '../cluster/fold-worker.js';
import { packageRoot } from '../proto/schema.js';
import { accurateRecipe } from '../train/recipe.js';
import type { TrainRecipe } from '../train/types.js';
import { HttpError, errorHandler } from './errors.js';
import { createMetrics, type ServiceMetrics } from './metrics.js';
import { ModelRegistry } from './model-registry.js';
import { DatasetUploads } from './dataset-uploads.js';
import { clusterRoutes } from './routes/cluster.js';
import { datasetRoutes } from './routes/datasets.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { metricsRoutes } from './routes/metrics.js';
import { modelRoutes } from './routes/models.js';
import { predictRoutes } from './routes/predict.js';
import { sweepRoutes } from './routes/sweeps.js';
import { v2Routes } from './routes/v2.js';
import { webRoutes } from './routes/web.js';
import { JobRunner, TRAINING_NICE } from './runner.js';
import { DEFAULT_MODEL_BODY_LIMIT } from './schemas.js';
import { JobStore } from './store.js';
import type { Precision } from '../nn/spec.js';

export interface AppOptions {
  /** Holds fastmlp.db (the job store), models/ (checkpoints) and jobs/ (reports); created if missing. */
  dataDir: string;
  /** On an empty store, queue one job with the high-accuracy recipe. Default true. */
  bootstrap?: boolean;
  /** The bootstrap job's recipe. Default accurateRecipe. */
  bootstrapRecipe?: TrainRecipe;
  /** Jobs trained at once. Default 1. */
  concurrency?: number;
  /** Queued jobs beyond which POST /jobs answers 503. Default 32. */
  maxQueuedJobs?: number;
  /** Native threads per training job. Default: the pool's size. */
  threads?: number;
  /** When set, creating, cancelling and deleting need `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body in bytes; larger ones get 413. Default 8 MiB. */
  bodyLimit?: number;
  /** Largest POST /models body (an ONNX model or a checkpoint); larger ones get 413. Default 64 MiB. */
  modelBodyLimit?: number;
  /** Fastify's logger (pino). Default false. */
  logger?: FastifyServerOptions['logger'];
  /** Default process and Node.js metrics in /metrics. Default true. */
  defaultMetrics?: boolean;
  /** The OpenAPI UI at /docs. Default true. */
  docs?: boolean;
  /**
   * redis://host:port: jobs train on the cluster of fold workers that share this Redis (`fastmlp worker`)
   * instead of in this process. Default: none, the embedded mode.
   */
  redis?: string;
  /** With redis: this process is a fold worker too (`concurrency` folds at a time). Default true. */
  localWorker?: boolean;
  /** With redis: a fold's lock lasts this long unrenewed before another worker takes it. Default 30 s. */
  lockMs?: number;
  /** Largest dataset upload (POST /datasets) in bytes. Default 512 MiB. */
  maxUploadBytes?: number;
  /** The precision of every model's predictions. Default: the one each model was trained in (fp32 for imports). */
  predictPrecision?: Precision;
}

export interface Services {
  options: Required<Pick<AppOptions, 'maxQueuedJobs' | 'bodyLimit' | 'modelBodyLimit'>> & { dataDir: string; token?: string; cluster: boolean };
  /** With redis: the service's side of the cluster. */
  cluster?: ClusterCoordinator;
  version: string;
  store: JobStore;
  models: ModelRegistry;
  runner: JobRunner;
  metrics: ServiceMetrics;
  uploads: DatasetUploads;
}

declare module 'fastify' {
  interface FastifyInstance {
    fastmlp: Services;
  }
}

export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;
export const DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** Builds the app; the runner starts taking jobs once the app is ready. */
export function buildApp(options: AppOptions) {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  mkdirSync(options.dataDir, { recursive: true });
  // The real path: dataset paths are checked against it, symbolic links included.
  const dataDir = realpathSync(resolve(options.dataDir));
  const app = Fastify({ logger: options.logger ?? false, bodyLimit, return503OnClosing: true, frameworkErrors: errorHandler }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    errorHandler(new HttpError(404, `Route ${request.method} ${request.url.split('?')[0]} not found`), request, reply);
  });

  const store = new JobStore(join(dataDir, 'fastmlp.db'));
  const models = new ModelRegistry(store, options.predictPrecision === undefined ? {} : { precision: options.predictPrecision });
  const uploads = new DatasetUploads(dataDir, store, { maxBytes: options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES });
  const version = packageVersion();
  const cluster = options.redis === undefined ? undefined : new ClusterCoordinator({ redis: options.redis, log: app.log });
  const metrics = createMetrics({
    store,
    // An imported model has no test accuracy to report.
    modelAccuracies: () => models.list().flatMap((m) => (m.testAccuracy === null ? [] : [{ id: m.id, testAccuracy: m.testAccuracy }])),
    version,
    defaultMetrics: options.defaultMetrics ?? true,
    ...(cluster ? { cluster: () => cluster.stats() } : {}),
  });
  const runner = new JobRunner({
    store,
    models,
    metrics,
    log: app.log,
    dataDir,
    concurrency: options.concurrency ?? 1,
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(cluster ? { cluster } : {}),
  });
  // Jobs the previous process left running resume, queued first; those that cannot fail as interrupted.
  runner.recover();
  if ((options.bootstrap ?? true) && store.totalJobs() === 0 && models.list().length === 0) {
    const job = store.createJob({ recipe: options.bootstrapRecipe ?? accurateRecipe, testEveryEpoch: false });
    app.log.info({ job: job.id }, 'empty store: queued the first job with the high-accuracy recipe');
  }
  app.decorate('fastmlp', {
    options: { dataDir, bodyLimit, modelBodyLimit: options.modelBodyLimit ?? DEFAULT_MODEL_BODY_LIMIT, maxQueuedJobs: options.maxQueuedJobs ?? 32, cluster: cluster !== undefined, ...(options.token ? { token: options.token } : {}) },
    version,
    store,
    models,
    runner,
    metrics,
    uploads,
    ...(cluster ? { cluster } : {}),
  } satisfies Services);

  // Request duration by route template, never the raw URL (ids would explode the label set).
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
  let localWorker: FoldWorker | undefined;
  app.addHook('onReady', async () => {
    await uploads.recover();
    if (!cluster) {
      runner.pump();
      return;
    }
    await cluster.ready();
    // Every job under way is waited for before the finished ones are taken from the queue.
    runner.pump();
    cluster.start();
    if (options.localWorker ?? true) {
      localWorker = await FoldWorker.start({
        redis: cluster.url,
        concurrency: options.concurrency ?? 1,
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
        ...(options.lockMs !== undefined ? { lockMs: options.lockMs } : {}),
        // Requests go first, as for the jobs of the embedded mode.
        nice: TRAINING_NICE,
        idle: true,
        log: app.log,
      });
    }
  });
  app.addHook('onClose', async () => {
    await runner.close();
    await localWorker?.close();
    await cluster?.close();
    store.close();
  });

  if (options.docs ?? true) {
    void app.register(fastifySwagger, {
      openapi: {
        info: { title: 'fastmlp', description: 'Train multilayer perceptrons as jobs and serve their predictions.', version },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      },
      transform: jsonSchemaTransform,
    });
    void app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  }
  void app.register(healthRoutes);
  void app.register(jobRoutes);
  void app.register(sweepRoutes);
  void app.register(modelRoutes);
  void app.register(datasetRoutes);
  void app.register(predictRoutes);
  void app.register(v2Routes);
  void app.register(metricsRoutes);
  if (cluster) void app.register(clusterRoutes);
  void app.register(webRoutes);
  return app;
}
