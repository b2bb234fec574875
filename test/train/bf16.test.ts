import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { Classifier } from '../../src/model/classifier.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint.js';
import { trainKFold, type KFoldResult } from '../../src/train/kfold.js';
import { validateRecipe } from '../../src/train/recipe.js';
import { quickRecipe, smallMnist } from '../helpers/datasets.js';

// Mixed precision in training: bf16 products, everything else fp32 (native/gemm.h, Precision).
const recipe = quickRecipe({ hidden: [{ width: 64, activation: 'relu' }], lr: 3e-3, batchSize: 100, epochs: 3, folds: 1, seed: 5 });

let dataset: Dataset;
let fp32: KFoldResult;
let bf16: KFoldResult;

beforeAll(async () => {
  dataset = await smallMnist(3000, 1000);
  fp32 = trainKFold({ recipe, dataset });
  bf16 = trainKFold({ recipe: { ...recipe, precision: 'bf16' }, dataset });
});

describe('a bf16 recipe', () => {
  it('learns as the fp32 one does, from weights that are its own', () => {
    const w32 = fp32.checkpoint.layers[0]!.weights, w16 = bf16.checkpoint.layers[0]!.weights;
    expect(w16.some((v, i) => v !== w32[i])).toBe(true);
    expect(bf16.test.accuracy).toBeGreaterThan(0.85);
    expect(Math.abs(bf16.test.accuracy - fp32.test.accuracy)).toBeLessThan(0.02);
  });

  it('gives the same bits for the same seed', () => {
    const again = trainKFold({ recipe: { ...recipe, precision: 'bf16' }, dataset });
    expect(again.checkpoint.layers.map((l) => l.weights)).toEqual(bf16.checkpoint.layers.map((l) => l.weights));
    expect(again.test).toEqual(bf16.test);
  });

  it('is kept in the checkpoint, and an fp32 recipe without the field encodes as before', () => {
    expect(bf16.checkpoint.recipe.precision).toBe('bf16');
    expect(decodeCheckpoint(encodeCheckpoint(bf16.checkpoint)).recipe?.precision).toBe('bf16');
    expect(decodeCheckpoint(encodeCheckpoint(fp32.checkpoint)).recipe).not.toHaveProperty('precision');
    const explicit = { ...fp32.checkpoint, recipe: { ...fp32.checkpoint.recipe, precision: 'fp32' as const } };
    expect(decodeCheckpoint(encodeCheckpoint(explicit)).recipe?.precision).toBe('fp32');
    expect(() => validateRecipe({ ...recipe, precision: 'fp16' })).toThrow(/precision/);
  });

  it('predicts in bf16 by default, within bfloat16 rounding of fp32, and in fp32 when asked', () => {
    const model = new Classifier(bf16.checkpoint);
    const asFp32 = new Classifier(bf16.checkpoint, { precision: 'fp32' });
    expect(model.network.precision).toBe('bf16');
    expect(asFp32.network.precision).toBe('fp32');
    expect(new Classifier(fp32.checkpoint).network.precision).toBe('fp32');
    const images = dataset.test.pixels;
    const a = model.predict(images), b = asFp32.predict(images);
    expect(a.probabilities.some((v, i) => v !== b.probabilities[i])).toBe(true);
    let worst = 0, same = 0;
    for (let i = 0; i < a.probabilities.length; i++) worst = Math.max(worst, Math.abs(a.probabilities[i]! - b.probabilities[i]!));
    for (let i = 0; i < a.labels.length; i++) same += a.labels[i] === b.labels[i] ? 1 : 0;
    expect(worst).toBeLessThan(0.05);
    expect(same / a.labels.length).toBeGreaterThan(0.99);
    expect(() => new Classifier(bf16.checkpoint, { precision: 'fp8' as 'bf16' })).toThrow(TypeError);
  });
});
