import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { subset, type ImageSet } from '../../src/data/dataset.js';
import { native, type AugmentLimits } from '../../src/native.js';
import { mix32 } from '../../src/nn/layers.js';
import { firstIndices, mnistOnce } from '../helpers/datasets.js';

const initialThreads = native.getThreads();
const initialIsa = native.getIsa();
const isas = native.supportedIsas();
afterEach(() => {
  native.setThreads(initialThreads);
  native.setIsa(initialIsa);
});

let digits: ImageSet;
beforeAll(async () => {
  digits = subset((await mnistOnce()).train, firstIndices(64));
});

// ---------------------------------------------------------------------------------------------------
// The float64 reference of native/augment.cc: the same draws, the same maps, every step in doubles.

const augmentKey = (seed: number, epoch: number, sample: number) => mix32((mix32((mix32(seed) ^ epoch) >>> 0) ^ sample) >>> 0);
const uniform = (key: number, k: number) => (mix32((mix32(k) ^ key) >>> 0) >>> 8) / 2 ** 24;

function bilinear(image: Uint8Array, rows: number, cols: number, x: number, y: number): number {
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const ax = x - x0, ay = y - y0;
  const at = (r: number, c: number) => (r >= 0 && r < rows && c >= 0 && c < cols ? image[r * cols + c]! : 0);
  return (1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x0 + 1)) + ay * ((1 - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1));
}

const toByte = (v: number) => Math.min(255, Math.max(0, Math.floor(v + 0.5)));

function blurred(field: Float64Array, rows: number, cols: number, sigma: number): Float64Array {
  const radius = Math.ceil(3 * sigma);
  const w = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp((-0.5 * (i - radius) ** 2) / sigma ** 2));
  const sum = w.reduce((a, b) => a + b, 0);
  const across = new Float64Array(field.length);
  const out = new Float64Array(field.length);
  for (let y = 0; y < rows; y++)
    for (let x = 0; x < cols; x++)
      for (let k = -radius; k <= radius; k++) if (x + k >= 0 && x + k < cols) across[y * cols + x]! += (w[k + radius]! / sum) * field[y * cols + x + k]!;
  for (let y = 0; y < rows; y++)
    for (let x = 0; x < cols; x++)
      for (let k = -radius; k <= radius; k++) if (y + k >= 0 && y + k < rows) out[y * cols + x]! += (w[k + radius]! / sum) * across[(y + k) * cols + x]!;
  return out;
}

function referenceAugment(image: Uint8Array, rows: number, cols: number, spec: AugmentLimits, key: number): Uint8Array {
  const within = (k: number, limit = 0) => limit * (2 * uniform(key, k) - 1);
  const theta = (within(0, spec.rotate) * Math.PI) / 180, phi = (within(1, spec.shear) * Math.PI) / 180;
  const s = 1 + within(2, spec.scale), tx = within(3, spec.shift), ty = within(4, spec.shift);
  const [c, sn, t] = [Math.cos(theta), Math.sin(theta), Math.tan(phi)];
  const f = [s * c, s * (c * t - sn), s * sn, s * (sn * t + c)];
  const det = f[0]! * f[3]! - f[1]! * f[2]!;
  const m = [f[3]! / det, -f[1]! / det, -f[2]! / det, f[0]! / det];
  const cx = (cols - 1) / 2, cy = (rows - 1) / 2;
  const pixels = rows * cols;
  let dx: Float64Array | undefined, dy: Float64Array | undefined;
  if (spec.elasticAlpha && spec.elasticSigma) {
    dx = blurred(Float64Array.from({ length: pixels }, (_, i) => 2 * uniform(key, 16 + 2 * i) - 1), rows, cols, spec.elasticSigma).map((v) => v * spec.elasticAlpha!);
    dy = blurred(Float64Array.from({ length: pixels }, (_, i) => 2 * uniform(key, 17 + 2 * i) - 1), rows, cols, spec.elasticSigma).map((v) => v * spec.elasticAlpha!);
  }
  const out = new Uint8Array(pixels);
  for (let y = 0; y < rows; y++)
    for (let x = 0; x < cols; x++) {
      const i = y * cols + x;
      const px = x + (dx ? dx[i]! : 0) - cx - tx, py = y + (dy ? dy[i]! : 0) - cy - ty;
      out[i] = toByte(bilinear(image, rows, cols, m[0]! * px + m[1]! * py + cx, m[2]! * px + m[3]! * py + cy));
    }
  return out;
}

// ---------------------------------------------------------------------------------------------------

function augment(spec: AugmentLimits, indices: Int32Array, seed = 5, epoch = 0): Uint8Array {
  const out = new Uint8Array(indices.length * 784);
  native.augmentRows({ bytes: digits.pixels, rows: 28, cols: 28, indices, out, spec, seed, epoch });
  return out;
}

const image = (i: number) => digits.pixels.subarray(i * 784, (i + 1) * 784);

describe('transformRows: given maps', () => {
  it('shifts by whole pixels exactly, zeros coming in from outside', () => {
    const out = new Uint8Array(2 * 784);
    // q = p + (−2, 1): the output at (x, y) is the source at (x − 2, y + 1).
    native.transformRows({ bytes: digits.pixels, rows: 28, cols: 28, indices: Int32Array.of(3, 4), out, affine: Float64Array.of(1, 0, 0, 1, -2, 1, 1, 0, 0, 1, -2, 1) });
    for (const [r, source] of [3, 4].entries()) {
      const expected = new Uint8Array(784);
      for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) expected[y * 28 + x] = x - 2 >= 0 && y + 1 < 28 ? image(source)[(y + 1) * 28 + x - 2]! : 0;
      expect(Buffer.from(out.subarray(r * 784, (r + 1) * 784)).equals(Buffer.from(expected))).toBe(true);
    }
  });

  it('samples bilinearly as the float64 reference does, with a displacement field too', () => {
    const angle = 0.3;
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    const affine = Float64Array.of(c, -s, s, c, 13.5 - (c * 13.5 - s * 13.5), 13.5 - (s * 13.5 + c * 13.5));
    const displacement = Float64Array.from({ length: 2 * 784 }, (_, i) => Math.sin(i * 0.37) * 1.7);
    const out = new Uint8Array(784);
    native.transformRows({ bytes: digits.pixels, rows: 28, cols: 28, indices: Int32Array.of(7), out, affine, displacement });
    let off = 0;
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++) {
        const px = x + displacement[y * 28 + x]!, py = y + displacement[784 + y * 28 + x]!;
        const expected = toByte(bilinear(image(7), 28, 28, affine[0]! * px + affine[1]! * py + affine[4]!, affine[2]! * px + affine[3]! * py + affine[5]!));
        off = Math.max(off, Math.abs(expected - out[y * 28 + x]!));
      }
    expect(off).toBe(0);
  });

  it.each(isas)('samples an affine map alone only where it can reach ink, and gives the reference everywhere, ink at the edges or none (%s)', (isa) => {
    native.setIsa(isa);
    // Digits, a blank image, ink in the corners, a full border, and one lit pixel: their ink boxes are what the
    // native sampler skips by, so every pixel it leaves out must be the 0 the reference computes.
    const made = [new Uint8Array(784), new Uint8Array(784), new Uint8Array(784), new Uint8Array(784)];
    for (const i of [0, 27, 756, 783]) made[1]![i] = 200;
    for (let k = 0; k < 28; k++) made[2]![k] = made[2]![783 - k] = made[2]![28 * k] = made[2]![28 * k + 27] = 255;
    made[3]![14 * 28 + 9] = 90;
    const bytes = new Uint8Array(12 * 784);
    bytes.set(digits.pixels.subarray(0, 8 * 784));
    made.forEach((m, i) => bytes.set(m, (8 + i) * 784));
    const indices = Int32Array.from({ length: 48 }, (_, r) => r % 12);
    // Rotations of any angle, shears, scales from 0.3 to 3, shifts up to half the image, and degenerate rows
    // (a zero coefficient) among them.
    const affine = new Float64Array(6 * indices.length);
    for (let r = 0; r < indices.length; r++) {
      const angle = r * 0.61, scale = 0.3 + ((r * 7) % 10) * 0.3, shear = ((r % 5) - 2) * 0.3;
      const m = r % 8 === 0 ? [1, 0, 0, 1] : [scale * Math.cos(angle), scale * (Math.sin(angle) + shear), -scale * Math.sin(angle), scale * Math.cos(angle)];
      affine.set([...m, ((r * 13) % 25) - 12 + 0.25 * (r % 3), ((r * 5) % 23) - 11 - 0.5 * (r % 2)], 6 * r);
    }
    const out = new Uint8Array(indices.length * 784);
    native.transformRows({ bytes, rows: 28, cols: 28, indices, out, affine });
    let differs = 0, inked = 0;
    for (let r = 0; r < indices.length; r++) {
      const source = bytes.subarray(indices[r]! * 784, (indices[r]! + 1) * 784);
      const m = affine.subarray(6 * r, 6 * r + 6);
      for (let y = 0; y < 28; y++)
        for (let x = 0; x < 28; x++) {
          const expected = toByte(bilinear(source, 28, 28, m[0]! * x + m[1]! * y + m[4]!, m[2]! * x + m[3]! * y + m[5]!));
          if (expected !== out[r * 784 + y * 28 + x]) differs++;
          if (expected !== 0) inked++;
        }
    }
    expect(differs).toBe(0);
    expect(inked).toBeGreaterThan(1000);
  });

  it('gives the same bytes on every instruction set, on images of other sizes, with rows of any width', () => {
    // Random ink, a third of the pixels, on 19×45, 3×70 and 28×1 images: inked spans that end anywhere within a
    // vector of columns.
    for (const [rows, cols] of [[19, 45], [3, 70], [28, 1]] as const) {
      const count = 24, pixels = rows * cols;
      let state = 12345;
      const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
      const bytes = Uint8Array.from({ length: count * pixels }, () => (next() < 0.3 ? Math.floor(next() * 256) : 0));
      const indices = Int32Array.from({ length: count }, (_, r) => r);
      const affine = new Float64Array(6 * count);
      for (let r = 0; r < count; r++) {
        const angle = (next() - 0.5) * 1.2, scale = 0.7 + 0.6 * next(), shear = (next() - 0.5) * 0.4;
        affine.set([scale * Math.cos(angle), scale * (Math.sin(angle) + shear), -scale * Math.sin(angle), scale * Math.cos(angle), (next() - 0.5) * 6, (next() - 0.5) * 6], 6 * r);
      }
      const outs = isas.map((isa) => {
        native.setIsa(isa);
        const out = new Uint8Array(count * pixels);
        native.transformRows({ bytes, rows, cols, indices, out, affine });
        return out;
      });
      let differs = 0;
      for (let r = 0; r < count; r++) {
        const m = affine.subarray(6 * r, 6 * r + 6), source = bytes.subarray(r * pixels, (r + 1) * pixels);
        for (let y = 0; y < rows; y++)
          for (let x = 0; x < cols; x++) {
            const expected = toByte(bilinear(source, rows, cols, m[0]! * x + m[1]! * y + m[4]!, m[2]! * x + m[3]! * y + m[5]!));
            for (const out of outs) if (out[r * pixels + y * cols + x] !== expected) differs++;
          }
      }
      expect(differs, `${rows}×${cols}`).toBe(0);
    }
  });
});

describe('augmentRows: random maps', () => {
  const all = firstIndices(64);

  it.each<[string, AugmentLimits]>([
    ['affine', { shift: 2.5, rotate: 15, scale: 0.15, shear: 12 }],
    ['elastic', { elasticAlpha: 34, elasticSigma: 4 }],
    ['both', { shift: 2, rotate: 10, scale: 0.1, shear: 8, elasticAlpha: 20, elasticSigma: 3 }],
  ])('%s: every image as the float64 reference of the same draw makes it', (_, spec) => {
    const out = augment(spec, all, 5, 3);
    let exact = 0, worst = 0;
    for (let r = 0; r < 64; r++) {
      const expected = referenceAugment(image(r), 28, 28, spec, augmentKey(5, 3, r));
      for (let i = 0; i < 784; i++) {
        const d = Math.abs(expected[i]! - out[r * 784 + i]!);
        worst = Math.max(worst, d);
        if (d === 0) exact++;
      }
    }
    // The elastic field is smoothed in float32 natively: a byte may round the other way at a half.
    expect(worst).toBeLessThanOrEqual(1);
    expect(exact / (64 * 784)).toBeGreaterThan(0.99);
    // And the images did change.
    expect(Buffer.from(out).equals(Buffer.from(digits.pixels))).toBe(false);
  });

  it('with no limits copies the images as they are', () => {
    expect(Buffer.from(augment({}, all)).equals(Buffer.from(digits.pixels))).toBe(true);
  });

  it('draws from (seed, epoch, sample) alone: any order, any batch, any thread count; another epoch, other images', () => {
    const spec = { shift: 2, rotate: 10, elasticAlpha: 30, elasticSigma: 4 };
    native.setThreads(1);
    const one = augment(spec, all);
    native.setThreads(2);
    expect(Buffer.from(augment(spec, all)).equals(Buffer.from(one))).toBe(true);
    // Sample 10 alone, at another place in another batch.
    const alone = augment(spec, Int32Array.of(40, 10));
    expect(Buffer.from(alone.subarray(784)).equals(Buffer.from(one.subarray(10 * 784, 11 * 784)))).toBe(true);
    expect(Buffer.from(augment(spec, all, 5, 1)).equals(Buffer.from(one))).toBe(false);
    expect(Buffer.from(augment(spec, all, 6, 0)).equals(Buffer.from(one))).toBe(false);
  });

  it('refuses limits out of range, unknown fields and images that are not there', () => {
    const call = (args: Record<string, unknown>) => () =>
      native.augmentRows({ bytes: digits.pixels, rows: 28, cols: 28, indices: Int32Array.of(0), out: new Uint8Array(784), spec: {}, seed: 0, epoch: 0, ...args } as never);
    expect(call({ spec: { rotate: 200 } })).toThrow(/spec.rotate/);
    expect(call({ spec: { scale: -0.1 } })).toThrow(RangeError);
    expect(call({ spec: { spin: 1 } })).toThrow(TypeError);
    expect(call({ indices: Int32Array.of(64) })).toThrow(/indices\[0\]/);
    expect(call({ out: new Uint8Array(10) })).toThrow(RangeError);
    expect(call({ seed: -1 })).toThrow(/seed/);
  });
});
