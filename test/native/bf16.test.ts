import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { native, withCallerThreads, type GemmArgs, type Isa } from '../../src/native.js';
import { Rng } from '../../src/nn/rng.js';
import { gemmReference, randomArray, type GemmCase } from '../helpers/reference.js';
import { bf16, pixelBytes, standardizedBf16Reference, worstRatio } from './standardized-reference.js';

// bf16 products (native/kernels.h): operands rounded to bfloat16, fp32 sums of exact products, pair by pair,
// in blocks of k that every table shares, so every instruction set gives the same bits, but AMX: TDPBF16PS
// sums inside an instruction in an order of its own, so it is held to the float64 reference's bound alone (and
// to the same bits at any thread count).
const isas = native.supportedIsas();
const initialIsa = native.getIsa();
const initialThreads = native.getThreads();
afterEach(() => {
  native.setIsa(initialIsa);
  native.setThreads(initialThreads);
});
if (!isas.includes('avx512bf16')) {
  console.warn(`bf16: this CPU has no AVX512-BF16 (instruction sets: ${isas.join(', ')}): the VDPBF16PS kernels are not tested here, the plain-arithmetic ones are`);
}
if (!isas.includes('amx')) {
  console.warn(`bf16: this CPU (or its kernel) gives no AMX tiles (instruction sets: ${isas.join(', ')}): the AMX kernels are not tested here`);
}

/** A case with m > 4 and n > 16 on every table, so every one runs it in bf16 (fewer rows or columns stay fp32). */
function randomCase(rng: Rng, sizes: number[]): GemmCase {
  const pick = (least: number) => {
    const from = sizes.filter((s) => s >= least);
    return from[rng.uniformInt(from.length)]!;
  };
  const transA = rng.uniformInt(2) === 1, transB = rng.uniformInt(2) === 1;
  const m = pick(5), n = pick(17), k = pick(1);
  const pad = () => (rng.uniformInt(3) === 0 ? 1 + rng.uniformInt(7) : 0);
  return {
    transA, transB, m, n, k,
    alpha: [1, -0.5, 2.25][rng.uniformInt(3)]!,
    beta: [0, 1, 0.75][rng.uniformInt(3)]!,
    lda: (transA ? m : k) + pad(),
    ldb: (transB ? k : n) + pad(),
    ldc: n + pad(),
  };
}

/** C of the case on every instruction set, from the same A, B and C. */
function onEveryIsa(args: Omit<GemmArgs, 'c'>, c0: Float32Array): Map<Isa, Float32Array> {
  const results = new Map<Isa, Float32Array>();
  for (const isa of isas) {
    native.setIsa(isa);
    const c = c0.slice();
    native.gemm({ ...args, c });
    results.set(isa, c);
  }
  return results;
}

/** Every result bit-identical to the first instruction set's (−0 and +0 alike), AMX's aside. */
function expectSameBits(results: Map<Isa, Float32Array>, label: string): void {
  const [first, ...rest] = [...results.entries()].filter(([isa]) => isa !== 'amx');
  for (const [isa, c] of rest) {
    const differs = c.findIndex((v, i) => v !== first![1][i] && !(Number.isNaN(v) && Number.isNaN(first![1][i])));
    expect(differs, `${label}: ${isa} differs from ${first![0]} at ${differs}`).toBe(-1);
  }
}

describe('bf16 gemm', () => {
  // Only where the choice is between those two: AVX512-BF16, no AMX, nothing forced.
  const choosesBetween = !process.env.FASTMLP_ISA && isas.includes('avx512bf16') && !isas.includes('amx');
  it.runIf(choosesBetween)('runs on the instruction set that multiplies bf16 fastest: VDPBF16PS on AMD, fp32 FMAs of rounded operands on Intel without AMX', () => {
    const vendor = /^vendor_id\s*:\s*(\S+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
    // Intel issues VDPBF16PS at a quarter of its FMA rate (native/dispatch.cc); AMD's Zen 4 and 5 at full rate.
    expect(initialIsa).toBe(vendor === 'GenuineIntel' ? 'avx512' : 'avx512bf16');
  });

  it('equals the float64 product of the bf16-rounded operands within fp32 accumulation, with the same bits on every instruction set but AMX', () => {
    const rng = new Rng(41);
    // Sizes around the tiles (12×32, 6×64, 6×16, 4×8) and the block of k (512: 1100 takes three), odd k for a half pair.
    const sizes = [1, 2, 5, 7, 13, 17, 31, 33, 64, 65, 97, 255, 513, 1100];
    for (let t = 0; t < 40; t++) {
      const g = randomCase(rng, sizes);
      const a = randomArray(rng, (g.transA ? g.k : g.m) * g.lda);
      const b = randomArray(rng, (g.transB ? g.n : g.k) * g.ldb);
      const c0 = randomArray(rng, g.m * g.ldc);
      const results = onEveryIsa({ ...g, a, b, precision: 'bf16' }, c0);
      const { value, bound } = gemmReference(g, a.map(bf16), b.map(bf16), c0);
      for (const [isa, c] of results) {
        let worst = 0;
        for (let i = 0; i < g.m; i++) {
          for (let j = 0; j < g.ldc; j++) {
            if (j >= g.n) {
              expect(c[i * g.ldc + j], `padding changed on ${isa}`).toBe(c0[i * g.ldc + j]);
              continue;
            }
            worst = Math.max(worst, Math.abs(c[i * g.ldc + j]! - value[i * g.n + j]!) / bound[i * g.n + j]!);
          }
        }
        expect(worst, `${isa} ${JSON.stringify(g)}`).toBeLessThanOrEqual(1);
      }
      expectSameBits(results, JSON.stringify(g));
    }
  });

  it('covers every tail of its own tiles and blocks, on every instruction set', () => {
    const rng = new Rng(46);
    const configs = isas.map((isa) => {
      native.setIsa(isa);
      return native.gemmConfig();
    });
    // Rows and columns past whole tiles and a block of n on every table; k in two blocks, pairs short of AMX's 16.
    const m = Math.max(...configs.map((c) => 3 * c.bf16Mr + 1)), n = Math.max(...configs.map((c) => c.nc + c.bf16Nr + 3)), k = 512 + 37;
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const g: GemmCase = { transA, transB, m, n, k, alpha: 1, beta: 0.5, lda: (transA ? m : k) + 2, ldb: transB ? k : n, ldc: n + 1 };
      const a = randomArray(rng, (transA ? k : m) * g.lda), b = randomArray(rng, (transB ? n : k) * g.ldb);
      const c0 = randomArray(rng, m * g.ldc);
      const { value, bound } = gemmReference(g, a.map(bf16), b.map(bf16), c0);
      for (const [isa, c] of onEveryIsa({ ...g, a, b, precision: 'bf16' }, c0)) {
        let worst = 0;
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(c[i * g.ldc + j]! - value[i * n + j]!) / bound[i * n + j]!);
          expect(c[i * g.ldc + n], `padding on ${isa}`).toBe(c0[i * g.ldc + n]);
        }
        expect(worst, `${isa} ${JSON.stringify(g)}`).toBeLessThanOrEqual(1);
      }
    }
  });

  it('rounds the edge cases of bfloat16 alike on every instruction set: ties to even, denormals to zero, overflow to infinity', () => {
    const rng = new Rng(47);
    const asFloats = (words: number[]) => new Float32Array(new Uint32Array(words).buffer);
    // Ties (low half 0x8000) to an even and an odd neighbour, one past a tie, the largest low half below one,
    // denormals and −0 (flushed to zeros of their sign), and values near 1 and 2⁻¹²⁶.
    const finite = asFloats([
      0x3f808000, 0x3f818000, 0xbf808001, 0x3f80ffff, 0x00000001, 0x807fffff, 0x80000000, 0x00800000, 0x3f7fffff, 0x40490fdb,
    ]);
    // The largest floats round up to infinity; infinities and NaN stay what they are.
    const special = asFloats([0x7f7fffff, 0xff7f8000, 0x7f800000, 0x7fc00001]);
    const m = 29, n = 45, k = 37;
    const pick = (values: Float32Array, length: number) =>
      Float32Array.from({ length }, () => (rng.uniformInt(3) === 0 ? values[rng.uniformInt(values.length)]! : rng.normal()));
    for (const [transA, transB] of [[false, false], [true, true], [true, false], [false, true]] as const) {
      const g: GemmCase = { transA, transB, m, n, k, alpha: 1, beta: 0, lda: transA ? m : k, ldb: transB ? k : n, ldc: n };
      const a = pick(finite, m * k), b = pick(finite, k * n);
      const results = onEveryIsa({ ...g, a, b, precision: 'bf16' }, new Float32Array(m * n));
      expectSameBits(results, `finite edges ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`);
      const { value, bound } = gemmReference(g, a.map(bf16), b.map(bf16), new Float32Array(m * n));
      for (const [isa, c] of results) {
        expect(worstRatio(c, { value, bound }), isa).toBeLessThanOrEqual(1);
      }
      // Denormals against large weights, where flushing them shows: a 2⁻¹²⁶ kept would add 2⁻²⁶.
      const denormals = asFloats([0x00000001, 0x807fffff, 0x007f8000, 0x00800000, 0x80800001]);
      const tinyA = Float32Array.from({ length: m * k }, () =>
        rng.uniformInt(2) === 0 ? denormals[rng.uniformInt(denormals.length)]! : rng.normal() * 2 ** -110);
      const largeB = Float32Array.from({ length: k * n }, () => rng.normal() * 2 ** 100);
      const tiny = onEveryIsa({ ...g, a: tinyA, b: largeB, precision: 'bf16' }, new Float32Array(m * n));
      expectSameBits(tiny, `denormals ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`);
      const tinyReference = gemmReference(g, tinyA.map(bf16), largeB.map(bf16), new Float32Array(m * n));
      for (const [isa, c] of tiny) expect(worstRatio(c, tinyReference), `denormals on ${isa}`).toBeLessThanOrEqual(1);
      const withSpecial = onEveryIsa({ ...g, a: pick(special, m * k), b: pick(finite, k * n), precision: 'bf16' }, new Float32Array(m * n));
      expectSameBits(withSpecial, `infinities and NaN ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`);
      expect([...withSpecial.values()][0]!.some((v) => !Number.isFinite(v))).toBe(true);
    }
  });

  it('differs from fp32 by bfloat16 rounding, and stays fp32 for the shapes fp32 runs faster', () => {
    const product = (m: number, n: number, k: number, precision: 'fp32' | 'bf16') => {
      const r = new Rng(m * 7 + n);
      const a = randomArray(r, m * k), b = randomArray(r, k * n), c = new Float32Array(m * n);
      native.gemm({ m, n, k, a, b, c, precision });
      return c;
    };
    // A large product: bf16 is not fp32, but within 2⁻⁸ relative of Σ|a·b| (each operand off by ≤ 2⁻⁹).
    const [fp32, bf] = [product(200, 96, 300, 'fp32'), product(200, 96, 300, 'bf16')];
    expect(fp32.some((v, i) => v !== bf[i])).toBe(true);
    const scale = 300 * 0.25;
    for (let i = 0; i < fp32.length; i++) expect(Math.abs(fp32[i]! - bf[i]!)).toBeLessThanOrEqual(2 ** -8 * scale);
    // The 10-wide output layer (n ≤ skinnyNr) and single samples (m ≤ 4) are fp32 products, bit for bit.
    expect(product(300, 10, 256, 'bf16')).toEqual(product(300, 10, 256, 'fp32'));
    expect(product(1, 256, 784, 'bf16')).toEqual(product(1, 256, 784, 'fp32'));
  });

  it('runs the fused epilogues on the bf16 product as on the fp32 one', () => {
    const rng = new Rng(43);
    const m = 70, n = 90, k = 301;
    const a = randomArray(rng, m * k), b = randomArray(rng, k * n), bias = randomArray(rng, n);
    const plain = new Float32Array(m * n);
    native.gemm({ m, n, k, a, b, c: plain, precision: 'bf16' });
    const fused = new Float32Array(m * n);
    native.gemm({ m, n, k, a, b, c: fused, bias, activation: 'relu', precision: 'bf16' });
    expect(fused).toEqual(plain.map((v, i) => Math.max(0, Math.fround(v + bias[i % n]!))));
    // Dropout's mask is the element's place alone, the same as fp32's; the kept outputs are scaled.
    const dropped = new Float32Array(m * n), dropped32 = new Float32Array(m * n), fused32 = new Float32Array(m * n);
    native.gemm({ m, n, k, a, b, c: dropped, bias, activation: 'relu', dropout: { rate: 0.3, key: 9 }, precision: 'bf16' });
    native.gemm({ m, n, k, a, b, c: dropped32, bias, activation: 'relu', dropout: { rate: 0.3, key: 9 } });
    native.gemm({ m, n, k, a, b, c: fused32, bias, activation: 'relu' });
    const scale = Math.fround(1 / 0.7);
    let kept = 0;
    for (let i = 0; i < m * n; i++) {
      if (dropped[i] !== 0) expect(dropped[i]).toBe(Math.fround(fused[i]! * scale));
      if (fused[i]! > 0 && fused32[i]! > 0) expect(dropped[i] === 0, `element ${i}`).toBe(dropped32[i] === 0);
      kept += dropped[i] !== 0 ? 1 : 0;
    }
    expect(kept).toBeGreaterThan(0.5 * 0.7 * m * n * 0.9);
  });

  it('from bytes: the pixels exact, standardization in fp32, sparse or dense, batch or transposed, the same bits on every instruction set but AMX', () => {
    const rng = new Rng(44);
    const samples = 300;
    for (const kind of ['sparse', 'dense'] as const) {
      for (const perPixel of [false, true]) {
        for (const [batch, pixels, n, rowLength] of [[37, 45, 70, 45], [250, 44, 70, 45], [40, 1100, 65, 1100], [13, 5, 400, 7], [29, 784, 33, 784]] as const) {
          const bytes = pixelBytes(rng, samples, rowLength, kind);
          const mean = perPixel ? randomArray(rng, rowLength, 0, 255) : Float32Array.of(33.3);
          const invStd = perPixel ? randomArray(rng, rowLength, 0.01, 0.1) : Float32Array.of(1 / 78.6);
          const rows = Int32Array.from({ length: batch }, () => rng.uniformInt(samples));
          const source = { bytes, rowLength, rows, mean, invStd };
          const label = JSON.stringify({ kind, perPixel, batch, pixels, n });
          const w = randomArray(rng, pixels * n);
          const forward = onEveryIsa({ m: batch, n, k: pixels, a: source, b: w, precision: 'bf16' }, new Float32Array(batch * n));
          const f = standardizedBf16Reference(false, batch, n, pixels, bytes, rowLength, rows, mean, invStd, w);
          for (const [isa, c] of forward) expect(worstRatio(c, f), `forward ${label} on ${isa}`).toBeLessThanOrEqual(1);
          expectSameBits(forward, `forward ${label}`);
          const dy = randomArray(rng, batch * n);
          const gradient = onEveryIsa({ transA: true, m: pixels, n, k: batch, a: source, b: dy, precision: 'bf16' }, new Float32Array(pixels * n));
          const g = standardizedBf16Reference(true, pixels, n, batch, bytes, rowLength, rows, mean, invStd, dy);
          for (const [isa, c] of gradient) expect(worstRatio(c, g), `transposed ${label} on ${isa}`).toBeLessThanOrEqual(1);
          expectSameBits(gradient, `transposed ${label}`);
        }
      }
    }
  });

  it('gives the same bits for any thread count', () => {
    const rng = new Rng(45);
    const m = 600, n = 300, k = 700;
    const a = randomArray(rng, m * k), b = randomArray(rng, k * n);
    const bytes = pixelBytes(rng, m, k, 'sparse');
    const rows = Int32Array.from({ length: m }, (_, i) => i);
    const source = { bytes, rowLength: k, rows, mean: Float32Array.of(33), invStd: Float32Array.of(0.0127) };
    native.setThreads(Math.max(2, initialThreads));
    const run = (threads: number) =>
      withCallerThreads(threads, () =>
        [
          { m, n, k, a, b },
          { transA: true, m: k, n, k: m, a, b: b.subarray(0, m * n) },
          { m, n, k, a: source, b },
          { transA: true, m: k, n, k: m, a: source, b: b.subarray(0, m * n) },
        ].map((args) => {
          const c = new Float32Array(args.m * args.n);
          native.gemm({ ...args, c, precision: 'bf16' });
          return c;
        }),
      );
    const one = run(1);
    for (const threads of [2, 3]) {
      run(threads).forEach((c, product) => {
        const bits = new Uint32Array(c.buffer), oneBits = new Uint32Array(one[product]!.buffer);
        const differs = bits.findIndex((v, i) => v !== oneBits[i]);
        expect(differs, `product ${product} on ${threads} threads differs from 1 thread at ${differs}`).toBe(-1);
      });
    }
  });

  it('refuses a precision it does not know', () => {
    const args = { m: 1, n: 1, k: 1, a: new Float32Array(1), b: new Float32Array(1), c: new Float32Array(1) };
    expect(() => native.gemm({ ...args, precision: 'fp16' as 'bf16' })).toThrow(/Expected 'fp32' or 'bf16' for precision but received/);
    expect(() => native.gemm({ ...args, precision: 1 as unknown as 'bf16' })).toThrow(TypeError);
  });
});
