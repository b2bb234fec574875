/** The float64 reference of a GEMM whose A is standardized from bytes, with the float32 bound it must meet. */

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

/** Largest |actual − value| / bound over the elements. */
export function worstRatio(actual: Float32Array, { value, bound }: { value: Float64Array; bound: Float64Array }): number {
  let worst = 0;
  for (let i = 0; i < value.length; i++) {
    const ratio = Math.abs(actual[i]! - value[i]!) / bound[i]!;
    if (!(ratio <= worst)) worst = ratio;
  }
  return worst;
}
