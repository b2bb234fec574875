import { afterEach, describe, expect, it } from 'vitest';
import { native, type EpilogueActivation, type EpilogueDerivative, type Isa } from '../../src/native.js';
import { dropoutKey } from '../../src/nn/layers.js';
import { Rng } from '../../src/nn/rng.js';
import { dropoutKept, randomArray } from '../helpers/reference.js';

const isas = native.supportedIsas();
const initialIsa = native.getIsa();
const initialThreads = native.getThreads();
afterEach(() => {
  native.setIsa(initialIsa);
  native.setThreads(initialThreads);
});

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** 37×53 outputs from a product of 19: no size a multiple of any SIMD width, several tiles. */
const M = 37, N = 53, K = 19;

function operands(seed: number) {
  const rng = new Rng(seed);
  return { a: randomArray(rng, M * K), b: randomArray(rng, K * N), bias: randomArray(rng, N), dy: randomArray(rng, M * K), w: randomArray(rng, K * N) };
}

describe.each(isas)('fused dropout on %s', (isa: Isa) => {
  it.each(['relu', 'sigmoid'] as const)('drops and rescales the %s output exactly as the mask says, and nothing else changes', (activation: EpilogueActivation) => {
    native.setIsa(isa);
    const { a, b, bias } = operands(1);
    const plain = new Float32Array(M * N);
    native.gemm({ m: M, n: N, k: K, a, b, c: plain, bias, activation });
    const rate = 0.3, key = dropoutKey(7, 11, 0), scale = Math.fround(1 / (1 - rate));
    const dropped = new Float32Array(M * N);
    native.gemm({ m: M, n: N, k: K, a, b, c: dropped, bias, activation, dropout: { rate, key } });
    const expected = plain.map((v, i) => (dropoutKept(key, i, rate) ? Math.fround(v * scale) : 0));
    expect(bits(dropped)).toEqual(bits(expected));
  });

  it.each(['relu', 'sigmoid'] as const)('multiplies the %s derivative by the same mask and scale, given the masked output', (derivative: EpilogueDerivative) => {
    native.setIsa(isa);
    const { a, b, bias, dy, w } = operands(2);
    const rate = 0.45, key = dropoutKey(3, 5, 1), scale = Math.fround(1 / (1 - rate));
    // The layer's masked output y, then dX = dY·Wᵀ ⊙ f'(y) through the mask.
    const y = new Float32Array(M * N);
    native.gemm({ m: M, n: N, k: K, a, b, c: y, bias, activation: derivative, dropout: { rate, key } });
    const product = new Float32Array(M * N);
    native.gemm({ transB: true, m: M, n: N, k: K, a: dy, b: w, c: product });
    const dx = new Float32Array(M * N);
    native.gemm({ transB: true, m: M, n: N, k: K, a: dy, b: w, c: dx, derivative, derivativeOf: y, dropout: { rate, key } });
    const inv = Math.fround(1 / scale);
    const expected = product.map((g, i) => {
      if (!dropoutKept(key, i, rate)) return 0;
      const act = Math.fround(y[i]! * inv);
      const slope = derivative === 'sigmoid' ? Math.fround(act * Math.fround(1 - act)) : act > 0 ? 1 : 0;
      return Math.fround(Math.fround(g * scale) * slope);
    });
    expect(bits(dx)).toEqual(bits(expected));
  });

  it('gives the same bits on one thread and on every thread, for a batch large enough to split', () => {
    native.setIsa(isa);
    const rng = new Rng(3);
    const [m, n, k] = [1000, 300, 64];
    const a = randomArray(rng, m * k), b = randomArray(rng, k * n), bias = randomArray(rng, n);
    const run = (threads: number) => {
      native.setThreads(threads);
      const c = new Float32Array(m * n);
      native.gemm({ m, n, k, a, b, c, bias, activation: 'relu', dropout: { rate: 0.5, key: 12345 } });
      return bits(c);
    };
    expect(run(2)).toEqual(run(1));
  });
});

describe('dropout masks', () => {
  it('keep a share 1 − rate of the elements, independently of each other and from one key to the next', () => {
    const n = 400_000;
    for (const rate of [0.1, 0.3, 0.5, 0.8]) {
      const keyA = dropoutKey(1, 0, 0), keyB = dropoutKey(1, 1, 0);
      let a = 0, both = 0, neighbours = 0;
      let previous = false;
      for (let i = 0; i < n; i++) {
        const ka = dropoutKept(keyA, i, rate), kb = dropoutKept(keyB, i, rate);
        if (ka) a++;
        if (ka && kb) both++;
        if (ka && previous) neighbours++;
        previous = ka;
      }
      const p = 1 - rate;
      // Binomial standard deviation √(n·p·(1−p)) ≤ 320 here: 6σ bounds never fail by chance.
      const sigma = Math.sqrt(n * p * (1 - p));
      expect(Math.abs(a - n * p), `rate ${rate}`).toBeLessThan(6 * sigma);
      expect(Math.abs(both - n * p * p), `rate ${rate}, two keys`).toBeLessThan(6 * Math.sqrt(n * p * p));
      expect(Math.abs(neighbours - n * p * p), `rate ${rate}, neighbours`).toBeLessThan(6 * Math.sqrt(n * p * p));
    }
  });

  it('differ by seed, step and layer', () => {
    const keys = new Set([dropoutKey(1, 0, 0), dropoutKey(2, 0, 0), dropoutKey(1, 1, 0), dropoutKey(1, 0, 1)]);
    expect(keys.size).toBe(4);
  });

  it('are refused where they do not fit: a rate of 1 or more, a key that is not a 32-bit integer, no activation', () => {
    const a = new Float32Array(4), b = new Float32Array(4), c = new Float32Array(4);
    const call = (dropout: unknown, activation: EpilogueActivation = 'relu') => () => native.gemm({ m: 2, n: 2, k: 2, a, b, c, activation, dropout } as never);
    expect(call({ rate: 1, key: 0 })).toThrow(RangeError);
    expect(call({ rate: -0.1, key: 0 })).toThrow(/dropout.rate/);
    expect(call({ rate: 0.5, key: 1.5 })).toThrow(TypeError);
    expect(call({ rate: 0.5, key: 2 ** 32 })).toThrow(/dropout.key/);
    expect(call({ rate: 0.5, key: 1, extra: 1 })).toThrow(TypeError);
    expect(call({ rate: 0.5, key: 1 }, 'none')).toThrow(/dropout needs an activation/);
    expect(call([0.5, 1])).toThrow(TypeError);
  });
});
