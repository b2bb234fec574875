/** The float64 reference of a GEMM whose A is standardized from bytes, with the float32 bound it must meet. */
import type { Rng } from '../../src/nn/rng.js';

/**
 * op(A)·B in float64 for A standardized from bytes, with the float32 bound of a product over k + 1 steps whose
 * terms are s·P·B and μ·s·B: the kernel takes (P·s)·B − (μ·s)·B, so those are the magnitudes it rounds.
 */
export function standardizedReference(
  trans: boolean, m: number, n: number, k: number, bytes: Uint8Array, rowLength: number, rows: Int32Array,
  mean: Float32Array, invStd: Float32Array, b: Float32Array,
): { value: Float64Array; bound: Float64Array } {
  const u = 2 ** -24, gamma = ((k + 2) * u) / (1 - (k + 2) * u);
  const value = new Float64Array(m * n), bound = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0, abs = 0;
      for (let p = 0; p < k; p++) {
        const [sample, pixel] = trans ? [p, i] : [i, p];
        const mu = mean.length === 1 ? mean[0]! : mean[pixel]!;
        const s = invStd.length === 1 ? invStd[0]! : invStd[pixel]!;
        const x = bytes[rows[sample]! * rowLength + pixel]!;
        const y = b[p * n + j]!;
        sum += (x - mu) * s * y;
        abs += (x * s + Math.abs(mu * s)) * Math.abs(y);
      }
      value[i * n + j] = sum;
      bound[i * n + j] = 2 * (gamma * abs + u * Math.abs(sum)) + 1e-30;
    }
  }
  return { value, bound };
}

const bf16Scratch = new Float32Array(1);
const bf16Bits = new Uint32Array(bf16Scratch.buffer);

/** x rounded to bfloat16 as the kernels round (kernels.h to_bf16): to nearest even, denormals to zero. */
export function bf16(x: number): number {
  bf16Scratch[0] = x;
  const bits = bf16Bits[0]!;
  const exponent = (bits >>> 23) & 0xff;
  if (exponent === 0) bf16Bits[0] = bits & 0x80000000;
  else if (exponent !== 0xff) bf16Bits[0] = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 0) & 0xffff0000;
  return bf16Scratch[0]!;
}

/**
 * The bf16 product of A standardized from bytes, as the kernels define it (native/gemm.cc, BytesA): the
 * bytes exact, B rounded to bfloat16 after the batch's per-pixel scale, in float64, with the bound of fp32
 * sums of k exact products and of the fp32 correction:
 *   batch:      Σ_p P·bf16(s_p·B) − Σ_p μ_p·s_p·B
 *   transpose:  s_i·Σ_p P·bf16(B) − μ_i·s_i·Σ_p B
 */
export function standardizedBf16Reference(
  trans: boolean, m: number, n: number, k: number, bytes: Uint8Array, rowLength: number, rows: Int32Array,
  mean: Float32Array, invStd: Float32Array, b: Float32Array,
): { value: Float64Array; bound: Float64Array } {
  const u = 2 ** -24, gamma = ((k + 3) * u) / (1 - (k + 3) * u);
  const value = new Float64Array(m * n), bound = new Float64Array(m * n);
  const at = (v: Float32Array, i: number) => (v.length === 1 ? v[0]! : v[i]!);
  // The operands of the sums, which depend on (p, j) alone: B as the kernels round it, and the correction's terms.
  const rounded = new Float64Array(k * n), shifted = new Float64Array(k * n);
  for (let p = 0; p < k; p++) {
    for (let j = 0; j < n; j++) {
      const y = b[p * n + j]!;
      rounded[p * n + j] = trans ? bf16(y) : bf16(Math.fround(y * at(invStd, p)));
      shifted[p * n + j] = trans ? y : at(mean, p) * at(invStd, p) * y;
    }
  }
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let product = 0, abs = 0, correction = 0, correctionAbs = 0;
      for (let p = 0; p < k; p++) {
        const x = trans ? bytes[rows[p]! * rowLength + i]! : bytes[rows[i]! * rowLength + p]!;
        const term = x * rounded[p * n + j]!;
        product += term;
        abs += Math.abs(term);
        const w = shifted[p * n + j]!;
        correction += w;
        correctionAbs += Math.abs(w);
      }
      const s = trans ? at(invStd, i) : 1, shift = trans ? at(mean, i) * at(invStd, i) : 1;
      const sum = s * product - shift * correction;
      value[i * n + j] = sum;
      bound[i * n + j] = 2 * (gamma * (s * abs + Math.abs(shift) * correctionAbs) + u * Math.abs(sum)) + 1e-30;
    }
  }
  return { value, bound };
}

/** Largest |actual − value| / bound over the elements. */
export function worstRatio(actual: Float32Array, { value, bound }: { value: Float64Array; bound: Float64Array }): number {
  let worst = 0;
  for (let i = 0; i < value.length; i++) {
    const ratio = Math.abs(actual[i]! - value[i]!) / bound[i]!;
    if (!(ratio <= worst)) worst = ratio;
  }
  return worst;
}

/** Pixels that look like MNIST: mostly zero, some samples blank, some pixels never lit, or every byte drawn. */
export function pixelBytes(rng: Rng, samples: number, rowLength: number, kind: 'sparse' | 'dense'): Uint8Array {
  const bytes = new Uint8Array(samples * rowLength);
  const darkPixel = Array.from({ length: rowLength }, () => rng.uniformInt(4) === 0);
  for (let i = 0; i < samples; i++) {
    if (kind === 'sparse' && rng.uniformInt(10) === 0) continue;
    for (let p = 0; p < rowLength; p++) {
      if (kind === 'sparse' && (darkPixel[p] || rng.uniformInt(5) !== 0)) continue;
      bytes[i * rowLength + p] = rng.uniformInt(256);
    }
  }
  return bytes;
}
