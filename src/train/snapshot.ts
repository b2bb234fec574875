/** Between a live network and its checkpoint. */
import type { Standardization } from '../data/normalize.js';
import { Mlp } from '../nn/mlp.js';
import type { Checkpoint, CheckpointMetrics, TrainedCheckpoint } from './checkpoint.js';
import type { TrainRecipe } from './types.js';

export interface ModelInfo {
  inputRows: number;
  inputCols: number;
  normalization: Standardization;
  recipe: TrainRecipe;
  metrics: CheckpointMetrics;
  classNames?: string[];
}

/** A checkpoint of the network with the given parameters (a copy of the network's own by default). */
export function toCheckpoint(model: Mlp, info: ModelInfo, params: Float32Array = model.params): TrainedCheckpoint {
  const offset = (view: Float32Array) => view.byteOffset - model.params.byteOffset;
  const copy = (view: Float32Array) => {
    const start = offset(view) / Float32Array.BYTES_PER_ELEMENT;
    return params.slice(start, start + view.length);
  };
  const last = model.innerProducts.length - 1;
  return {
    architecture: {
      inputRows: info.inputRows,
      inputCols: info.inputCols,
      classes: model.shape.classes,
      layers: model.innerProducts.map((ip, l) => ({
        inputs: ip.inputs,
        outputs: ip.outputs,
        activation: l === last ? 'softmax' : model.activations[l]!.kind,
      })),
    },
    layers: model.innerProducts.map((ip) => ({
      inputs: ip.inputs,
      outputs: ip.outputs,
      weights: copy(ip.weights),
      bias: copy(ip.bias),
    })),
    normalization: info.normalization,
    recipe: info.recipe,
    metrics: info.metrics,
    ...(info.classNames ? { classNames: info.classNames } : {}),
  };
}

/** The network a checkpoint describes, with its parameters loaded. */
export function fromCheckpoint(checkpoint: Checkpoint): Mlp {
  const { architecture, layers } = checkpoint;
  const hidden = architecture.layers.slice(0, -1).map((layer) => {
    if (layer.activation === 'softmax') throw new TypeError('only the output layer may be softmax');
    return { width: layer.outputs, activation: layer.activation };
  });
  const model = new Mlp({ inputs: architecture.inputRows * architecture.inputCols, hidden, classes: architecture.classes });
  model.innerProducts.forEach((ip, l) => {
    ip.weights.set(layers[l]!.weights);
    ip.bias.set(layers[l]!.bias);
  });
  return model;
}
