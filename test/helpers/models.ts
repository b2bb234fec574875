/** Small trained models for tests of what serves them: trained once per test file, saved as checkpoints. */
import { join } from 'node:path';
import { saveCheckpoint, type Checkpoint, type TrainedCheckpoint } from '../../src/train/checkpoint.js';
import { trainKFold } from '../../src/train/kfold.js';
import type { NewModel } from '../../src/server/store.js';
import { quickRecipe, smallMnist } from './datasets.js';

/** Checkpoints of a 784→32 ReLU→10 network trained for one epoch on 2000 digits, one per seed. */
export async function tinyCheckpoints(seeds: number[]): Promise<TrainedCheckpoint[]> {
  const dataset = await smallMnist(2000, 200);
  return seeds.map((seed) => trainKFold({ recipe: quickRecipe({ hidden: [{ width: 32, activation: 'relu' }], epochs: 1, seed }), dataset }).checkpoint);
}

/** Saves the checkpoint under dir and returns the record that registers it. */
export async function modelRecord(dir: string, id: string, checkpoint: Checkpoint, testAccuracy: number): Promise<NewModel> {
  const checkpointPath = join(dir, `${id}.fmlp`);
  await saveCheckpoint(checkpointPath, checkpoint);
  return {
    id,
    jobId: null,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, testAccuracy * 100)).toISOString(),
    checkpointPath,
    architecture: checkpoint.architecture,
    recipe: checkpoint.recipe ?? null,
    metrics: checkpoint.metrics ?? null,
    importedFrom: checkpoint.importedFrom ?? null,
    testAccuracy,
  };
}
