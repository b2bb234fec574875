import { describe, expect, it } from 'vitest';
import { Mlp } from '../../src/nn/mlp.js';
import { Rng } from '../../src/nn/rng.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint.js';
import { fromCheckpoint, toCheckpoint, type ModelInfo } from '../../src/train/snapshot.js';
import { quickRecipe } from '../helpers/datasets.js';

const shape = { inputs: 12, hidden: [{ width: 7, activation: 'sigmoid' as const }, { width: 5, activation: 'relu' as const }], classes: 3 };
const info: ModelInfo = {
  inputRows: 3,
  inputCols: 4,
  normalization: { mode: 'global', mean: Float32Array.of(30), std: Float32Array.of(70) },
  recipe: quickRecipe(),
  metrics: { fold: 2, epoch: 4, trainLoss: 0.5, trainAccuracy: 0.8, validLoss: 0.6, validAccuracy: 0.75 },
};

function network(seed: number): Mlp {
  const mlp = Mlp.initialized(shape, 'glorot-uniform', new Rng(seed));
  // Non-zero biases, so that a mix-up of weights and biases would show.
  mlp.innerProducts.forEach((ip, l) => ip.bias.forEach((_, j) => (ip.bias[j] = 0.01 * (l + 1) * (j + 1))));
  return mlp;
}

describe('toCheckpoint and fromCheckpoint', () => {
  it('round-trip every layer to the bit, through the checkpoint bytes too', () => {
    const mlp = network(1);
    const checkpoint = toCheckpoint(mlp, info);
    expect(checkpoint.architecture).toEqual({
      inputRows: 3,
      inputCols: 4,
      classes: 3,
      layers: [
        { inputs: 12, outputs: 7, activation: 'sigmoid' },
        { inputs: 7, outputs: 5, activation: 'relu' },
        { inputs: 5, outputs: 3, activation: 'softmax' },
      ],
    });
    for (const restored of [fromCheckpoint(checkpoint), fromCheckpoint(decodeCheckpoint(encodeCheckpoint(checkpoint)))]) {
      expect(restored.shape).toEqual(shape);
      expect(restored.params).toEqual(mlp.params);
    }
  });

  it('copies the parameters, from the network or from a given block laid out like it', () => {
    const mlp = network(2);
    const checkpoint = toCheckpoint(mlp, info);
    const kept = mlp.params.slice();
    mlp.params.fill(0);
    expect(fromCheckpoint(checkpoint).params).toEqual(kept);
    // The best epoch's block of another network of the same shape.
    const best = network(3).params;
    const fromBlock = toCheckpoint(mlp, info, best);
    expect(fromCheckpoint(fromBlock).params).toEqual(best);
    expect(fromBlock.layers[1]!.bias).toEqual(best.subarray(mlp.weightCount + 7, mlp.weightCount + 12));
  });

  it('refuses a softmax anywhere but the output layer', () => {
    const checkpoint = toCheckpoint(network(4), info);
    checkpoint.architecture.layers[0]!.activation = 'softmax';
    expect(() => fromCheckpoint(checkpoint)).toThrow(TypeError);
  });
});
