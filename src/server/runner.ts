/**
 * The job runner: takes queued jobs from the store (one waiting to resume first, then the oldest) and trains
 * each in a worker thread (trainInWorker), a configurable number at a time. Every finished epoch goes to
 * the store as it happens (progress within an epoch at most ten times a second), and the run's resume
 * state to <dataDir>/jobs/<id>/resume.bin (at most about once a second, atomically), so a job the service
 * stopped during continues at the next start.
 * With a cluster (Redis), a job's folds train on the fold workers instead, side by side, their snapshots
 * in Redis; the service selects among them and publishes, and a restart takes up the jobs still in the
 * queues.
 * A succeeded job's checkpoint is written atomically into the data directory and registered as a model.
 * Listeners (the SSE route) hear each epoch and the end.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { writeFileAtomic } from '../atomic-write.js';
import type { ClusterCoordinator } from '../cluster/coordinator.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { LatestWriter } from '../train/latest-writer.js';
import type { TrainEvent } from '../train/kfold.js';
import { validateRecipe } from '../train/recipe.js';
import { writeRunArtifacts } from '../train/report.js';
import { decodeTrainingState, ResumeStateError, type TrainingState } from '../train/resume.js';
import { selectInWorker, trainInWorker } from '../train/run.js';
import { TrainingCancelled } from '../train/trainer.js';
import type { EpochMetrics } from '../train/types.js';
import type { ServiceMetrics } from './metrics.js';
import type { ModelRegistry } from './model-registry.js';
import { newId, type JobError, type JobProgress, type JobRecord, type JobResult, type JobStatus, type JobStore } from './store.js';

/** What listeners of a job hear. */
export type JobEvent =
  | { type: 'epoch'; fold: number; metrics: EpochMetrics; samplesPerSecond: number; progress: JobProgress }
  | { type: 'end'; status: JobStatus; modelId: string | null; error: JobError | null };

/**
 * CPU priority of training jobs: below the requests the service answers. On Linux they also run as
 * SCHED_IDLE: a job takes the CPU time requests leave, and a request that wakes the event loop does not
 * wait for a job's time slice to end.
 */
export const TRAINING_NICE = 10;

export interface RunnerOptions {
  store: JobStore;
  models: ModelRegistry;
  metrics: ServiceMetrics;
  log: FastifyBaseLogger;
  /** Checkpoints go to <dataDir>/models, reports and curves to <dataDir>/jobs/<id>. */
  dataDir: string;
  /** Jobs trained side by side. */
  concurrency: number;
  /** Native threads per job; default the pool's size. */
  threads?: number;
  /** Train on the cluster's fold workers; `concurrency` then no longer limits the jobs under way. */
  cluster?: ClusterCoordinator;
}

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

export const INTERRUPTED_MESSAGE = 'the service stopped while the job was running';

/** Resumes from one point, in a row, after which a job that keeps stopping the service there fails. */
export const MAX_RESUMES_AT_ONE_POINT = 3;

/** What start-up did with the jobs the previous process left running or cancelling. */
export interface Recovery {
  resumed: string[];
  failed: string[];
  cancelled: string[];
}

/** Batch progress goes to the store at most this often; fold starts and epochs go at once. */
export const PROGRESS_INTERVAL_MS = 100;

/**
 * A run's progress as the store keeps it: the epochs seen in each fold, the fraction of every batch of
 * every fold, and the time left at this run's rate. A resumed job carries on with the history and
 * progress of its resume state (the store has them since start-up).
 */
class ProgressTracker {
  readonly history: EpochMetrics[][];
  readonly progress: JobProgress;
  /** Training samples of the current fold, passed through the network once per epoch. */
  trainSamples = 0;
  // The rate of this run only: a resumed one measures from its first batch, not from 0.
  private etaFrom: { time: number; fraction: number } | undefined;
  private batchSavedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: JobStore,
    private readonly job: JobRecord,
  ) {
    const { recipe } = job.spec;
    const resuming = job.resumePending;
    this.history = resuming ? job.history.map((epochs) => [...(epochs ?? [])]) : [];
    this.progress = (resuming ? job.progress : null) ?? { fold: 1, folds: recipe.folds, epoch: 0, epochs: recipe.epochs, fraction: 0, samplesPerSecond: null, etaSeconds: null };
    this.etaFrom = resuming ? undefined : { time: performance.now(), fraction: 0 };
  }

  record(event: TrainEvent): void {
    const { progress, history } = this;
    if (event.type === 'fold-start') {
      // A fold that starts again (on the cluster, after its worker died) keeps the epochs it resumes after.
      history[event.fold - 1] = (history[event.fold - 1] ?? []).slice(0, event.resumedAfterEpoch ?? 0);
      this.trainSamples = event.trainSamples;
      Object.assign(progress, { fold: event.fold, folds: event.folds, epoch: event.resumedAfterEpoch ?? 0 });
      this.save(true);
    } else if (event.type === 'batch') {
      Object.assign(progress, { fraction: event.progress, etaSeconds: this.eta(event.progress) });
      if (performance.now() - this.batchSavedAt >= PROGRESS_INTERVAL_MS) this.save(false);
    } else if (event.type === 'epoch') {
      (history[event.fold - 1] ??= []).push(event.metrics);
      Object.assign(progress, {
        fold: event.fold,
        epoch: event.metrics.epoch,
        fraction: event.progress,
        samplesPerSecond: event.samplesPerSecond,
        etaSeconds: this.eta(event.progress),
      });
      this.save(true);
    }
  }

  /** Every batch done. */
  finished(): void {
    Object.assign(this.progress, { fraction: 1, etaSeconds: 0 });
    this.save(true);
  }

  private save(withHistory: boolean): void {
    if (withHistory) {
      this.store.saveProgress(this.job.id, this.progress, this.history);
    } else {
      this.store.saveProgress(this.job.id, this.progress);
      this.batchSavedAt = performance.now();
    }
  }

  private eta(fraction: number): number | null {
    const from = (this.etaFrom ??= { time: performance.now(), fraction });
    const done = fraction - from.fraction;
    return done > 0 ? ((performance.now() - from.time) / 1000) * ((1 - fraction) / done) : null;
  }
}

/** A trained job, ready to publish; from the cluster, with the worker of each fold and the release of its copy there. */
type Trained = Awaited<ReturnType<typeof trainInWorker>> & { workers?: string[]; release?: () => void };

/** A job queued to resume whose resume state file is gone. */
class ResumeFileMissing extends Error {
  override readonly name = 'ResumeFileMissing';
}

/** How a run that did not succeed ends. */
type Ending = { kind: 'resume-later' } | { kind: 'cancelled' } | { kind: 'failed'; error: JobError };

/**
 * What a run's error comes to. A cancellation is the user's unless the service is closing; then the job
 * stays to resume at the next start if a resume state is on disk, else it was interrupted. A resume state
 * that does not fit, or a file that went missing, is an interruption it cannot survive. Anything else (bad
 * data, a checkpoint that cannot be written, a worker that exited: TrainingWorkerExited) is an error.
 */
function ending(error: unknown, stop: { closing: boolean; cancelling: boolean; resumable: boolean }): Ending {
  if (error instanceof TrainingCancelled) {
    if (stop.cancelling || !stop.closing) return { kind: 'cancelled' };
    return stop.resumable ? { kind: 'resume-later' } : { kind: 'failed', error: { reason: 'interrupted', message: INTERRUPTED_MESSAGE } };
  }
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ResumeStateError || error instanceof ResumeFileMissing) {
    return { kind: 'failed', error: { reason: 'interrupted', message: `${INTERRUPTED_MESSAGE}; it cannot resume: ${message}` } };
  }
  return { kind: 'failed', error: { reason: 'error', message } };
}

export class JobRunner {
  private readonly running = new Map<string, Running>();
  /** Jobs of `running` that have not ended yet (the others are writing their last files). */
  private readonly training = new Set<string>();
  private readonly events = new EventEmitter();
  private closing = false;

  constructor(private readonly options: RunnerOptions) {
    // One listener per open SSE stream; many clients may watch one job.
    this.events.setMaxListeners(0);
  }

  /** The folder of a job's report and curves. */
  jobFolder(id: string): string {
    return join(this.options.dataDir, 'jobs', id);
  }

  /** A job's latest resume state, while it runs and after the service stopped during it. */
  resumePath(id: string): string {
    return join(this.jobFolder(id), 'resume.bin');
  }

  get busy(): number {
    return this.running.size;
  }

  /** Starts queued jobs while there is room. */
  pump(): void {
    const { store, cluster } = this.options;
    // On a cluster the fold queue holds back what the workers cannot take yet.
    const concurrency = cluster ? Number.POSITIVE_INFINITY : this.options.concurrency;
    while (!this.closing && store.open && this.running.size < concurrency) {
      const job = store.nextQueued();
      if (job === undefined) return;
      store.markRunning(job.id);
      const controller = new AbortController();
      this.training.add(job.id);
      const done = this.run(job, controller.signal).finally(() => {
        this.running.delete(job.id);
        this.settle(job.id);
        this.pump();
      });
      this.running.set(job.id, { controller, done });
    }
  }

  /**
   * Cancels a queued job at once, or asks a running one to stop (it does within one batch).
   *
   * @returns false if the job has already finished
   */
  cancel(job: JobRecord): boolean {
    const { store } = this.options;
    if (job.status === 'queued') {
      store.finish(job.id, 'cancelled');
      // A job queued to resume has a state on disk it no longer needs.
      if (job.resumePending) rmSync(this.resumePath(job.id), { force: true });
      this.emit(job.id, { type: 'end', status: 'cancelled', modelId: null, error: null });
      return true;
    }
    if (job.status === 'running' || job.status === 'cancelling') {
      store.markCancelling(job.id);
      this.cancelOnCluster(job);
      this.running.get(job.id)?.controller.abort();
      return true;
    }
    return false;
  }

  /** Stops the job's folds wherever they train; a failure to reach Redis is logged (the folds then finish unused). */
  private cancelOnCluster(job: JobRecord): void {
    const { cluster, log } = this.options;
    cluster?.cancel(job.id, job.spec.recipe.folds).catch((error: unknown) => log.warn({ err: error, job: job.id }, 'could not cancel the job on the cluster'));
  }

  /** Listens to a job's epochs and end; returns the function that stops listening. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  /**
   * At start-up, before any job runs: jobs the previous process left running continue from their resume
   * state, queued ahead of every other; those without a readable one (missing, damaged, of another recipe)
   * fail as interrupted, as does one that stopped the service MAX_RESUMES_AT_ONE_POINT times in a row at the
   * same point. A job left cancelling is cancelled: it was asked to stop.
   */
  recover(): Recovery {
    const { store, log, cluster } = this.options;
    const recovery: Recovery = { resumed: [], failed: [], cancelled: [] };
    for (const job of store.interruptedJobs()) {
      const path = this.resumePath(job.id);
      if (job.status === 'cancelling') {
        store.finish(job.id, 'cancelled');
        rmSync(path, { force: true });
        this.cancelOnCluster(job);
        recovery.cancelled.push(job.id);
        continue;
      }
      if (cluster) {
        // Its folds are in the queues with their snapshots: it is taken up there, as it stands.
        rmSync(path, { force: true });
        const point = { fold: job.progress?.fold ?? 1, epoch: job.progress?.epoch ?? 0, times: 1 };
        store.queueToResume(job.id, point, job.history, job.progress ?? { fold: 1, folds: job.spec.recipe.folds, epoch: 0, epochs: job.spec.recipe.epochs, fraction: 0, samplesPerSecond: null, etaSeconds: null });
        recovery.resumed.push(job.id);
        log.info({ job: job.id }, 'job under way on the cluster at the previous stop taken up again');
        continue;
      }
      const state = readResumeState(path, job);
      const last = job.resumedFrom;
      const times = typeof state !== 'string' && last?.fold === state.fold && last.epoch === state.epoch ? last.times + 1 : 1;
      if (typeof state === 'string' || times > MAX_RESUMES_AT_ONE_POINT) {
        const problem = typeof state === 'string' ? state : `it resumed ${times - 1} times from fold ${state.fold}, epoch ${state.epoch} and the service stopped again each time before another epoch finished`;
        store.failInterrupted(job.id, `${INTERRUPTED_MESSAGE}; it cannot resume: ${problem}`);
        rmSync(path, { force: true });
        recovery.failed.push(job.id);
        log.warn({ job: job.id, problem }, 'job interrupted by the previous stop marked failed');
        continue;
      }
      const { recipe } = job.spec;
      const history = [...state.completed.map((c) => c.summary.history), state.history];
      const progress: JobProgress = {
        fold: state.fold,
        folds: recipe.folds,
        epoch: state.epoch,
        epochs: recipe.epochs,
        // Folds differ in size by one sample at most: epochs stand in for batches.
        fraction: ((state.fold - 1) * recipe.epochs + state.epoch) / (recipe.folds * recipe.epochs),
        samplesPerSecond: null,
        etaSeconds: null,
      };
      store.queueToResume(job.id, { fold: state.fold, epoch: state.epoch, times }, history, progress);
      recovery.resumed.push(job.id);
      log.info({ job: job.id, fold: state.fold, epoch: state.epoch }, 'job interrupted by the previous stop queued to resume');
    }
    return recovery;
  }

  /**
   * Stops taking jobs and stops the running ones. Each keeps its last resume state and stays running in
   * the store, to continue at the next start; one that had none yet is recorded as interrupted.
   */
  async close(): Promise<void> {
    this.closing = true;
    const running = [...this.running.values()];
    for (const r of running) r.controller.abort();
    await Promise.allSettled(running.map((r) => r.done));
  }

  /** A finished job needs its resume state no more (a write still under way lands first, then goes). */
  private async discardResumeState(writer: LatestWriter, path: string): Promise<void> {
    await writer.flush();
    await rm(path, { force: true });
  }

  private emit(id: string, event: JobEvent): void {
    this.events.emit(id, event);
  }

  /** A job from start to end: trained, then published, or ended as ending() says. */
  private async run(job: JobRecord, signal: AbortSignal): Promise<void> {
    const { store, log } = this.options;
    const resumeFile = this.resumePath(job.id);
    const tracker = new ProgressTracker(store, job);
    // Atomically: a crash leaves the previous state whole.
    const writer = new LatestWriter(
      (bytes) => writeFileAtomic(resumeFile, bytes),
      (error) => log.warn({ err: error, path: resumeFile }, 'could not write the resume state'),
    );
    const resuming = job.resumePending;
    log.info({ job: job.id, ...(resuming ? { resumedFrom: job.resumedFrom } : {}) }, resuming ? 'training job resumed' : 'training job started');
    let trained: Trained | undefined;
    try {
      trained = this.options.cluster ? await this.trainOnCluster(job, this.options.cluster, tracker, signal) : await this.train(job, tracker, writer, signal);
      const published = await this.publish(job, trained);
      if (!store.open) return;
      this.settle(job.id);
      tracker.finished();
      store.finish(job.id, 'succeeded', published);
      // Finished first: a crash in between leaves a stray file rather than a trained job with no state to resume.
      await this.discardResumeState(writer, resumeFile);
      log.info({ job: job.id, model: published.modelId, testAccuracy: published.result.test.accuracy }, 'training job succeeded');
      this.emit(job.id, { type: 'end', status: 'succeeded', modelId: published.modelId, error: null });
    } catch (error) {
      await writer.flush();
      if (!store.open) return;
      // On a cluster the job's state is in Redis, resumable from its folds' snapshots.
      const resumable = writer.written || this.options.cluster !== undefined;
      const end = ending(error, { closing: this.closing, cancelling: store.job(job.id)?.status === 'cancelling', resumable });
      if (end.kind === 'resume-later') {
        // Left running with its resume state on disk: the next start queues it to continue.
        log.info({ job: job.id }, 'training job stopped; it resumes at the next start');
        return;
      }
      await this.discardResumeState(writer, resumeFile);
      this.settle(job.id);
      if (end.kind === 'cancelled') {
        store.finish(job.id, 'cancelled');
        log.info({ job: job.id }, 'training job cancelled');
        this.emit(job.id, { type: 'end', status: 'cancelled', modelId: null, error: null });
        return;
      }
      store.finish(job.id, 'failed', { error: end.error });
      log.warn({ job: job.id, err: error }, 'training job failed');
      this.emit(job.id, { type: 'end', status: 'failed', modelId: null, error: end.error });
    } finally {
      // The cluster's copy of the folds goes once the job has ended here; a stop keeps it for the next start.
      if (!this.closing) trained?.release?.();
    }
  }

  /** What a job's epochs do here: the tracker, the metrics and the listeners hear them. */
  private listener(job: JobRecord, tracker: ProgressTracker): (event: TrainEvent) => void {
    const { store, metrics } = this.options;
    return (event) => {
      if (!store.open) return;
      tracker.record(event);
      if (event.type !== 'epoch') return;
      metrics.epochsTrained.inc();
      metrics.samplesTrained.inc(tracker.trainSamples);
      metrics.trainingSamplesPerSecond.set(event.samplesPerSecond);
      this.emit(job.id, { type: 'epoch', fold: event.fold, metrics: event.metrics, samplesPerSecond: event.samplesPerSecond, progress: { ...tracker.progress } });
    };
  }

  /**
   * Trains the job's folds on the cluster, then selects among them here in a worker thread. The fold
   * table names the worker of each fold.
   */
  private async trainOnCluster(job: JobRecord, cluster: ClusterCoordinator, tracker: ProgressTracker, signal: AbortSignal): Promise<Trained> {
    const { recipe, testEveryEpoch, dataset } = job.spec;
    // Waited for before the first await: pump() has registered every job it starts when it returns.
    const training = cluster.train({ jobId: job.id, recipe, testEveryEpoch, ...(dataset ? { dataset } : {}) }, { signal, onEvent: this.listener(job, tracker) });
    await mkdir(this.jobFolder(job.id), { recursive: true });
    const trained = await training;
    try {
      const selected = await selectInWorker({
        recipe,
        folds: trained.folds,
        signal,
        ...(dataset ? { files: dataset } : {}),
        ...(this.options.threads !== undefined ? { threads: this.options.threads } : {}),
      });
      return { ...selected, workers: trained.workers, release: trained.release };
    } catch (error) {
      if (!this.closing) trained.release();
      throw error;
    }
  }

  /** Trains the job in a worker thread, from its resume state if it resumes; events go to the tracker and listeners. */
  private async train(job: JobRecord, tracker: ProgressTracker, writer: LatestWriter, signal: AbortSignal): Promise<Trained> {
    await mkdir(this.jobFolder(job.id), { recursive: true });
    const resume = job.resumePending ? await readResumeFile(this.resumePath(job.id)) : undefined;
    const onEvent = this.listener(job, tracker);
    return trainInWorker({
      recipe: job.spec.recipe,
      ...(job.spec.dataset ? { files: job.spec.dataset } : {}),
      testEveryEpoch: job.spec.testEveryEpoch,
      ...(this.options.threads !== undefined ? { threads: this.options.threads } : {}),
      ...(resume ? { resume } : {}),
      // Requests go first: the event loop keeps its priority while a job trains.
      nice: TRAINING_NICE,
      idle: true,
      signal,
      onEvent,
      onSnapshot: (snapshot) => writer.offer(snapshot.bytes),
    });
  }

  /**
   * A trained job's model: the checkpoint written atomically into <dataDir>/models and the report into the
   * job's folder, then the model registered (unless the store closed meanwhile). Returns what the job
   * records of it.
   */
  private async publish(job: JobRecord, { result, digits, workers }: Trained): Promise<{ result: JobResult; modelId: string }> {
    const { dataDir, store, models } = this.options;
    const modelId = newId('model');
    const modelsFolder = join(dataDir, 'models');
    await mkdir(modelsFolder, { recursive: true });
    const checkpointPath = join(modelsFolder, `${modelId}.fmlp`);
    // An uploaded dataset's classes are kept beside its idx files: the model takes their names from the job.
    if (job.spec.classNames && !result.checkpoint.classNames) result.checkpoint.classNames = job.spec.classNames;
    await saveCheckpoint(checkpointPath, result.checkpoint);
    const recipe = job.spec.recipe;
    const folds = workers ? result.folds.map((f, i) => ({ ...f, worker: workers[i]! })) : result.folds;
    const seconds = workers && job.startedAt ? (Date.now() - Date.parse(job.startedAt)) / 1000 : result.seconds;
    const jobResult: JobResult = { folds, selectedFold: result.selectedFold, test: result.test, seconds };
    await writeRunArtifacts(this.jobFolder(job.id), { ...jobResult, recipe, digits });
    if (store.open) {
      const record = { id: modelId, name: job.spec.name ?? null, jobId: job.id, createdAt: new Date().toISOString(), checkpointPath, architecture: result.checkpoint.architecture, recipe, metrics: result.checkpoint.metrics, testAccuracy: result.test.accuracy };
      models.add(record, result.checkpoint);
    }
    return { result: jobResult, modelId };
  }

  /** The job trains no more; called before the store records its end, so that /metrics agrees with the store. */
  private settle(id: string): void {
    this.training.delete(id);
    if (this.training.size === 0) this.options.metrics.trainingSamplesPerSecond.set(0);
  }
}

/** A resume file's bytes; a missing file is a ResumeFileMissing. */
async function readResumeFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') throw new ResumeFileMissing(error.message, { cause: error });
    throw error;
  }
}

/** A job's resume state from its file, or why it cannot resume. */
function readResumeState(path: string, job: JobRecord): TrainingState | string {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? error.code : undefined;
    return code === 'ENOENT' ? 'no epoch had finished, so no resume state was saved' : `its resume state could not be read (${String(error)})`;
  }
  try {
    const state = decodeTrainingState(bytes, 'resume.bin');
    // Both went through the recipe schema, which fixes the key order.
    if (JSON.stringify(validateRecipe(state.recipe)) !== JSON.stringify(validateRecipe(job.spec.recipe))) return 'its resume state belongs to another recipe';
    return state;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
