/**
 * ONNX graphs for the import tests, built with onnx-proto: the PyTorch fixtures of test/fixtures/onnx, an
 * MLP written every way an exporter may write it, and one file for each thing import refuses.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import type { InferenceLayer } from '../../src/nn/inference.js';

const { onnx } = onnxProto;

export type ModelProto = InstanceType<typeof onnx.ModelProto>;

const folder = fileURLToPath(new URL('../fixtures/onnx/', import.meta.url));

/** A PyTorch fixture: the .onnx file, the input convention it was trained on, what PyTorch answered. */
export interface TorchFixture {
  name: string;
  bytes: Uint8Array;
  inputScale: 'byte' | 'unit';
  mean: number;
  std: number;
  /** For the first `labels.length` MNIST test digits. */
  labels: number[];
  probabilities: number[][];
}

export function torchFixture(name: 'torch-gemm' | 'torch-matmul'): TorchFixture {
  const expected = JSON.parse(readFileSync(`${folder}${name}.expected.json`, 'utf8')) as Omit<TorchFixture, 'name' | 'bytes'>;
  return { name, bytes: new Uint8Array(readFileSync(`${folder}${name}.onnx`)), ...expected };
}

export function fixturePath(name: string): string {
  return `${folder}${name}`;
}

// ----------------------------------------------------------------------------------------------------
// Building graphs

const FLOAT = onnx.TensorProto.DataType.FLOAT;

export function floatTensor(name: string, dims: number[], values: Float32Array, as: 'raw' | 'floats' = 'raw') {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: FLOAT,
    ...(as === 'raw' ? { rawData: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) } : { floatData: Array.from(values) }),
  });
}

export function valueInfo(name: string, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
}

type Attribute = { name: string; f: number } | { name: string; i: number } | { name: string; ints: number[] };

export function node(opType: string, inputs: string[], output: string, attributes: Attribute[] = [], name = output) {
  return onnx.NodeProto.create({
    name,
    opType,
    input: inputs,
    output: [output],
    attribute: attributes.map((a) =>
      onnx.AttributeProto.create({ ...a, type: 'f' in a ? onnx.AttributeProto.AttributeType.FLOAT : 'i' in a ? onnx.AttributeProto.AttributeType.INT : onnx.AttributeProto.AttributeType.INTS }),
    ),
  });
}

/** The (cols × rows) transpose of a row-major (rows × cols) matrix. */
function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

/** How an exporter writes each inner product and its weights. */
export interface GraphStyle {
  /** gemm-t: Gemm with transB = 1 (torch's Linear); gemm: transB = 0; matmul: MatMul then Add(product, bias); matmul-bias-first: Add(bias, product). */
  product: 'gemm-t' | 'gemm' | 'matmul' | 'matmul-bias-first';
  /** raw_data, float_data, or Constant nodes instead of initializers. */
  weights?: 'raw' | 'floats' | 'constant';
  /** The graph's last step. Default none: logits. */
  last?: 'Softmax' | 'LogSoftmax';
  /** The input as [N, 1, 28, 28], then Flatten or Reshape to [N, 784]. */
  flatten?: 'Flatten' | 'Reshape';
  /** List the initializers among the graph inputs too, as exporters before IR 4 did. */
  initializersAsInputs?: boolean;
}

/**
 * An MLP of these layers (activations 'none' on the output layer) as a ModelProto: input "x" [N, 784],
 * layer l's nodes "layer{l}" (the product), "layer{l}.bias" (an Add), "layer{l}.act", output "y".
 */
export function mlpModel(layers: readonly InferenceLayer[], style: GraphStyle = { product: 'gemm-t' }): ModelProto {
  const nodes: ReturnType<typeof node>[] = [];
  const initializers: ReturnType<typeof floatTensor>[] = [];
  const weights = style.weights ?? 'raw';
  const constant = (name: string, dims: number[], values: Float32Array) => {
    const tensor = floatTensor(name, dims, values, weights === 'floats' ? 'floats' : 'raw');
    if (weights !== 'constant') initializers.push(tensor);
    else nodes.push(onnx.NodeProto.create({ name: `${name}.constant`, opType: 'Constant', output: [name], attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: tensor }] }));
  };
  let x = 'x';
  if (style.flatten === 'Flatten') nodes.push(node('Flatten', [x], (x = 'flat'), [{ name: 'axis', i: 1 }]));
  if (style.flatten === 'Reshape') {
    initializers.push(onnx.TensorProto.create({ name: 'shape', dims: [2], dataType: onnx.TensorProto.DataType.INT64, int64Data: [-1, 784] }));
    nodes.push(node('Reshape', [x, 'shape'], (x = 'flat')));
  }
  layers.forEach((layer, l) => {
    const w = `layer${l}.weight`;
    const b = `layer${l}.b`;
    const product = `layer${l}`;
    if (style.product === 'gemm-t' || style.product === 'gemm') {
      const transB = style.product === 'gemm-t';
      constant(w, transB ? [layer.outputs, layer.inputs] : [layer.inputs, layer.outputs], transB ? transposed(layer.weights, layer.inputs, layer.outputs) : layer.weights);
      constant(b, [layer.outputs], layer.bias);
      nodes.push(node('Gemm', [x, w, b], product, [{ name: 'alpha', f: 1 }, { name: 'beta', f: 1 }, ...(transB ? [{ name: 'transB', i: 1 }] : [])]));
      x = product;
    } else {
      constant(w, [layer.inputs, layer.outputs], layer.weights);
      constant(b, [layer.outputs], layer.bias);
      nodes.push(node('MatMul', [x, w], product));
      nodes.push(node('Add', style.product === 'matmul' ? [product, b] : [b, product], (x = `${product}.bias`)));
    }
    if (layer.activation !== 'none') nodes.push(node(layer.activation === 'relu' ? 'Relu' : 'Sigmoid', [x], (x = `${product}.act`)));
  });
  if (style.last) nodes.push(node(style.last, [x], (x = 'probabilities'), [{ name: 'axis', i: 1 }]));
  nodes.at(-1)!.output = ['y'];
  const classes = layers.at(-1)!.outputs;
  return onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'fastmlp-tests',
    producerVersion: '1',
    graph: {
      name: 'mlp',
      node: nodes,
      initializer: initializers,
      input: [valueInfo('x', style.flatten ? ['N', 1, 28, 28] : ['N', layers[0]!.inputs]), ...(style.initializersAsInputs ? initializers.map((t) => valueInfo(t.name, t.dims.map(Number))) : [])],
      output: [valueInfo('y', ['N', classes])],
    },
  });
}

export function encode(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Seeded layers: inputs → widths[0] relu → … → the last width, its activation 'none'. */
export function seededLayers(inputs: number, widths: number[], seed = 1): InferenceLayer[] {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  let n = inputs;
  return widths.map((outputs, l) => {
    const layer: InferenceLayer = {
      inputs: n,
      outputs,
      weights: Float32Array.from({ length: n * outputs }, () => next() / Math.sqrt(n)),
      bias: Float32Array.from({ length: outputs }, () => next() / 10),
      activation: l === widths.length - 1 ? 'none' : 'relu',
    };
    n = outputs;
    return layer;
  });
}

// ----------------------------------------------------------------------------------------------------
// What import refuses

export interface Refusal {
  /** What the file is. */
  name: string;
  bytes: () => Uint8Array;
  /** The error message after its source (`model: `, a file's name, `body: `); the start of it for files that are not ONNX. */
  message: string;
  /** The node the error names, when it names one. */
  node?: { name: string; opType: string };
}

/** The same small MLP, edited by `edit` before it is encoded. */
function edited(edit: (model: ModelProto) => void, layers = seededLayers(784, [32, 10])): Uint8Array {
  const model = mlpModel(layers);
  edit(model);
  return encode(model);
}

const initializer = (model: ModelProto, name: string) => model.graph!.initializer!.find((t) => t.name === name)!;
const graphNode = (model: ModelProto, name: string) => model.graph!.node!.find((n) => n.name === name)!;

/** Deterministic bytes that are no protobuf message. */
function noise(count: number): Uint8Array {
  let state = 7;
  return Uint8Array.from({ length: count }, () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24);
}

export const refusals: Refusal[] = [
  {
    name: 'an operator other than those of an MLP (Tanh)',
    bytes: () => edited((m) => (graphNode(m, 'layer0.act').opType = 'Tanh')),
    message: 'node "layer0.act" (Tanh): is not an operator fastmlp imports: it reads Gemm, MatMul, Add, Relu, Sigmoid, Softmax, LogSoftmax (and Flatten or Reshape at the input; ArgMax after the output)',
    node: { name: 'layer0.act', opType: 'Tanh' },
  },
  {
    name: 'a convolution',
    bytes: () => edited((m) => (graphNode(m, 'layer0').opType = 'Conv')),
    message: 'node "layer0" (Conv): is not an operator fastmlp imports: it reads Gemm, MatMul, Add, Relu, Sigmoid, Softmax, LogSoftmax (and Flatten or Reshape at the input; ArgMax after the output)',
    node: { name: 'layer0', opType: 'Conv' },
  },
  {
    name: 'an input of 100 values, not 784',
    bytes: () => encode(mlpModel(seededLayers(100, [32, 10]))),
    message: 'graph input "x": is [N, 100], 100 values an image: the model\'s input must be a 28×28 = 784 vector',
  },
  {
    name: 'a first layer of 100 inputs under an input of no declared shape',
    bytes: () => {
      const model = mlpModel(seededLayers(100, [32, 10]));
      model.graph!.input![0]!.type!.tensorType!.shape = null;
      return encode(model);
    },
    message: 'node "layer0" (Gemm): takes 100 inputs, but the model\'s input must be a 28×28 = 784 vector',
    node: { name: 'layer0', opType: 'Gemm' },
  },
  {
    name: 'layers whose shapes do not chain',
    bytes: () => {
      const [first, , last] = seededLayers(784, [32, 20, 10]);
      return encode(mlpModel([first!, { ...seededLayers(20, [16])[0]!, activation: 'relu' }, { ...last!, inputs: 16, weights: last!.weights.subarray(0, 160) }]));
    },
    message: 'node "layer1" (Gemm): takes 20 inputs, but the layer before gives 32: the shapes do not chain',
    node: { name: 'layer1', opType: 'Gemm' },
  },
  {
    name: 'weights in external data',
    bytes: () =>
      edited((m) => {
        const w = initializer(m, 'layer0.weight');
        w.rawData = new Uint8Array(0);
        w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        w.externalData = [{ key: 'location', value: 'weights.bin' }];
      }),
    message: 'node "layer0" (Gemm): weights "layer0.weight" is external data (data_location EXTERNAL, in a file beside the model), which fastmlp does not read: save the model with its weights inside',
    node: { name: 'layer0', opType: 'Gemm' },
  },
  {
    name: 'double-precision weights',
    bytes: () => edited((m) => (initializer(m, 'layer0.weight').dataType = onnx.TensorProto.DataType.DOUBLE)),
    message: 'node "layer0" (Gemm): weights "layer0.weight" is DOUBLE, not FLOAT: fastmlp imports float32 weights only',
    node: { name: 'layer0', opType: 'Gemm' },
  },
  {
    name: 'a Gemm with alpha 2',
    bytes: () => edited((m) => (graphNode(m, 'layer0').attribute![0]!.f = 2)),
    message: 'node "layer0" (Gemm): has alpha 2 and beta 1; fastmlp imports Gemm with alpha = beta = 1 only',
    node: { name: 'layer0', opType: 'Gemm' },
  },
  {
    name: 'two inputs',
    bytes: () => edited((m) => m.graph!.input!.push(valueInfo('mask', ['N', 784]))),
    message: 'the graph has 2 inputs ("x", "mask"); fastmlp imports models of one input, the image',
  },
  {
    name: 'an output layer that ends in Sigmoid',
    bytes: () => encode(mlpModel(seededLayers(784, [32, 10]).map((l) => ({ ...l, activation: 'sigmoid' as const })))),
    message: "the graph ends in Sigmoid: the output layer must give logits or a Softmax (fastmlp's output layer is a softmax)",
  },
  {
    name: 'a single class',
    bytes: () => encode(mlpModel(seededLayers(784, [32, 1]))),
    message: 'the graph gives 1 output; a classifier needs at least 2 classes',
  },
  { name: 'an empty file', bytes: () => new Uint8Array(0), message: 'not an ONNX model: the file is empty' },
  { name: 'random bytes', bytes: () => noise(4096), message: 'not an ONNX model: it does not decode as a ModelProto (invalid wire type 4 at offset 2)' },
  { name: 'a PNG image', bytes: () => new Uint8Array(readFileSync(fileURLToPath(new URL('../../docs/web.png', import.meta.url)))), message: 'not an ONNX model: it does not decode as a ModelProto' },
  { name: 'a protobuf message with no IR version', bytes: () => encode(onnx.ModelProto.create({ producerName: 'x', graph: { name: 'g' } })), message: 'not an ONNX model: it has no IR version' },
  { name: 'a model with no graph', bytes: () => encode(onnx.ModelProto.create({ irVersion: 7 })), message: 'not an ONNX model: it has no graph' },
];
