/**
 * Standardization with training-set statistics: x' = (x − mean) / std, with one mean and std for every
 * pixel ('global') or one per pixel position ('per-pixel'). Statistics come from byte histograms, so they
 * are exact up to the final float64 arithmetic and cost one pass over the bytes.
 */
import type { ImageSet } from './dataset.js';

/** One mean and std for every pixel (the report's), or one per pixel position. */
export type NormalizationMode = 'global' | 'per-pixel';

/** Statistics to standardize with; mean and std have length 1 ('global') or features ('per-pixel'). */
export interface Standardization {
  mode: NormalizationMode;
  mean: Float32Array;
  std: Float32Array;
}

/** A std below this is a constant pixel: it gets std 1, so standardizing only subtracts the mean. */
export const MIN_STD = 1e-6;

function allIndices(count: number): Int32Array {
  const indices = new Int32Array(count);
  for (let i = 0; i < count; i++) indices[i] = i;
  return indices;
}

function checkIndices(indices: Int32Array, count: number): void {
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r]!;
    if (i < 0 || i >= count) {
      throw new RangeError(`Expected indices from 0 to ${count - 1} but received ${i} at position ${r}`);
    }
  }
}

/** Population mean and std of the values 0..255 counted in hist[offset .. offset + 256). */
function momentsOfHistogram(hist: ArrayLike<number>, offset: number, total: number): { mean: number; std: number } {
  let sum = 0;
  for (let v = 1; v < 256; v++) sum += v * hist[offset + v]!;
  const mean = sum / total;
  let squares = 0;
  for (let v = 0; v < 256; v++) {
    const d = v - mean;
    squares += hist[offset + v]! * d * d;
  }
  const std = Math.sqrt(squares / total);
  return { mean, std: std < MIN_STD ? 1 : std };
}

const littleEndian = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * The pixels as 32-bit words, byte q of a word being pixel 4w + q, when every row starts on a word boundary
 * (else undefined): scans of the bytes read a word at a time and skip the all-zero ones, a digit's
 * background. The histograms leave their zero bins to be what the other bins do not count.
 */
export function pixelWords(pixels: Uint8Array, features: number): Uint32Array | undefined {
  if (!littleEndian || features % 4 !== 0 || pixels.byteOffset % 4 !== 0) return undefined;
  return new Uint32Array(pixels.buffer, pixels.byteOffset, pixels.length >>> 2);
}

/** Sets bin 0 of each 256-bin histogram at hist[offset …] to total minus bins 1–255: the zeros a word skip did not count. */
function countZeros(hist: Float64Array | Uint32Array, offset: number, total: number): void {
  let lit = 0;
  for (let v = 1; v < 256; v++) lit += hist[offset + v]!;
  hist[offset] = total - lit;
}

/** One 256-bin histogram of every byte of the chosen rows. */
function globalHistogram(pixels: Uint8Array, features: number, indices: Int32Array): Float64Array {
  const totals = new Float64Array(256);
  // Four interleaved uint32 histograms: runs of equal bytes no longer wait on one counter.
  const lanes = new Uint32Array(4 * 256);
  // Flush before any uint32 counter could wrap.
  const rowsPerFlush = Math.max(1, Math.floor(0xffff_ffff / features));
  const flush = (): void => {
    for (let b = 0; b < 1024; b++) totals[b & 255]! += lanes[b]!;
    lanes.fill(0);
  };
  const words = pixelWords(pixels, features);
  const perRow = features >>> 2;
  for (let r = 0; r < indices.length; r++) {
    if (words) {
      const base = indices[r]! * perRow;
      for (let w = base; w < base + perRow; w++) {
        const x = words[w]!;
        if (x === 0) continue;
        lanes[x & 255]!++;
        lanes[256 | ((x >>> 8) & 255)]!++;
        lanes[512 | ((x >>> 16) & 255)]!++;
        lanes[768 | (x >>> 24)]!++;
      }
    } else {
      const base = indices[r]! * features;
      for (let j = base; j < base + features; j++) lanes[(j & 3) << 8 | pixels[j]!]!++;
    }
    if ((r + 1) % rowsPerFlush === 0) flush();
  }
  flush();
  countZeros(totals, 0, indices.length * features);
  return totals;
}

/** One 256-bin histogram per pixel position, pixel j's bins at [256·j, 256·j + 256). */
function perPixelHistogram(pixels: Uint8Array, features: number, indices: Int32Array): Uint32Array {
  // A count is at most indices.length < 2^31, so uint32 bins never wrap.
  const hist = new Uint32Array(features * 256);
  const words = pixelWords(pixels, features);
  const perRow = features >>> 2;
  for (let r = 0; r < indices.length; r++) {
    if (words) {
      const base = indices[r]! * perRow;
      for (let w = 0; w < perRow; w++) {
        const x = words[base + w]!;
        if (x === 0) continue;
        const bins = w << 10;
        hist[bins | (x & 255)]!++;
        hist[(bins | 256) | ((x >>> 8) & 255)]!++;
        hist[(bins | 512) | ((x >>> 16) & 255)]!++;
        hist[(bins | 768) | (x >>> 24)]!++;
      }
    } else {
      const base = indices[r]! * features;
      for (let j = 0; j < features; j++) hist[(j << 8) | pixels[base + j]!]!++;
    }
  }
  for (let j = 0; j < features; j++) countZeros(hist, j << 8, indices.length);
  return hist;
}

/**
 * Mean and population std of the chosen rows (the training part: never the validation or test rows).
 *
 * @param indices - Rows to use. Default: every row.
 * @throws RangeError if no row is chosen or an index is outside 0..count−1.
 */
export function computeStandardization(set: ImageSet, mode: NormalizationMode, indices?: Int32Array): Standardization {
  const rows = indices ?? allIndices(set.count);
  checkIndices(rows, set.count);
  if (rows.length === 0) throw new RangeError('Expected at least one row in indices but received none');
  const { pixels, features } = set;
  if (mode === 'global') {
    const hist = globalHistogram(pixels, features, rows);
    const { mean, std } = momentsOfHistogram(hist, 0, rows.length * features);
    return { mode, mean: Float32Array.of(mean), std: Float32Array.of(std) };
  }
  const hist = perPixelHistogram(pixels, features, rows);
  const mean = new Float32Array(features);
  const std = new Float32Array(features);
  for (let j = 0; j < features; j++) {
    const moments = momentsOfHistogram(hist, j << 8, rows.length);
    mean[j] = moments.mean;
    std[j] = moments.std;
  }
  return { mode, mean, std };
}

/** 1 / std, element by element: what the standardize kernel multiplies by. */
export function inverseStd(s: Standardization): Float32Array {
  const inv = new Float32Array(s.std.length);
  for (let j = 0; j < inv.length; j++) inv[j] = 1 / s.std[j]!;
  return inv;
}

/**
 * out[r][j] = (pixels[indices[r]][j] − mean) · (1 / std) in float32, step by step as the native kernel
 * computes it: the plain version that the kernel is checked against.
 *
 * @param pixels - count × features bytes.
 * @param out - indices.length × features floats.
 * @throws RangeError if the statistics' length fits neither mode or out has the wrong length.
 */
export function standardizeRowsReference(
  pixels: Uint8Array,
  features: number,
  indices: Int32Array,
  s: Standardization,
  out: Float32Array,
): Float32Array {
  const perPixel = s.mean.length !== 1;
  if ((perPixel && s.mean.length !== features) || s.std.length !== s.mean.length) {
    throw new RangeError(`Expected mean and std of length 1 or ${features} but received ${s.mean.length} and ${s.std.length}`);
  }
  if (out.length !== indices.length * features) {
    throw new RangeError(`Expected out of length ${indices.length * features} but received ${out.length}`);
  }
  const inv = inverseStd(s);
  const count = Math.floor(pixels.length / features);
  checkIndices(indices, count);
  for (let r = 0; r < indices.length; r++) {
    const base = indices[r]! * features;
    for (let j = 0; j < features; j++) {
      const k = perPixel ? j : 0;
      out[r * features + j] = Math.fround(Math.fround(pixels[base + j]! - s.mean[k]!) * inv[k]!);
    }
  }
  return out;
}
