/**
 * The service's side of the cluster: puts a job on the queues as one flow (a parent `select` job whose
 * children are the folds), hears the folds' progress, takes the parent once every fold has finished (its
 * own worker on the select queue), and hands the finished folds to the caller, which selects and
 * publishes. The parent completes only after the caller released it: a service that dies before it has
 * published leaves the parent to be taken again after its restart.
 *
 * A job whose flow fails (a fold failed on every attempt), or that vanished from Redis (a Redis restarted
 * without its data), rejects with ClusterJobFailed naming the cause: nothing fails silently.
 */
import { DelayedError, FlowProducer, Queue, QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { decodeFinishedFold, type FinishedFold } from '../train/resume.js';
import { TrainingCancelled } from '../train/trainer.js';
import type { TrainEvent, TrainRecipe } from '../train/types.js';
import type { DatasetSource } from '../data/dataset.js';
import { DatasetRegistry } from './datasets.js';
import type { ClusterLog } from './fold-worker.js';
import {
  CANCEL_CHANNEL,
  connect,
  FOLD_QUEUE,
  foldJobId,
  keys,
  parseFoldJobId,
  SELECT_QUEUE,
  VALUE_TTL_SECONDS,
  type FoldJobData,
  type FoldJobResult,
  type FoldProgress,
  type SelectJobData,
} from './protocol.js';

export interface CoordinatorOptions {
  /** redis://host:port */
  redis: string;
  log?: ClusterLog;
  /** Attempts of a fold that fails with an error (a worker's death is not one). Default 3. */
  attempts?: number;
  /** Between two looks at a job's state in Redis, in case an event was missed. Default 2000 ms. */
  checkIntervalMs?: number;
}

export interface ClusterJobSpec {
  jobId: string;
  /** Validated. */
  recipe: TrainRecipe;
  testEveryEpoch: boolean;
  /** A dataset of its own (paths on this machine), served to the workers by hash; absent: MNIST. */
  dataset?: DatasetSource;
}

/** Every fold of a job, trained; `release` lets the parent complete once the caller is done with them. */
export interface TrainedFolds {
  folds: FinishedFold[];
  /** The worker that finished each fold, in fold order. */
  workers: string[];
  release(): void;
}

export interface ClusterTrainOptions {
  /** Stops waiting (the job stays in the queues: the next service start takes it up again). */
  signal?: AbortSignal;
  /** Each fold's events, with `progress` made that of the whole job (folds train side by side). */
  onEvent?: (event: TrainEvent, worker: string) => void;
}

/** A job the cluster could not finish. */
export class ClusterJobFailed extends Error {
  override readonly name = 'ClusterJobFailed';
}

export interface ClusterStats {
  folds: { waiting: number; active: number; delayed: number };
  workers: number;
}

interface Waiter {
  spec: ClusterJobSpec;
  /** Each fold's fraction done, 0..1. */
  fractions: number[];
  onEvent: ClusterTrainOptions['onEvent'];
  resolve(folds: TrainedFolds): void;
  reject(error: Error): void;
}

const quiet: ClusterLog = { info() {}, warn() {} };

/** A finished job's parent that nobody waits for is looked at again after this. */
const ORPHAN_RETRY_MS = 5000;

/** How far into its fold an event is, 0..1. */
function foldFraction(event: TrainEvent, epochs: number): number | undefined {
  switch (event.type) {
    case 'fold-start':
      return (event.resumedAfterEpoch ?? 0) / epochs;
    case 'batch':
      return (event.epoch - 1 + event.batch / event.batches) / epochs;
    case 'epoch':
      return event.metrics.epoch / epochs;
    case 'fold-end':
      return 1;
    default:
      return undefined;
  }
}

export class ClusterCoordinator {
  private readonly redis: Redis;
  private readonly flows: FlowProducer;
  private readonly foldQueue: Queue<FoldJobData, FoldJobResult>;
  private readonly selectQueue: Queue<SelectJobData>;
  private readonly foldEvents: QueueEvents;
  private readonly selectEvents: QueueEvents;
  private selectWorker: Worker<SelectJobData> | undefined;
  private readonly waiters = new Map<string, Waiter>();
  private readonly datasets = new DatasetRegistry();
  /** Jobs whose state is being looked at in Redis. */
  private readonly checking = new Set<string>();
  private readonly log: ClusterLog;
  private readonly connections: Redis[] = [];
  private readonly connection: () => Redis;
  /** The Redis URL. */
  readonly url: string;

  constructor(private readonly options: CoordinatorOptions) {
    this.log = options.log ?? quiet;
    this.url = options.redis;
    this.redis = connect(options.redis);
    this.redis.on('error', (error) => this.log.warn({ err: error }, 'cluster: Redis error'));
    // BullMQ leaves the connections it is given open when it closes: close() ends them.
    const connection = () => {
      const c = this.redis.duplicate();
      this.connections.push(c);
      return c;
    };
    this.connection = connection;
    this.flows = new FlowProducer({ connection: connection() });
    this.foldQueue = new Queue(FOLD_QUEUE, { connection: connection() });
    this.selectQueue = new Queue(SELECT_QUEUE, { connection: connection() });
    this.foldEvents = new QueueEvents(FOLD_QUEUE, { connection: connection() });
    this.selectEvents = new QueueEvents(SELECT_QUEUE, { connection: connection() });
    const warn = (error: Error) => this.log.warn({ err: error }, 'cluster: Redis error');
    this.flows.on('error', warn);
    this.foldQueue.on('error', warn);
    this.selectQueue.on('error', warn);
    this.foldEvents.on('error', warn);
    this.selectEvents.on('error', warn);
    this.foldEvents.on('progress', ({ jobId, data }) => this.progress(jobId, data as unknown as FoldProgress));
    this.selectEvents.on('failed', ({ jobId }) => void this.check(jobId));
  }

  /** Resolves once every connection is up. */
  async ready(): Promise<void> {
    await Promise.all([this.foldQueue.waitUntilReady(), this.selectQueue.waitUntilReady(), this.foldEvents.waitUntilReady(), this.selectEvents.waitUntilReady(), this.flows.waitUntilReady()]);
  }

  /**
   * Starts taking the parents of finished jobs. Call it once every job the caller still waits for has
   * been given to train(): a parent nobody waits for waits in the queue (it is dropped once cancelled,
   * or a week old).
   */
  start(): void {
    this.selectWorker ??= new Worker<SelectJobData>(SELECT_QUEUE, (job, token) => this.select(job, token), {
      connection: this.connection(),
      concurrency: 8,
      lockDuration: 10_000,
      maxStalledCount: 10,
    });
    this.selectWorker.on('error', (error) => this.log.warn({ err: error }, 'cluster: Redis error'));
  }

  /**
   * Trains the job's folds on the workers and resolves with them all. Takes up a flow already in the
   * queues (the service restarted during the job) rather than adding it again.
   */
  train(spec: ClusterJobSpec, options: ClusterTrainOptions = {}): Promise<TrainedFolds> {
    const { jobId, recipe } = spec;
    if (this.waiters.has(jobId)) return Promise.reject(new Error(`job ${jobId} is already waited for`));
    return new Promise<TrainedFolds>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        options.signal?.removeEventListener('abort', abort);
        this.waiters.delete(jobId);
        fn();
      };
      const abort = () => settle(() => reject(new TrainingCancelled()));
      const timer = setInterval(() => void this.check(jobId), this.options.checkIntervalMs ?? 2000);
      this.waiters.set(jobId, {
        spec,
        fractions: Array.from({ length: recipe.folds }, () => 0),
        onEvent: options.onEvent,
        resolve: (folds) => settle(() => resolve(folds)),
        reject: (error) => settle(() => reject(error)),
      });
      if (options.signal?.aborted) return abort();
      options.signal?.addEventListener('abort', abort, { once: true });
      this.submit(spec).then(
        () => this.check(jobId),
        (error: unknown) => settle(() => reject(error instanceof Error ? error : new Error(String(error)))),
      );
    });
  }

  /**
   * Cancels a job: its folds stop within a batch wherever they train (pub/sub), the ones still waiting
   * leave the queue, and a fold taken later is dropped (the cancel mark). A waiting train() is not
   * settled here: the caller stops it with its signal.
   */
  async cancel(jobId: string, folds: number): Promise<void> {
    await this.redis.set(keys.cancelled(jobId), '1', 'EX', VALUE_TTL_SECONDS);
    // The waiting folds first, before a worker freed by the cancel takes one (it would drop it, marked).
    for (let fold = 1; fold <= folds; fold++) {
      const job = await this.foldQueue.getJob(foldJobId(jobId, fold));
      const state = await job?.getState();
      if (job && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) {
        // A worker may take it meanwhile: it then stops it as cancelled.
        await job.remove().catch((error: unknown) => this.log.info({ err: error, job: jobId, fold }, 'cluster: a cancelled fold was taken before it could be removed'));
      }
    }
    await this.redis.publish(CANCEL_CHANNEL, jobId);
  }

  /** Fold jobs by state and fold workers connected. */
  async stats(): Promise<ClusterStats> {
    const [counts, workers] = await Promise.all([this.foldQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized'), this.foldQueue.getWorkersCount()]);
    return { folds: { waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0, delayed: counts.delayed ?? 0 }, workers };
  }

  /** Stops waiting for every job (they stay in the queues) and closes the connections. */
  async close(): Promise<void> {
    for (const waiter of this.waiters.values()) waiter.reject(new TrainingCancelled());
    // Forced: a parent being selected goes back to the queue when its lock expires, for the next start.
    await this.selectWorker?.close(true);
    await Promise.allSettled([this.flows.close(), this.foldQueue.close(), this.selectQueue.close(), this.foldEvents.close(), this.selectEvents.close()]);
    for (const c of this.connections) c.disconnect();
    await this.redis.quit().catch(() => undefined);
  }

  /** Where workers fetch datasets: this service's URL, as they can reach it. */
  async advertise(url: string): Promise<void> {
    await this.redis.set(keys.service, url);
  }

  /** The path of a file of a job this coordinator trains, by its SHA-256. */
  datasetFile(hash: string): string | undefined {
    return this.datasets.path(hash);
  }

  private async submit({ jobId, recipe, testEveryEpoch, dataset }: ClusterJobSpec): Promise<void> {
    // Registered on every start too: a job taken up again after a restart keeps its files downloadable.
    const ref = dataset ? await this.datasets.register(dataset) : undefined;
    if (await this.selectQueue.getJob(jobId)) {
      this.log.info({ job: jobId }, 'cluster: taking up the job already in the queues');
      return;
    }
    const keep = { age: VALUE_TTL_SECONDS };
    await this.flows.add({
      name: 'select',
      queueName: SELECT_QUEUE,
      data: { jobId, folds: recipe.folds } satisfies SelectJobData,
      opts: { jobId, removeOnComplete: true, removeOnFail: keep },
      children: Array.from({ length: recipe.folds }, (_, i) => ({
        name: 'fold',
        queueName: FOLD_QUEUE,
        data: { jobId, fold: i + 1, recipe, testEveryEpoch, ...(ref ? { dataset: ref } : {}), ...(dataset && 'images' in dataset && dataset.images ? { images: dataset.images } : {}) } satisfies FoldJobData,
        opts: {
          jobId: foldJobId(jobId, i + 1),
          attempts: this.options.attempts ?? 3,
          backoff: { type: 'fixed', delay: 1000 },
          failParentOnFailure: true,
          removeOnComplete: keep,
          removeOnFail: keep,
        },
      })),
    });
  }

  private progress(id: string, data: FoldProgress): void {
    const ids = parseFoldJobId(id);
    const waiter = ids && this.waiters.get(ids.jobId);
    if (!waiter || typeof data !== 'object' || data === null || !('event' in data)) return;
    const { event, worker } = data;
    const fraction = foldFraction(event, waiter.spec.recipe.epochs);
    if (fraction !== undefined) waiter.fractions[ids.fold - 1] = fraction;
    const whole = waiter.fractions.reduce((a, b) => a + b, 0) / waiter.fractions.length;
    const onEvent = waiter.onEvent;
    if (!onEvent) return;
    if (event.type === 'batch' || event.type === 'epoch') onEvent({ ...event, progress: whole }, worker);
    else onEvent(event, worker);
  }

  /** Settles a job's waiter if its flow failed or is gone; a look that an event may have been missed. */
  private async check(jobId: string): Promise<void> {
    const waiter = this.waiters.get(jobId);
    // One look at a time: while Redis is away, a look waits for it, and the next ones would pile up.
    if (!waiter || this.checking.has(jobId)) return;
    this.checking.add(jobId);
    let state: string;
    try {
      state = await this.selectQueue.getJobState(jobId);
    } catch {
      return;
    } finally {
      this.checking.delete(jobId);
    }
    if (state === 'unknown') {
      waiter.reject(new ClusterJobFailed('the job is no longer in Redis (was Redis restarted without its data?)'));
    } else if (state === 'failed') {
      waiter.reject(new ClusterJobFailed(await this.failure(jobId, waiter.spec.recipe.folds)));
    }
  }

  /** Why a job's flow failed: the first fold that failed, with its error. */
  private async failure(jobId: string, folds: number): Promise<string> {
    for (let fold = 1; fold <= folds; fold++) {
      const job = await this.foldQueue.getJob(foldJobId(jobId, fold));
      if (job && (await job.getState()) === 'failed') return `fold ${fold} failed after ${job.attemptsMade} attempt(s): ${job.failedReason}`;
    }
    const parent = await this.selectQueue.getJob(jobId);
    return parent?.failedReason ? `the job failed in the queue: ${parent.failedReason}` : 'the job failed in the queue';
  }

  /** The parent's processor: the finished folds, from Redis, to the waiter; completes once released. */
  private async select(job: Job<SelectJobData>, token: string | undefined): Promise<void> {
    const { jobId, folds: count } = job.data;
    const waiter = this.waiters.get(jobId);
    const cancelled = (await this.redis.exists(keys.cancelled(jobId))) === 1;
    if (!waiter && !cancelled && Date.now() - job.timestamp < VALUE_TTL_SECONDS * 1000 && token !== undefined) {
      // Nobody waits yet (a service that starts): looked at again shortly, never dropped unseen.
      await job.moveToDelayed(Date.now() + ORPHAN_RETRY_MS, token);
      throw new DelayedError();
    }
    if (!waiter || cancelled) {
      this.log.info({ job: jobId }, 'cluster: dropped a finished job nobody waits for');
      await this.redis.del(...keys.all(jobId, count));
      return;
    }
    let trained: Omit<TrainedFolds, 'release'>;
    try {
      const values = Object.values(await job.getChildrenValues<FoldJobResult>());
      const workers = Array.from({ length: count }, (_, i) => values.find((v) => v.fold === i + 1)?.worker ?? 'unknown');
      const folds: FinishedFold[] = [];
      for (let fold = 1; fold <= count; fold++) {
        const bytes = await this.redis.getBuffer(keys.result(jobId, fold));
        if (bytes === null) throw new ClusterJobFailed(`the result of fold ${fold} is missing from Redis`);
        const { fold: finished } = decodeFinishedFold(bytes, `the result of fold ${fold}`);
        if (finished.summary.fold !== fold) throw new ClusterJobFailed(`the result of fold ${fold} holds fold ${finished.summary.fold}`);
        folds.push(finished);
      }
      trained = { folds, workers };
    } catch (error) {
      const failure = error instanceof ClusterJobFailed ? error : new ClusterJobFailed(error instanceof Error ? error.message : String(error));
      waiter.reject(failure);
      throw new UnrecoverableError(failure.message);
    }
    await new Promise<void>((release) => waiter.resolve({ ...trained, release }));
    await this.redis.del(...keys.all(jobId, count));
  }
}
