import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import type { NormalizationMode } from '../../src/data/normalize.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint } from '../../src/train/checkpoint.js';
import { Classifier } from '../../src/model/classifier.js';
import { trainKFold, type KFoldResult } from '../../src/train/kfold.js';
import type { TrainRecipe } from '../../src/train/types.js';
import { quickRecipe, smallMnist } from '../helpers/datasets.js';

const recipe: TrainRecipe = quickRecipe({ seed: 3 });

let dataset: Dataset;
let dir: string;
const trained = new Map<NormalizationMode, KFoldResult>();

beforeAll(async () => {
  dataset = await smallMnist(3000, 1000);
  dir = await mkdtemp(join(tmpdir(), 'fastmlp-classifier-'));
  for (const normalization of ['global', 'per-pixel'] as const) {
    trained.set(normalization, trainKFold({ recipe: { ...recipe, normalization }, dataset }));
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function checkpointOf(mode: NormalizationMode): Checkpoint {
  return trained.get(mode)!.checkpoint;
}

describe.each(['global', 'per-pixel'] as const)('a classifier with %s standardization', (mode) => {
  it('predicts bit-identically after a save and a reload', async () => {
    const path = join(dir, `${mode}.fmlp`);
    await saveCheckpoint(path, checkpointOf(mode));
    const reloaded = await Classifier.load(path);
    expect(reloaded.checkpoint).toEqual(await loadCheckpoint(path));
    const before = new Classifier(checkpointOf(mode)).predict(dataset.test.pixels);
    const after = reloaded.predict(dataset.test.pixels);
    expect(after.classes).toBe(10);
    expect(after.labels).toEqual(before.labels);
    expect(Buffer.from(after.probabilities.buffer).equals(Buffer.from(before.probabilities.buffer))).toBe(true);
  });

  it('gives the same answer for bytes, numbers on the byte scale and numbers on the unit scale', () => {
    const classifier = new Classifier(checkpointOf(mode));
    const bytes = dataset.test.pixels;
    const fromBytes = classifier.predict(bytes);
    const fromFloats = classifier.predict(Float32Array.from(bytes), 'byte');
    const fromNumbers = classifier.predict(Array.from(bytes), 'byte');
    const fromUnit = classifier.predict(Float32Array.from(bytes, (b) => b / 255), 'unit');
    for (const other of [fromFloats, fromNumbers, fromUnit]) {
      expect(other.labels).toEqual(fromBytes.labels);
      expect(other.probabilities).toHaveLength(fromBytes.probabilities.length);
      let worst = 0;
      for (let i = 0; i < other.probabilities.length; i++) {
        worst = Math.max(worst, Math.abs(other.probabilities[i]! - fromBytes.probabilities[i]!));
      }
      // Bytes take the first GEMM's sparse form, (P·s)·W − (μ·s)·W, floats the dense one: rounding apart.
      expect(worst).toBeLessThan(1e-5);
    }
  });

  it('returns probability rows that sum to one and labels at their maximum', () => {
    const { labels, probabilities, classes } = new Classifier(checkpointOf(mode)).predict(dataset.test.pixels);
    expect(labels).toHaveLength(dataset.test.count);
    for (let i = 0; i < labels.length; i++) {
      const row = probabilities.subarray(i * classes, (i + 1) * classes);
      expect(row.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 5);
      expect(row[labels[i]!]).toBe(Math.max(...row));
    }
  });

  it('evaluates with a confusion matrix that agrees with the accuracy, the labels and the training run', () => {
    const classifier = new Classifier(checkpointOf(mode));
    const e = classifier.evaluate(dataset.test);
    expect(e.count).toBe(1000);
    expect(e.confusion).toHaveLength(10);
    for (const row of e.confusion) expect(row).toHaveLength(10);
    expect(e.confusion.flat().reduce((s, c) => s + c, 0)).toBe(e.count);
    const diagonal = e.confusion.reduce((s, row, i) => s + row[i]!, 0);
    expect(diagonal / e.count).toBe(e.accuracy);
    // Row i counts the images labelled i.
    const perLabel = new Array<number>(10).fill(0);
    for (const label of dataset.test.labels) perLabel[label]!++;
    expect(e.confusion.map((row) => row.reduce((s, c) => s + c, 0))).toEqual(perLabel);
    // Column j counts the images predicted j.
    const { labels } = classifier.predict(dataset.test.pixels);
    const perPrediction = new Array<number>(10).fill(0);
    for (const label of labels) perPrediction[label]!++;
    expect(e.confusion[0]!.map((_, j) => e.confusion.reduce((s, row) => s + row[j]!, 0))).toEqual(perPrediction);
    // The same model as the one the run tested on the same images.
    const run = trained.get(mode)!;
    expect(e.accuracy).toBeGreaterThan(0.85);
    expect(e.accuracy).toBeCloseTo(run.test.accuracy, 3);
    expect(e.loss).toBeCloseTo(run.test.loss, 4);
  });

  it('rejects a wrong input length with a RangeError and a non-finite pixel with a TypeError', () => {
    const classifier = new Classifier(checkpointOf(mode));
    expect(classifier.features).toBe(784);
    expect(() => classifier.predict(new Uint8Array(783))).toThrow(RangeError);
    expect(() => classifier.predict(new Uint8Array(785))).toThrow(/784/);
    expect(() => classifier.predict(new Uint8Array(0))).toThrow(RangeError);
    expect(() => classifier.predict(new Float32Array(784 * 2 - 1), 'unit')).toThrow(RangeError);

    const pixels = Array.from(dataset.test.pixels.subarray(0, 784 * 2));
    pixels[784 + 5] = Number.NaN;
    expect(() => classifier.predict(pixels)).toThrow(TypeError);
    expect(() => classifier.predict(pixels)).toThrow(/pixel 789\b/);
    const floats = Float32Array.from(dataset.test.pixels.subarray(0, 784));
    floats[0] = Number.POSITIVE_INFINITY;
    expect(() => classifier.predict(floats, 'unit')).toThrow(TypeError);
  });

  it('rejects a labelled set of another image size', () => {
    const classifier = new Classifier(checkpointOf(mode));
    const small = { ...dataset.test, rows: 14, cols: 14, features: 196, pixels: new Uint8Array(196 * dataset.test.count) };
    expect(() => classifier.evaluate(small)).toThrow(RangeError);
  });
});

it('predicts batches larger than its internal batch the same as one image at a time', () => {
  const classifier = new Classifier(checkpointOf('global'));
  // 5000 images: more than one internal batch of 4096.
  const pixels = new Uint8Array(5000 * 784);
  for (let i = 0; i < 5; i++) pixels.set(dataset.test.pixels, i * dataset.test.pixels.length);
  const all = classifier.predict(pixels);
  for (const i of [0, 4095, 4096, 4999]) {
    const one = classifier.predict(pixels.subarray(i * 784, (i + 1) * 784));
    expect(one.labels[0]).toBe(all.labels[i]);
    const row = all.probabilities.subarray(i * 10, (i + 1) * 10);
    // One image takes the small-batch GEMM path, which sums in another order: a few float32 roundings apart.
    for (let j = 0; j < 10; j++) expect(Math.abs(one.probabilities[j]! - row[j]!)).toBeLessThan(1e-5 * (1 + row[j]!));
  }
});
