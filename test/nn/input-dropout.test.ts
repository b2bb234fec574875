import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { dropoutKey } from '../../src/nn/layers.js';
import { INPUT_MASK_LAYER, Mlp } from '../../src/nn/mlp.js';
import { matrix, type PixelBatch } from '../../src/nn/matrix.js';
import { Rng } from '../../src/nn/rng.js';
import { finiteDifferences, worstFiniteDifference } from '../helpers/reference-mlp.js';
import { dropoutKept } from '../helpers/reference.js';

function pixels(rng: Rng, samples: number, features: number): Uint8Array {
  return Uint8Array.from({ length: samples * features }, () => (rng.uniformInt(3) === 0 ? 0 : 1 + rng.uniformInt(255)));
}

describe('gatherRows with dropout (input dropout)', () => {
  it('zeroes exactly the masked bytes of the gathered rows, a share within 6σ of the rate', () => {
    const rng = new Rng(61);
    const [samples, features] = [500, 97];
    const bytes = pixels(rng, samples, features);
    const indices = Int32Array.from({ length: 300 }, () => rng.uniformInt(samples));
    for (const [rate, key] of [[0.2, 7], [0.5, 123456789]] as const) {
      const out = new Uint8Array(indices.length * features);
      native.gatherRows({ bytes, rowLength: features, indices, out, dropout: { rate, key } });
      let dropped = 0;
      for (let r = 0; r < indices.length; r++) {
        for (let p = 0; p < features; p++) {
          const source = bytes[indices[r]! * features + p]!;
          const keep = dropoutKept(key, r * features + p, rate);
          expect(out[r * features + p]).toBe(keep ? source : 0);
          dropped += keep ? 0 : 1;
        }
      }
      const n = indices.length * features, sigma = Math.sqrt(n * rate * (1 - rate));
      expect(Math.abs(dropped - n * rate)).toBeLessThan(6 * sigma);
    }
    const plain = new Uint8Array(indices.length * features);
    native.gatherRows({ bytes, rowLength: features, indices, out: plain, dropout: { rate: 0, key: 3 } });
    expect(plain).toEqual(Uint8Array.from(Array.from(indices).flatMap((i) => Array.from(bytes.subarray(i * features, (i + 1) * features)))));
    expect(() => native.gatherRows({ bytes, rowLength: features, indices, out: plain, dropout: { rate: 1, key: 3 } })).toThrow(RangeError);
    expect(() => native.gatherRows({ bytes, rowLength: features, indices, out: plain, dropout: { rate: 0.1, key: -1 } })).toThrow(TypeError);
  });
});

describe('Mlp input dropout', () => {
  const features = 23;
  const shape = { inputs: features, hidden: [{ width: 9, activation: 'relu' as const }], classes: 4, inputDropout: 0.3 };
  const rng = new Rng(62);
  const bytes = pixels(rng, 40, features);
  const rows = Int32Array.from({ length: 16 }, () => rng.uniformInt(40));
  const mean = Float32Array.of(60), invStd = Float32Array.of(1 / 70);
  const batch: PixelBatch = { rows: rows.length, cols: features, source: { bytes, rowLength: features, rows, mean, invStd } };
  const labels = Int32Array.from({ length: rows.length }, () => rng.uniformInt(4));
  const masks = { seed: 9, step: 4 };

  function trained(): Mlp {
    const mlp = Mlp.initialized(shape, 'he', new Rng(63));
    new Rng(64).fillUniform(mlp.params.subarray(mlp.weightCount), -0.5, 0.5);
    return mlp;
  }

  it('trains on (P∘m/(1 − r) − μ)·s: the gradients of the same network on that input in floats', () => {
    const mlp = trained();
    mlp.computeGradients(batch, labels, masks);
    const key = dropoutKey(masks.seed, masks.step, INPUT_MASK_LAYER);
    const x = new Float32Array(rows.length * features);
    for (let r = 0; r < rows.length; r++) {
      for (let p = 0; p < features; p++) {
        const byte = dropoutKept(key, r * features + p, 0.3) ? bytes[rows[r]! * features + p]! / 0.7 : 0;
        x[r * features + p] = (byte - 60) / 70;
      }
    }
    const plain = new Mlp({ ...shape, inputDropout: 0 });
    plain.params.set(mlp.params);
    plain.computeGradients(matrix(rows.length, features, x), labels);
    for (let i = 0; i < mlp.size; i++) expect(Math.abs(mlp.grads[i]! - plain.grads[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(plain.grads[i]!)));
    // Finite differences of the loss with the same mask.
    const analytic = mlp.grads.slice();
    const indices = Array.from({ length: 40 }, () => rng.uniformInt(mlp.size));
    const pattern = () => Array.from(mlp.activations[0]!.output!.data, (v) => (v > 0 ? 1 : 0)).join('');
    const { checked } = finiteDifferences({ values: mlp.params, analytic, objective: () => mlp.computeGradients(batch, labels, masks).loss, indices, pattern });
    expect(checked.length).toBeGreaterThan(20);
    expect(worstFiniteDifference(checked, 1e-3, 1e-2)).toBeLessThanOrEqual(1);
  });

  it('draws its mask from the seed and step, and never drops in evaluation', () => {
    const mlp = trained();
    const at = (step: number) => {
      mlp.computeGradients(batch, labels, { seed: 9, step });
      return mlp.grads.slice();
    };
    expect(at(4)).toEqual(at(4));
    expect(at(5)).not.toEqual(at(4));
    const plain = new Mlp({ ...shape, inputDropout: 0 });
    plain.params.set(mlp.params);
    expect(mlp.evaluate(batch, labels)).toEqual(plain.evaluate(batch, labels));
    expect(() => mlp.computeGradients(matrix(rows.length, features), labels, masks)).toThrow(/pixel batch/);
    expect(() => new Mlp({ ...shape, inputDropout: 0.95 })).toThrow(/inputDropout/);
  });
});
