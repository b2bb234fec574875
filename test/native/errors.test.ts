import { describe, expect, it } from 'vitest';
import { native, type GemmArgs } from '../../src/native.js';

const f32 = (n: number) => new Float32Array(n);
const good = (): GemmArgs => ({ m: 2, n: 3, k: 4, a: f32(8), b: f32(12), c: f32(6) });

/** Calls fn and returns the error it throws, failing the test if it does not throw. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('gemm argument checks', () => {
  const cases: Array<[string, Partial<GemmArgs> | Record<string, unknown>, ErrorConstructor, RegExp]> = [
    ['a plain array for a', { a: [1, 2, 3] }, TypeError, /Float32Array for a but received an Array/],
    ['a Float64Array for b', { b: new Float64Array(12) }, TypeError, /Float32Array for b but received a Float64Array/],
    ['a missing c', { c: undefined }, TypeError, /Float32Array for c but received undefined/],
    ['a negative m', { m: -3 }, RangeError, /for m but received -3 of type number/],
    ['a fractional n', { n: 2.5 }, RangeError, /for n but received 2.5/],
    ['a string k', { k: '4' }, TypeError, /integer for k but received '4' of type string/],
    ['NaN for m', { m: Number.NaN }, RangeError, /for m/],
    ['a huge dimension', { m: 2 ** 40 }, RangeError, /for m/],
    ['a short a', { a: f32(7) }, RangeError, /Expected a to hold at least 8 elements \(m×k = 2×4 with lda 4\) but it has 7/],
    ['a short b when transposed', { transB: true, ldb: 5, b: f32(12) }, RangeError, /Expected b to hold at least 14 elements/],
    ['a short c', { c: f32(5) }, RangeError, /Expected c to hold at least 6/],
    ['lda below the row length', { lda: 3 }, RangeError, /Expected lda to be at least 4/],
    ['an infinite alpha', { alpha: Number.POSITIVE_INFINITY }, RangeError, /finite number for alpha/],
    ['a string beta', { beta: '1' }, TypeError, /number for beta/],
    ['a non-boolean transA', { transA: 1 }, TypeError, /boolean for transA/],
    ['a short bias', { bias: f32(2) }, RangeError, /bias to hold at least 3/],
    ['an unknown activation', { activation: 'tanh' }, TypeError, /'none', 'sigmoid' or 'relu' for activation but received 'tanh'/],
    ['derivative without its output', { derivative: 'sigmoid' }, TypeError, /Float32Array for derivativeOf but received undefined/],
    ['derivativeOf without derivative', { derivativeOf: f32(6) }, TypeError, /derivativeOf is given without derivative/],
    ['a misspelled option', { transa: true }, TypeError, /Unknown option 'transa' for gemm/],
  ];
  it.each(cases)('rejects %s', (_name, change, type, message) => {
    const error = thrown(() => native.gemm({ ...good(), ...change } as GemmArgs));
    expect(error).toBeInstanceOf(type);
    expect(error.message).toMatch(message);
  });

  it('takes options given as undefined as not given, in any order of the keys', () => {
    const a = Float32Array.from({ length: 8 }, (_, i) => i - 3), b = Float32Array.from({ length: 12 }, (_, i) => 0.5 * i - 2);
    const bias = Float32Array.of(1, -1, 0.25);
    const plain = f32(6), reordered = f32(6);
    native.gemm({ m: 2, n: 3, k: 4, a, b, c: plain, bias, activation: 'relu' });
    native.gemm({ activation: 'relu', c: reordered, bias, b, a, k: 4, n: 3, m: 2, alpha: undefined, transA: undefined, dropout: undefined, derivative: undefined });
    expect(reordered).toEqual(plain);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++) {
        let sum = bias[j]!;
        for (let p = 0; p < 4; p++) sum += a[i * 4 + p]! * b[p * 3 + j]!;
        expect(plain[i * 3 + j]).toBeCloseTo(Math.max(0, sum), 5);
      }
  });

  it('rejects an output that overlaps an input', () => {
    const buffer = new Float32Array(20);
    const error = thrown(() => native.gemm({ m: 2, n: 3, k: 4, a: buffer.subarray(0, 8), b: f32(12), c: buffer.subarray(4, 10) }));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toMatch(/c not to overlap a/);
  });

  it('rejects a non-object and rejects asynchronously checked calls synchronously', () => {
    expect(thrown(() => (native.gemm as (x: unknown) => void)(42))).toBeInstanceOf(TypeError);
    expect(thrown(() => native.gemmAsync({ ...good(), c: f32(1) }))).toBeInstanceOf(RangeError);
  });
});

describe('elementwise argument checks', () => {
  it('requires matching lengths and typed arrays', () => {
    expect(thrown(() => native.sigmoidForward(f32(4), f32(3))).message).toMatch(/Expected y to have the length of x \(4\) but it has 3/);
    expect(thrown(() => native.reluBackward(f32(4), f32(4), new Float64Array(4) as unknown as Float32Array))).toBeInstanceOf(TypeError);
    expect(thrown(() => native.biasAdd(f32(6), f32(2), 2, 3, f32(6))).message).toMatch(/bias to hold at least 3/);
    expect(thrown(() => native.columnSums(f32(6), 2, 3, f32(2))).message).toMatch(/out to hold at least 3/);
    expect(thrown(() => native.argmax(f32(6), 2, 0, new Int32Array(2)))).toBeInstanceOf(RangeError);
    expect(thrown(() => native.countCorrect(f32(6), 2, 3, new Int32Array(1))).message).toMatch(/labels to hold at least 2/);
    expect(thrown(() => (native.sgdUpdate as (...x: unknown[]) => void)(f32(3), f32(3), 0.1))).toBeInstanceOf(TypeError);
    expect(thrown(() => native.sgdUpdate(f32(3), f32(3), Number.NaN, 0)).message).toMatch(/finite number for lr/);
  });

  it('checks class targets and sample indices before touching memory', () => {
    const logits = f32(6);
    expect(thrown(() => native.softmaxCrossEntropy({ logits, targets: Int32Array.of(0, 3), m: 2, n: 3 })).message).toMatch(
      /targets\[1\] to be a class from 0 to 2 but received 3/,
    );
    expect(thrown(() => native.softmaxCrossEntropy({ logits, targets: [0, 1] as unknown as Int32Array, m: 2, n: 3 }))).toBeInstanceOf(TypeError);
    expect(thrown(() => native.softmaxCrossEntropy({ logits, targets: Int32Array.of(0, 1), m: 2, n: 3, gradient: f32(5) })).message).toMatch(
      /gradient to hold at least 6/,
    );
    const pixels = new Uint8Array(10);
    const base = { pixels, rowLength: 5, mean: Float32Array.of(0), invStd: Float32Array.of(1), out: f32(10) };
    expect(thrown(() => native.standardize({ ...base, indices: Int32Array.of(0, 2) })).message).toMatch(/indices\[1\] to be a row from 0 to 1 but received 2/);
    expect(thrown(() => native.standardize({ ...base, indices: Int32Array.of(-1) })).message).toMatch(/indices\[0\]/);
    expect(thrown(() => native.standardize({ ...base, indices: Int32Array.of(0), mean: f32(3), invStd: f32(3) })).message).toMatch(
      /mean to have length 1 or rowLength \(5\)/,
    );
    expect(thrown(() => native.standardize({ ...base, pixels: new Int8Array(10) as unknown as Uint8Array, indices: Int32Array.of(0) }))).toBeInstanceOf(TypeError);
  });

  it('checks optimizer settings and pool settings', () => {
    const adam = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 1, weightDecay: 0 };
    expect(thrown(() => native.adamUpdate(f32(3), f32(3), f32(3), f32(3), { ...adam, step: 0 })).message).toMatch(/for step/);
    expect(thrown(() => native.adamUpdate(f32(3), f32(3), f32(3), f32(3), { ...adam, beta1: 1 })).message).toMatch(/beta1 in \[0, 1\)/);
    const shared = f32(3);
    expect(thrown(() => native.adamUpdate(f32(3), f32(3), shared, shared, adam)).message).toMatch(/v not to overlap m/);
    expect(thrown(() => native.setThreads(0))).toBeInstanceOf(RangeError);
    expect(thrown(() => native.setThreads(1.5))).toBeInstanceOf(RangeError);
    expect(thrown(() => native.setIsa('sse9' as 'generic')).message).toMatch(/one this CPU supports \(.*generic\) but received 'sse9'/);
  });
});
