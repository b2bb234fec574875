/**
 * A trained network as an ONNX model (onnx-proto: the official onnx.proto, compiled), for ONNX Runtime and
 * every runtime that reads opset 13:
 *
 *     pixels FLOAT [N, inputs], 0–255 as /predict takes them
 *       → Gemm (the first layer with the standardization folded in, as the inference network folds it)
 *       → Relu | Sigmoid → Gemm → … → Softmax(axis 1) → probabilities FLOAT [N, classes]
 *                                                    → ArgMax(axis 1) → label INT64 [N]
 *
 * The batch dimension is dynamic. Weights are initializers in raw little-endian bytes; metadata_props hold
 * whatever the caller passes (the recipe and metrics as JSON, for a checkpoint).
 */
import { endianness } from 'node:os';
import onnxProto from 'onnx-proto';
import type { InferenceNetwork } from '../nn/inference.js';

const { onnx } = onnxProto;

/** The opset the graph is written for, and the IR version that goes with it. */
export const ONNX_OPSET = 13;
export const ONNX_IR_VERSION = 7;

export interface OnnxExportOptions {
  /** Written into metadata_props, as they are. */
  metadata?: Record<string, string>;
  /** producer_version; default none. */
  version?: string;
  /** doc_string of the graph. */
  description?: string;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function rawFloats(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  if (endianness() === 'LE') {
    bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  } else {
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  }
  return bytes;
}

function initializer(name: string, dims: number[], values: Float32Array) {
  return onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: rawFloats(values) });
}

function tensorType(name: string, elemType: number, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
}

function intAttribute(name: string, value: number) {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
}

/** The network as the bytes of an ONNX ModelProto. */
export function exportOnnx(network: InferenceNetwork, options: OnnxExportOptions = {}): Uint8Array {
  const nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  const initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  let input = 'pixels';
  network.layers.forEach((layer, l) => {
    // The first layer takes bytes as they are: its weights and bias carry the standardization.
    const { weights, bias } = l === 0 ? network.foldedFirstLayer() : layer;
    initializers.push(initializer(`layer${l}.weight`, [layer.inputs, layer.outputs], weights), initializer(`layer${l}.bias`, [layer.outputs], bias));
    const product = `layer${l}.gemm`;
    nodes.push(onnx.NodeProto.create({ name: product, opType: 'Gemm', input: [input, `layer${l}.weight`, `layer${l}.bias`], output: [product] }));
    input = product;
    if (layer.activation !== 'none') {
      const activated = `layer${l}.${layer.activation}`;
      nodes.push(onnx.NodeProto.create({ name: activated, opType: layer.activation === 'relu' ? 'Relu' : 'Sigmoid', input: [input], output: [activated] }));
      input = activated;
    }
  });
  nodes.push(
    onnx.NodeProto.create({ name: 'softmax', opType: 'Softmax', input: [input], output: ['probabilities'], attribute: [intAttribute('axis', 1)] }),
    onnx.NodeProto.create({ name: 'argmax', opType: 'ArgMax', input: ['probabilities'], output: ['label'], attribute: [intAttribute('axis', 1), intAttribute('keepdims', 0)] }),
  );
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'fastmlp',
    ...(options.version ? { producerVersion: options.version } : {}),
    graph: {
      name: 'fastmlp',
      ...(options.description ? { docString: options.description } : {}),
      node: nodes,
      initializer: initializers,
      input: [tensorType('pixels', FLOAT, ['N', network.inputs])],
      output: [tensorType('probabilities', FLOAT, ['N', network.classes]), tensorType('label', INT64, ['N'])],
    },
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}
