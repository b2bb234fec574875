/** Store records as the API shows them: NaN as null, dataset paths relative to the data directory. */
import { relative } from 'node:path';
import { bestTrial, trialScore } from '../sweep/space.js';
import type { EpochMetrics, FoldSummary } from '../train/types.js';
import type { EpochView, JobView, ModelView, SweepView } from './schemas.js';
import { FINISHED, type JobRecord, type JobStatus, type ModelRecord, type SweepRecord } from './store.js';

export function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

export function epochView(m: EpochMetrics): EpochView {
  return {
    epoch: m.epoch,
    trainLoss: finite(m.trainLoss),
    trainAccuracy: finite(m.trainAccuracy),
    validLoss: finite(m.validLoss),
    validAccuracy: finite(m.validAccuracy),
    seconds: m.seconds,
    ...(m.testLoss === undefined ? {} : { testLoss: finite(m.testLoss) }),
    ...(m.testAccuracy === undefined ? {} : { testAccuracy: finite(m.testAccuracy) }),
  };
}

export function foldRows(folds: (FoldSummary & { worker?: string })[]) {
  return folds.map((f) => ({
    fold: f.fold,
    bestEpoch: f.bestEpoch,
    trainAccuracy: finite(f.trainAccuracy),
    validAccuracy: finite(f.validAccuracy),
    ...(f.worker !== undefined ? { worker: f.worker } : {}),
  }));
}

/** A job's dataset as its body gave it: an uploaded dataset's id, or paths relative to the data directory. */
function datasetView(job: JobRecord, dataDir: string): JobView['dataset'] {
  const { dataset, datasetId } = job.spec;
  if (datasetId !== undefined) return { id: datasetId };
  if (dataset === undefined) return null;
  return Object.fromEntries(Object.entries(dataset).map(([k, v]) => [k, typeof v === 'string' ? relative(dataDir, v) : v])) as JobView['dataset'];
}

export function jobSummaryView(job: JobRecord, dataDir: string): Omit<JobView, 'history'> {
  const dataset = job.spec.dataset;
  return {
    id: job.id,
    status: job.status,
    name: job.spec.name ?? null,
    recipe: job.spec.recipe,
    dataset: datasetView(job, dataDir),
    testEveryEpoch: job.spec.testEveryEpoch,
    progress: job.progress,
    folds: job.result === null ? null : foldRows(job.result.folds),
    selectedFold: job.result?.selectedFold ?? null,
    test: job.result?.test ?? null,
    modelId: job.modelId,
    error: job.error,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    resumedFromFold: job.resumedFrom?.fold ?? null,
    resumedFromEpoch: job.resumedFrom?.epoch ?? null,
    resumes: job.resumes,
  };
}

export function jobView(job: JobRecord, dataDir: string): JobView {
  return {
    ...jobSummaryView(job, dataDir),
    history: job.history.map((epochs, i) => ({ fold: i + 1, epochs: (epochs ?? []).map(epochView) })),
  };
}

export function modelView(model: ModelRecord, aliases: string[] = []): ModelView {
  const m = model.metrics;
  return {
    id: model.id,
    name: model.name,
    version: model.version,
    aliases,
    jobId: model.jobId,
    createdAt: model.createdAt,
    architecture: model.architecture,
    recipe: model.recipe,
    metrics:
      m === null
        ? null
        : {
            fold: m.fold,
            epoch: m.epoch,
            trainLoss: finite(m.trainLoss),
            trainAccuracy: finite(m.trainAccuracy),
            validLoss: finite(m.validLoss),
            validAccuracy: finite(m.validAccuracy),
            ...(m.testLoss === undefined ? {} : { testLoss: finite(m.testLoss) }),
            ...(m.testAccuracy === undefined ? {} : { testAccuracy: finite(m.testAccuracy) }),
          },
    importedFrom: model.importedFrom,
    testAccuracy: model.testAccuracy,
  };
}

/** A sweep's status from its trials': cancelled once asked (cancelling while a trial still stops). */
function sweepStatus(sweep: SweepRecord, statuses: JobStatus[]): JobStatus {
  const done = statuses.every((s) => FINISHED.has(s));
  if (sweep.cancelled) return done ? 'cancelled' : 'cancelling';
  if (statuses.every((s) => s === 'queued')) return 'queued';
  if (!done) return 'running';
  return statuses.includes('succeeded') ? 'succeeded' : statuses.includes('cancelled') ? 'cancelled' : 'failed';
}

/** A sweep with each trial's job as it stands (a trial whose job is gone counts as failed). */
export function sweepView(sweep: SweepRecord, jobOf: (id: string) => JobRecord | undefined): SweepView {
  const trials = sweep.trials.map((t) => {
    const job = jobOf(t.jobId);
    const result = job?.status === 'succeeded' ? job.result : null;
    const score = result ? trialScore(result.folds) : null;
    return {
      index: t.index,
      jobId: t.jobId,
      params: t.params,
      status: job?.status ?? ('failed' as const),
      validAccuracy: score === null ? null : finite(score),
      testAccuracy: result?.test.accuracy ?? null,
      seconds: result?.seconds ?? null,
      modelId: job?.modelId ?? null,
    };
  });
  const best = bestTrial(trials.map((t) => t.validAccuracy));
  const b = trials[best];
  return {
    id: sweep.id,
    status: sweepStatus(sweep, trials.map((t) => t.status)),
    strategy: sweep.spec.strategy,
    metric: sweep.spec.metric,
    space: sweep.spec.space,
    createdAt: sweep.createdAt,
    trials,
    best: b ? { index: b.index, jobId: b.jobId, modelId: b.modelId, params: b.params, validAccuracy: b.validAccuracy! } : null,
  };
}
