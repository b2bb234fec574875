import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { InferenceNetwork, type InferenceLayer, type InputStandardization } from '../../src/nn/inference.js';
import { Mlp } from '../../src/nn/mlp.js';
import { Rng } from '../../src/nn/rng.js';
import { referenceForward, type ReferenceActivation } from '../helpers/reference-mlp.js';
import { randomArray } from '../helpers/reference.js';

const INPUTS = 37;
const WIDTHS = [INPUTS, 29, 17, 10];
const ACTIVATIONS: ReferenceActivation[] = ['relu', 'sigmoid'];

function network(rng: Rng, perPixel: boolean): InferenceNetwork {
  const layers: InferenceLayer[] = WIDTHS.slice(1).map((outputs, l) => ({
    inputs: WIDTHS[l]!,
    outputs,
    weights: randomArray(rng, WIDTHS[l]! * outputs, -0.4, 0.4),
    bias: randomArray(rng, outputs, -0.2, 0.2),
    activation: ACTIVATIONS[l] ?? 'none',
  }));
  const statistics = perPixel ? INPUTS : 1;
  const standardization: InputStandardization = {
    mean: randomArray(rng, statistics, 20, 120),
    invStd: randomArray(rng, statistics, 0.005, 0.03),
  };
  return new InferenceNetwork(layers, standardization);
}

/** Sparse bytes, like digits: most pixels zero. */
function images(rng: Rng, count: number): Uint8Array {
  return Uint8Array.from({ length: count * INPUTS }, () => (rng.nextDouble() < 0.7 ? 0 : rng.uniformInt(256)));
}

/** Probabilities of the float64 reference MLP on the standardized images. */
function reference(net: InferenceNetwork, pixels: Uint8Array): Float64Array {
  const count = pixels.length / INPUTS;
  const { mean, invStd } = net.standardization;
  const x = Float64Array.from(pixels, (p, i) => {
    const j = mean.length > 1 ? i % INPUTS : 0;
    return (p - mean[j]!) * invStd[j]!;
  });
  const ref = {
    widths: WIDTHS,
    activations: ACTIVATIONS,
    weights: net.layers.map((layer) => layer.weights),
    biases: net.layers.map((layer) => layer.bias),
  };
  return referenceForward(ref, x, new Int32Array(count), count).probabilities;
}

function bits(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe.each([false, true])('InferenceNetwork (per-pixel statistics: %s)', (perPixel) => {
  const rng = new Rng(perPixel ? 11 : 12);
  const net = network(rng, perPixel);

  // 5 images take the folded first layer (numbers), 150 the byte form that skips zero pixels.
  it.each([5, 150])('predicts %i images as the float64 reference does, from bytes, numbers and unit-scale numbers', (count) => {
    const pixels = images(rng, count);
    const expected = reference(net, pixels);
    const inputs = [
      net.predict(pixels),
      net.predict(Float32Array.from(pixels)),
      net.predict(Array.from(pixels)),
      net.predict(Float32Array.from(pixels, (p) => p / 255), 'unit'),
    ];
    for (const p of inputs) {
      expect(p.classes).toBe(10);
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(p.probabilities[i]! - expected[i]!));
      expect(worst).toBeLessThan(2e-6);
      for (let i = 0; i < count; i++) {
        const row = p.probabilities.subarray(i * 10, (i + 1) * 10);
        expect(row[p.labels[i]!]).toBe(Math.max(...row));
      }
    }
  });

  it.each([5, 150])('gives the same bits for %i images synchronously, on one thread, and off the calling thread', async (count) => {
    const pixels = images(rng, count);
    const floats = Float32Array.from(pixels, (p) => p / 255);
    const sync = net.predict(pixels);
    const oneThread = net.predict(pixels, 'byte', { threads: 1 });
    const [async, asyncUnit] = await Promise.all([net.predictAsync(pixels), net.predictAsync(floats, 'unit')]);
    expect(bits(oneThread.probabilities).equals(bits(sync.probabilities))).toBe(true);
    expect(bits(async.probabilities).equals(bits(sync.probabilities))).toBe(true);
    expect(async.labels).toEqual(sync.labels);
    expect(bits(asyncUnit.probabilities).equals(bits(net.predict(floats, 'unit').probabilities))).toBe(true);
    // The caller's thread limit is back as it was.
    expect(native.getCallerThreads()).toBe(0);
  });

  it('rejects input of the wrong length or with a non-finite number', async () => {
    expect(() => net.predict(new Uint8Array(INPUTS + 1))).toThrow(RangeError);
    expect(() => net.predict(new Uint8Array(0))).toThrow(/positive multiple of 37/);
    const numbers = Array.from(images(rng, 2));
    numbers[INPUTS + 3] = Number.NaN;
    expect(() => net.predict(numbers)).toThrow(/pixel 40\b/);
    await expect(net.predictAsync(Float32Array.of(...new Array<number>(INPUTS).fill(Number.POSITIVE_INFINITY)))).rejects.toThrow(TypeError);
  });
});

describe('InferenceNetwork.fromMlp', () => {
  it('predicts what the training network computes on standardized bytes, to the bit', () => {
    const rng = new Rng(5);
    const mlp = Mlp.initialized({ inputs: INPUTS, hidden: [{ width: 29, activation: 'sigmoid' }], classes: 10 }, 'normal-fan-in', rng);
    const standardization = { mean: Float32Array.of(33), invStd: Float32Array.of(0.02) };
    const net = InferenceNetwork.fromMlp(mlp, standardization);
    const pixels = images(rng, 100);
    const rows = Int32Array.from({ length: 100 }, (_, i) => i);
    const trained = mlp.predict({ rows: 100, cols: INPUTS, source: { bytes: pixels, rowLength: INPUTS, rows, ...standardization } });
    expect(bits(net.predict(pixels).probabilities).equals(bits(trained.data))).toBe(true);
  });

  it('refuses layers that do not fit together and statistics of the wrong length', () => {
    const layer = (inputs: number, outputs: number): InferenceLayer => ({
      inputs,
      outputs,
      weights: new Float32Array(inputs * outputs),
      bias: new Float32Array(outputs),
      activation: 'none',
    });
    const one = { mean: Float32Array.of(0), invStd: Float32Array.of(1) };
    expect(() => new InferenceNetwork([], one)).toThrow(RangeError);
    expect(() => new InferenceNetwork([layer(4, 3), layer(2, 2)], one)).toThrow(/layer 1 takes 2 inputs/);
    expect(() => new InferenceNetwork([{ ...layer(4, 3), bias: new Float32Array(2) }], one)).toThrow(/layer 0/);
    expect(() => new InferenceNetwork([layer(4, 3)], { mean: new Float32Array(3), invStd: new Float32Array(3) })).toThrow(/length 1 or 4/);
  });
});
