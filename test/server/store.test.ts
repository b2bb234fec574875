import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { referenceRecipe } from '../../src/train/recipe.js';
import { JobStore } from '../../src/server/store.js';

describe('the job store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fastmlp-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('opens a store written before jobs could resume, adding the columns with their defaults', () => {
    const path = join(dir, 'fastmlp.db');
    const old = new Database(path);
    old.exec(`CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, status TEXT NOT NULL, spec TEXT NOT NULL,
      progress TEXT, history TEXT NOT NULL DEFAULT '[]', result TEXT, model_id TEXT, error TEXT, created_at TEXT NOT NULL,
      started_at TEXT, finished_at TEXT)`);
    old.prepare('INSERT INTO jobs (id, status, spec, created_at) VALUES (?, ?, ?, ?)').run('job-old', 'queued', JSON.stringify({ recipe: referenceRecipe, testEveryEpoch: false }), new Date().toISOString());
    old.close();
    const store = new JobStore(path);
    try {
      expect(store.job('job-old')).toMatchObject({ status: 'queued', resumedFrom: null, resumes: 0, resumePending: false });
    } finally {
      store.close();
    }
  });

  it('opens a store written before imported models, keeping its models and taking imported ones after them', () => {
    const path = join(dir, 'fastmlp.db');
    const old = new Database(path);
    old.exec(`CREATE TABLE models (id TEXT PRIMARY KEY, job_id TEXT, created_at TEXT NOT NULL, checkpoint_path TEXT NOT NULL,
      architecture TEXT NOT NULL, recipe TEXT NOT NULL, metrics TEXT NOT NULL, test_accuracy REAL NOT NULL)`);
    const architecture = { inputRows: 28, inputCols: 28, classes: 10, layers: [{ inputs: 784, outputs: 10, activation: 'softmax' as const }] };
    const metrics = { fold: 0, epoch: 2, trainLoss: 0.3, trainAccuracy: 0.9, validLoss: 0.3, validAccuracy: 0.9 };
    old
      .prepare('INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run('model-old', 'job-old', '2024-01-01T00:00:00.000Z', join(dir, 'model-old.fmlp'), JSON.stringify(architecture), JSON.stringify(referenceRecipe), JSON.stringify(metrics), 0.9);
    old.close();
    const importedFrom = { format: 'onnx' as const, producerName: 'pytorch', producerVersion: '2.13.0', graphName: 'main_graph', sha256: '00'.repeat(32), input: { scale: 'byte' as const, mean: 0, std: 1 } };
    for (const round of [1, 2]) {
      const store = new JobStore(path);
      try {
        if (round === 1) {
          const imported = { id: 'model-new', name: 'digits', jobId: null, createdAt: '2025-01-01T00:00:00.000Z', checkpointPath: join(dir, 'model-new.fmlp'), architecture, recipe: null, metrics: null, importedFrom, testAccuracy: null };
          store.addModel(imported);
        }
        expect(store.model('model-old')).toEqual({ id: 'model-old', name: null, version: null, jobId: 'job-old', createdAt: '2024-01-01T00:00:00.000Z', checkpointPath: join(dir, 'model-old.fmlp'), architecture, recipe: referenceRecipe, metrics, importedFrom: null, testAccuracy: 0.9 });
        expect(store.model('model-new')).toMatchObject({ name: 'digits', version: 1, recipe: null, metrics: null, importedFrom, testAccuracy: null });
        expect(store.listModels().map((m) => m.id)).toEqual(['model-old', 'model-new']);
      } finally {
        store.close();
      }
    }
  });

  it('runs a job queued to resume before older queued ones, keeping its history and first start', () => {
    const store = new JobStore(join(dir, 'fastmlp.db'));
    try {
      const spec = { recipe: referenceRecipe, testEveryEpoch: false };
      const first = store.createJob(spec);
      const second = store.createJob(spec);
      store.markRunning(second.id);
      const startedAt = store.job(second.id)!.startedAt;
      const epoch = { epoch: 1, trainLoss: 1, trainAccuracy: 0.5, validLoss: Number.NaN, validAccuracy: Number.NaN, seconds: 1 };
      const progress = { fold: 1, folds: 3, epoch: 1, epochs: 50, fraction: 1 / 150, samplesPerSecond: null, etaSeconds: null };
      store.queueToResume(second.id, { fold: 1, epoch: 1, times: 1 }, [[epoch]], progress);
      const next = store.nextQueued()!;
      expect(next).toMatchObject({ id: second.id, status: 'queued', resumePending: true, resumes: 1, resumedFrom: { fold: 1, epoch: 1, times: 1 } });
      store.markRunning(next.id);
      expect(store.job(second.id)).toMatchObject({ status: 'running', startedAt, history: [[epoch]], progress, resumePending: false });
      expect(store.nextQueued()!.id).toBe(first.id);
      store.failInterrupted(second.id, 'stopped');
      expect(store.job(second.id)).toMatchObject({ status: 'failed', error: { reason: 'interrupted', message: 'stopped' } });
    } finally {
      store.close();
    }
  });

  it('reads back after reopening what every write saved, NaN included, and pages and counts jobs', () => {
    const path = join(dir, 'fastmlp.db');
    const spec = { recipe: referenceRecipe, testEveryEpoch: false };
    const epoch = (n: number) => ({ epoch: n, trainLoss: 1 / n, trainAccuracy: 0.5, validLoss: Number.NaN, validAccuracy: Number.POSITIVE_INFINITY, seconds: 0.25 });
    const progress = (n: number) => ({ fold: 1, folds: 1, epoch: n, epochs: 50, fraction: n / 50, samplesPerSecond: 1000, etaSeconds: null });
    const result = { folds: [{ fold: 1, bestEpoch: 2, trainAccuracy: 0.9, validAccuracy: Number.NaN, trainLoss: 0.3, validLoss: Number.NaN, history: [epoch(1), epoch(2)] }], selectedFold: 1, test: { accuracy: 0.91, loss: 0.3 }, seconds: 2 };
    const model = (id: string, testAccuracy: number) => ({
      id,
      jobId: null,
      createdAt: '2024-01-01T00:00:00.000Z',
      checkpointPath: join(dir, `${id}.fmlp`),
      architecture: { inputRows: 28, inputCols: 28, classes: 10, layers: [{ inputs: 784, outputs: 10, activation: 'softmax' as const }] },
      recipe: referenceRecipe,
      metrics: { fold: 1, epoch: 2, trainLoss: 0.3, trainAccuracy: 0.9, validLoss: Number.NaN, validAccuracy: Number.NaN },
      testAccuracy,
    });

    const first = new JobStore(path);
    const ids: string[] = [];
    let saved: ReturnType<JobStore['job']>;
    try {
      for (let i = 0; i < 5; i++) ids.push(first.createJob(spec).id);
      first.markRunning(ids[0]!);
      // Many writes through the same statements, the last of which stays.
      for (let n = 1; n <= 50; n++) first.saveProgress(ids[0]!, progress(n), n % 10 === 0 ? [[epoch(n / 10)]] : undefined);
      first.finish(ids[0]!, 'succeeded', { result, modelId: 'model-a' });
      first.finish(ids[1]!, 'failed', { error: { reason: 'error', message: 'out of memory' } });
      first.finish(ids[2]!, 'cancelled');
      first.deleteJob(ids[4]!);
      first.addModel(model('model-a', 0.91));
      first.addModel(model('model-b', 0.95));
      first.addModel(model('model-c', 0.5));
      first.deleteModel('model-c');
      saved = first.job(ids[0]!);
    } finally {
      first.close();
    }
    expect(first.open).toBe(false);

    const store = new JobStore(path);
    try {
      const job = store.job(ids[0]!)!;
      expect(job).toEqual(saved);
      expect(job).toMatchObject({ status: 'succeeded', modelId: 'model-a', progress: progress(50), history: [[epoch(5)]], result, error: null });
      expect(store.job(ids[1]!)).toMatchObject({ status: 'failed', error: { reason: 'error', message: 'out of memory' }, result: null });
      expect(store.job(ids[4]!)).toBeUndefined();
      expect(store.totalJobs()).toBe(4);
      expect(store.countJobs()).toEqual({ queued: 1, running: 0, cancelling: 0, succeeded: 1, failed: 1, cancelled: 1 });
      const page = (options: Parameters<JobStore['listJobs']>[0]) => {
        const { jobs, total } = store.listJobs(options);
        return { ids: jobs.map((j) => j.id), total };
      };
      expect(page({ limit: 10, offset: 0 })).toEqual({ ids: [ids[3], ids[2], ids[1], ids[0]], total: 4 });
      expect(page({ limit: 2, offset: 1 })).toEqual({ ids: [ids[2], ids[1]], total: 4 });
      expect(page({ status: 'failed', limit: 10, offset: 0 })).toEqual({ ids: [ids[1]], total: 1 });
      expect(page({ status: 'queued', limit: 10, offset: 1 })).toEqual({ ids: [], total: 1 });
      expect(store.nextQueued()!.id).toBe(ids[3]);
      expect(store.listModels().map((m) => m.id)).toEqual(['model-b', 'model-a']);
      expect(store.model('model-a')).toEqual({ ...model('model-a', 0.91), name: null, version: null, importedFrom: null });
      expect(store.model('model-c')).toBeUndefined();
    } finally {
      store.close();
    }
  });
});
