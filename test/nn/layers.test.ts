import { describe, expect, it } from 'vitest';
import { Activation, InnerProduct, SoftmaxCrossEntropy, softmaxInto, type ActivationKind } from '../../src/nn/layers.js';
import { matrix, type Matrix } from '../../src/nn/matrix.js';
import { Rng } from '../../src/nn/rng.js';
import { maxRelativeError, randomArray } from '../helpers/reference.js';
import {
  activationBackward,
  activationForward,
  finiteDifferences,
  innerProductBackward,
  innerProductForward,
  softmaxCrossEntropyBackward,
  softmaxCrossEntropyForward,
  weightedSum,
  worstFiniteDifference,
} from '../helpers/reference-mlp.js';

// Odd sizes (no dimension a multiple of a SIMD width), a batch of 1, and one case wider than a 16-float tile.
const shapes = [
  { batch: 3, inputs: 7, outputs: 5 },
  { batch: 1, inputs: 7, outputs: 5 },
  { batch: 9, inputs: 33, outputs: 17 },
] as const;

// Values of order 1 from float32 kernels against float64: a k-term float32 dot product is off by at most
// about k·2⁻²⁴·Σ|x·w| (≈ 2e-6 for k = 33), so 1e-5 with a floor of 1 (absolute near 0) leaves margin.
const VALUE_TOLERANCE = 1e-5;

// Central differences with a step of 1e-2 on float32 kernels. The objective is summed in float64, but every
// output it reads was rounded to float32 (relative 2⁻²⁴ ≈ 6e-8), so the quotient carries a rounding error up
// to (outputs touched)·6e-8·|y| / (2·1e-2): with 17 outputs of |y| up to 5, about 2.5e-4 (4e-5 observed).
// The truncation error h²·|f'''|/6 stays below 2e-5 for the sigmoid (none for the inner product, linear in
// each entry). atol 3e-4 and rtol 1e-3 bound both while still failing on any real gradient error.
const FD_ATOL = 3e-4;
const FD_RTOL = 1e-3;

function sample(rng: Rng, rows: number, cols: number, low = -1, high = 1): Matrix {
  return matrix(rows, cols, randomArray(rng, rows * cols, low, high));
}

function innerProduct(rng: Rng, inputs: number, outputs: number): InnerProduct {
  return new InnerProduct(
    inputs,
    outputs,
    randomArray(rng, inputs * outputs),
    randomArray(rng, outputs),
    new Float32Array(inputs * outputs),
    new Float32Array(outputs),
  );
}

/** The positive-output pattern of a ReLU (what a finite difference must not change), or '' for the sigmoid. */
function reluPattern(kind: ActivationKind | undefined, activation: Activation | undefined): () => string {
  return () => (kind === 'relu' && activation?.output ? Array.from(activation.output.data, (v) => (v > 0 ? 1 : 0)).join('') : '');
}

/** Every entry of each array against its analytic gradient; at most a few may be skipped at a ReLU kink. */
function expectFiniteDifferences(
  objective: () => number,
  pairs: { name: string; values: Float32Array; analytic: ArrayLike<number> }[],
  pattern?: () => string,
): void {
  for (const { name, values, analytic } of pairs) {
    const { checked, skipped } = finiteDifferences({ values, analytic, objective, ...(pattern ? { pattern } : {}) });
    expect(checked.length, `${name}: entries checked`).toBeGreaterThan(values.length / 2);
    expect(skipped, `${name}: entries skipped at a kink`).toBeLessThan(Math.max(2, values.length / 4));
    expect(worstFiniteDifference(checked, FD_ATOL, FD_RTOL), name).toBeLessThanOrEqual(1);
  }
}

describe('InnerProduct', () => {
  describe.each([undefined, 'sigmoid', 'relu'] as const)('fused activation %s', (kind) => {
    it.each(shapes)('forward matches the float64 reference (batch $batch, $inputs → $outputs)', ({ batch, inputs, outputs }) => {
      const rng = new Rng(100 + batch);
      const ip = innerProduct(rng, inputs, outputs);
      const x = sample(rng, batch, inputs);
      const activation = kind ? new Activation(kind, outputs) : undefined;
      const y = ip.forward(x, activation);
      expect([y.rows, y.cols]).toEqual([batch, outputs]);
      if (activation) expect(activation.output).toBe(y);
      const z = innerProductForward(x.data, ip.weights, ip.bias, batch, inputs, outputs);
      const expected = kind ? activationForward(kind, z) : z;
      expect(maxRelativeError(y.data, expected, 1)).toBeLessThan(VALUE_TOLERANCE);
    });

    it.each(shapes)('backward matches finite differences and the reference (batch $batch, $inputs → $outputs)', ({ batch, inputs, outputs }) => {
      const rng = new Rng(200 + batch);
      const ip = innerProduct(rng, inputs, outputs);
      const x = sample(rng, batch, inputs);
      const activation = kind ? new Activation(kind, outputs) : undefined;
      // L = Σ r ⊙ output, so dL/d(output) = r.
      const r = sample(rng, batch, outputs);
      ip.forward(x, activation);
      const dz = activation ? activation.backward(r) : r;
      const dx = ip.backward(dz)!;
      expect([dx.rows, dx.cols]).toEqual([batch, inputs]);
      const grads = { dW: ip.gradWeights.slice(), dB: ip.gradBias.slice(), dX: dx.data.slice() };

      // The float64 reference, from the same float32 parameters.
      const z = innerProductForward(x.data, ip.weights, ip.bias, batch, inputs, outputs);
      const yRef = kind ? activationForward(kind, z) : z;
      const dzRef = kind ? activationBackward(kind, r.data, yRef) : r.data;
      const ref = innerProductBackward(dzRef, x.data, ip.weights, batch, inputs, outputs);
      expect(maxRelativeError(grads.dW, ref.dw, 1)).toBeLessThan(VALUE_TOLERANCE);
      expect(maxRelativeError(grads.dB, ref.db, 1)).toBeLessThan(VALUE_TOLERANCE);
      expect(maxRelativeError(grads.dX, ref.dx, 1)).toBeLessThan(VALUE_TOLERANCE);

      const objective = () => weightedSum(r.data, ip.forward(x, activation).data);
      expectFiniteDifferences(
        objective,
        [
          { name: 'weights', values: ip.weights, analytic: grads.dW },
          { name: 'bias', values: ip.bias, analytic: grads.dB },
          { name: 'input', values: x.data, analytic: grads.dX },
        ],
        reluPattern(kind, activation),
      );
    });
  });

  it.each(['sigmoid', 'relu'] as const)(
    'fuses the backward of the %s below into the dX GEMM, equal to the separate activation backward',
    (kind) => {
      const rng = new Rng(300);
      const [batch, inputs, hidden, outputs] = [3, 7, 5, 4];
      const first = innerProduct(rng, inputs, hidden);
      const activation = new Activation(kind, hidden);
      const second = innerProduct(rng, hidden, outputs);
      const x = sample(rng, batch, inputs);
      const r = sample(rng, batch, outputs);
      const forward = () => second.forward(first.forward(x, activation));
      forward();

      const separate = activation.backward(second.backward(r)!).data.slice();
      const fused = second.backward(r, activation)!;
      // The same float32 operations in the same order: the fused epilogue multiplies the rounded GEMM
      // result by f'(y) exactly as the standalone kernel does.
      expect(fused.data).toEqual(separate);

      first.backward(fused, undefined, false);
      expectFiniteDifferences(
        () => weightedSum(r.data, forward().data),
        [
          { name: 'first weights', values: first.weights, analytic: first.gradWeights.slice() },
          { name: 'first bias', values: first.bias, analytic: first.gradBias.slice() },
        ],
        reluPattern(kind, activation),
      );
    },
  );

  it('skips dX for the first layer, still filling dW and dB', () => {
    const rng = new Rng(301);
    const ip = innerProduct(rng, 7, 5);
    const x = sample(rng, 3, 7);
    ip.forward(x);
    const dy = sample(rng, 3, 5);
    expect(ip.backward(dy, undefined, false)).toBeUndefined();
    const ref = innerProductBackward(dy.data, x.data, ip.weights, 3, 7, 5);
    expect(maxRelativeError(ip.gradWeights, ref.dw, 1)).toBeLessThan(VALUE_TOLERANCE);
    expect(maxRelativeError(ip.gradBias, ref.db, 1)).toBeLessThan(VALUE_TOLERANCE);
  });

  it('throws when backward comes before forward, and on an input of the wrong width', () => {
    const rng = new Rng(302);
    const ip = innerProduct(rng, 7, 5);
    expect(() => ip.backward(sample(rng, 3, 5))).toThrow(/before forward/);
    expect(() => ip.forward(sample(rng, 3, 6))).toThrow(RangeError);
    expect(() => ip.forward(sample(rng, 3, 6))).toThrow(/7 inputs/);
  });
});

describe('Activation', () => {
  describe.each(['sigmoid', 'relu'] as const)('%s', (kind) => {
    /** Inputs in ±[0.1, 3]: away from the ReLU kink by more than any finite-difference step. */
    function inputs(rng: Rng, rows: number, cols: number): Matrix {
      const x = sample(rng, rows, cols, 0.1, 3);
      for (let i = 0; i < x.data.length; i++) if (rng.uniformInt(2) === 0) x.data[i] = -x.data[i]!;
      return x;
    }

    it.each(shapes)('forward and backward match the reference and finite differences (batch $batch × $outputs)', ({ batch, outputs }) => {
      const rng = new Rng(400 + batch);
      const layer = new Activation(kind, outputs);
      const x = inputs(rng, batch, outputs);
      const y = layer.forward(x);
      expect(layer.output).toBe(y);
      const yRef = activationForward(kind, x.data);
      // The native sigmoid uses a polynomial e^x good to a few ulp; ReLU is exact.
      expect(maxRelativeError(y.data, yRef, 1e-30)).toBeLessThan(kind === 'relu' ? 1e-30 : 1e-6);

      const r = sample(rng, batch, outputs);
      const dx = layer.backward(r).data.slice();
      expect(maxRelativeError(dx, activationBackward(kind, r.data, yRef), 1)).toBeLessThan(VALUE_TOLERANCE);
      expectFiniteDifferences(() => weightedSum(r.data, layer.forward(x).data), [{ name: 'input', values: x.data, analytic: dx }]);
    });

    it('throws when backward comes before forward', () => {
      const layer = new Activation(kind, 5);
      expect(() => layer.backward(matrix(3, 5))).toThrow(/before forward/);
    });
  });
});

describe('SoftmaxCrossEntropy', () => {
  it.each([
    { batch: 3, classes: 5 },
    { batch: 1, classes: 5 },
    { batch: 7, classes: 10 },
  ])('loss, correct count, probabilities and gradient match the reference and finite differences (batch $batch, $classes classes)', ({ batch, classes }) => {
    const rng = new Rng(500 + batch);
    const layer = new SoftmaxCrossEntropy(classes);
    const scores = sample(rng, batch, classes, -3, 3);
    const labels = Int32Array.from({ length: batch }, () => rng.uniformInt(classes));
    // Make one row correct for sure, so the correct count is not trivially 0.
    labels[0] = scores.data.subarray(0, classes).indexOf(Math.max(...scores.data.subarray(0, classes)));

    const result = layer.forward(scores, labels);
    const ref = softmaxCrossEntropyForward(scores.data, labels, batch, classes);
    // The native loss is accumulated in double from the same float32 scores.
    expect(Math.abs(result.loss - ref.loss) / ref.loss).toBeLessThan(1e-12);
    expect(result.correct).toBe(ref.correct);
    expect(result.correct).toBeGreaterThanOrEqual(1);
    expect(layer.evaluate(scores, labels)).toEqual(result);

    const probabilities = matrix(batch, classes);
    softmaxInto(scores, probabilities);
    expect(maxRelativeError(probabilities.data, ref.probabilities, 1e-3)).toBeLessThan(1e-6);

    const gradient = layer.backward();
    expect([gradient.rows, gradient.cols]).toEqual([batch, classes]);
    const dRef = softmaxCrossEntropyBackward(ref.probabilities, labels, batch, classes);
    expect(maxRelativeError(gradient.data, dRef, 1e-3)).toBeLessThan(1e-5);

    // Objective: the loss itself, already in double, so the step could be smaller; 1e-2 keeps one tolerance.
    const analytic = gradient.data.slice();
    expectFiniteDifferences(() => layer.evaluate(scores, labels).loss, [{ name: 'scores', values: scores.data, analytic }]);
  });

  it('throws when backward comes before forward', () => {
    expect(() => new SoftmaxCrossEntropy(4).backward()).toThrow(/before forward/);
  });
});
