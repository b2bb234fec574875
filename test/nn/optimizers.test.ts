import { describe, expect, it } from 'vitest';
import { Adam, createOptimizer, GradientDescent, Momentum, type Optimizer, type ParameterBlock } from '../../src/nn/optimizers.js';
import { Rng } from '../../src/nn/rng.js';
import { maxRelativeError, randomArray } from '../helpers/reference.js';

/** Updates of a float64 copy of the block, written from the textbook formulas. */
interface ReferenceOptimizer {
  step(params: Float64Array, grads: Float64Array, weightCount: number, lr: number): void;
}

/** w ← w − lr·(g + λw), with λ = 0 for the biases. */
function referenceGradientDescent(weightDecay: number): ReferenceOptimizer {
  return {
    step(params, grads, weightCount, lr) {
      for (let i = 0; i < params.length; i++) {
        const decay = i < weightCount ? weightDecay : 0;
        params[i]! -= lr * (grads[i]! + decay * params[i]!);
      }
    },
  };
}

/** v ← μv + (g + λw); w ← w − lr·v, or w − lr·((g + λw) + μv) with Nesterov; λ = 0 for the biases. */
function referenceMomentum(momentum: number, nesterov: boolean, weightDecay: number): ReferenceOptimizer {
  let velocity: Float64Array | undefined;
  return {
    step(params, grads, weightCount, lr) {
      const v = (velocity ??= new Float64Array(params.length));
      for (let i = 0; i < params.length; i++) {
        const g = grads[i]! + (i < weightCount ? weightDecay : 0) * params[i]!;
        v[i] = momentum * v[i]! + g;
        params[i]! -= lr * (nesterov ? g + momentum * v[i]! : v[i]!);
      }
    },
  };
}

/**
 * m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; m̂ = m/(1 − β1ᵗ); v̂ = v/(1 − β2ᵗ);
 * w ← w − lr·(m̂/(√v̂ + ε) + λw), the decay decoupled from the moments (AdamW) and 0 for the biases.
 */
function referenceAdam(beta1: number, beta2: number, epsilon: number, weightDecay: number): ReferenceOptimizer {
  let m: Float64Array | undefined;
  let v: Float64Array | undefined;
  let t = 0;
  return {
    step(params, grads, weightCount, lr) {
      m ??= new Float64Array(params.length);
      v ??= new Float64Array(params.length);
      t++;
      for (let i = 0; i < params.length; i++) {
        const g = grads[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * g;
        v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
        const mHat = m[i]! / (1 - beta1 ** t);
        const vHat = v[i]! / (1 - beta2 ** t);
        params[i]! -= lr * (mHat / (Math.sqrt(vHat) + epsilon) + (i < weightCount ? weightDecay : 0) * params[i]!);
      }
    },
  };
}

/** 7 parameters, the first 4 weights and the last 3 biases: odd sizes, so no SIMD width divides them. */
function block(rng: Rng): ParameterBlock {
  return { params: randomArray(rng, 7), grads: new Float32Array(7), weightCount: 4 };
}

// Three steps with a new gradient and a new learning rate each time, so the state carried between steps
// (velocity, moments, Adam's step count) and the per-call learning rate are both exercised.
const learningRates = [0.1, 0.05, 0.02];

const cases: { name: string; make: () => Optimizer; reference: () => ReferenceOptimizer }[] = [
  { name: 'GradientDescent', make: () => new GradientDescent(), reference: () => referenceGradientDescent(0) },
  { name: 'GradientDescent with weight decay', make: () => new GradientDescent(0.3), reference: () => referenceGradientDescent(0.3) },
  { name: 'Momentum', make: () => new Momentum(0.9, false), reference: () => referenceMomentum(0.9, false, 0) },
  { name: 'Momentum with weight decay', make: () => new Momentum(0.9, false, 0.3), reference: () => referenceMomentum(0.9, false, 0.3) },
  { name: 'Nesterov momentum with weight decay', make: () => new Momentum(0.8, true, 0.3), reference: () => referenceMomentum(0.8, true, 0.3) },
  { name: 'Adam', make: () => new Adam(0.9, 0.999, 1e-8), reference: () => referenceAdam(0.9, 0.999, 1e-8, 0) },
  { name: 'AdamW (weight decay)', make: () => new Adam(0.8, 0.99, 1e-6, 0.3), reference: () => referenceAdam(0.8, 0.99, 1e-6, 0.3) },
  {
    name: 'createOptimizer(adam)',
    make: () => createOptimizer({ kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, 0.1),
    reference: () => referenceAdam(0.9, 0.999, 1e-8, 0.1),
  },
  {
    name: 'createOptimizer(momentum)',
    make: () => createOptimizer({ kind: 'momentum', momentum: 0.9, nesterov: true }, 0.1),
    reference: () => referenceMomentum(0.9, true, 0.1),
  },
  { name: 'createOptimizer(sgd)', make: () => createOptimizer({ kind: 'sgd' }, 0.1), reference: () => referenceGradientDescent(0.1) },
];

describe('optimizers', () => {
  it.each(cases)('$name matches the float64 formulas over 3 steps', ({ make, reference }) => {
    const rng = new Rng(9);
    const b = block(rng);
    const optimizer = make();
    const ref = reference();
    const expected = Float64Array.from(b.params);
    for (const lr of learningRates) {
      randomArray(rng, 7).forEach((g, i) => (b.grads[i] = g));
      optimizer.step(b, lr);
      ref.step(expected, Float64Array.from(b.grads), b.weightCount, lr);
      // float32 arithmetic on values of order 1, a few roundings per step (and the float32 hyperparameters):
      // a few times 2⁻²⁴ ≈ 6e-8 per step; 1e-6 with a floor of 1e-3 for parameters passing near 0.
      expect(maxRelativeError(b.params, expected, 1e-3)).toBeLessThan(1e-6);
    }
  });

  it.each([
    { name: 'GradientDescent', make: () => new GradientDescent(0.5) },
    { name: 'Momentum', make: () => new Momentum(0.9, false, 0.5) },
    { name: 'Nesterov momentum', make: () => new Momentum(0.9, true, 0.5) },
    { name: 'Adam', make: () => new Adam(0.9, 0.999, 1e-8, 0.5) },
  ])('$name: weight decay shrinks params[0, weightCount) and leaves the biases untouched', ({ make }) => {
    const b = block(new Rng(10));
    const before = b.params.slice();
    const optimizer = make();
    // Zero gradients: anything that moves is weight decay alone.
    for (const lr of learningRates) optimizer.step(b, lr);
    for (let i = 0; i < b.weightCount; i++) {
      expect(Math.abs(b.params[i]!), `weight ${i}`).toBeLessThan(Math.abs(before[i]!));
      expect(Math.sign(b.params[i]!), `weight ${i}`).toBe(Math.sign(before[i]!));
    }
    expect(b.params.subarray(b.weightCount)).toEqual(before.subarray(b.weightCount));
    expect(b.grads.every((g) => g === 0)).toBe(true);
  });

  it.each([
    { name: 'GradientDescent', make: () => new GradientDescent(0.1), buffers: 0 },
    { name: 'Nesterov momentum', make: () => new Momentum(0.9, true, 0.1), buffers: 1 },
    { name: 'Adam', make: () => new Adam(0.9, 0.999, 1e-8, 0.1), buffers: 2 },
  ])('$name: a fresh optimizer given the exported state steps bit for bit as the original', ({ make, buffers }) => {
    const rng = new Rng(12);
    const b = block(rng);
    const gradients = Array.from({ length: 5 }, () => randomArray(rng, 7));
    const original = make();
    for (const g of gradients.slice(0, 2)) {
      b.grads.set(g);
      original.step(b, 0.05);
    }
    const state = original.exportState();
    expect(state.buffers).toHaveLength(buffers);
    // A copy of the block and of the state, as a resumed run has them.
    const copy: ParameterBlock = { params: b.params.slice(), grads: new Float32Array(7), weightCount: b.weightCount };
    const resumed = make();
    resumed.importState(copy, { ...state, buffers: state.buffers.map((x) => x.slice()) });
    for (const g of gradients.slice(2)) {
      b.grads.set(g);
      copy.grads.set(g);
      original.step(b, 0.02);
      resumed.step(copy, 0.02);
    }
    expect(copy.params).toEqual(b.params);
    expect(resumed.exportState()).toEqual(original.exportState());
  });

  it('refuses a state of another kind or of another size', () => {
    const b = block(new Rng(1));
    const adam = new Adam(0.9, 0.999, 1e-8);
    expect(() => adam.importState(b, { kind: 'momentum', step: 1, buffers: [new Float32Array(7)] })).toThrow(/adam optimizer state/);
    expect(() => adam.importState(b, { kind: 'adam', step: 1, buffers: [new Float32Array(7), new Float32Array(6)] })).toThrow(/buffer 1/);
    expect(() => new Momentum(0.9, false).importState(b, { kind: 'momentum', step: 1, buffers: [new Float32Array(7), new Float32Array(7)] })).toThrow(/1 buffers/);
  });
});
