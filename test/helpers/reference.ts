/** Plain float64 references that the native kernels are checked against. */
import { mix32 } from '../../src/nn/layers.js';
import { Rng } from '../../src/nn/rng.js';

export function randomArray(rng: Rng, length: number, low = -1, high = 1): Float32Array {
  return rng.fillUniform(new Float32Array(length), low, high);
}

export interface GemmCase {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  lda: number;
  ldb: number;
  ldc: number;
}

/**
 * C = alpha·op(A)·op(B) + beta·C in float64. Also returns, per element, the bound that a float32 GEMM must
 * meet: the classic γ_k·(|alpha|·Σ|a||b|) + u·|beta·c| with γ_k = k·u/(1 − k·u) and u = 2⁻²⁴, doubled for
 * the rounding of alpha and of the final store.
 */
export function gemmReference(
  g: GemmCase,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
): { value: Float64Array; bound: Float64Array } {
  const u = 2 ** -24;
  const gamma = (g.k * u) / (1 - g.k * u);
  const value = new Float64Array(g.m * g.n);
  const bound = new Float64Array(g.m * g.n);
  for (let i = 0; i < g.m; i++) {
    for (let j = 0; j < g.n; j++) {
      let sum = 0;
      let abs = 0;
      for (let p = 0; p < g.k; p++) {
        const x = g.transA ? a[p * g.lda + i]! : a[i * g.lda + p]!;
        const y = g.transB ? b[j * g.ldb + p]! : b[p * g.ldb + j]!;
        sum += x * y;
        abs += Math.abs(x * y);
      }
      const c0 = g.beta === 0 ? 0 : c[i * g.ldc + j]!;
      const v = g.alpha * sum + g.beta * c0;
      value[i * g.n + j] = v;
      bound[i * g.n + j] = 2 * (gamma * Math.abs(g.alpha) * abs + u * Math.abs(g.beta * c0) + u * Math.abs(v)) + 1e-30;
    }
  }
  return { value, bound };
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Largest |actual − expected| / (|expected| + floor) over the arrays. */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-6): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} ≠ ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!) / (Math.abs(expected[i]!) + floor);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

/** A dropout mask as the kernels define it (kernels.h): element `index` kept when its 32 bits clear rate·2^32. */
export function dropoutKept(key: number, index: number, rate: number): boolean {
  const threshold = Math.min(Math.floor(rate * 2 ** 32), 2 ** 32 - 1);
  return mix32((mix32(index >>> 0) ^ key) >>> 0) >= threshold;
}
