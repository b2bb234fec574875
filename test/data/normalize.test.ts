import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist, subset, type ImageSet } from '../../src/data/dataset.js';
import {
  computeStandardization,
  inverseStd,
  standardizeRowsReference,
  type Standardization,
} from '../../src/data/normalize.js';
import { Rng } from '../../src/nn/rng.js';

/** A set of random bytes; column 1 is constant 7 and column 2 only takes 0 or 255. */
function randomSet(count: number, features: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  const pixels = new Uint8Array(count * features);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < features; j++) {
      const value = j === 1 ? 7 : j === 2 ? 255 * rng.uniformInt(2) : rng.uniformInt(256);
      pixels[i * features + j] = value;
    }
  }
  return { count, rows: 1, cols: features, features, pixels, labels: new Uint8Array(count), classes: 1 };
}

/** Two-pass float64 mean and population std of column j (or of every byte when j is null) of the chosen rows. */
function twoPass(set: ImageSet, indices: Int32Array, j: number | null): { mean: number; std: number } {
  const values: number[] = [];
  for (const i of indices) {
    const row = set.pixels.subarray(i * set.features, (i + 1) * set.features);
    if (j === null) values.push(...row);
    else values.push(row[j]!);
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance) };
}

function everyOther(count: number): Int32Array {
  return Int32Array.from({ length: Math.ceil(count / 2) }, (_, r) => 2 * r);
}

describe('computeStandardization', () => {
  it('per pixel, matches a direct two-pass float64 reference on the given rows', () => {
    const set = randomSet(301, 13, 4);
    const indices = everyOther(set.count);
    const s = computeStandardization(set, 'per-pixel', indices);
    expect(s.mode).toBe('per-pixel');
    expect(s.mean.length).toBe(13);
    expect(s.std.length).toBe(13);
    for (let j = 0; j < set.features; j++) {
      const reference = twoPass(set, indices, j);
      const std = j === 1 ? 1 : reference.std;
      expect(s.mean[j]).toBe(Math.fround(reference.mean));
      expect(Math.abs(s.std[j]! - std)).toBeLessThanOrEqual(std * 2 ** -23);
    }
    // The constant column keeps its mean and gets std 1, so it standardizes to 0, not NaN.
    expect(s.mean[1]).toBe(7);
    expect(s.std[1]).toBe(1);
  });

  it('globally, matches a direct two-pass float64 reference on the given rows', () => {
    const set = randomSet(101, 10, 9);
    const indices = Int32Array.of(5, 3, 99, 3, 42);
    const s = computeStandardization(set, 'global', indices);
    const reference = twoPass(set, indices, null);
    expect(s.mean).toEqual(Float32Array.of(reference.mean));
    expect(Math.abs(s.std[0]! - reference.std)).toBeLessThanOrEqual(reference.std * 2 ** -23);
  });

  it('uses only the given rows', () => {
    const set = randomSet(200, 8, 2);
    const indices = Int32Array.from({ length: 60 }, (_, r) => 3 * r + 1);
    const before = {
      global: computeStandardization(set, 'global', indices),
      perPixel: computeStandardization(set, 'per-pixel', indices),
    };
    // Rewrite every row that is not chosen: the statistics must not move.
    const chosen = new Set(indices);
    for (let i = 0; i < set.count; i++) if (!chosen.has(i)) set.pixels.fill(255 - (i % 3), i * 8, (i + 1) * 8);
    expect(computeStandardization(set, 'global', indices)).toEqual(before.global);
    expect(computeStandardization(set, 'per-pixel', indices)).toEqual(before.perPixel);
    // And they equal those of a copy holding only the chosen rows.
    expect(computeStandardization(subset(set, indices), 'per-pixel')).toEqual(before.perPixel);
    expect(computeStandardization(set, 'global')).not.toEqual(before.global);
  });

  it('gives the same statistics whether or not the rows start on a word boundary, zero words and all', () => {
    // Rows of 16 bytes, mostly zero words (a digit's background): the word scan skips those.
    const set = randomSet(257, 16, 6);
    for (let i = 0; i < set.count; i++) set.pixels.fill(0, i * 16 + (i % 5) * 3, i * 16 + 12 + (i % 3));
    const pixels = new Uint8Array(set.pixels.length + 1).subarray(1);
    pixels.set(set.pixels);
    const shifted = { ...set, pixels };
    const indices = everyOther(set.count);
    for (const mode of ['global', 'per-pixel'] as const) {
      const s = computeStandardization(set, mode, indices);
      expect(computeStandardization(shifted, mode, indices)).toEqual(s);
      // The zero bins are derived from the others: the std, which counts them, holds them to the reference.
      for (let j = 0; j < s.mean.length; j++) {
        const reference = twoPass(set, indices, mode === 'global' ? null : j);
        expect(s.mean[j]).toBe(Math.fround(reference.mean));
        expect(Math.abs(s.std[j]! - reference.std)).toBeLessThanOrEqual(reference.std * 2 ** -23);
      }
    }
  });

  it('rejects an empty or out-of-range choice of rows', () => {
    const set = randomSet(10, 4, 1);
    expect(() => computeStandardization(set, 'global', new Int32Array(0))).toThrow(/indices/);
    expect(() => computeStandardization(set, 'per-pixel', Int32Array.of(10))).toThrow(RangeError);
  });
});

describe('MNIST training statistics', () => {
  let train: ImageSet;

  beforeAll(async () => {
    train = (await loadMnist()).train;
  });

  it('global mean and std match a float64 reference (about 33.32 and 78.57)', () => {
    const s = computeStandardization(train, 'global');
    let sum = 0;
    for (const p of train.pixels) sum += p;
    const mean = sum / train.pixels.length;
    let squares = 0;
    for (const p of train.pixels) squares += (p - mean) * (p - mean);
    const std = Math.sqrt(squares / train.pixels.length);
    expect(s.mean[0]).toBe(Math.fround(mean));
    expect(Math.abs(s.std[0]! - std)).toBeLessThanOrEqual(std * 2 ** -23);
    expect(mean).toBeCloseTo(33.318, 2);
    expect(std).toBeCloseTo(78.567, 2);
  });

  it('per pixel: blank corners get mean 0 and std 1, the centre a real spread', () => {
    const s = computeStandardization(train, 'per-pixel');
    expect(s.mean.length).toBe(784);
    expect(s.mean[0]).toBe(0);
    expect(s.std[0]).toBe(1);
    const centre = 14 * 28 + 14;
    const first5000 = Int32Array.from({ length: 5000 }, (_, i) => i);
    const reference = twoPass(train, first5000, centre);
    const part = computeStandardization(train, 'per-pixel', first5000);
    expect(part.mean[centre]).toBe(Math.fround(reference.mean));
    expect(Math.abs(part.std[centre]! - reference.std)).toBeLessThanOrEqual(reference.std * 2 ** -23);
    expect(s.std[centre]).toBeGreaterThan(50);
  });

  it('standardized training rows have mean 0 and std 1 overall', () => {
    const s = computeStandardization(train, 'global');
    const indices = Int32Array.from({ length: train.count }, (_, i) => i);
    const out = standardizeRowsReference(train.pixels, train.features, indices, s, new Float32Array(train.pixels.length));
    let sum = 0;
    let squares = 0;
    for (const x of out) {
      sum += x;
      squares += x * x;
    }
    expect(Math.abs(sum / out.length)).toBeLessThan(1e-5);
    expect(Math.sqrt(squares / out.length)).toBeCloseTo(1, 5);
  });
});

describe('inverseStd and standardizeRowsReference', () => {
  const s: Standardization = {
    mode: 'per-pixel',
    mean: Float32Array.of(10, 0.5, 200),
    std: Float32Array.of(2, 1, 0.3),
  };

  it('inverts the std in float32', () => {
    expect(inverseStd(s)).toEqual(Float32Array.of(0.5, 1, Math.fround(1 / 0.3)));
  });

  it('standardizes the chosen rows per pixel and globally, as float32 steps', () => {
    const pixels = Uint8Array.of(0, 1, 2, 10, 11, 200, 255, 0, 100);
    const out = standardizeRowsReference(pixels, 3, Int32Array.of(2, 1), s, new Float32Array(6));
    const inv = Math.fround(1 / Math.fround(0.3));
    expect(Array.from(out)).toEqual([
      (255 - 10) * 0.5,
      (0 - 0.5) * 1,
      Math.fround(Math.fround(100 - 200) * inv),
      (10 - 10) * 0.5,
      (11 - 0.5) * 1,
      0,
    ]);
    for (let r = 0; r < 2; r++) {
      for (let j = 0; j < 3; j++) {
        const p = pixels[[2, 1][r]! * 3 + j]!;
        expect(out[r * 3 + j]).toBeCloseTo((p - s.mean[j]!) / s.std[j]!, 4);
      }
    }
    const global: Standardization = { mode: 'global', mean: Float32Array.of(4), std: Float32Array.of(8) };
    const flat = standardizeRowsReference(pixels, 3, Int32Array.of(0), global, new Float32Array(3));
    expect(Array.from(flat)).toEqual([-0.5, -0.375, -0.25]);
  });

  it('rejects statistics or an output of the wrong length', () => {
    const pixels = new Uint8Array(6);
    expect(() => standardizeRowsReference(pixels, 3, Int32Array.of(0), s, new Float32Array(2))).toThrow(/out/);
    const wrong: Standardization = { mode: 'per-pixel', mean: new Float32Array(2), std: new Float32Array(2) };
    expect(() => standardizeRowsReference(pixels, 3, Int32Array.of(0), wrong, new Float32Array(3))).toThrow(/mean/);
    expect(() => standardizeRowsReference(pixels, 3, Int32Array.of(2), s, new Float32Array(3))).toThrow(/indices/);
  });
});
