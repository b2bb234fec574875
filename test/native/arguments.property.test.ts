/**
 * Property-based tests of the addon's argument checks: thousands of generated calls, sizes consistent or not,
 * each of which must either succeed or throw a TypeError or RangeError — never another error, never a crash
 * (run under the sanitizer build too: `npm run test:sanitize`). A model of each function's checks says which:
 * a call it finds consistent must succeed, and a call with problems must throw the kind of one of them.
 * Consistent GEMMs are compared with a float64 reference, and what lies outside their output is untouched.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { native, type Isa, type PixelsJson } from '../../src/native.js';
import { Rng } from '../../src/nn/rng.js';
import { gemmReference, randomArray, sigmoid } from '../helpers/reference.js';
import { standardizedReference, worstRatio } from './standardized-reference.js';

// A fixed seed and explicit run counts: every run generates the same calls, and a failure replays as printed.
const SEED = 20_261_201;
const runs = (numRuns: number) => ({ seed: SEED, numRuns });

const isas = native.supportedIsas();
const initialIsa = native.getIsa();
// The ISA is the process's: a failing property must not leave its choice to the next test.
afterEach(() => native.setIsa(initialIsa));

type Kind = 'TypeError' | 'RangeError';
type Outcome = 'ok' | Kind;

/** Runs call and says how it ended; an error other than an argument error fails the property. */
function outcome(call: () => unknown): Outcome {
  try {
    call();
    return 'ok';
  } catch (error) {
    if (!(error instanceof TypeError || error instanceof RangeError)) throw error;
    expect(error.message).toMatch(/\S/);
    return error instanceof TypeError ? 'TypeError' : 'RangeError';
  }
}

/** No problems: the call succeeds; otherwise it throws the kind of one of them. */
function expectOutcome(got: Outcome, problems: Kind[], label: string): void {
  if (problems.length === 0) expect(got, label).toBe('ok');
  else expect(problems, label).toContain(got);
}

/** A usual value `weight` times as often as an unusual one. */
const mostly = <T, U>(usual: fc.Arbitrary<T>, unusual: fc.Arbitrary<U>, weight = 4) =>
  fc.oneof({ weight, arbitrary: usual }, { weight: 1, arbitrary: unusual });
/** null four times in five, else a value of arb: for the one bad element of an otherwise valid call. */
const rarely = <T>(arb: fc.Arbitrary<T>) => mostly(fc.constant(null), arb);
/** Mostly 0 (a consistent length), sometimes a few elements short or over. */
const delta = mostly(fc.constant(0), fc.integer({ min: -3, max: 3 }));
/** Sizes around the register tiles: small ones most often, up to past an AVX-512 tile of 32 columns. */
const dim = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 8 }) },
  { weight: 2, arbitrary: fc.integer({ min: 9, max: 40 }) },
);
/** A stride's padding past the row length; −1 is below it. */
const pad = mostly(fc.integer({ min: 0, max: 3 }), fc.constant(-1), 6);
const valuesSeed = fc.integer({ min: 1, max: 2 ** 31 - 1 });

/** Elements a (rows × cols) matrix with row stride ld spans, as the addon counts them. */
const span = (rows: number, cols: number, ld: number) => (rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols);
const lengthOf = (needed: number, d: number) => Math.max(0, needed + d);

/** Expects every element of c outside the m×n view (padding columns and the tail past it) to equal c0's. */
function expectOutsideUntouched(c: Float32Array, c0: Float32Array, m: number, n: number, ldc: number, label: string) {
  for (let i = 0; i < c.length; i++) {
    const inside = i < span(m, n, ldc) && i % ldc < n;
    if (!inside) expect(Object.is(c[i], c0[i]), `${label}: c[${i}] outside the result changed`).toBe(true);
  }
}

describe('gemm arguments', () => {
  const floatGemm = fc.record({
    isa: fc.constantFrom(...isas),
    transA: fc.boolean(),
    transB: fc.boolean(),
    m: dim,
    n: dim,
    k: dim,
    strides: fc.option(fc.tuple(pad, pad, pad)),
    alpha: fc.constantFrom(1, -0.5, 2.25, 0),
    beta: fc.constantFrom(0, 1, 0.75),
    lengths: fc.tuple(delta, delta, delta),
    bias: fc.option(delta),
    activation: fc.constantFrom(undefined, 'none', 'sigmoid', 'relu'),
    seed: valuesSeed,
  });

  it('checks float GEMMs, and computes the consistent ones within the float32 bound', () => {
    fc.assert(
      fc.property(floatGemm, (g) => {
        native.setIsa(g.isa as Isa);
        const { m, n, k, transA, transB } = g;
        const [aRows, aCols] = transA ? [k, m] : [m, k];
        const [bRows, bCols] = transB ? [n, k] : [k, n];
        const widths = [aCols, bCols, n].map((w) => Math.max(w, 1));
        const [lda, ldb, ldc] = g.strides ? [aCols + g.strides[0], bCols + g.strides[1], n + g.strides[2]] : widths;
        const problems: Kind[] = [];
        if (g.strides && [lda, ldb, ldc].some((ld, i) => ld! < widths[i]!)) problems.push('RangeError');
        const readsAB = m > 0 && n > 0;
        const spans = [readsAB ? span(aRows, aCols, lda!) : 0, readsAB ? span(bRows, bCols, ldb!) : 0, span(m, n, ldc!)];
        const lengths = spans.map((s, i) => lengthOf(s, g.lengths[i]!));
        if (lengths.some((l, i) => l < spans[i]!)) problems.push('RangeError');
        const biasLength = g.bias === null ? undefined : lengthOf(n, g.bias);
        if (biasLength !== undefined && biasLength < n) problems.push('RangeError');

        const rng = new Rng(g.seed);
        const [a, b, c] = lengths.map((l) => randomArray(rng, l));
        // With beta 0, C is never read: NaN in its view must not reach the result.
        if (g.beta === 0 && problems.length === 0) for (let i = 0; i < m; i++) c!.fill(Number.NaN, i * ldc!, i * ldc! + n);
        const c0 = c!.slice();
        const bias = biasLength === undefined ? undefined : randomArray(rng, biasLength);
        const args = {
          transA, transB, m, n, k, alpha: g.alpha, beta: g.beta, a: a!, b: b!, c: c!,
          ...(g.strides ? { lda, ldb, ldc } : {}),
          ...(bias ? { bias } : {}),
          ...(g.activation ? { activation: g.activation as 'none' | 'sigmoid' | 'relu' } : {}),
        };
        const label = JSON.stringify({ ...g, lda, ldb, ldc });
        expectOutcome(outcome(() => native.gemm(args)), problems, label);
        if (problems.length > 0) return;

        const reference = { transA, transB, m, n, k, alpha: g.alpha, beta: g.beta, lda: lda!, ldb: ldb!, ldc: ldc! };
        const { value, bound } = gemmReference(reference, a!, b!, c0);
        const u = 2 ** -24;
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            const z = value[i * n + j]! + (bias ? bias[j]! : 0);
            const expected = g.activation === 'sigmoid' ? sigmoid(z) : g.activation === 'relu' ? Math.max(0, z) : z;
            // The product's bound, the bias's rounding, and a few ulp of the sigmoid's exponential.
            const tolerance = bound[i * n + j]! + 4 * u * Math.abs(z) + (g.activation === 'sigmoid' ? 1e-6 : 0);
            const got = c![i * ldc! + j]!;
            expect(Math.abs(got - expected), `${label}: C[${i}][${j}] = ${got}, expected ${expected}`).toBeLessThanOrEqual(tolerance);
          }
        }
        expectOutsideUntouched(c!, c0, m, n, ldc!, label);
      }),
      runs(900),
    );
  });

  const bytesGemm = fc.record({
    isa: fc.constantFrom(...isas),
    transA: fc.boolean(),
    m: dim,
    n: dim,
    k: dim,
    rowLengthExtra: mostly(fc.integer({ min: 0, max: 6 }), fc.integer({ min: -2, max: -1 }), 5),
    samples: fc.integer({ min: 0, max: 30 }),
    perPixel: fc.boolean(),
    statsLengths: fc.tuple(delta, delta),
    rowsLength: delta,
    badRow: rarely(fc.constantFrom(-1, 0, 1, 2 ** 30)),
    lengths: fc.tuple(delta, delta),
    sparse: fc.boolean(),
    seed: valuesSeed,
  });

  it('checks GEMMs whose A is rows of bytes, and computes the consistent ones within the float32 bound', () => {
    fc.assert(
      fc.property(bytesGemm, (g) => {
        native.setIsa(g.isa as Isa);
        const { m, n, k, transA } = g;
        const [samplesUsed, pixelsUsed] = transA ? [k, m] : [m, k];
        const rowLength = Math.max(1, pixelsUsed + g.rowLengthExtra);
        const problems: Kind[] = [];
        const meanLength = lengthOf(g.perPixel ? rowLength : 1, g.statsLengths[0]);
        const invStdLength = lengthOf(meanLength, g.statsLengths[1]);
        if ((meanLength !== 1 && meanLength !== rowLength) || invStdLength !== meanLength) problems.push('RangeError');
        const rowsLength = lengthOf(samplesUsed, g.rowsLength);
        if (rowsLength < samplesUsed || pixelsUsed > rowLength) problems.push('RangeError');

        const rng = new Rng(g.seed);
        const bytes = new Uint8Array(g.samples * rowLength + rng.uniformInt(rowLength));
        for (let i = 0; i < bytes.length; i++) if (!g.sparse || rng.uniformInt(4) === 0) bytes[i] = rng.uniformInt(256);
        const rows = Int32Array.from({ length: rowsLength }, () => (g.samples > 0 ? rng.uniformInt(g.samples) : 0));
        if (g.badRow !== null && rowsLength > 0) rows[rng.uniformInt(rowsLength)] = g.badRow < 0 ? g.badRow : g.samples + g.badRow;
        if (rows.subarray(0, samplesUsed).some((row) => row < 0 || row >= g.samples)) problems.push('RangeError');

        const readsAB = m > 0 && n > 0;
        const spans = [readsAB ? span(k, n, n) : 0, span(m, n, n)];
        const [bLength, cLength] = spans.map((s, i) => lengthOf(s, g.lengths[i]!));
        if (bLength! < spans[0]! || cLength! < spans[1]!) problems.push('RangeError');
        const mean = randomArray(rng, meanLength, 0, 255), invStd = randomArray(rng, invStdLength, 0.01, 0.1);
        const b = randomArray(rng, bLength!), c = randomArray(rng, cLength!);
        const c0 = c.slice();
        const a = { bytes, rowLength, rows, mean, invStd };
        const label = JSON.stringify({ ...g, rowLength, meanLength, invStdLength, rowsLength });
        expectOutcome(outcome(() => native.gemm({ transA, m, n, k, a, b, c })), problems, label);
        if (problems.length > 0) return;

        const reference = standardizedReference(transA, m, n, k, bytes, rowLength, rows, mean, invStd, b);
        expect(worstRatio(c.subarray(0, m * n), reference), label).toBeLessThanOrEqual(1);
        expectOutsideUntouched(c, c0, m, n, n, label);
      }),
      runs(500),
    );
  });
});

describe('elementwise arguments', () => {
  const elementwise = fc.record({
    op: fc.constantFrom(
      'sigmoidForward', 'reluForward', 'sigmoidBackward', 'reluBackward', 'biasAdd', 'columnSums', 'argmax', 'countCorrect',
    ),
    m: fc.integer({ min: 0, max: 20 }),
    n: fc.integer({ min: 0, max: 20 }),
    lengths: fc.tuple(delta, delta, delta),
    inPlace: fc.boolean(),
    seed: valuesSeed,
  });

  it('checks lengths against the shapes, and a bias add leaves what follows its output untouched', () => {
    fc.assert(
      fc.property(elementwise, (g) => {
        const { m, n } = g;
        const rng = new Rng(g.seed);
        const [d0, d1, d2] = g.lengths;
        const problems: Kind[] = [];
        const need = (length: number, needed: number) => {
          if (length < needed) problems.push('RangeError');
        };
        let call: () => unknown;
        let check = () => {};
        switch (g.op) {
          case 'sigmoidForward':
          case 'reluForward': {
            const x = randomArray(rng, m * n), y = g.inPlace ? x : randomArray(rng, lengthOf(m * n, d1));
            if (y.length !== x.length) problems.push('RangeError');
            call = () => native[g.op as 'sigmoidForward' | 'reluForward'](x, y);
            break;
          }
          case 'sigmoidBackward':
          case 'reluBackward': {
            const y = randomArray(rng, m * n), dy = randomArray(rng, lengthOf(m * n, d1));
            const dx = g.inPlace ? dy : randomArray(rng, lengthOf(m * n, d2));
            if (dy.length !== y.length || dx.length !== y.length) problems.push('RangeError');
            call = () => native[g.op as 'sigmoidBackward' | 'reluBackward'](y, dy, dx);
            break;
          }
          case 'biasAdd': {
            const x = randomArray(rng, lengthOf(m * n, d0)), bias = randomArray(rng, lengthOf(n, d1));
            const y = g.inPlace ? x : randomArray(rng, lengthOf(m * n, d2));
            need(x.length, m * n);
            need(bias.length, n);
            need(y.length, m * n);
            const x0 = x.slice(), y0 = y.slice();
            call = () => native.biasAdd(x, bias, m, n, y);
            check = () => {
              for (let i = 0; i < y.length; i++) {
                const expected = i < m * n ? Math.fround(x0[i]! + bias[i % n]!) : y0[i]!;
                expect(Object.is(y[i], expected), `y[${i}]`).toBe(true);
              }
            };
            break;
          }
          case 'columnSums': {
            const x = randomArray(rng, lengthOf(m * n, d0)), out = randomArray(rng, lengthOf(n, d1));
            need(x.length, m * n);
            need(out.length, n);
            call = () => native.columnSums(x, m, n, out);
            break;
          }
          default: {
            // argmax and countCorrect take at least one column.
            if (n === 0) problems.push('RangeError');
            const x = randomArray(rng, lengthOf(m * n, d0)), out = new Int32Array(lengthOf(m, d1));
            need(x.length, m * n);
            need(out.length, m);
            call = g.op === 'argmax' ? () => native.argmax(x, m, n, out) : () => native.countCorrect(x, m, n, out);
          }
        }
        expectOutcome(outcome(call), problems, JSON.stringify(g));
        if (problems.length === 0) check();
      }),
      runs(600),
    );
  });

  const softmax = fc.record({
    m: fc.integer({ min: 0, max: 10 }),
    n: fc.integer({ min: 0, max: 12 }),
    labels: fc.boolean(),
    badLabel: rarely(fc.constantFrom(-1, 0, 1)),
    lengths: fc.tuple(delta, delta, delta, delta),
    probabilities: fc.constantFrom('none', 'own', 'logits', 'targets'),
    gradient: fc.constantFrom('none', 'own', 'logits', 'targets', 'probabilities'),
    seed: valuesSeed,
  });

  it('checks softmaxCrossEntropy targets, outputs and their aliasing', () => {
    fc.assert(
      fc.property(softmax, (g) => {
        const { m, n } = g;
        const size = m * n;
        const rng = new Rng(g.seed);
        const problems: Kind[] = [];
        if (n === 0) problems.push('RangeError');
        const logits = randomArray(rng, lengthOf(size, g.lengths[0]), -5, 5);
        if (logits.length < size) problems.push('RangeError');
        let targets: Int32Array | Float32Array;
        if (g.labels) {
          targets = Int32Array.from({ length: lengthOf(m, g.lengths[1]) }, () => rng.uniformInt(Math.max(n, 1)));
          if (g.badLabel !== null && targets.length > 0) targets[rng.uniformInt(targets.length)] = g.badLabel < 0 ? -1 : n + g.badLabel;
          if (targets.length < m || targets.subarray(0, m).some((t) => t < 0 || t >= n)) problems.push('RangeError');
        } else {
          targets = randomArray(rng, lengthOf(size, g.lengths[1]), 0, 1);
          if (targets.length < size) problems.push('RangeError');
        }
        const outputs: Partial<Record<'probabilities' | 'gradient', Float32Array>> = {};
        const choices = [['probabilities', g.probabilities, g.lengths[2]], ['gradient', g.gradient, g.lengths[3]]] as const;
        for (const [name, choice, d] of choices) {
          if (choice === 'none') continue;
          if (choice === 'targets' && g.labels) {
            problems.push('TypeError');
            outputs[name] = targets as unknown as Float32Array;
          } else if (choice === 'targets') {
            // The gradient may be written over the distributions; the probabilities may not.
            if (name === 'probabilities' && size > 0) problems.push('RangeError');
            outputs[name] = targets as Float32Array;
          } else if (choice === 'probabilities') {
            if (!outputs.probabilities) continue;
            outputs[name] = outputs.probabilities;
          } else {
            const out = choice === 'logits' ? logits : randomArray(rng, lengthOf(size, d));
            outputs[name] = out;
          }
          if (outputs[name]!.length < size) problems.push('RangeError');
        }
        // One array for both outputs is refused. The addon tells them apart by their data, which two empty arrays
        // may share (none at all), so then either answer is right.
        const { probabilities, gradient } = outputs;
        const either = probabilities !== undefined && gradient !== undefined && probabilities.length + gradient.length === 0;
        if (probabilities !== undefined && probabilities === gradient && probabilities.length > 0) problems.push('RangeError');
        let result: { loss: number; correct: number } | undefined;
        const got = outcome(() => (result = native.softmaxCrossEntropy({ logits, targets, m, n, ...outputs })));
        const label = JSON.stringify(g);
        if (either && problems.length === 0) expect(['ok', 'RangeError'], label).toContain(got);
        else expectOutcome(got, problems, label);
        if (got === 'ok') {
          expect(Number.isFinite(result!.loss), label).toBe(true);
          expect(result!.correct, label).toBeGreaterThanOrEqual(0);
          expect(result!.correct, label).toBeLessThanOrEqual(m);
        }
      }),
      runs(400),
    );
  });

  const rowsInput = fc.record({
    op: fc.constantFrom('standardize', 'gatherRows'),
    rowLength: mostly(fc.integer({ min: 1, max: 20 }), fc.constantFrom(0, -1, 1.5), 8),
    samples: fc.integer({ min: 0, max: 12 }),
    count: fc.integer({ min: 0, max: 10 }),
    badIndex: rarely(fc.constantFrom(-1, 0, 3)),
    perPixel: fc.boolean(),
    lengths: fc.tuple(delta, delta, delta),
    seed: valuesSeed,
  });

  it('checks standardize and gatherRows indices and lengths, and gathers exactly the rows asked for', () => {
    fc.assert(
      fc.property(rowsInput, (g) => {
        const rng = new Rng(g.seed);
        const problems: Kind[] = [];
        const validLength = Number.isInteger(g.rowLength) && g.rowLength >= 1;
        if (!validLength) problems.push('RangeError');
        const rowLength = validLength ? g.rowLength : 1;
        const bytes = Uint8Array.from({ length: g.samples * rowLength + rng.uniformInt(rowLength) }, () => rng.uniformInt(256));
        const indices = Int32Array.from({ length: g.count }, () => (g.samples > 0 ? rng.uniformInt(g.samples) : 0));
        if (g.badIndex !== null && g.count > 0) indices[rng.uniformInt(g.count)] = g.badIndex < 0 ? -1 : g.samples + g.badIndex;
        if (indices.some((i) => i < 0 || i >= g.samples)) problems.push('RangeError');
        const outLength = lengthOf(g.count * rowLength, g.lengths[0]);
        if (outLength < g.count * rowLength) problems.push('RangeError');
        const label = JSON.stringify(g);
        if (g.op === 'gatherRows') {
          const out = new Uint8Array(outLength).fill(7);
          expectOutcome(outcome(() => native.gatherRows({ bytes, rowLength: g.rowLength, indices, out })), problems, label);
          if (problems.length > 0) return;
          const expected = new Uint8Array(outLength).fill(7);
          indices.forEach((row, r) => expected.set(bytes.subarray(row * rowLength, (row + 1) * rowLength), r * rowLength));
          expect(Buffer.compare(out, expected), label).toBe(0);
          return;
        }
        const meanLength = lengthOf(g.perPixel ? rowLength : 1, g.lengths[1]);
        const invStdLength = lengthOf(meanLength, g.lengths[2]);
        if ((meanLength !== 1 && meanLength !== rowLength) || invStdLength !== meanLength) problems.push('RangeError');
        const mean = randomArray(rng, meanLength, 0, 255), invStd = randomArray(rng, invStdLength, 0.01, 1);
        const out = new Float32Array(outLength);
        const call = () => native.standardize({ pixels: bytes, rowLength: g.rowLength, indices, mean, invStd, out });
        expectOutcome(outcome(call), problems, label);
      }),
      runs(500),
    );
  });

  const scalar = mostly(
    fc.constantFrom(0, 0.01, 0.5, 0.9, 0.999, 1e-8, 3),
    fc.constantFrom(-0.5, 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '0.1', undefined),
    6,
  );
  const optimizer = fc.record({
    op: fc.constantFrom('sgdUpdate', 'momentumUpdate', 'adamUpdate'),
    length: fc.integer({ min: 0, max: 40 }),
    lengths: fc.tuple(delta, delta, delta),
    lr: scalar,
    momentum: scalar,
    weightDecay: scalar,
    beta1: scalar,
    beta2: scalar,
    epsilon: scalar,
    step: mostly(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(0, -1, 1.5, 2 ** 53), 6),
    nesterov: fc.constantFrom(true, false, undefined, 1),
    seed: valuesSeed,
  });

  /** The problem a number argument has: not a number, or not finite. */
  const numberProblem = (x: unknown): Kind[] =>
    typeof x !== 'number' ? ['TypeError'] : Number.isFinite(x) ? [] : ['RangeError'];

  it('checks optimizer buffers and settings', () => {
    fc.assert(
      fc.property(optimizer, (g) => {
        const rng = new Rng(g.seed);
        const problems: Kind[] = [];
        const w = randomArray(rng, g.length);
        const [g0, g1, g2] = g.lengths.map((d) => randomArray(rng, lengthOf(g.length, d)));
        const buffers = g.op === 'sgdUpdate' ? [g0!] : g.op === 'momentumUpdate' ? [g0!, g1!] : [g0!, g1!, g2!];
        if (buffers.some((b) => b.length !== w.length)) problems.push('RangeError');
        const num = (x: unknown) => x as number;
        let call: () => unknown;
        if (g.op === 'sgdUpdate') {
          problems.push(...numberProblem(g.lr), ...numberProblem(g.weightDecay));
          call = () => native.sgdUpdate(w, g0!, num(g.lr), num(g.weightDecay));
        } else if (g.op === 'momentumUpdate') {
          problems.push(...numberProblem(g.lr), ...numberProblem(g.momentum), ...numberProblem(g.weightDecay));
          if (g.nesterov !== undefined && typeof g.nesterov !== 'boolean') problems.push('TypeError');
          call = () => native.momentumUpdate(w, g0!, g1!, num(g.lr), num(g.momentum), num(g.weightDecay), g.nesterov as boolean);
        } else {
          problems.push(...numberProblem(g.lr), ...numberProblem(g.epsilon), ...numberProblem(g.weightDecay));
          for (const beta of [g.beta1, g.beta2]) {
            problems.push(...numberProblem(beta));
            if (typeof beta === 'number' && !(beta >= 0 && beta < 1)) problems.push('RangeError');
          }
          if (!(Number.isInteger(g.step) && g.step >= 1 && g.step <= 2 ** 52)) problems.push('RangeError');
          const { lr, beta1, beta2, epsilon, step, weightDecay } = g;
          const settings = { lr: num(lr), beta1: num(beta1), beta2: num(beta2), epsilon: num(epsilon), step, weightDecay: num(weightDecay) };
          call = () => native.adamUpdate(w, g0!, g1!, g2!, settings);
        }
        expectOutcome(outcome(call), problems, JSON.stringify(g));
      }),
      runs(500),
    );
  });
});

describe('readPixelsJson arguments and bodies', () => {
  const plainString = fc.stringMatching(/^[a-z0-9-]{0,8}$/);
  const pixel = mostly(fc.integer({ min: 0, max: 255 }), fc.double({ noNaN: true, noDefaultInfinity: true }));
  /** A body of the accepted shape for images of `imagePixels` values. */
  const validBody = fc
    .record({
      imagePixels: fc.integer({ min: 1, max: 4 }),
      images: fc.integer({ min: 1, max: 3 }),
      batch: fc.boolean(),
      scale: fc.option(plainString),
      model: fc.option(plainString),
    })
    .chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        values: fc.array(fc.array(pixel, { minLength: shape.imagePixels, maxLength: shape.imagePixels }), {
          minLength: shape.batch ? shape.images : 1,
          maxLength: shape.batch ? shape.images : 1,
        }),
      }),
    )
    .map(({ shape, values }) => {
      const body: Record<string, unknown> = shape.batch ? { images: values } : { pixels: values[0] };
      if (shape.scale !== null) body.scale = shape.scale;
      if (shape.model !== null) body.model = shape.model;
      return { text: JSON.stringify(body), imagePixels: shape.imagePixels, images: values.length };
    });
  /** A valid body with a few characters deleted, inserted or replaced. */
  const edit = fc.record({
    at: fc.nat(),
    remove: fc.integer({ min: 0, max: 2 }),
    insert: fc.stringMatching(/^[{}[\],:"0-9.eE+\- a-z]{0,2}$/),
  });
  const nearValid = fc.record({ body: validBody, edits: fc.array(edit, { minLength: 1, maxLength: 3 }) }).map(({ body, edits }) => {
    let text = body.text;
    for (const e of edits) {
      const at = e.at % (text.length + 1);
      text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
    }
    return { ...body, text };
  });
  const count = mostly(fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, -1, 1.5, '4', 2 ** 40), 8);
  const input = fc.record({
    body: fc.oneof(
      validBody.map((b) => ({ ...b, bytes: Buffer.from(b.text), valid: true })),
      nearValid.map((b) => ({ ...b, bytes: Buffer.from(b.text), valid: false })),
      fc.json().map((text) => ({ text, imagePixels: 2, images: 1, bytes: Buffer.from(text), valid: false })),
      fc.uint8Array({ maxLength: 48 }).map((bytes) => ({ text: '', imagePixels: 2, images: 1, bytes, valid: false })),
    ),
    imagePixels: rarely(count),
    maxImages: rarely(count),
    into: fc.option(fc.integer({ min: 0, max: 14 })),
  });

  /** A count argument's problem: not a number, or not an integer from 1 to 2³¹ − 1. */
  const countProblem = (x: unknown): Kind[] =>
    typeof x !== 'number' ? ['TypeError'] : Number.isInteger(x) && x >= 1 && x < 2 ** 31 ? [] : ['RangeError'];

  it('accepts exactly what JSON.parse reads the same way, reads valid bodies, and checks its arguments', () => {
    fc.assert(
      fc.property(input, (g) => {
        const imagePixels = g.imagePixels ?? g.body.imagePixels;
        const maxImages = g.maxImages ?? 3;
        const problems = [...countProblem(imagePixels), ...countProblem(maxImages)];
        const into = g.into === null ? undefined : new Float32Array(g.into).fill(-1);
        let result: PixelsJson | undefined;
        const got = outcome(() => (result = native.readPixelsJson(g.body.bytes, imagePixels as number, maxImages as number, into)));
        const label = JSON.stringify({ ...g, body: Buffer.from(g.body.bytes).toString('latin1') });
        expectOutcome(got, problems, label);
        if (got !== 'ok') return;
        // A valid body with the counts it was made for is read, not left to JSON.parse.
        const madeFor = imagePixels === g.body.imagePixels && g.body.images <= (maxImages as number);
        if (g.body.valid && madeFor) expect(result, label).toBeDefined();
        if (result === undefined) return;
        const parsed = JSON.parse(Buffer.from(g.body.bytes).toString('utf8')) as Record<string, unknown>;
        const images = (result.batch ? parsed.images : [parsed.pixels]) as number[][];
        const values = images.flat();
        expect(result.images, label).toBe(images.length);
        expect(result.images, label).toBeLessThanOrEqual(maxImages as number);
        expect(images.every((image) => image.length === imagePixels), label).toBe(true);
        expect(Array.from(result.pixels), label).toEqual(Array.from(Float32Array.from(values)));
        expect(result.min === Math.min(...values) && result.max === Math.max(...values), label).toBe(true);
        const keys = [result.batch ? 'images' : 'pixels'];
        if (result.scale !== undefined) keys.push('scale');
        if (result.model !== undefined) keys.push('model');
        expect(Object.keys(parsed).sort(), label).toEqual(keys.sort());
        if (result.scale !== undefined) expect(parsed.scale, label).toBe(result.scale);
        if (result.model !== undefined) expect(parsed.model, label).toBe(result.model);
        // Into `into` when the values fit, else into an array of their own.
        const fits = into !== undefined && into.length >= values.length;
        expect(result.pixels.buffer === into?.buffer, label).toBe(fits);
      }),
      runs(1200),
    );
  });
});

describe('any arguments to any function', () => {
  const optionKeys = [
    'transA', 'transB', 'm', 'n', 'k', 'alpha', 'a', 'lda', 'b', 'ldb', 'beta', 'c', 'ldc', 'bias', 'activation', 'derivative',
    'derivativeOf', 'bytes', 'rowLength', 'rows', 'mean', 'invStd', 'logits', 'targets', 'probabilities', 'gradient',
    'pixels', 'indices', 'out', 'lr', 'beta1', 'beta2', 'epsilon', 'step', 'weightDecay', 'other',
  ];
  const plain = fc.oneof(
    fc.constantFrom(undefined, null, true, false, 0, 1, 2, 3, 4, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, 2 ** 40),
    fc.constantFrom('4', 'relu', 'sigmoid', 'none', 'tanh', ''),
    fc.integer({ min: 0, max: 12 }).map((n) => new Float32Array(n).fill(0.5)),
    fc.integer({ min: 0, max: 12 }).map((n) => Uint8Array.from({ length: n }, (_, i) => i * 37)),
    fc.integer({ min: 0, max: 6 }).map((n) => Int32Array.from({ length: n }, (_, i) => i - 1)),
    fc.constantFrom([], [1, 2], new Float64Array(4), new Int8Array(4), new ArrayBuffer(8)),
  );
  const options = fc.dictionary(fc.constantFrom(...optionKeys), plain, { maxKeys: 9 });
  // An options object whose `a` is itself random byte-row options, for the byte form of A.
  const nested = fc.record({ outer: options, a: options }).map(({ outer, a }) => ({ ...outer, a }));
  const argument = fc.oneof({ weight: 5, arbitrary: plain }, { weight: 2, arbitrary: options }, { weight: 1, arbitrary: nested });
  // Every function whose calls change no process-wide setting and return at once.
  const functions = [
    'gemm', 'biasAdd', 'sigmoidForward', 'sigmoidBackward', 'reluForward', 'reluBackward', 'softmaxCrossEntropy',
    'argmax', 'countCorrect', 'columnSums', 'standardize', 'gatherRows', 'sgdUpdate', 'momentumUpdate', 'adamUpdate',
    'readPixelsJson', 'poolInfo', 'getThreads', 'getCallerThreads', 'getIsa', 'supportedIsas', 'gemmConfig',
  ] as const;

  it('succeeds or throws a TypeError or RangeError, whatever it is given', () => {
    const addon = native as unknown as Record<string, (...args: unknown[]) => unknown>;
    fc.assert(
      fc.property(fc.constantFrom(...functions), fc.array(argument, { maxLength: 7 }), (name, args) => {
        outcome(() => addon[name]!(...args));
      }),
      runs(2000),
    );
  });
});
