/**
 * A fold worker: takes fold jobs from the BullMQ queue and trains each in a worker thread
 * (trainFoldInWorker), so that this thread's event loop keeps renewing the job's lock while the addon
 * computes. Every fold resumes from its snapshot in Redis when it has one (a worker that trained it before
 * died), saves a new one at most about once a second, and leaves its result in Redis as bytes. Progress goes
 * back through job.updateProgress; a cancel published on the cancel channel stops the job's folds within a
 * batch, and they are not retried.
 */
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { LatestWriter } from '../train/latest-writer.js';
import { DatasetCache, DatasetFetchError, defaultCacheDir } from './datasets.js';
import { encodeFinishedFold, ResumeStateError } from '../train/resume.js';
import { trainFoldInWorker } from '../train/run.js';
import { TrainingCancelled } from '../train/trainer.js';
import type { TrainEvent } from '../train/types.js';
import {
  CANCEL_CHANNEL,
  connect,
  DEFAULT_LOCK_MS,
  FOLD_QUEUE,
  keys,
  processName,
  VALUE_TTL_SECONDS,
  type FoldJobData,
  type FoldJobResult,
  type FoldProgress,
} from './protocol.js';

/** What a worker logs: pino's and Fastify's loggers fit. */
export interface ClusterLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface FoldWorkerOptions {
  /** redis://host:port */
  redis: string;
  /** Folds trained at once. Default 1. */
  concurrency?: number;
  /** Native threads per fold; default the pool's size. Workers with equal threads give equal bits. */
  threads?: number;
  /** CPU priority of the training (Linux nice) and SCHED_IDLE, as the service's own jobs run. */
  nice?: number;
  idle?: boolean;
  /** How long a fold's lock lasts unrenewed before another worker takes the fold. Default 30 s. */
  lockMs?: number;
  /** Least time between two snapshots of a fold. Default 1000 ms. */
  snapshotIntervalMs?: number;
  /** Default: host:pid. */
  name?: string;
  log?: ClusterLog;
  /** The service's URL for datasets of their own; default the one the service advertised in Redis. */
  service?: string;
  /** The service's token (FASTMLP_TOKEN), when it has one. */
  token?: string;
  /** Where downloaded dataset files are kept by hash. Default ~/.cache/fastmlp/datasets. */
  cacheDir?: string;
}

/** Batch progress goes to Redis at most this often; fold starts, epochs and fold ends at once. */
const BATCH_PROGRESS_MS = 250;

/** The message of a fold that stopped because its job was cancelled. */
export const CANCELLED_REASON = 'cancelled';

const quiet: ClusterLog = { info() {}, warn() {} };

export class FoldWorker {
  private readonly worker: Worker<FoldJobData, FoldJobResult>;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  /** The worker's own connection; BullMQ leaves it open when it closes. */
  private readonly blocking: Redis;
  /** The running folds' stop switches, by the service's job id. */
  private readonly running = new Map<string, Set<AbortController>>();
  private closing = false;
  private closed: Promise<void> | undefined;
  private readonly datasets: DatasetCache;

  private constructor(
    private readonly options: FoldWorkerOptions,
    readonly name: string,
    private readonly log: ClusterLog,
  ) {
    this.redis = connect(options.redis);
    this.subscriber = this.redis.duplicate();
    this.datasets = new DatasetCache(options.cacheDir ?? defaultCacheDir(), () => this.serviceUrl(), options.token);
    const lockDuration = options.lockMs ?? DEFAULT_LOCK_MS;
    this.blocking = this.redis.duplicate();
    this.worker = new Worker<FoldJobData, FoldJobResult>(FOLD_QUEUE, (job, token, signal) => this.process(job, token, signal), {
      connection: this.blocking,
      concurrency: options.concurrency ?? 1,
      lockDuration,
      // Stalled folds (their worker died) go back to wait within one lock duration or so.
      stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
      maxStalledCount: 5,
      name,
      autorun: false,
    });
    const warn = (error: Error) => this.log.warn({ err: error }, 'fold worker: Redis error');
    this.worker.on('error', warn);
    this.redis.on('error', warn);
    this.subscriber.on('error', warn);
    this.blocking.on('error', warn);
  }

  /** Connects, listens for cancels, and starts taking folds. */
  static async start(options: FoldWorkerOptions): Promise<FoldWorker> {
    const w = new FoldWorker(options, options.name ?? processName(), options.log ?? quiet);
    await w.subscriber.subscribe(CANCEL_CHANNEL);
    w.subscriber.on('message', (_channel: string, jobId: string) => w.stopJob(jobId));
    await w.worker.waitUntilReady();
    void w.worker.run();
    w.log.info({ worker: w.name, concurrency: options.concurrency ?? 1 }, 'fold worker ready');
    return w;
  }

  /** Folds being trained now. */
  get busy(): number {
    let n = 0;
    for (const set of this.running.values()) n += set.size;
    return n;
  }

  /**
   * Stops: the folds being trained stop within a batch and go back to the queue at once (their snapshots
   * stay), for this or another worker to resume; then the connections close.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      for (const set of this.running.values()) for (const c of set) c.abort();
      await this.worker.close();
      this.blocking.disconnect();
      await Promise.allSettled([this.subscriber.quit(), this.redis.quit()]);
    })();
    return this.closed;
  }

  private async serviceUrl(): Promise<string> {
    const url = this.options.service ?? (await this.redis.get(keys.service));
    if (!url) throw new DatasetFetchError('no service URL to fetch the dataset from: the service has not advertised one (it does once it listens), and no --service was given');
    return url;
  }

  private stopJob(jobId: string): void {
    const set = this.running.get(jobId);
    if (!set) return;
    this.log.info({ job: jobId, folds: set.size }, 'job cancelled: stopping its folds');
    for (const c of set) c.abort();
  }

  private async process(job: Job<FoldJobData, FoldJobResult>, token: string | undefined, lost: AbortSignal | undefined): Promise<FoldJobResult> {
    const { jobId } = job.data;
    const controller = new AbortController();
    const set = this.running.get(jobId) ?? new Set();
    this.running.set(jobId, set.add(controller));
    lost?.addEventListener('abort', () => controller.abort(), { once: true });
    try {
      // A cancel published before this fold started reached nobody: the mark stays.
      if (await this.redis.exists(keys.cancelled(jobId))) throw new UnrecoverableError(CANCELLED_REASON);
      return await this.train(job, controller.signal);
    } catch (error) {
      if (!(error instanceof TrainingCancelled)) throw error;
      if (this.closing && token !== undefined) {
        // Back to the queue untouched (no attempt used): the next worker resumes from the snapshot.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      throw new UnrecoverableError(CANCELLED_REASON);
    } finally {
      set.delete(controller);
      if (set.size === 0) this.running.delete(jobId);
    }
  }

  private async train(job: Job<FoldJobData, FoldJobResult>, signal: AbortSignal): Promise<FoldJobResult> {
    const { jobId, fold, recipe, testEveryEpoch, dataset, images } = job.data;
    const { options, log, name } = this;
    const files = dataset ? { ...(await this.datasets.files(dataset)), ...(images ? { images } : {}) } : undefined;
    const snapshotKey = keys.snapshot(jobId, fold);
    const resume = (await this.redis.getBuffer(snapshotKey)) ?? undefined;
    // A failed SET keeps the previous snapshot: a retry resumes from further back, to the same bits.
    const writer = new LatestWriter(
      (bytes) => this.redis.set(snapshotKey, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'EX', VALUE_TTL_SECONDS),
      (error) => log.warn({ err: error, key: snapshotKey }, 'could not save the fold snapshot'),
    );
    let lastBatch = Number.NEGATIVE_INFINITY;
    let epochsTrained = 0;
    const report = (event: TrainEvent) => {
      if (event.type === 'batch') {
        const now = performance.now();
        if (now - lastBatch < BATCH_PROGRESS_MS) return;
        lastBatch = now;
      }
      if (event.type === 'epoch') epochsTrained++;
      if (event.type === 'fold-start') log.info({ job: jobId, fold, ...(event.resumedAfterEpoch ? { resumedAfterEpoch: event.resumedAfterEpoch } : {}) }, event.resumedAfterEpoch ? 'fold resumed' : 'fold started');
      job.updateProgress({ worker: name, event } satisfies FoldProgress).catch((error: unknown) => log.warn({ err: error, job: jobId, fold }, 'could not report progress'));
    };
    let finished;
    try {
      finished = await trainFoldInWorker({
        recipe,
        fold,
        testEveryEpoch,
        ...(files ? { files } : {}),
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
        ...(options.nice !== undefined ? { nice: options.nice, idle: options.idle ?? false } : {}),
        ...(resume ? { resume } : {}),
        signal,
        onEvent: report,
        snapshotIntervalMs: options.snapshotIntervalMs ?? 1000,
        onSnapshot: (s) => writer.offer(s.bytes),
      });
    } catch (error) {
      await writer.flush();
      if (error instanceof ResumeStateError && resume) {
        // A snapshot this fold cannot resume from: dropped, and the retry starts the fold afresh.
        await this.redis.del(snapshotKey);
        log.warn({ job: jobId, fold, problem: error.problem }, 'dropped a fold snapshot it cannot resume from');
      }
      throw error;
    }
    await writer.flush();
    // The result before the completion: a worker that dies in between leaves a fold that resumes after its last epoch.
    const bytes = encodeFinishedFold(finished, recipe);
    await this.redis.set(keys.result(jobId, fold), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'EX', VALUE_TTL_SECONDS);
    log.info({ job: jobId, fold, bestEpoch: finished.summary.bestEpoch, validAccuracy: finished.summary.validAccuracy }, 'fold finished');
    return { worker: name, fold, epochsTrained };
  }
}
