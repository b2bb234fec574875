import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/nn/rng.js';

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextUint32());
}

describe('Rng', () => {
  it('matches the C reference of splitmix32 seeding and xoshiro128**', () => {
    // From Vigna's xoshiro128starstar.c with s[0..3] = four splitmix32 outputs of the seed, in uint32_t.
    const reference: Record<number, number[]> = {
      0: [3809008728, 1133695204, 53579671, 2891528803, 139681546, 2203266335],
      1: [2442144158, 3238099751, 3819917871, 2104621829, 2021136066, 4223536128],
      42: [2837322924, 544945897, 479756282, 3500138142, 339756180, 113173290],
      4294967295: [835879718, 1921286648, 2356205009, 1885780724, 980451116, 1053911718],
    };
    for (const [seed, expected] of Object.entries(reference)) {
      expect(draws(new Rng(Number(seed)), 6)).toEqual(expected);
    }
  });

  it('gives the same sequence for the same seed, bit for bit, across every kind of draw', () => {
    const sequence = (rng: Rng): number[] => {
      const out: number[] = [];
      for (let i = 0; i < 200; i++) {
        out.push(rng.nextUint32(), rng.nextFloat(), rng.nextDouble(), rng.uniformInt(1000), rng.normal(1, 2));
      }
      out.push(...rng.fillNormal(new Float32Array(33)), ...rng.fillUniform(new Float32Array(33), -1, 1));
      return out;
    };
    const a = sequence(new Rng(7));
    const b = sequence(new Rng(7));
    expect(b).toEqual(a);
    expect(a.every(Number.isFinite)).toBe(true);
  });

  it('gives different sequences for different seeds, including seeds that share their low 32 bits', () => {
    const first = draws(new Rng(1), 8);
    expect(draws(new Rng(2), 8)).not.toEqual(first);
    expect(draws(new Rng(2 ** 32 + 1), 8)).not.toEqual(first);
    expect(draws(new Rng(Number.MAX_SAFE_INTEGER), 8)).not.toEqual(draws(new Rng(2 ** 32 - 1), 8));
  });

  it('rejects seeds that are not non-negative safe integers, naming the seed', () => {
    for (const seed of [-1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
      expect(() => new Rng(seed)).toThrow(RangeError);
      expect(() => new Rng(seed)).toThrow(/seed/);
    }
    expect(() => new Rng('1' as unknown as number)).toThrow(TypeError);
    expect(() => new Rng('1' as unknown as number)).toThrow(/seed/);
  });

  it('draws floats in [0, 1) on a 2^-24 grid with a uniform mean', () => {
    const rng = new Rng(3);
    let sum = 0;
    let offGrid = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const x = rng.nextFloat();
      if (!(x >= 0 && x < 1) || !Number.isInteger(x * 2 ** 24)) offGrid++;
      sum += x;
    }
    expect(offGrid).toBe(0);
    // σ of the mean is 1/sqrt(12n) ≈ 0.0009.
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.005);
  });

  it('draws uniform integers without bias over a small bound (chi-square)', () => {
    const rng = new Rng(11);
    const bound = 7;
    const n = 70_000;
    const counts = new Array<number>(bound).fill(0);
    for (let i = 0; i < n; i++) counts[rng.uniformInt(bound)]!++;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(n);
    const expected = n / bound;
    const chiSquare = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
    // 6 degrees of freedom: P(χ² > 22.46) = 0.001.
    expect(chiSquare).toBeLessThan(22.46);
  });

  it('has no modulo bias for a bound near 2^32', () => {
    // With bound 3·2^30, plain x mod bound would land below 2^30 half the time instead of a third.
    const rng = new Rng(5);
    const bound = 3 * 2 ** 30;
    const n = 30_000;
    let low = 0;
    for (let i = 0; i < n; i++) if (rng.uniformInt(bound) < 2 ** 30) low++;
    expect(Math.abs(low / n - 1 / 3)).toBeLessThan(0.015);
  });

  it('accepts bounds from 1 to 2^32 and rejects the rest, naming the bound', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 10; i++) expect(rng.uniformInt(1)).toBe(0);
    expect(rng.uniformInt(2 ** 32)).toBeLessThan(2 ** 32);
    for (const bound of [0, -3, 2.5, 2 ** 32 + 1, Number.NaN]) {
      expect(() => rng.uniformInt(bound)).toThrow(RangeError);
      expect(() => rng.uniformInt(bound)).toThrow(/bound/);
    }
  });

  it('draws normals with the requested mean and std over 1e5 draws', () => {
    const rng = new Rng(2024);
    const n = 100_000;
    let sum = 0;
    let squares = 0;
    let withinOneStd = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.normal(3, 2);
      sum += x;
      squares += x * x;
      if (Math.abs(x - 3) < 2) withinOneStd++;
    }
    const mean = sum / n;
    const std = Math.sqrt(squares / n - mean * mean);
    // σ of the mean is 2/sqrt(n) ≈ 0.0063, of the std about 0.0045; the 68.27% mass has σ ≈ 0.0015.
    expect(Math.abs(mean - 3)).toBeLessThan(0.03);
    expect(Math.abs(std - 2)).toBeLessThan(0.02);
    expect(Math.abs(withinOneStd / n - 0.6827)).toBeLessThan(0.006);
  });

  it('fills with normals exactly as successive normal() calls, rounded to float32', () => {
    const expected = new Rng(9);
    const out = new Rng(9).fillNormal(new Float32Array(101), 0.5, 0.1);
    for (let i = 0; i < out.length; i++) expect(out[i]).toBe(Math.fround(expected.normal(0.5, 0.1)));
  });

  it('fills with uniforms inside [low, high)', () => {
    const out = new Rng(4).fillUniform(new Float32Array(50_000), -0.25, 0.75);
    let sum = 0;
    let outside = 0;
    for (const x of out) {
      if (!(x >= -0.25 && x < 0.75)) outside++;
      sum += x;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / out.length - 0.25)).toBeLessThan(0.01);
    expect(() => new Rng(1).fillUniform(out, 1, 0)).toThrow(/low/);
    expect(() => new Rng(1).fillNormal(out, 0, -1)).toThrow(/std/);
  });

  it('forks deterministically into a stream different from its parent', () => {
    const a = new Rng(100);
    const b = new Rng(100);
    const forkA = a.fork();
    const forkB = b.fork();
    expect(draws(forkA, 16)).toEqual(draws(forkB, 16));
    expect(draws(a, 16)).toEqual(draws(b, 16));
    const parent = new Rng(100);
    const child = parent.fork();
    expect(draws(child, 16)).not.toEqual(draws(parent, 16));
    expect(draws(new Rng(100).fork(), 16)).not.toEqual(draws(new Rng(100), 16));
    // Two forks in a row are two different streams.
    const twice = new Rng(100);
    expect(draws(twice.fork(), 16)).not.toEqual(draws(twice.fork(), 16));
  });

  it('continues from a saved state bit for bit, a waiting spare normal included', () => {
    const rng = new Rng(5);
    draws(rng, 3);
    rng.normal(); // leaves the pair's second normal waiting
    const state = rng.getState();
    expect(state.spareNormal).not.toBeNull();
    expect(state.words.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)).toBe(true);
    const copy = new Rng(99).setState(JSON.parse(JSON.stringify(state)) as typeof state);
    expect([copy.normal(), ...draws(copy, 5), copy.normal(), copy.nextDouble()]).toEqual([rng.normal(), ...draws(rng, 5), rng.normal(), rng.nextDouble()]);
    expect(copy.getState()).toEqual(rng.getState());
    expect(new Rng(1).setState(new Rng(1).getState()).getState().spareNormal).toBeNull();
  });

  it('rejects states that are not four uint32 words, all zero, or a non-finite spare normal', () => {
    const rng = new Rng(1);
    expect(() => rng.setState({ words: [1, 2, 3] as unknown as [number, number, number, number], spareNormal: null })).toThrow(RangeError);
    expect(() => rng.setState({ words: [1, 2, 3, 2 ** 32], spareNormal: null })).toThrow(/words/);
    expect(() => rng.setState({ words: [0, 0, 0, 0], spareNormal: null })).toThrow(/not all zero/);
    expect(() => rng.setState({ words: [1, 2, 3, 4], spareNormal: Number.NaN })).toThrow(/spareNormal/);
  });
});
