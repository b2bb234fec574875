import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Classifier } from '../../src/model/classifier.js';
import { ModelRegistry } from '../../src/server/model-registry.js';
import { JobStore } from '../../src/server/store.js';
import type { Checkpoint } from '../../src/train/checkpoint.js';
import { modelRecord, tinyCheckpoints } from '../helpers/models.js';

let checkpoints: Checkpoint[];
let dir: string;
let store: JobStore;

beforeAll(async () => {
  checkpoints = await tinyCheckpoints([1, 2]);
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fastmlp-registry-'));
  store = new JobStore(join(dir, 'store.db'));
});

afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('ModelRegistry', () => {
  it('knows no model in an empty store', () => {
    const models = new ModelRegistry(store);
    expect(models.best()).toBeUndefined();
    expect(models.get('m1')).toBeUndefined();
    expect(models.list()).toEqual([]);
  });

  it('registers models, has the best by test accuracy, and uses an added model at once', async () => {
    const models = new ModelRegistry(store);
    const worse = await modelRecord(dir, 'm1', checkpoints[0]!, 0.8);
    const better = await modelRecord(dir, 'm2', checkpoints[1]!, 0.9);
    models.add(worse, checkpoints[0]!);
    expect(models.best()?.id).toBe('m1');
    models.add(better, checkpoints[1]!);
    expect(models.best()?.id).toBe('m2');
    expect(models.get('m1')).toEqual({ ...worse, name: null, version: null });
    expect(models.list().map((m) => m.id)).toEqual(['m2', 'm1']);
    const classifier = models.inMemory('m2');
    expect(classifier).toBeInstanceOf(Classifier);
    expect(classifier!.checkpoint).toBe(checkpoints[1]);
  });

  it('reads the records of the store it is given, as a restarted service does', async () => {
    new ModelRegistry(store).add(await modelRecord(dir, 'm1', checkpoints[0]!, 0.8), checkpoints[0]!);
    store.close();
    store = new JobStore(join(dir, 'store.db'));
    const models = new ModelRegistry(store);
    expect(models.best()?.id).toBe('m1');
    // Not in memory until first used; concurrent first uses share one load.
    expect(models.inMemory('m1')).toBeUndefined();
    const [a, b] = await Promise.all([models.classifier(models.get('m1')!), models.classifier(models.get('m1')!)]);
    expect(a).toBe(b);
    expect(models.inMemory('m1')).toBe(a);
    expect(a.checkpoint.layers[0]!.weights).toEqual(checkpoints[0]!.layers[0]!.weights);
  });

  it('does not keep a failed load: the next request tries again', async () => {
    const record = await modelRecord(dir, 'm1', checkpoints[0]!, 0.8);
    store.addModel(record);
    const models = new ModelRegistry(store);
    const moved = join(dir, 'elsewhere.fmlp');
    await rename(record.checkpointPath, moved);
    await expect(models.classifier(record)).rejects.toThrow();
    expect(models.inMemory('m1')).toBeUndefined();
    await rename(moved, record.checkpointPath);
    await expect(models.classifier(record)).resolves.toBeInstanceOf(Classifier);
  });

  it('removes the record and then the checkpoint file; the best model is the next one', async () => {
    const models = new ModelRegistry(store);
    const worse = await modelRecord(dir, 'm1', checkpoints[0]!, 0.8);
    const better = await modelRecord(dir, 'm2', checkpoints[1]!, 0.9);
    models.add(worse, checkpoints[0]!);
    models.add(better, checkpoints[1]!);
    await models.remove(better);
    expect(existsSync(better.checkpointPath)).toBe(false);
    expect(models.get('m2')).toBeUndefined();
    expect(models.inMemory('m2')).toBeUndefined();
    expect(models.best()?.id).toBe('m1');
    expect(new ModelRegistry(store).list().map((m) => m.id)).toEqual(['m1']);
  });
});
