/**
 * An ONNX model made into a checkpoint (onnx/import.ts reads the graph): its inner products as fastmlp's,
 * the input convention stated on import as the checkpoint's standardization in byte units, and the file it
 * came from. Served from then on like a trained model: pixels 0–255 (or 0–1 with scale 'unit') in,
 * standardized inside.
 */
import { createHash } from 'node:crypto';
import type { PixelScale } from '../nn/inference.js';
import { importOnnx, type OnnxNetwork } from '../onnx/import.js';
import type { Checkpoint, InputConvention } from '../train/checkpoint.js';

/** The pixels the imported network was trained on; every field has its default. */
export interface OnnxImportOptions {
  /** 'byte': 0–255 (the default); 'unit': 0–1, as torchvision's ToTensor gives them. */
  inputScale?: PixelScale;
  /** Subtracted from each pixel on `inputScale`, as Normalize((mean,), (std,)) does. Default 0. */
  mean?: number;
  /** Divides each pixel after the mean, on `inputScale`. Default 1. */
  std?: number;
}

/** The side of the square images an imported network takes: 28 × 28 = 784 pixels. */
const IMAGE_SIDE = 28;

/**
 * The checkpoint of an ONNX model's bytes, and the graph as it was read.
 *
 * @param source - the file the bytes came from, named in errors
 * @throws OnnxImportError naming `source`, the node (or graph input) and the problem
 * @throws RangeError if the mean is not finite or the std not positive
 */
export function onnxCheckpoint(bytes: Uint8Array, options: OnnxImportOptions = {}, source?: string): { checkpoint: Checkpoint; network: OnnxNetwork } {
  const input: InputConvention = { scale: options.inputScale ?? 'byte', mean: options.mean ?? 0, std: options.std ?? 1 };
  if (!Number.isFinite(input.mean)) throw new RangeError(`Expected a finite mean but received ${input.mean}`);
  if (!(input.std > 0 && Number.isFinite(input.std))) throw new RangeError(`Expected a positive std but received ${input.std}`);
  const network = importOnnx(bytes, source);
  // On the unit scale x/255 − mean = (x − 255·mean)/255: the same standardization in byte units.
  const toBytes = input.scale === 'unit' ? 255 : 1;
  const last = network.layers.length - 1;
  const checkpoint: Checkpoint = {
    architecture: {
      inputRows: IMAGE_SIDE,
      inputCols: IMAGE_SIDE,
      classes: network.layers[last]!.outputs,
      layers: network.layers.map((layer, l) => ({
        inputs: layer.inputs,
        outputs: layer.outputs,
        // importOnnx gives every layer but the output layer its Relu or Sigmoid.
        activation: l === last ? 'softmax' : (layer.activation as 'relu' | 'sigmoid'),
      })),
    },
    layers: network.layers.map(({ inputs, outputs, weights, bias }) => ({ inputs, outputs, weights, bias })),
    normalization: { mode: 'global', mean: Float32Array.of(input.mean * toBytes), std: Float32Array.of(input.std * toBytes) },
    importedFrom: {
      format: 'onnx',
      producerName: network.producerName,
      producerVersion: network.producerVersion,
      graphName: network.graphName,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      input,
    },
  };
  return { checkpoint, network };
}
