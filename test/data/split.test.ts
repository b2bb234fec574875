import { describe, expect, it } from 'vitest';
import { kFold, shuffledIndices, type RandomSource } from '../../src/data/split.js';
import { Rng } from '../../src/nn/rng.js';

/** Each of 0..n−1 exactly once. */
function expectPermutation(values: Int32Array, n: number): void {
  expect(values.length).toBe(n);
  expect(Array.from(values).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
}

describe('shuffledIndices', () => {
  it('returns a permutation of 0..n−1, the same one for the same seed', () => {
    const a = shuffledIndices(1000, new Rng(1));
    expectPermutation(a, 1000);
    expect(shuffledIndices(1000, new Rng(1))).toEqual(a);
    expect(shuffledIndices(1000, new Rng(2))).not.toEqual(a);
    expect(shuffledIndices(0, new Rng(1))).toEqual(new Int32Array(0));
    expect(shuffledIndices(1, new Rng(1))).toEqual(Int32Array.of(0));
  });

  it('makes every order of three elements equally likely (chi-square)', () => {
    const rng = new Rng(8);
    const trials = 12_000;
    const counts = new Map<string, number>();
    for (let t = 0; t < trials; t++) {
      const key = shuffledIndices(3, rng).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['012', '021', '102', '120', '201', '210']);
    const expected = trials / 6;
    const chiSquare = [...counts.values()].reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
    // 5 degrees of freedom: P(χ² > 20.52) = 0.001.
    expect(chiSquare).toBeLessThan(20.52);
  });

  it('takes any structural random source', () => {
    // Always drawing 0 swaps each element with the first: a rotation with a known result.
    const zero: RandomSource = { nextUint32: () => 0, uniformInt: () => 0 };
    expect(Array.from(shuffledIndices(4, zero))).toEqual([1, 2, 3, 0]);
  });

  it('rejects a count that is not a non-negative integer, naming n', () => {
    expect(() => shuffledIndices(-1, new Rng(1))).toThrow(/\bn\b/);
    expect(() => shuffledIndices(2.5, new Rng(1))).toThrow(RangeError);
  });
});

describe('kFold', () => {
  it('splits into disjoint validation parts that cover every index once, sizes within one', () => {
    const n = 103;
    const folds = kFold(n, 5, new Rng(3));
    expect(folds.map((f) => f.fold)).toEqual([1, 2, 3, 4, 5]);
    expect(folds.map((f) => f.validation.length)).toEqual([21, 21, 21, 20, 20]);
    const all = new Int32Array(folds.flatMap((f) => Array.from(f.validation)));
    expectPermutation(all, n);
  });

  it('trains each fold on the other parts, in the shuffled order', () => {
    const n = 50;
    const k = 3;
    const folds = kFold(n, k, new Rng(12));
    // One shuffle, cut into contiguous parts: the validation parts in fold order are that shuffle.
    const order = shuffledIndices(n, new Rng(12));
    expect(new Int32Array(folds.flatMap((f) => Array.from(f.validation)))).toEqual(order);
    for (const { train, validation } of folds) {
      const held = new Set(validation);
      expect(train.length + validation.length).toBe(n);
      expect(train.some((i) => held.has(i))).toBe(false);
      expect(train).toEqual(order.filter((i) => !held.has(i)));
    }
  });

  it('gives the same folds for the same seed and different folds for another', () => {
    const a = kFold(200, 4, new Rng(5));
    expect(kFold(200, 4, new Rng(5))).toEqual(a);
    expect(kFold(200, 4, new Rng(6))[0]!.validation).not.toEqual(a[0]!.validation);
  });

  it('allows k = n (leave one out) and k = 10', () => {
    const loo = kFold(4, 4, new Rng(1));
    expect(loo.map((f) => f.validation.length)).toEqual([1, 1, 1, 1]);
    expect(loo.every((f) => f.train.length === 3)).toBe(true);
    const ten = kFold(95, 10, new Rng(1));
    const sizes = ten.map((f) => f.validation.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(95);
  });

  it('rejects k outside 2..10, not an integer or above n, naming k', () => {
    for (const k of [1, 0, 11, 2.5, Number.NaN]) {
      expect(() => kFold(100, k, new Rng(1))).toThrow(RangeError);
      expect(() => kFold(100, k, new Rng(1))).toThrow(/\bk\b/);
    }
    expect(() => kFold(3, 4, new Rng(1))).toThrow(/\bk\b/);
  });
});
