import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { Mlp } from '../../src/nn/mlp.js';
import { matrix } from '../../src/nn/matrix.js';
import { Rng } from '../../src/nn/rng.js';
import { trainKFold } from '../../src/train/kfold.js';
import { quickRecipe, smallMnist } from '../helpers/datasets.js';
import { finiteDifferences, worstFiniteDifference } from '../helpers/reference-mlp.js';
import { randomArray } from '../helpers/reference.js';

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('label smoothing', () => {
  it('scores and differentiates against (1 − ε)·onehot + ε/n, as a float64 reference does', () => {
    const rng = new Rng(4);
    const [m, n, eps] = [37, 10, 0.1];
    const logits = randomArray(rng, m * n).map((v) => v * 6);
    const labels = Int32Array.from({ length: m }, () => rng.uniformInt(n));
    const gradient = new Float32Array(m * n);
    const { loss } = native.softmaxCrossEntropy({ logits, targets: labels, m, n, gradient, smoothing: eps });
    let expectedLoss = 0;
    for (let i = 0; i < m; i++) {
      const z = Array.from(logits.subarray(i * n, (i + 1) * n));
      const max = Math.max(...z);
      const logSum = Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
      for (let j = 0; j < n; j++) {
        const t = (j === labels[i] ? 1 - eps : 0) + eps / n;
        const logP = z[j]! - max - logSum;
        expectedLoss -= t * logP;
        expect(gradient[i * n + j]).toBeCloseTo((Math.exp(logP) - t) / m, 7);
      }
    }
    expect(loss).toBeCloseTo(expectedLoss / m, 12);
    // ε = 0 is the plain loss, to the bit.
    const plain = new Float32Array(m * n), zero = new Float32Array(m * n);
    const a = native.softmaxCrossEntropy({ logits, targets: labels, m, n, gradient: plain });
    const b = native.softmaxCrossEntropy({ logits, targets: labels, m, n, gradient: zero, smoothing: 0 });
    expect(b.loss).toBe(a.loss);
    expect(bits(zero)).toEqual(bits(plain));
    expect(() => native.softmaxCrossEntropy({ logits, targets: labels, m, n, smoothing: 1 })).toThrow(RangeError);
    expect(() => native.softmaxCrossEntropy({ logits, targets: new Float32Array(m * n), m, n, smoothing: 0.1 })).toThrow(TypeError);
  });

  it('an Mlp trained with it matches finite differences of its smoothed loss, and evaluates the plain one', () => {
    const rng = new Rng(5);
    const shape = { inputs: 11, hidden: [{ width: 7, activation: 'relu' as const }], classes: 4, labelSmoothing: 0.2 };
    const mlp = Mlp.initialized(shape, 'he', rng);
    rng.fillUniform(mlp.params.subarray(mlp.weightCount), -0.5, 0.5);
    const x = matrix(6, 11, rng.fillNormal(new Float32Array(66)));
    const labels = Int32Array.from({ length: 6 }, () => rng.uniformInt(4));
    mlp.computeGradients(x, labels);
    const analytic = mlp.grads.slice();
    const indices = Array.from({ length: 50 }, () => rng.uniformInt(mlp.size));
    const pattern = () => Array.from(mlp.activations[0]!.output!.data, (v) => (v > 0 ? 1 : 0)).join('');
    const { checked } = finiteDifferences({ values: mlp.params, analytic, objective: () => mlp.computeGradients(x, labels).loss, indices, pattern });
    expect(checked.length).toBeGreaterThan(30);
    expect(worstFiniteDifference(checked, 1e-4, 1e-3)).toBeLessThanOrEqual(1);
    const plain = new Mlp({ ...shape, labelSmoothing: 0 });
    plain.params.set(mlp.params);
    expect(mlp.evaluate(x, labels)).toEqual(plain.evaluate(x, labels));
    expect(mlp.computeGradients(x, labels).loss).toBeGreaterThan(plain.computeGradients(x, labels).loss);
  });
});

describe('max-norm', () => {
  it('scales exactly the columns longer than the limit down to it, and leaves the others as they are', () => {
    const rng = new Rng(6);
    const [rows, cols] = [300, 517];
    const w = randomArray(rng, rows * cols).map((v, i) => (i % cols < 200 ? v * 0.01 : v));
    const before = w.slice();
    const norms = (a: Float32Array) => Array.from({ length: cols }, (_, j) => Math.sqrt(Array.from({ length: rows }, (_, i) => a[i * cols + j]! ** 2).reduce((s, v) => s + v, 0)));
    const limit = 3;
    const original = norms(before);
    native.maxNorm(w, rows, cols, limit);
    const after = norms(w);
    for (let j = 0; j < cols; j++) {
      if (original[j]! <= limit) {
        for (let i = 0; i < rows; i++) expect(w[i * cols + j]).toBe(before[i * cols + j]);
      } else {
        expect(after[j]).toBeCloseTo(limit, 5);
      }
    }
    expect(original.some((v) => v > limit) && original.some((v) => v <= limit)).toBe(true);
    const threads = native.getThreads();
    try {
      const one = before.slice(), two = before.slice();
      native.setThreads(1);
      native.maxNorm(one, rows, cols, limit);
      native.setThreads(2);
      native.maxNorm(two, rows, cols, limit);
      expect(bits(one)).toEqual(bits(two));
    } finally {
      native.setThreads(threads);
    }
    expect(() => native.maxNorm(w, rows, cols, 0)).toThrow(RangeError);
    expect(() => native.maxNorm(w, rows + 1, cols, 1)).toThrow(RangeError);
  });

  it('holds through training: no unit ends with incoming weights longer than the limit', async () => {
    const dataset = await smallMnist(2000, 500);
    const result = trainKFold({ recipe: quickRecipe({ maxNorm: 0.8, labelSmoothing: 0.1, epochs: 2 }), dataset });
    for (const layer of result.checkpoint.layers) {
      for (let j = 0; j < layer.outputs; j++) {
        let sum = 0;
        for (let i = 0; i < layer.inputs; i++) sum += layer.weights[i * layer.outputs + j]! ** 2;
        expect(Math.sqrt(sum)).toBeLessThanOrEqual(0.8 * (1 + 1e-5));
      }
    }
    expect(result.test.accuracy).toBeGreaterThan(0.8);
    expect(result.checkpoint.recipe).toMatchObject({ maxNorm: 0.8, labelSmoothing: 0.1 });
  });
});
