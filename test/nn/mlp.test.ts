import { describe, expect, it } from 'vitest';
import { Activation, InnerProduct, SoftmaxCrossEntropy } from '../../src/nn/layers.js';
import { matrix, type Matrix } from '../../src/nn/matrix.js';
import { MAX_WIDTH, Mlp, type MlpShape } from '../../src/nn/mlp.js';
import { GradientDescent, learningRate } from '../../src/nn/optimizers.js';
import { Rng } from '../../src/nn/rng.js';
import type { Initializer } from '../../src/nn/spec.js';
import { maxRelativeError } from '../helpers/reference.js';
import {
  argmaxRow,
  finiteDifferences,
  referenceBackward,
  referenceForward,
  worstFiniteDifference,
  type ReferenceMlp,
} from '../helpers/reference-mlp.js';

/** 13 → 9 sigmoid → 6 ReLU → 4: two hidden layers of both kinds, no width a multiple of a SIMD width. */
const twoHidden: MlpShape = {
  inputs: 13,
  hidden: [
    { width: 9, activation: 'sigmoid' },
    { width: 6, activation: 'relu' },
  ],
  classes: 4,
};

function widths(shape: MlpShape): number[] {
  return [shape.inputs, ...shape.hidden.map((h) => h.width), shape.classes];
}

/** The float64 reference over the Mlp's own (live) parameter views. */
function referenceOf(mlp: Mlp): ReferenceMlp {
  return {
    widths: widths(mlp.shape),
    activations: mlp.shape.hidden.map((h) => h.activation),
    weights: mlp.innerProducts.map((ip) => ip.weights),
    biases: mlp.innerProducts.map((ip) => ip.bias),
  };
}

/** An initialized network with nonzero biases (zero biases would hide a wrong bias gradient), and a batch. */
function setup(shape: MlpShape, batch: number, seed: number) {
  const rng = new Rng(seed);
  const mlp = Mlp.initialized(shape, 'normal-fan-in', rng);
  rng.fillUniform(mlp.params.subarray(mlp.weightCount), -0.5, 0.5);
  const x = matrix(batch, shape.inputs, rng.fillNormal(new Float32Array(batch * shape.inputs)));
  const labels = Int32Array.from({ length: batch }, () => rng.uniformInt(shape.classes));
  return { mlp, x, labels, rng };
}

/** The reference's gradients laid out as the Mlp's block: every dW, then every dB. */
function referenceGradients(mlp: Mlp, x: Matrix, labels: Int32Array) {
  const net = referenceOf(mlp);
  const forward = referenceForward(net, x.data, labels, x.rows);
  const grads = referenceBackward(net, forward, labels, x.rows);
  const block = new Float64Array(mlp.size);
  let at = 0;
  for (const part of [...grads.dW, ...grads.dB]) {
    block.set(part, at);
    at += part.length;
  }
  return { forward, grads, block };
}

/** Sign pattern of every ReLU output, which a finite difference must not change. */
function reluPattern(mlp: Mlp): () => string {
  return () =>
    mlp.activations
      .filter((a) => a.kind === 'relu')
      .map((a) => Array.from(a.output!.data, (v) => (v > 0 ? 1 : 0)).join(''))
      .join('|');
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

describe('Mlp gradients', () => {
  // float32 forward and backward against float64 on a network this small: each value passes through a few
  // dot products of at most 13 terms, each off by about 13·2⁻²⁴ ≈ 1e-6 relative, so errors stay well below
  // 1e-5 of the largest gradient of the block, which serves as the floor so entries near 0 do not divide by ~0.
  const GRADIENT_TOLERANCE = 1e-5;

  it.each([
    { name: '13 → 9 sigmoid → 6 relu → 4, batch 5', shape: twoHidden, batch: 5 },
    { name: 'the same, batch 1', shape: twoHidden, batch: 1 },
    { name: 'no hidden layer (softmax regression), batch 3', shape: { inputs: 7, hidden: [], classes: 5 }, batch: 3 },
  ])('computeGradients matches the float64 reference: loss, correct count and every gradient ($name)', ({ shape, batch }) => {
    const { mlp, x, labels } = setup(shape, batch, 1000 + batch);
    const result = mlp.computeGradients(x, labels);
    const ref = referenceGradients(mlp, x, labels);
    // The loss is summed in double from float32 scores, each off by ~1e-7 relative.
    expect(Math.abs(result.loss - ref.forward.loss) / ref.forward.loss).toBeLessThan(1e-6);
    expect(result.correct).toBe(ref.forward.correct);

    const scale = Math.max(...ref.block.map(Math.abs));
    expect(maxRelativeError(mlp.grads, ref.block, scale)).toBeLessThan(GRADIENT_TOLERANCE);
    // Per layer through the named views too, so a mix-up between the views and the block cannot hide.
    mlp.innerProducts.forEach((ip, l) => {
      expect(maxRelativeError(ip.gradWeights, ref.grads.dW[l]!, scale), `dW[${l}]`).toBeLessThan(GRADIENT_TOLERANCE);
      expect(maxRelativeError(ip.gradBias, ref.grads.dB[l]!, scale), `dB[${l}]`).toBeLessThan(GRADIENT_TOLERANCE);
    });
  });

  it('computeGradients matches finite differences of the float32 loss on a random sample of parameters', () => {
    const { mlp, x, labels, rng } = setup(twoHidden, 5, 1100);
    mlp.computeGradients(x, labels);
    const analytic = mlp.grads.slice();
    // 60 parameters: every layer's weights and biases are represented (the block is 13·9 + 9·6 + 6·4 weights, then 19 biases).
    const indices = Array.from({ length: 60 }, () => rng.uniformInt(mlp.size));
    indices.push(0, mlp.weightCount - 1, mlp.weightCount, mlp.size - 1);
    const { checked, skipped } = finiteDifferences({
      values: mlp.params,
      analytic,
      objective: () => mlp.evaluate(x, labels).loss,
      indices,
      pattern: reluPattern(mlp),
    });
    expect(skipped).toBeLessThan(indices.length / 4);
    // The loss is summed in double from float32 scores (relative error ~1e-7 of a loss near 1.5), so the
    // quotient with step 1e-2 carries ~1e-5 of rounding, and the sigmoid's curvature an h² truncation of
    // about the same size: atol 1e-4 and rtol 1e-3 are well above both and far below any real error.
    expect(worstFiniteDifference(checked, 1e-4, 1e-3)).toBeLessThanOrEqual(1);
  });

  it("the reference's own gradients, including dX, match float64 finite differences", () => {
    const { mlp, x, labels } = setup(twoHidden, 5, 1200);
    const net = referenceOf(mlp);
    const weights = net.weights.map((w) => Float64Array.from(w));
    const biases = net.biases.map((b) => Float64Array.from(b));
    const input = Float64Array.from(x.data);
    const f64: ReferenceMlp = { ...net, weights, biases };
    const grads = referenceBackward(f64, referenceForward(f64, input, labels, 5), labels, 5);
    const objective = () => referenceForward(f64, input, labels, 5).loss;
    const pairs = [
      ...weights.map((values, l) => ({ values, analytic: grads.dW[l]! })),
      ...biases.map((values, l) => ({ values, analytic: grads.dB[l]! })),
      { values: input, analytic: grads.dX },
    ];
    for (const { values, analytic } of pairs) {
      // float64 throughout: step 1e-5 leaves a truncation of ~1e-10 and a rounding of ~1e-11.
      const { checked } = finiteDifferences({ values, analytic, objective, step: 1e-5 });
      expect(worstFiniteDifference(checked, 1e-8, 1e-6)).toBeLessThanOrEqual(1);
    }
  });

  it('overwrites the gradients on each call instead of accumulating, whatever batch sizes came before', () => {
    const { mlp, x, labels } = setup(twoHidden, 5, 1300);
    const first = mlp.computeGradients(x, labels);
    const grads = mlp.grads.slice();
    const other = setup(twoHidden, 2, 1301);
    mlp.computeGradients(other.x, other.labels);
    mlp.computeGradients(matrix(8, twoHidden.inputs, new Rng(1).fillNormal(new Float32Array(8 * twoHidden.inputs))), new Int32Array(8));
    expect(mlp.computeGradients(x, labels)).toEqual(first);
    expect(bits(mlp.grads)).toEqual(bits(grads));
  });
});

describe('Mlp fused forward and backward', () => {
  /** Standalone layers over a copy of the parameters, run one after the other without any fusion. */
  function unfused(mlp: Mlp) {
    const params = mlp.params.slice();
    const grads = new Float32Array(mlp.size);
    const ws = widths(mlp.shape);
    let w = 0;
    let b = mlp.weightCount;
    const innerProducts = mlp.innerProducts.map((ip) => {
      const n = ip.inputs * ip.outputs;
      const layer = new InnerProduct(ip.inputs, ip.outputs, params.subarray(w, w + n), params.subarray(b, b + ip.outputs), grads.subarray(w, w + n), grads.subarray(b, b + ip.outputs));
      w += n;
      b += ip.outputs;
      return layer;
    });
    const activations = mlp.shape.hidden.map((h) => new Activation(h.activation, h.width));
    const loss = new SoftmaxCrossEntropy(ws[ws.length - 1]!);
    const forward = (x: Matrix): Matrix => {
      let h = x;
      innerProducts.forEach((ip, l) => {
        h = ip.forward(h);
        const activation = activations[l];
        if (activation) h = activation.forward(h);
      });
      return h;
    };
    const computeGradients = (x: Matrix, labels: Int32Array) => {
      const result = loss.forward(forward(x), labels);
      let dy: Matrix = loss.backward();
      for (let l = innerProducts.length - 1; l >= 0; l--) {
        const dx = innerProducts[l]!.backward(dy);
        if (l > 0) dy = activations[l - 1]!.backward(dx!);
      }
      return result;
    };
    return { forward, computeGradients, grads };
  }

  it('Mlp.forward (activations fused into the GEMMs) equals the layers composed one by one, bit for bit', () => {
    const { mlp, x } = setup(twoHidden, 5, 2000);
    const plain = unfused(mlp);
    expect(bits(mlp.forward(x).data)).toEqual(bits(plain.forward(x).data));
  });

  it('computeGradients (activation backward fused into the GEMM above) equals the unfused backward, bit for bit', () => {
    const { mlp, x, labels } = setup(twoHidden, 5, 2001);
    const plain = unfused(mlp);
    expect(mlp.computeGradients(x, labels)).toEqual(plain.computeGradients(x, labels));
    expect(bits(mlp.grads)).toEqual(bits(plain.grads));
  });
});

describe('Mlp initialization', () => {
  it('gives bit-identical parameters for the same seed and different ones for a different seed', () => {
    for (const initializer of ['normal-fan-in', 'he', 'glorot-uniform'] as const) {
      const a = Mlp.initialized(twoHidden, initializer, new Rng(5));
      const b = Mlp.initialized(twoHidden, initializer, new Rng(5));
      const c = Mlp.initialized(twoHidden, initializer, new Rng(6));
      expect(bits(b.params)).toEqual(bits(a.params));
      expect(bits(c.params)).not.toEqual(bits(a.params));
      expect(a.params.subarray(a.weightCount).every((v) => v === 0)).toBe(true);
    }
  });

  /** Mean and standard deviation in float64. */
  function moments(values: Float32Array): { mean: number; std: number; maxAbs: number } {
    let sum = 0;
    let squares = 0;
    let maxAbs = 0;
    for (const v of values) {
      sum += v;
      squares += v * v;
      maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    const mean = sum / values.length;
    return { mean, std: Math.sqrt(squares / values.length - mean * mean), maxAbs };
  }

  // Layer 0 is 784 × 256 (200 704 draws, so the std estimate has a relative σ of 1/sqrt(2n) ≈ 0.16%): 1.5%
  // is about 10σ. Layer 1 is 256 × 10 (2 560 draws, σ ≈ 1.4%): 7%, and it still tells fan-in 256 from 784.
  const large: MlpShape = { inputs: 784, hidden: [{ width: 256, activation: 'relu' }], classes: 10 };

  it.each([
    { initializer: 'normal-fan-in' as Initializer, std: (fanIn: number) => Math.sqrt(1 / fanIn) },
    { initializer: 'he' as Initializer, std: (fanIn: number) => Math.sqrt(2 / fanIn) },
  ])('$initializer draws N(0, std²) with the std of each layer’s own fan-in', ({ initializer, std }) => {
    const mlp = Mlp.initialized(large, initializer, new Rng(77));
    mlp.innerProducts.forEach((ip, l) => {
      const expected = std(ip.inputs);
      const got = moments(ip.weights);
      const tolerance = l === 0 ? 0.015 : 0.07;
      expect(Math.abs(got.std / expected - 1), `layer ${l} std ${got.std} vs ${expected}`).toBeLessThan(tolerance);
      // The mean has σ = std/sqrt(n); 5σ.
      expect(Math.abs(got.mean), `layer ${l} mean`).toBeLessThan((5 * expected) / Math.sqrt(ip.weights.length));
      expect(ip.bias.every((v) => v === 0)).toBe(true);
    });
  });

  it('glorot-uniform stays within ±sqrt(6/(in+out)) with the uniform variance limit²/3', () => {
    const mlp = Mlp.initialized(large, 'glorot-uniform', new Rng(78));
    mlp.innerProducts.forEach((ip, l) => {
      const limit = Math.sqrt(6 / (ip.inputs + ip.outputs));
      const got = moments(ip.weights);
      // Draws are rounded to float32, which may land on the limit itself.
      expect(got.maxAbs, `layer ${l} range`).toBeLessThanOrEqual(Math.fround(limit));
      expect(got.maxAbs, `layer ${l} reaches near the limit`).toBeGreaterThan(0.99 * limit);
      // The variance estimate of a uniform has relative σ sqrt(0.8/n): 0.2% for layer 0, 1.8% for layer 1.
      const variance = got.std ** 2;
      expect(Math.abs(variance / (limit * limit / 3) - 1), `layer ${l} variance`).toBeLessThan(l === 0 ? 0.015 : 0.1);
      expect(ip.bias.every((v) => v === 0)).toBe(true);
    });
  });
});

describe('Mlp shape validation', () => {
  const valid: MlpShape = { inputs: 4, hidden: [{ width: 3, activation: 'sigmoid' }], classes: 2 };

  it.each([
    { field: 'inputs', shape: { ...valid, inputs: 0 } },
    { field: 'inputs', shape: { ...valid, inputs: 2.5 } },
    { field: 'inputs', shape: { ...valid, inputs: Number.NaN } },
    { field: 'hidden[0].width', shape: { ...valid, hidden: [{ width: 0, activation: 'sigmoid' }] } },
    { field: 'hidden[1].width', shape: { ...valid, hidden: [{ width: 3, activation: 'relu' }, { width: 1.5, activation: 'relu' }] } },
    { field: 'hidden[0].width', shape: { ...valid, hidden: [{ width: MAX_WIDTH + 1, activation: 'relu' }] } },
    { field: 'classes', shape: { ...valid, classes: -1 } },
    { field: 'classes', shape: { ...valid, classes: '10' as unknown as number } },
  ] as { field: string; shape: MlpShape }[])('rejects a bad $field with a RangeError naming it', ({ field, shape }) => {
    expect(() => new Mlp(shape)).toThrow(RangeError);
    expect(() => new Mlp(shape)).toThrow(field);
  });

  it('rejects an unknown activation with a TypeError naming the field', () => {
    const shape = { ...valid, hidden: [{ width: 3, activation: 'relu' }, { width: 3, activation: 'tanh' }] } as unknown as MlpShape;
    expect(() => new Mlp(shape)).toThrow(TypeError);
    expect(() => new Mlp(shape)).toThrow('hidden[1].activation');
  });

  it('rejects an unknown initializer with a TypeError naming it', () => {
    expect(() => Mlp.initialized(valid, 'orthogonal' as Initializer, new Rng(1))).toThrow(TypeError);
    expect(() => Mlp.initialized(valid, 'orthogonal' as Initializer, new Rng(1))).toThrow(/initializer/);
  });

  it('carves one block: every weight first, then every bias', () => {
    const mlp = new Mlp(twoHidden);
    expect(mlp.weightCount).toBe(13 * 9 + 9 * 6 + 6 * 4);
    expect(mlp.size).toBe(mlp.weightCount + 9 + 6 + 4);
    expect(mlp.grads.length).toBe(mlp.size);
    expect(mlp.innerProducts.map((ip) => ip.weights.byteOffset / 4)).toEqual([0, 117, 171]);
    expect(mlp.innerProducts.map((ip) => ip.bias.byteOffset / 4)).toEqual([195, 204, 210]);
    expect(mlp.innerProducts.every((ip) => ip.weights.buffer === mlp.params.buffer && ip.gradWeights.buffer === mlp.grads.buffer)).toBe(true);
  });
});

describe('Mlp.predict', () => {
  it('returns probability rows that sum to 1, with the argmax of the forward scores', () => {
    const { mlp, x } = setup(twoHidden, 7, 3000);
    const scores = mlp.forward(x).data.slice();
    const probabilities = mlp.predict(x);
    expect([probabilities.rows, probabilities.cols]).toEqual([7, twoHidden.classes]);
    const reference = referenceForward(referenceOf(mlp), x.data, new Int32Array(7), 7).probabilities;
    expect(maxRelativeError(probabilities.data, reference, 1e-3)).toBeLessThan(1e-4);
    for (let i = 0; i < 7; i++) {
      const row = probabilities.data.subarray(i * 4, i * 4 + 4);
      expect(row.every((p) => p >= 0 && p <= 1)).toBe(true);
      expect(Math.abs(row.reduce((a, p) => a + p, 0) - 1)).toBeLessThan(1e-6);
      expect(argmaxRow(probabilities.data, i, 4)).toBe(argmaxRow(scores, i, 4));
    }
  });
});

describe('Mlp training', () => {
  /** Three Gaussian blobs (σ = 1) in 8 dimensions around seeded centres about 8 apart, shuffled. */
  function blobs(rng: Rng, perClass: number) {
    const dims = 8;
    const classes = 3;
    const centres = Array.from({ length: classes }, () => Array.from({ length: dims }, () => rng.normal(0, 2)));
    const order = Array.from({ length: classes * perClass }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.uniformInt(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const x = new Float32Array(order.length * dims);
    const labels = new Int32Array(order.length);
    order.forEach((sample, row) => {
      const label = sample % classes;
      labels[row] = label;
      for (let d = 0; d < dims; d++) x[row * dims + d] = centres[label]![d]! + rng.normal();
    });
    return { x: matrix(order.length, dims, x), labels, dims, classes };
  }

  it('drives the loss down by a large factor and reaches at least 95% accuracy with plain gradient descent', () => {
    const rng = new Rng(4000);
    const data = blobs(rng, 60);
    const n = data.labels.length;
    const mlp = Mlp.initialized({ inputs: data.dims, hidden: [{ width: 16, activation: 'sigmoid' }], classes: data.classes }, 'normal-fan-in', rng);
    const optimizer = new GradientDescent();
    const before = mlp.evaluate(data.x, data.labels);
    const batch = 20;
    for (let epoch = 0; epoch < 40; epoch++) {
      for (let start = 0; start < n; start += batch) {
        const rows = Math.min(batch, n - start);
        const x = matrix(rows, data.dims, data.x.data.subarray(start * data.dims, (start + rows) * data.dims));
        mlp.computeGradients(x, data.labels.subarray(start, start + rows));
        optimizer.step(mlp, 0.5);
      }
    }
    const after = mlp.evaluate(data.x, data.labels);
    // From about ln 3 to below 1/50 of it: learning, not just running.
    expect(after.loss).toBeLessThan(before.loss / 50);
    expect(after.correct / n).toBeGreaterThanOrEqual(0.95);
  });
});

describe('learningRate', () => {
  it('constant: the base rate at every step', () => {
    for (const step of [0, 1, 57, 999]) expect(learningRate(0.1, { kind: 'constant' }, step, 1000, 10)).toBe(0.1);
  });

  it('step: multiplied by gamma every N epochs', () => {
    const schedule = { kind: 'step', everyEpochs: 2, gamma: 0.5 } as const;
    // 10 steps per epoch: steps 0–19 are epochs 0–1, 20–39 epochs 2–3, and so on.
    const at = (step: number) => learningRate(0.1, schedule, step, 100, 10);
    expect(at(0)).toBe(0.1);
    expect(at(19)).toBe(0.1);
    expect(at(20)).toBeCloseTo(0.05, 15);
    expect(at(39)).toBeCloseTo(0.05, 15);
    expect(at(40)).toBeCloseTo(0.025, 15);
    expect(at(99)).toBeCloseTo(0.1 * 0.5 ** 4, 15);
  });

  it('cosine: the base rate at step 0, minLr at the last step, their average halfway, decreasing between', () => {
    const schedule = { kind: 'cosine', minLr: 0.001 } as const;
    const total = 101;
    const at = (step: number) => learningRate(0.1, schedule, step, total, 10);
    expect(at(0)).toBeCloseTo(0.1, 15);
    expect(at(total - 1)).toBeCloseTo(0.001, 15);
    expect(at((total - 1) / 2)).toBeCloseTo((0.1 + 0.001) / 2, 15);
    for (let step = 1; step < total; step++) expect(at(step)).toBeLessThan(at(step - 1));
  });
});

describe('Mlp dropout', () => {
  /** 13 → 9 sigmoid (dropout 0.3) → 6 ReLU (dropout 0.5) → 4. */
  const dropped: MlpShape = {
    inputs: 13,
    hidden: [
      { width: 9, activation: 'sigmoid', dropout: 0.3 },
      { width: 6, activation: 'relu', dropout: 0.5 },
    ],
    classes: 4,
  };
  const masks = { seed: 9, step: 4 };

  it('computeGradients matches finite differences of the loss with the same masks', () => {
    const { mlp, x, labels, rng } = setup(dropped, 8, 1300);
    mlp.computeGradients(x, labels, masks);
    const analytic = mlp.grads.slice();
    const indices = Array.from({ length: 80 }, () => rng.uniformInt(mlp.size));
    const { checked, skipped } = finiteDifferences({
      values: mlp.params,
      analytic,
      objective: () => mlp.computeGradients(x, labels, masks).loss,
      indices,
      pattern: reluPattern(mlp),
    });
    expect(skipped).toBeLessThan(indices.length / 4);
    expect(checked.length).toBeGreaterThan(40);
    expect(worstFiniteDifference(checked, 1e-4, 1e-3)).toBeLessThanOrEqual(1);
  });

  it('drops in training only: evaluation and prediction equal the same network without dropout, bit for bit', () => {
    const { mlp, x, labels } = setup(dropped, 8, 1400);
    const plain = new Mlp({ ...dropped, hidden: dropped.hidden.map(({ width, activation }) => ({ width, activation })) });
    plain.params.set(mlp.params);
    expect(mlp.evaluate(x, labels)).toEqual(plain.evaluate(x, labels));
    expect(bits(mlp.predict(x).data)).toEqual(bits(plain.predict(x).data));
    // A training step does drop: its loss differs from the plain one's, and each step's masks differ.
    const withMasks = mlp.computeGradients(x, labels, masks).loss;
    expect(withMasks).not.toBe(plain.computeGradients(x, labels).loss);
    expect(mlp.computeGradients(x, labels, { seed: 9, step: 5 }).loss).not.toBe(withMasks);
    expect(mlp.computeGradients(x, labels, masks).loss).toBe(withMasks);
    // And leaves no mask behind for the next evaluation.
    expect(mlp.evaluate(x, labels)).toEqual(plain.evaluate(x, labels));
  });

  it('needs a mask source to train, and refuses rates outside 0–0.9', () => {
    const { mlp, x, labels } = setup(dropped, 2, 1500);
    expect(() => mlp.computeGradients(x, labels)).toThrow(TypeError);
    expect(() => new Mlp({ ...dropped, hidden: [{ width: 4, activation: 'relu', dropout: 0.95 }] })).toThrow(/hidden\[0\]\.dropout/);
  });
});
