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
});
