import { afterEach, describe, expect, it } from 'vitest';
import { native, withCallerThreads, type GemmArgs, type Isa } from '../../src/native.js';
import { Rng } from '../../src/nn/rng.js';
import { gemmReference, randomArray, sigmoid, type GemmCase } from '../helpers/reference.js';
import { pixelBytes, standardizedReference, worstRatio } from './standardized-reference.js';

const isas = native.supportedIsas();
const initialIsa = native.getIsa();
const initialThreads = native.getThreads();
const initialCallerThreads = native.getCallerThreads();
// The ISA and the pool are the process's: a test that fails midway must not leave its choice to the next.
afterEach(() => {
  native.setIsa(initialIsa);
  native.setThreads(initialThreads);
  native.setCallerThreads(initialCallerThreads);
});

/** Builds A, B, C for a case with every stride larger than or equal to the width, C's padding set to a marker. */
function operands(rng: Rng, g: GemmCase) {
  const a = randomArray(rng, (g.transA ? g.k : g.m) * g.lda);
  const b = randomArray(rng, (g.transB ? g.n : g.k) * g.ldb);
  const c = randomArray(rng, g.m * g.ldc);
  return { a, b, c };
}

function args(g: GemmCase, a: Float32Array, b: Float32Array, c: Float32Array): GemmArgs {
  return { ...g, a, b, c };
}

/** Checks C against the float64 reference and that no element outside the m×n view changed. */
function expectGemm(g: GemmCase, a: Float32Array, b: Float32Array, c0: Float32Array, c: Float32Array): void {
  const { value, bound } = gemmReference(g, a, b, c0);
  let worst = 0;
  for (let i = 0; i < g.m; i++) {
    for (let j = 0; j < g.ldc; j++) {
      const got = c[i * g.ldc + j]!;
      if (j >= g.n) {
        expect(got, `padding C[${i}][${j}] changed`).toBe(c0[i * g.ldc + j]);
        continue;
      }
      const ratio = Math.abs(got - value[i * g.n + j]!) / bound[i * g.n + j]!;
      if (!(ratio <= worst)) worst = ratio;
    }
  }
  // Error within the classic float32 GEMM bound (ratio ≤ 1), at every element.
  expect(worst, JSON.stringify(g)).toBeLessThanOrEqual(1);
}

function randomCase(rng: Rng, sizes: number[]): GemmCase {
  const pick = () => sizes[rng.uniformInt(sizes.length)]!;
  const transA = rng.uniformInt(2) === 1;
  const transB = rng.uniformInt(2) === 1;
  const m = pick(), n = pick(), k = pick();
  const pad = () => (rng.uniformInt(3) === 0 ? 1 + rng.uniformInt(7) : 0);
  return {
    transA,
    transB,
    m,
    n,
    k,
    alpha: [1, -0.5, 2.25][rng.uniformInt(3)]!,
    beta: [0, 1, 0.75][rng.uniformInt(3)]!,
    lda: (transA ? m : k) + pad(),
    ldb: (transB ? k : n) + pad(),
    ldc: n + pad(),
  };
}

describe.each(isas)('gemm on %s', (isa: Isa) => {
  it('matches the reference on small odd shapes, every transpose, alpha, beta and stride', () => {
    native.setIsa(isa);
    const rng = new Rng(11);
    for (let t = 0; t < 120; t++) {
      const g = randomCase(rng, [1, 2, 3, 5, 7, 11, 13, 16, 17, 31, 33, 47]);
      const { a, b, c } = operands(rng, g);
      const c0 = c.slice();
      native.gemm(args(g, a, b, c));
      expectGemm(g, a, b, c0, c);
    }
  });

  it('matches the reference on shapes past the cache blocks and register tiles', () => {
    native.setIsa(isa);
    const rng = new Rng(12);
    const config = native.gemmConfig();
    const shapes: Array<[number, number, number]> = [
      [config.mr * 3 + 1, config.nc + config.nr + 3, config.kc * 2 + 5],
      [257, 10, 801],
      [1, 700, 900],
      [401, 17, 3],
      [130, 129, 1],
    ];
    for (const [m, n, k] of shapes) {
      for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const g: GemmCase = { transA, transB, m, n, k, alpha: 1, beta: 0.5, lda: (transA ? m : k) + 2, ldb: transB ? k : n, ldc: n + 1 };
        const { a, b, c } = operands(rng, g);
        const c0 = c.slice();
        native.gemm(args(g, a, b, c));
        expectGemm(g, a, b, c0, c);
      }
    }
  });

  it('gives a transposed A with few columns (its rows across the vector lanes) the bits of the same A untransposed', () => {
    native.setIsa(isa);
    const rng = new Rng(16);
    const shapes: Array<[number, number, number]> = [[256, 10, 2000], [1, 1, 1], [15, 16, 7], [16, 3, 33], [17, 14, 5], [33, 15, 64], [65, 9, 300], [100, 6, 2], [31, 7, 129]];
    for (const [m, n, k] of shapes) {
      for (const beta of [0, 0.75]) {
        const lda = m + (m % 3), ldc = n + 1;
        const a = randomArray(rng, k * lda), b = randomArray(rng, k * n), c0 = randomArray(rng, m * ldc);
        const copy = new Float32Array(m * k);
        for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) copy[i * k + p] = a[p * lda + i]!;
        const g: GemmCase = { transA: true, transB: false, m, n, k, alpha: -1.5, beta, lda, ldb: n, ldc };
        const c = c0.slice(), plain = c0.slice();
        native.gemm(args(g, a, b, c));
        native.gemm({ ...g, transA: false, lda: k, a: copy, b, c: plain });
        expect(c, `${m}×${n}×${k}, beta ${beta}`).toEqual(plain);
        expectGemm(g, a, b, c0, c);
      }
    }
  });

  it('never reads C when beta is 0', () => {
    native.setIsa(isa);
    const rng = new Rng(13);
    for (const [m, n, k] of [[37, 40, 29], [50, 9, 300]] as const) {
      const a = randomArray(rng, m * k), b = randomArray(rng, k * n);
      const c = new Float32Array(m * n).fill(Number.NaN);
      native.gemm({ m, n, k, a, b, c });
      expect(c.every(Number.isFinite)).toBe(true);
    }
  });

  it('fuses bias and activation into the write-back', () => {
    native.setIsa(isa);
    const rng = new Rng(14);
    for (const [m, n, k] of [[45, 70, 33], [300, 10, 130], [3, 257, 5]] as const) {
      const a = randomArray(rng, m * k), b = randomArray(rng, k * n), bias = randomArray(rng, n);
      for (const activation of ['none', 'sigmoid', 'relu'] as const) {
        const c = new Float32Array(m * n);
        native.gemm({ m, n, k, a, b, c, bias, activation });
        const plain = new Float32Array(m * n);
        native.gemm({ m, n, k, a, b, c: plain });
        for (let i = 0; i < m * n; i++) {
          const z = plain[i]! + bias[i % n]!;
          const expected = activation === 'sigmoid' ? sigmoid(z) : activation === 'relu' ? Math.max(0, z) : z;
          expect(Math.abs(c[i]! - expected)).toBeLessThanOrEqual(2e-6 * (1 + Math.abs(expected)));
        }
      }
    }
  });

  it('fuses the activation derivative of a cached output into the write-back', () => {
    native.setIsa(isa);
    const rng = new Rng(15);
    const [m, n, k] = [77, 45, 10];
    const a = randomArray(rng, m * k), b = randomArray(rng, n * k);
    const y = randomArray(rng, m * n, 0, 1);
    for (const derivative of ['sigmoid', 'relu'] as const) {
      const yUsed = derivative === 'relu' ? y.map((v) => v - 0.5) : y;
      const c = new Float32Array(m * n);
      native.gemm({ m, n, k, a, b, c, transB: true, derivative, derivativeOf: yUsed });
      const plain = new Float32Array(m * n);
      native.gemm({ m, n, k, a, b, c: plain, transB: true });
      for (let i = 0; i < m * n; i++) {
        const d = derivative === 'sigmoid' ? yUsed[i]! * (1 - yUsed[i]!) : yUsed[i]! > 0 ? 1 : 0;
        expect(Math.abs(c[i]! - plain[i]! * d)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(plain[i]!)));
      }
    }
  });
});

describe('gemm with A standardized from bytes', () => {
  it.each(native.supportedIsas())('matches the float64 product of the standardized batch, sparse or dense, on %s', (isa: Isa) => {
    native.setIsa(isa);
    const rng = new Rng(18);
    const samples = 300;
    for (const kind of ['sparse', 'dense'] as const) {
      for (const perPixel of [false, true]) {
        // Pixel counts above kc (512 at most) take several blocks of k; 45 and 13 leave tails of every panel.
        // 100 × 1100 · 1100 × 150: several blocks of k, each with full panels of B beside a partial one.
        for (const [batch, pixels, n, rowLength] of [[37, 45, 40, 45], [1, 13, 17, 45], [250, 44, 70, 45], [29, 45, 9, 45], [40, 1100, 33, 1100], [13, 5, 400, 7], [100, 1100, 150, 1100]] as const) {
          const bytes = pixelBytes(rng, samples, rowLength, kind);
          const mean = perPixel ? randomArray(rng, rowLength, 0, 255) : Float32Array.of(33.3);
          const invStd = perPixel ? randomArray(rng, rowLength, 0.01, 0.1) : Float32Array.of(1 / 78.6);
          const rows = Int32Array.from({ length: batch }, () => rng.uniformInt(samples));
          const source = { bytes, rowLength, rows, mean, invStd };
          const label = JSON.stringify({ kind, perPixel, batch, pixels, n });
          // The batch as A (batch × pixels) …
          const w = randomArray(rng, pixels * n);
          const forward = new Float32Array(batch * n);
          native.gemm({ m: batch, n, k: pixels, a: source, b: w, c: forward });
          const f = standardizedReference(false, batch, n, pixels, bytes, rowLength, rows, mean, invStd, w);
          expect(worstRatio(forward, f), `forward ${label}`).toBeLessThanOrEqual(1);
          // … and transposed (pixels × batch), as the weight gradient Xᵀ·dY reads it.
          const dy = randomArray(rng, batch * n);
          const gradient = new Float32Array(pixels * n);
          native.gemm({ transA: true, m: pixels, n, k: batch, a: source, b: dy, c: gradient });
          const g = standardizedReference(true, pixels, n, batch, bytes, rowLength, rows, mean, invStd, dy);
          expect(worstRatio(gradient, g), `transposed ${label}`).toBeLessThanOrEqual(1);
        }
      }
    }
  });

  it('gives bit-identical results from bytes for any thread count', () => {
    const rng = new Rng(19);
    const [batch, pixels, n] = [500, 784, 256];
    const bytes = pixelBytes(rng, batch, pixels, 'sparse');
    const source = { bytes, rowLength: pixels, rows: Int32Array.from({ length: batch }, (_, i) => i), mean: Float32Array.of(33.3), invStd: Float32Array.of(1 / 78.6) };
    const w = randomArray(rng, pixels * n), dy = randomArray(rng, batch * n);
    const results: Buffer[] = [];
    for (const threads of [1, 2, 3]) {
      native.setThreads(threads);
      const forward = new Float32Array(batch * n), gradient = new Float32Array(pixels * n);
      native.gemm({ m: batch, n, k: pixels, a: source, b: w, c: forward });
      native.gemm({ transA: true, m: pixels, n, k: batch, a: source, b: dy, c: gradient });
      results.push(Buffer.concat([Buffer.from(forward.buffer), Buffer.from(gradient.buffer)]));
    }
    expect(Buffer.compare(results[1]!, results[0]!)).toBe(0);
    expect(Buffer.compare(results[2]!, results[0]!)).toBe(0);
  });

  it.each(native.supportedIsas())('gives a sample the same bits in a batch of any size, from floats or from bytes, on %s', (isa: Isa) => {
    native.setIsa(isa);
    const rng = new Rng(20);
    const [pixels, n, large] = [784, 200, 600];
    const bytes = pixelBytes(rng, large, pixels, 'sparse');
    const w = randomArray(rng, pixels * n);
    const stats = { mean: Float32Array.of(33.3), invStd: Float32Array.of(1 / 78.6) };
    const floats = randomArray(rng, large * pixels);
    const products = (batch: number) => {
      const fromBytes = new Float32Array(batch * n), fromFloats = new Float32Array(batch * n);
      const rows = Int32Array.from({ length: batch }, (_, i) => i);
      native.gemm({ m: batch, n, k: pixels, a: { bytes, rowLength: pixels, rows, ...stats }, b: w, c: fromBytes });
      native.gemm({ m: batch, n, k: pixels, a: floats.subarray(0, batch * pixels), b: w, c: fromFloats });
      return [fromBytes, fromFloats] as const;
    };
    // From floats, 7 samples are few enough panels of A to read B in place, 100 and 600 pack it. From bytes, a
    // panel leaves out the steps blank in all of its rows, so the last panel of 7 or 100 samples leaves out
    // others than the same samples do among more rows: which must not change their bits either.
    const [bytesLarge, floatsLarge] = products(large);
    for (const batch of [7, 100]) {
      const [fromBytes, fromFloats] = products(batch);
      expect(Buffer.compare(Buffer.from(fromBytes.buffer), Buffer.from(bytesLarge.buffer, 0, batch * n * 4)), `bytes, batch ${batch}`).toBe(0);
      expect(Buffer.compare(Buffer.from(fromFloats.buffer), Buffer.from(floatsLarge.buffer, 0, batch * n * 4)), `floats, batch ${batch}`).toBe(0);
    }
  });

  it.each(native.supportedIsas())('gives C the same bits whole or a few rows at a time, B held for every block of k or one block at a time, on %s', (isa: Isa) => {
    native.setIsa(isa);
    const rng = new Rng(21);
    // A product holds B packed for all its blocks of k when C and a block of B are more than a core's L2 and
    // all of B fits in it (native/gemm.cc): C of more rows than L2 holds rows of 64 floats, and 600 or 700
    // steps of k, two blocks or more on every table (B under 256 KiB, less than any L2). Those products take
    // each row panel through every block of k; 13 rows take all of theirs through one block after the other.
    const n = 64, slice = 13, long = Math.ceil(native.gemmConfig().l2Bytes / (n * 4)) + 100;
    for (const precision of ['fp32', 'bf16'] as const) {
      const common = { n, alpha: 0.75, beta: 0.5, precision };
      const same = (whole: Float32Array, part: Float32Array, at: number, label: string) =>
        expect(Buffer.compare(Buffer.from(part.buffer), Buffer.from(whole.buffer, at * n * 4, part.length * 4)), `${precision} ${label}, rows from ${at}`).toBe(0);
      {
        // The batch (samples × pixels) from floats and from bytes: many samples.
        const [m, k] = [long, 700];
        const bytes = pixelBytes(rng, m, k, 'sparse');
        const mean = randomArray(rng, k, 0, 255), invStd = randomArray(rng, k, 0.01, 0.1);
        const all = Int32Array.from({ length: m }, (_, i) => i);
        const floats = randomArray(rng, m * k), b = randomArray(rng, k * n), c0 = randomArray(rng, m * n), bias = randomArray(rng, n);
        const batch = (a: GemmArgs['a'], rows: number, c: Float32Array) => native.gemm({ ...common, m: rows, k, a, b, c, bias, activation: 'sigmoid' });
        const fromFloats = c0.slice(), fromBytes = c0.slice();
        batch(floats, m, fromFloats);
        batch({ bytes, rowLength: k, rows: all, mean, invStd }, m, fromBytes);
        for (const r0 of [0, Math.floor(m / 3) + 1, Math.floor((2 * m) / 3) + 5, m - slice]) {
          const rows = slice;
          const c = c0.slice(r0 * n, (r0 + rows) * n);
          batch(floats.subarray(r0 * k, (r0 + rows) * k), rows, c);
          same(fromFloats, c, r0, 'A from floats');
          const d = c0.slice(r0 * n, (r0 + rows) * n);
          batch({ bytes, rowLength: k, rows: all.subarray(r0, r0 + rows), mean, invStd }, rows, d);
          same(fromBytes, d, r0, 'A from bytes');
        }
      }
      {
        // The transpose: Aᵀ from floats (samples × pixels, rows of op(A) its columns) and Pᵀ from bytes (pixels ×
        // samples): many pixels.
        const [samples, pixels] = [600, long];
        const bytes = pixelBytes(rng, samples, pixels, 'sparse');
        const mean = randomArray(rng, pixels, 0, 255), invStd = randomArray(rng, pixels, 0.01, 0.1);
        const all = Int32Array.from({ length: samples }, (_, i) => i);
        const floats = randomArray(rng, samples * pixels), dy = randomArray(rng, samples * n), g0 = randomArray(rng, pixels * n);
        const transposed = g0.slice(), fromPixels = g0.slice();
        native.gemm({ ...common, transA: true, m: pixels, k: samples, lda: pixels, a: floats, b: dy, c: transposed });
        native.gemm({ ...common, transA: true, m: pixels, k: samples, a: { bytes, rowLength: pixels, rows: all, mean, invStd }, b: dy, c: fromPixels });
        for (const p0 of [0, Math.floor(pixels / 3) + 1, Math.floor((2 * pixels) / 3) + 5, pixels - slice]) {
          const rows = slice;
          const t = g0.slice(p0 * n, (p0 + rows) * n);
          native.gemm({ ...common, transA: true, m: rows, k: samples, lda: pixels, a: floats.subarray(p0), b: dy, c: t });
          same(transposed, t, p0, 'Aᵀ from floats');
          // Pixels p0 … of every sample as samples of their own, with their own statistics.
          const some = new Uint8Array(samples * rows);
          for (let s = 0; s < samples; s++) some.set(bytes.subarray(s * pixels + p0, s * pixels + p0 + rows), s * rows);
          const u = g0.slice(p0 * n, (p0 + rows) * n);
          const source = { bytes: some, rowLength: rows, rows: all, mean: mean.subarray(p0, p0 + rows), invStd: invStd.subarray(p0, p0 + rows) };
          native.gemm({ ...common, transA: true, m: rows, k: samples, a: source, b: dy, c: u });
          same(fromPixels, u, p0, 'Pᵀ from bytes');
        }
      }
    }
  });

  it.each(native.supportedIsas())('takes the next layer’s product with the bits of a call of its own, from each block of rows or after, on %s', (isa: Isa) => {
    native.setIsa(isa);
    const rng = new Rng(22);
    // More rows than L2 holds of C, and B of two blocks of k that it does hold: the output layer's 10 columns
    // are taken block of rows by block of rows (native/gemm.cc, NextRows). 37 rows, or 40 columns in the next
    // product, are taken after the first product, as a call of their own.
    const [n, k] = [200, 700];
    const long = Math.ceil(native.gemmConfig().l2Bytes / (n * 4)) + 100;
    const bytes = pixelBytes(rng, long, k, 'sparse');
    const stats = { mean: randomArray(rng, k, 0, 255), invStd: randomArray(rng, k, 0.01, 0.1) };
    const floats = randomArray(rng, long * k), w = randomArray(rng, k * n), bias = randomArray(rng, n);
    const all = Int32Array.from({ length: long }, (_, i) => i);
    for (const precision of ['fp32', 'bf16'] as const) {
      for (const [m, classes, withBias, dropout] of [[long, 10, true, false], [long, 16, false, true], [37, 10, true, false], [long, 40, true, false]] as const) {
        const w2 = randomArray(rng, n * classes), b2 = withBias ? randomArray(rng, classes) : undefined;
        for (const from of ['floats', 'bytes'] as const) {
          const a = from === 'floats' ? floats.subarray(0, m * k) : { bytes, rowLength: k, rows: all.subarray(0, m), ...stats };
          const first = { m, n, k, a, b: w, bias, activation: 'sigmoid' as const, precision, ...(dropout ? { dropout: { rate: 0.25, key: 7 } } : {}) };
          const c = new Float32Array(m * n), scores = new Float32Array(m * classes);
          native.gemm({ ...first, c, next: { n: classes, b: w2, c: scores, ...(b2 ? { bias: b2 } : {}) } });
          const alone = new Float32Array(m * n), separately = new Float32Array(m * classes);
          native.gemm({ ...first, c: alone });
          native.gemm({ m, n: classes, k: n, a: alone, b: w2, c: separately, precision, ...(b2 ? { bias: b2 } : {}) });
          const label = `${precision} ${from}, ${m} rows, ${classes} classes`;
          expect(Buffer.compare(Buffer.from(c.buffer), Buffer.from(alone.buffer)), `${label}: C`).toBe(0);
          expect(Buffer.compare(Buffer.from(scores.buffer), Buffer.from(separately.buffer)), `${label}: next.c`).toBe(0);
        }
      }
    }
  });

  it('checks the next product’s arguments', () => {
    const [m, n, k] = [4, 5, 3];
    const a = new Float32Array(m * k), b = new Float32Array(k * n), c = new Float32Array(m * n);
    const call = (next: object) => () => native.gemm({ m, n, k, a, b, c, next: next as never });
    const good = { n: 2, b: new Float32Array(n * 2), c: new Float32Array(m * 2) };
    expect(call(good)).not.toThrow();
    expect(call(new Float32Array(4))).toThrow(/Expected next to be an object/);
    expect(call({ ...good, extra: 1 })).toThrow(/Unknown option 'extra' for next/);
    expect(call({ ...good, n: -1 })).toThrow(/next.n/);
    expect(call({ ...good, b: new Float32Array(n * 2 - 1) })).toThrow(/next.b to hold at least 10/);
    expect(call({ ...good, c: new Float32Array(m * 2 - 1) })).toThrow(/next.c to hold at least 8/);
    expect(call({ ...good, ldc: 1 })).toThrow(/next.ldc to be at least 2/);
    expect(call({ ...good, bias: new Float32Array(1) })).toThrow(/next.bias to hold at least 2/);
    expect(call({ ...good, c: c.subarray(0, 8) })).toThrow(/next.c not to overlap c/);
    expect(call({ ...good, b: c.subarray(0, 10) })).toThrow(/c not to overlap next.b/);
    expect(call({ ...good, c: a.subarray(0, 8) })).toThrow(/next.c not to overlap a/);
    // The next product of an empty first product: C·next.b + bias with C all zeros (beta 0).
    const bias = Float32Array.of(1.5, -2);
    const scores = new Float32Array(m * 2).fill(Number.NaN);
    native.gemm({ m, n, k: 0, a: new Float32Array(0), b: new Float32Array(0), c, next: { n: 2, b: Float32Array.from({ length: n * 2 }, (_, i) => i), c: scores, bias } });
    expect(Array.from(scores)).toEqual([1.5, -2, 1.5, -2, 1.5, -2, 1.5, -2]);
  });

  it('checks the byte rows before reading them', () => {
    const base = { bytes: new Uint8Array(20), rowLength: 5, rows: Int32Array.of(0, 3), mean: Float32Array.of(0), invStd: Float32Array.of(1) };
    const call = (a: object, extra: object = {}) => () =>
      native.gemm({ m: 2, n: 2, k: 5, a: a as typeof base, b: new Float32Array(10), c: new Float32Array(4), ...extra });
    expect(call({ ...base, rows: Int32Array.of(0, 4) })).toThrow(/a.rows\[1\] to be a sample from 0 to 3 but received 4/);
    expect(call({ ...base, rows: Int32Array.of(0) })).toThrow(/a.rows to hold at least 2/);
    expect(call(base, { k: 6, b: new Float32Array(12) })).toThrow(/at most a.rowLength \(5\)/);
    expect(call({ ...base, mean: new Float32Array(3), invStd: new Float32Array(3) })).toThrow(/a.mean to have length 1 or a.rowLength/);
    expect(call({ ...base, bytes: new Int8Array(20) })).toThrow(TypeError);
    expect(call(base, { lda: 5 })).toThrow(/lda is not used/);
    expect(call({ ...base, extra: 1 })).toThrow(/Unknown option 'extra' for a/);
  });
});

describe('gemm threads and async', () => {
  it('gives bit-identical results for any thread count', () => {
    const rng = new Rng(16);
    const [m, n, k] = [611, 300, 500];
    const a = randomArray(rng, m * k), b = randomArray(rng, k * n), bias = randomArray(rng, n);
    const results: Float32Array[] = [];
    for (const threads of [1, 2, 3]) {
      native.setThreads(threads);
      const c = new Float32Array(m * n);
      native.gemm({ m, n, k, a, b, c, bias, activation: 'sigmoid' });
      results.push(c);
      const skinny = new Float32Array(m * 10);
      native.gemm({ m, n: 10, k, a, b: b.subarray(0, k * 10), c: skinny });
      results.push(skinny);
    }
    // Compared as bytes: equal bits, not merely close values.
    expect(Buffer.compare(Buffer.from(results[2]!.buffer), Buffer.from(results[0]!.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(results[3]!.buffer), Buffer.from(results[1]!.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(results[5]!.buffer), Buffer.from(results[1]!.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(results[4]!.buffer), Buffer.from(results[0]!.buffer))).toBe(0);
  });

  it('limits the threads of the calling thread alone, without changing a result', () => {
    const rng = new Rng(20);
    const [m, n, k] = [300, 200, 400];
    const a = randomArray(rng, m * k), b = randomArray(rng, k * n);
    const pooled = new Float32Array(m * n), alone = new Float32Array(m * n);
    native.gemm({ m, n, k, a, b, c: pooled });
    const limited = withCallerThreads(1, () => {
      native.gemm({ m, n, k, a, b, c: alone });
      return native.getCallerThreads();
    });
    expect(limited).toBe(1);
    expect(native.getCallerThreads()).toBe(0);
    expect(native.getThreads()).toBe(initialThreads);
    expect(Buffer.compare(Buffer.from(alone.buffer), Buffer.from(pooled.buffer))).toBe(0);
    expect(() => withCallerThreads(1, () => { throw new Error('inside'); })).toThrow('inside');
    expect(native.getCallerThreads()).toBe(0);
    expect(() => native.setCallerThreads(-1)).toThrow(/threads/);
    expect(() => native.setCallerThreads(1.5)).toThrow(/integer/);
  });

  it('gemmAsync gives the same result as gemm', async () => {
    const rng = new Rng(17);
    const [m, n, k] = [200, 96, 150];
    const a = randomArray(rng, k * m), b = randomArray(rng, k * n);
    const sync = new Float32Array(m * n), later = new Float32Array(m * n);
    native.gemm({ transA: true, m, n, k, a, b, c: sync });
    const pending = native.gemmAsync({ transA: true, m, n, k, a, b, c: later });
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(later).toEqual(sync);
  });

  it('handles empty shapes and k = 0', () => {
    const c = new Float32Array([1, 2, 3, 4]);
    native.gemm({ m: 2, n: 2, k: 0, a: new Float32Array(0), b: new Float32Array(0), c, beta: 0.5 });
    expect(Array.from(c)).toEqual([0.5, 1, 1.5, 2]);
    native.gemm({ m: 0, n: 5, k: 3, a: new Float32Array(0), b: new Float32Array(15), c: new Float32Array(0) });
  });
});
