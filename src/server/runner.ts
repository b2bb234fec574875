/**
 * The job runner: takes queued jobs from the store, oldest first, and trains each in a worker thread
 * (trainInWorker), a configurable number at a time. Progress and every finished epoch go to the store as
 * they happen; a succeeded job's checkpoint is written atomically into the data directory and registered as
 * a model. Listeners (the SSE route) hear each epoch and the end.
 */
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { saveCheckpoint } from '../train/checkpoint.js';
import type { TrainEvent } from '../train/kfold.js';
import { writeRunArtifacts } from '../train/report.js';
import { trainInWorker } from '../train/run.js';
import { TrainingCancelled } from '../train/trainer.js';
import type { EpochMetrics } from '../train/types.js';
import type { ServiceMetrics } from './metrics.js';
import type { ModelRegistry } from './model-registry.js';
import { newId, type JobError, type JobProgress, type JobRecord, type JobStatus, type JobStore } from './store.js';

/** What listeners of a job hear. */
export type JobEvent =
  | { type: 'epoch'; fold: number; metrics: EpochMetrics; samplesPerSecond: number; progress: JobProgress }
  | { type: 'end'; status: JobStatus; modelId: string | null; error: JobError | null };

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
}

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

export const INTERRUPTED_MESSAGE = 'the service stopped while the job was running';

export class JobRunner {
  private readonly running = new Map<string, Running>();
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

  get busy(): number {
    return this.running.size;
  }

  /** Starts queued jobs while there is room. */
  pump(): void {
    const { store, concurrency } = this.options;
    while (!this.closing && store.open && this.running.size < concurrency) {
      const job = store.nextQueued();
      if (job === undefined) return;
      store.markRunning(job.id);
      const controller = new AbortController();
      const done = this.run(job, controller.signal).finally(() => {
        this.running.delete(job.id);
        if (this.running.size === 0) this.options.metrics.trainingSamplesPerSecond.set(0);
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
      this.emit(job.id, { type: 'end', status: 'cancelled', modelId: null, error: null });
      return true;
    }
    if (job.status === 'running' || job.status === 'cancelling') {
      store.markCancelling(job.id);
      this.running.get(job.id)?.controller.abort();
      return true;
    }
    return false;
  }

  /** Listens to a job's epochs and end; returns the function that stops listening. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  /** Stops taking jobs, stops the running ones and records them as interrupted. */
  async close(): Promise<void> {
    this.closing = true;
    const running = [...this.running.values()];
    for (const r of running) r.controller.abort();
    await Promise.allSettled(running.map((r) => r.done));
  }

  private emit(id: string, event: JobEvent): void {
    this.events.emit(id, event);
  }

  private async run(job: JobRecord, signal: AbortSignal): Promise<void> {
    const { store, metrics, log } = this.options;
    const recipe = job.spec.recipe;
    const history: EpochMetrics[][] = [];
    const started = performance.now();
    let trainSamples = 0;
    const progress: JobProgress = { fold: 1, folds: recipe.folds, epoch: 0, epochs: recipe.epochs, fraction: 0, samplesPerSecond: null, etaSeconds: null };
    const eta = (fraction: number) => (fraction > 0 ? ((performance.now() - started) / 1000) * ((1 - fraction) / fraction) : null);

    const onEvent = (event: TrainEvent) => {
      if (!store.open) return;
      if (event.type === 'fold-start') {
        history[event.fold - 1] = [];
        trainSamples = event.trainSamples;
        Object.assign(progress, { fold: event.fold, folds: event.folds, epoch: 0 });
        store.saveProgress(job.id, progress, history);
      } else if (event.type === 'batch') {
        Object.assign(progress, { fraction: event.progress, etaSeconds: eta(event.progress) });
        store.saveProgress(job.id, progress);
      } else if (event.type === 'epoch') {
        (history[event.fold - 1] ??= []).push(event.metrics);
        Object.assign(progress, {
          fold: event.fold,
          epoch: event.metrics.epoch,
          fraction: event.progress,
          samplesPerSecond: event.samplesPerSecond,
          etaSeconds: eta(event.progress),
        });
        store.saveProgress(job.id, progress, history);
        metrics.epochsTrained.inc();
        metrics.samplesTrained.inc(trainSamples);
        metrics.trainingSamplesPerSecond.set(event.samplesPerSecond);
        this.emit(job.id, { type: 'epoch', fold: event.fold, metrics: event.metrics, samplesPerSecond: event.samplesPerSecond, progress: { ...progress } });
      }
    };

    log.info({ job: job.id }, 'training job started');
    try {
      const { result, digits } = await trainInWorker({
        recipe,
        ...(job.spec.dataset ? { files: job.spec.dataset } : {}),
        testEveryEpoch: job.spec.testEveryEpoch,
        ...(this.options.threads !== undefined ? { threads: this.options.threads } : {}),
        signal,
        onEvent,
      });
      const modelId = newId('model');
      const modelsFolder = join(this.options.dataDir, 'models');
      await mkdir(modelsFolder, { recursive: true });
      const checkpointPath = join(modelsFolder, `${modelId}.fmlp`);
      await saveCheckpoint(checkpointPath, result.checkpoint);
      const jobResult = { folds: result.folds, selectedFold: result.selectedFold, test: result.test, seconds: result.seconds };
      await writeRunArtifacts(this.jobFolder(job.id), { ...jobResult, recipe, digits });
      if (!store.open) return;
      this.options.models.add(
        {
          id: modelId,
          jobId: job.id,
          createdAt: new Date().toISOString(),
          checkpointPath,
          architecture: result.checkpoint.architecture,
          recipe,
          metrics: result.checkpoint.metrics,
          testAccuracy: result.test.accuracy,
        },
        result.checkpoint,
      );
      store.saveProgress(job.id, { ...progress, fraction: 1, etaSeconds: 0 }, history);
      store.finish(job.id, 'succeeded', { result: jobResult, modelId });
      log.info({ job: job.id, model: modelId, testAccuracy: result.test.accuracy }, 'training job succeeded');
      this.emit(job.id, { type: 'end', status: 'succeeded', modelId, error: null });
    } catch (error) {
      if (!store.open) return;
      if (error instanceof TrainingCancelled && !this.closing) {
        store.finish(job.id, 'cancelled');
        log.info({ job: job.id }, 'training job cancelled');
        this.emit(job.id, { type: 'end', status: 'cancelled', modelId: null, error: null });
        return;
      }
      const jobError: JobError =
        error instanceof TrainingCancelled
          ? { reason: 'interrupted', message: INTERRUPTED_MESSAGE }
          : { reason: 'error', message: error instanceof Error ? error.message : String(error) };
      store.finish(job.id, 'failed', { error: jobError });
      log.warn({ job: job.id, err: error }, 'training job failed');
      this.emit(job.id, { type: 'end', status: 'failed', modelId: null, error: jobError });
    }
  }
}
