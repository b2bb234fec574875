/**
 * An ONNX model (onnx-proto: the official onnx.proto, compiled) read back into the inner products of a dense
 * MLP: the graphs torch.onnx.export writes for nn.Sequential of Linear / ReLU / Sigmoid (/ Softmax), and
 * those of onnx/export.ts:
 *
 *     input FLOAT [N, 784]  (or [N, 1, 28, 28] → Flatten | Reshape to [N, 784])
 *       → Gemm (alpha = beta = 1, transB 0 or 1) | MatMul [+ Add, either operand order]
 *       → Relu | Sigmoid → … → the output layer's product [→ Softmax | LogSoftmax (axis 1)]
 *       → output  [→ ArgMax, ignored]
 *
 * Weights are initializers (raw little-endian bytes or float_data) or Constant nodes. The graph is followed
 * from its one input to its output; anything else is refused with an OnnxImportError that names the node
 * and the problem. Whatever the graph's last step, the network gives probabilities: the output layer is a
 * softmax, as fastmlp's is.
 */
import { endianness } from 'node:os';
import onnxProto, { type onnx as proto } from 'onnx-proto';
import type { InferenceLayer } from '../nn/inference.js';

const { onnx } = onnxProto;

type ModelProto = InstanceType<typeof onnx.ModelProto>;
type TensorProto = proto.ITensorProto;
type ValueInfoProto = proto.IValueInfoProto;

/** A NodeProto with its optional fields settled. */
interface Node {
  index: number;
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: proto.IAttributeProto[];
  /** `node "/1/Gemm" (Gemm)`, or `node #3 (Gemm)` for a node without a name. */
  where: string;
}

/** Pixels of the images fastmlp serves: 28 × 28. */
export const ONNX_IMPORT_INPUTS = 784;

/** The operators a graph may hold, for the message that refuses any other. */
const OPERATORS = 'Gemm, MatMul, Add, Relu, Sigmoid, Softmax, LogSoftmax (and Flatten or Reshape at the input; ArgMax after the output)';

/** A file fastmlp does not import; the message names the file, the node (or graph input) and the problem. */
export class OnnxImportError extends Error {
  override readonly name = 'OnnxImportError';

  /**
   * @param source - the file (or 'model' for bytes in memory)
   * @param where - e.g. `node "/1/Gemm" (Gemm)` or `graph input "x"`; undefined for the file or graph as a whole
   * @param problem - what is wrong, in a sentence without the source and `where`
   * @param node - the node at fault, when there is one
   */
  constructor(
    readonly source: string,
    readonly where: string | undefined,
    readonly problem: string,
    readonly node?: { name: string; opType: string },
  ) {
    super(`${source}: ${where === undefined ? '' : `${where}: `}${problem}`);
  }
}

/** What the graph was before it became inner products. */
export interface OnnxNetwork {
  /** From the input to the output layer; the output layer's activation is 'none' (the softmax follows). */
  layers: InferenceLayer[];
  /** The graph's last step: probabilities (Softmax), log-probabilities (LogSoftmax) or logits. */
  output: 'softmax' | 'log-softmax' | 'logits';
  /** The graph input as declared (dimensions by value or by name) and whether it was flattened. */
  input: { name: string; dims: (number | string)[]; flattened: boolean };
  producerName: string;
  producerVersion: string;
  graphName: string;
  irVersion: number;
  /** The default domain's opset. */
  opset: number;
}

type Fail = (problem: string) => never;

const hostIsLittleEndian = endianness() === 'LE';
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function failAt(source: string, where?: string): Fail {
  return (problem) => {
    throw new OnnxImportError(source, where, problem);
  };
}

function failAtNode(source: string, node: Node): Fail {
  return (problem) => {
    throw new OnnxImportError(source, node.where, problem, { name: node.name, opType: node.opType });
  };
}

function nodesOf(graph: proto.IGraphProto): Node[] {
  return (graph.node ?? []).map((n, index) => {
    const name = n.name ?? '';
    const opType = n.opType ?? '';
    return {
      index,
      name,
      opType,
      domain: n.domain ?? '',
      inputs: n.input ?? [],
      outputs: n.output ?? [],
      attributes: n.attribute ?? [],
      where: `node ${name ? JSON.stringify(name) : `#${index}`} (${opType})`,
    };
  });
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function dimsText(dims: readonly (number | string)[]): string {
  return `[${dims.join(', ')}]`;
}

function typeName(dataType: number): string {
  return (onnx.TensorProto.DataType as unknown as Record<number, string>)[dataType] ?? `data type ${dataType}`;
}

// ----------------------------------------------------------------------------------------------------
// Tensors

/** A constant: an initializer or a Constant node's value. */
interface Constant {
  tensor: TensorProto;
  /** The node that gave it, or undefined for an initializer. */
  from?: number;
}

function checkStored(tensor: TensorProto, what: string, fail: Fail): number[] {
  if (tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    fail(`${what} is external data (data_location EXTERNAL, in a file beside the model), which fastmlp does not read: save the model with its weights inside`);
  }
  return (tensor.dims ?? []).map(Number);
}

/** The values of a FLOAT tensor, from raw little-endian bytes or float_data. */
function floatsOf(tensor: TensorProto, what: string, fail: Fail): { dims: number[]; values: Float32Array } {
  const dims = checkStored(tensor, what, fail);
  if (tensor.dataType !== FLOAT) fail(`${what} is ${typeName(tensor.dataType ?? 0)}, not FLOAT: fastmlp imports float32 weights only`);
  const count = dims.reduce((a, b) => a * b, 1);
  const raw = tensor.rawData ?? new Uint8Array(0);
  if (raw.length > 0) {
    if (raw.length !== 4 * count) fail(`${what} has ${raw.length} bytes of raw data for ${dimsText(dims)} (${4 * count} bytes)`);
    const values = new Float32Array(count);
    if (hostIsLittleEndian) new Uint8Array(values.buffer).set(raw);
    else {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < count; i++) values[i] = view.getFloat32(4 * i, true);
    }
    return { dims, values };
  }
  const floatData = tensor.floatData ?? [];
  if (floatData.length !== count) fail(`${what} has ${floatData.length} values for ${dimsText(dims)} (${count})`);
  return { dims, values: Float32Array.from(floatData) };
}

/** The values of an INT64 tensor (a Reshape's shape), from raw little-endian bytes or int64_data. */
function integersOf(tensor: TensorProto, what: string, fail: Fail): number[] {
  const dims = checkStored(tensor, what, fail);
  if (tensor.dataType !== INT64) fail(`${what} is ${typeName(tensor.dataType ?? 0)}, not INT64`);
  const count = dims.reduce((a, b) => a * b, 1);
  const raw = tensor.rawData ?? new Uint8Array(0);
  if (raw.length > 0) {
    if (raw.length !== 8 * count) fail(`${what} has ${raw.length} bytes of raw data for ${dimsText(dims)} (${8 * count} bytes)`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(8 * i, true)));
  }
  return (tensor.int64Data ?? []).map(Number);
}

// ----------------------------------------------------------------------------------------------------
// Attributes

function attribute(node: Node, name: string): proto.IAttributeProto | undefined {
  return node.attributes.find((a) => a.name === name);
}

function intAttribute(node: Node, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a === undefined ? fallback : Number(a.i ?? 0);
}

function floatAttribute(node: Node, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a === undefined ? fallback : (a.f ?? 0);
}

// ----------------------------------------------------------------------------------------------------
// The model and its graph

function decodeModel(bytes: Uint8Array, source: string): ModelProto & { graph: proto.IGraphProto } {
  const fail: Fail = failAt(source);
  if (bytes.length === 0) fail('not an ONNX model: the file is empty');
  let model: ModelProto | undefined;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    fail(`not an ONNX model: it does not decode as a ModelProto (${describeError(error)})`);
  }
  if (!(Number(model.irVersion) > 0)) fail('not an ONNX model: it has no IR version');
  if (!model.graph) fail('not an ONNX model: it has no graph');
  return model as ModelProto & { graph: proto.IGraphProto };
}

function dimsOf(info: ValueInfoProto): (number | string)[] | undefined {
  const shape = info.type?.tensorType?.shape;
  return shape ? (shape.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? Number(d.dimValue) : '?')) : undefined;
}

/** The graph's one input that is not an initializer (older exporters list initializers as inputs too). */
function graphInput(inputs: ValueInfoProto[], constants: Map<string, Constant>, source: string): { name: string; dims: (number | string)[] | undefined } {
  const real = inputs.filter((i) => !constants.has(i.name ?? ''));
  if (real.length !== 1) {
    throw new OnnxImportError(source, undefined, `the graph has ${real.length} inputs (${real.map((i) => JSON.stringify(i.name)).join(', ') || 'none'}); fastmlp imports models of one input, the image`);
  }
  const input = real[0]!;
  const name = input.name ?? '';
  const fail: Fail = failAt(source, `graph input ${JSON.stringify(name)}`);
  const type = input.type?.tensorType;
  if (!type) fail('is not a tensor');
  if (type.elemType !== FLOAT) fail(`is ${typeName(type.elemType ?? 0)}, not FLOAT`);
  const dims = dimsOf(input);
  if (dims && dims.length >= 2 && dims.slice(1).every((d) => typeof d === 'number')) {
    const values = (dims.slice(1) as number[]).reduce((a, b) => a * b, 1);
    if (values !== ONNX_IMPORT_INPUTS) {
      fail(`is ${dimsText(dims)}, ${values} values an image: the model's input must be a 28×28 = ${ONNX_IMPORT_INPUTS} vector`);
    }
  } else if (dims && dims.length < 2) {
    fail(`is ${dimsText(dims)}: the model's input must be a batch of 28×28 = ${ONNX_IMPORT_INPUTS} vectors, [N, ${ONNX_IMPORT_INPUTS}]`);
  }
  return { name, dims };
}

/** A layer being read: its product is known, its bias and activation may still follow. */
interface OpenLayer {
  layer: InferenceLayer;
  /** Relu or Sigmoid applied; nothing but the next product may follow. */
  activated: boolean;
  /** A bias was added (Gemm's C or an Add). */
  biased: boolean;
}

/**
 * Reads an ONNX model's bytes as a dense MLP.
 *
 * @param source - the file the bytes came from, named in errors
 * @throws OnnxImportError naming `source`, the node (or graph input) and the problem
 */
export function importOnnx(bytes: Uint8Array, source = 'model'): OnnxNetwork {
  const model = decodeModel(bytes, source);
  const graph = model.graph;
  const nodes = nodesOf(graph);
  const constants = new Map<string, Constant>();
  for (const tensor of graph.initializer ?? []) constants.set(tensor.name ?? '', { tensor });
  for (const node of nodes) {
    if (node.opType !== 'Constant') continue;
    const value = attribute(node, 'value')?.t;
    if (!value || node.outputs.length !== 1) throw new OnnxImportError(source, node.where, 'is a Constant without one tensor value, which fastmlp does not read', node);
    constants.set(node.outputs[0]!, { tensor: value, from: node.index });
  }
  const input = graphInput(graph.input ?? [], constants, source);
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const consumers = new Map<string, number[]>();
  for (const node of nodes) {
    for (const name of node.inputs) if (name !== '' && !constants.has(name)) (consumers.get(name) ?? consumers.set(name, []).get(name)!).push(node.index);
  }

  const layers: OpenLayer[] = [];
  const visited = new Set<number>();
  let width = input.dims && input.dims.length === 2 && typeof input.dims[1] === 'number' ? input.dims[1] : undefined;
  let flat = input.dims === undefined || input.dims.length === 2;
  let flattened = false;
  let output: OnnxNetwork['output'] = 'logits';
  let tensor = input.name;

  while (!outputs.has(tensor)) {
    const next = (consumers.get(tensor) ?? []).filter((i) => !visited.has(i));
    if (next.length !== 1) {
      throw new OnnxImportError(
        source,
        undefined,
        next.length === 0
          ? `tensor ${JSON.stringify(tensor)} reaches no graph output`
          : `tensor ${JSON.stringify(tensor)} feeds ${next.length} nodes (${next.map((i) => nodes[i]!.where).join(', ')}); an MLP is one chain from the input to the output`,
      );
    }
    const node = nodes[next[0]!]!;
    const fail: Fail = failAtNode(source, node);
    visited.add(node.index);
    if (node.domain !== '' && node.domain !== 'ai.onnx') fail(`is an operator of the domain ${JSON.stringify(node.domain)}; fastmlp imports ${OPERATORS}`);
    if (node.outputs.length !== 1) fail(`has ${node.outputs.length} outputs, not one`);
    if (output !== 'logits') fail(`follows the ${output === 'softmax' ? 'Softmax' : 'LogSoftmax'}, which must be the graph's last step`);
    const open = layers.at(-1);
    /** The constant operand of a node other than `tensor`, by its position among the inputs. */
    const constant = (position: number, what: string): { name: string; c: Constant } => {
      const name = node.inputs[position] ?? '';
      const c = constants.get(name);
      if (!c) fail(`takes ${what} (input ${position}) from ${name === '' ? 'nowhere' : `tensor ${JSON.stringify(name)}`}, not from an initializer or Constant`);
      if (c.from !== undefined) visited.add(c.from);
      return { name, c };
    };
    /** A new layer of (inputs × outputs) weights W[i][j] at i·outputs + j. */
    const product = (inputs: number, outputs: number, weights: Float32Array): void => {
      if (!flat) fail(`takes the ${input.dims ? dimsText(input.dims) : 'unflattened'} input; flatten it to [N, ${ONNX_IMPORT_INPUTS}] first`);
      if (open && !open.activated) fail('follows a layer without a Relu or Sigmoid: two products in a row are one linear map, not the layers of an MLP');
      const expected = width ?? ONNX_IMPORT_INPUTS;
      if (inputs !== expected) {
        fail(
          layers.length === 0
            ? `takes ${inputs} inputs, but the model's input must be a 28×28 = ${ONNX_IMPORT_INPUTS} vector`
            : `takes ${inputs} inputs, but the layer before gives ${expected}: the shapes do not chain`,
        );
      }
      layers.push({ layer: { inputs, outputs, weights, bias: new Float32Array(outputs), activation: 'none' }, activated: false, biased: false });
      width = outputs;
    };
    /** Adds a constant [outputs] (or [1, outputs]) to the open layer's bias. */
    const addBias = (c: { name: string; c: Constant }): void => {
      const last = layers.at(-1)!;
      const { dims, values } = floatsOf(c.c.tensor, `bias ${JSON.stringify(c.name)}`, fail);
      const n = last.layer.outputs;
      if (values.length !== n || !(dims.length === 1 || (dims.length === 2 && dims[0] === 1))) fail(`adds a bias ${dimsText(dims)}, not [${n}], to the layer's ${n} outputs`);
      last.layer.bias.forEach((b, j) => (last.layer.bias[j] = b + values[j]!));
      last.biased = true;
    };

    switch (node.opType) {
      case 'Flatten':
      case 'Reshape': {
        if (layers.length > 0) fail('reshapes between layers; fastmlp imports Flatten and Reshape at the input only');
        if (node.opType === 'Flatten') {
          const axis = intAttribute(node, 'axis', 1);
          if (axis !== 1) fail(`flattens at axis ${axis}, not 1: the batch must stay the first dimension`);
        } else {
          const { name, c } = constant(1, 'its shape');
          const shape = integersOf(c.tensor, `shape ${JSON.stringify(name)}`, fail);
          if (shape.length !== 2 || ![ONNX_IMPORT_INPUTS, -1].includes(shape[1]!) || (shape[1] === -1 && shape[0] === -1)) {
            fail(`reshapes to ${dimsText(shape)}, not [N, ${ONNX_IMPORT_INPUTS}]`);
          }
        }
        flat = true;
        flattened = true;
        width = ONNX_IMPORT_INPUTS;
        break;
      }
      case 'Gemm': {
        if (node.inputs[0] !== tensor) fail('takes the network’s activations as its B or C operand; they must be A');
        const alpha = floatAttribute(node, 'alpha', 1);
        const beta = floatAttribute(node, 'beta', 1);
        if (alpha !== 1 || beta !== 1) fail(`has alpha ${alpha} and beta ${beta}; fastmlp imports Gemm with alpha = beta = 1 only`);
        if (intAttribute(node, 'transA', 0) !== 0) fail('transposes A (transA = 1); the batch must be A’s rows');
        const transB = intAttribute(node, 'transB', 0);
        const b = constant(1, 'its weights B');
        const { dims, values } = floatsOf(b.c.tensor, `weights ${JSON.stringify(b.name)}`, fail);
        if (dims.length !== 2) fail(`has weights ${dimsText(dims)}, not a matrix`);
        // transB = 1 (torch's Linear): B is (outputs × inputs), W = Bᵀ.
        const [inputs, outputs] = transB === 1 ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!];
        product(inputs, outputs, transB === 1 ? transposed(values, outputs, inputs) : values);
        if (node.inputs.length > 2 && node.inputs[2] !== '') addBias(constant(2, 'its bias C'));
        break;
      }
      case 'MatMul': {
        if (node.inputs[0] !== tensor) fail('multiplies the network’s activations from the right; they must be the first operand (X·W)');
        const w = constant(1, 'its weights');
        const { dims, values } = floatsOf(w.c.tensor, `weights ${JSON.stringify(w.name)}`, fail);
        if (dims.length !== 2) fail(`has weights ${dimsText(dims)}, not a matrix`);
        product(dims[0]!, dims[1]!, values);
        break;
      }
      case 'Add': {
        if (!open || open.activated || open.biased) fail('adds to something other than the product of a Gemm or MatMul; fastmlp imports Add as a layer’s bias only');
        const position = node.inputs[0] === tensor ? 1 : 0;
        if (node.inputs[1 - position] !== tensor) fail('adds two tensors that are not constants');
        addBias(constant(position, 'its bias'));
        break;
      }
      case 'Relu':
      case 'Sigmoid': {
        if (!open) fail(`applies ${node.opType} before any Gemm or MatMul`);
        if (open.activated) fail(`applies ${node.opType} after the layer's ${open.layer.activation === 'relu' ? 'Relu' : 'Sigmoid'}: one activation per layer`);
        open.layer.activation = node.opType === 'Relu' ? 'relu' : 'sigmoid';
        open.activated = true;
        break;
      }
      case 'Softmax':
      case 'LogSoftmax': {
        if (!open || open.activated) fail(`must follow the output layer's Gemm or MatMul directly`);
        const axis = intAttribute(node, 'axis', node.opType === 'Softmax' && opsetOf(model) < 13 ? 1 : -1);
        if (axis !== 1 && axis !== -1) fail(`normalizes along axis ${axis}, not the classes (axis 1 or -1)`);
        output = node.opType === 'Softmax' ? 'softmax' : 'log-softmax';
        break;
      }
      default:
        fail(`is not an operator fastmlp imports: it reads ${OPERATORS}`);
    }
    tensor = node.outputs[0]!;
  }

  // Outside the chain: only Constants and ArgMaxes of its output.
  for (const node of nodes) {
    if (visited.has(node.index) || node.opType === 'Constant' || (node.opType === 'ArgMax' && node.inputs[0] === tensor)) continue;
    throw new OnnxImportError(source, node.where, `is not on the chain from the graph input ${JSON.stringify(input.name)} to its output ${JSON.stringify(tensor)}`, node);
  }
  const fail: Fail = failAt(source);
  const last = layers.at(-1);
  if (!last) fail('the graph has no Gemm or MatMul: no layer to import');
  if (last.activated) {
    fail(`the graph ends in ${last.layer.activation === 'relu' ? 'Relu' : 'Sigmoid'}: the output layer must give logits or a Softmax (fastmlp's output layer is a softmax)`);
  }
  if (last.layer.outputs < 2) fail(`the graph gives ${last.layer.outputs} output; a classifier needs at least 2 classes`);
  return {
    layers: layers.map((l) => l.layer),
    output,
    input: { name: input.name, dims: input.dims ?? ['N', ONNX_IMPORT_INPUTS], flattened },
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    graphName: graph.name ?? '',
    irVersion: Number(model.irVersion),
    opset: opsetOf(model),
  };
}

function opsetOf(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 0;
}

/** The (cols × rows) transpose of a row-major (rows × cols) matrix. */
function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}
