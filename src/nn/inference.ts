/**
 * The one inference network: a trained MLP's inner products with their fused activations, the input
 * standardization folded into the first layer, and one description of each layer's product that the
 * synchronous and the asynchronous forward passes both run. The library, the CLI and the service predict
 * through it; training keeps its own forward (Mlp.forward), which caches what backward consumes.
 */
import { native, withCallerThreads, type EpilogueActivation, type GemmArgs, type Precision, type StandardizedRows } from '../native.js';
import { softmaxInto } from './layers.js';
import { matrix } from './matrix.js';
import type { Mlp } from './mlp.js';

/** How input pixels are scaled: 0–255 as in the idx files ('byte'), or 0–1 ('unit'). */
export type PixelScale = 'byte' | 'unit';

/** Images: bytes (0–255), or numbers on a PixelScale, `inputs` values per image, image after image. */
export type Images = Uint8Array | Float32Array | ArrayLike<number>;

export interface Predictions {
  /** The most probable class of each image. */
  labels: Int32Array;
  /** Class probabilities, images × classes, row-major. */
  probabilities: Float32Array;
  classes: number;
}

export interface PredictOptions {
  /** Threads the products of a synchronous call may use (1 keeps them on the calling thread). Default: all. */
  threads?: number;
}

/** One inner product of a trained network: out = act(in · weights + bias), weights (inputs × outputs). */
export interface InferenceLayer {
  inputs: number;
  outputs: number;
  weights: Float32Array;
  bias: Float32Array;
  activation: EpilogueActivation;
}

/** The training set's statistics: each pixel becomes (pixel − mean) · invStd; length 1 or one per input. */
export interface InputStandardization {
  mean: Float32Array;
  invStd: Float32Array;
}

/** Images predicted per batch by predict: bounds the buffers while keeping GEMMs efficient. */
const BATCH = 4096;

/**
 * From this many images on, bytes go to the first GEMM as bytes, which skips their zero pixels; below it,
 * packing the weights for that GEMM would cost more than it saves, and they go as numbers, like every other
 * input, into the first layer with the standardization folded in. predict and predictAsync follow the same
 * rule, so they give the same bits.
 */
const BYTES_FROM = 64;

/** The first layer's input: standardized by the GEMM from bytes, or raw numbers for the folded weights. */
type FirstInput = { bytes: StandardizedRows } | { raw: Float32Array; scale: PixelScale };

export class InferenceNetwork {
  readonly inputs: number;
  readonly classes: number;
  /**
   * The first layer with the standardization folded in, W' = diag(s)·W and b' = b − (μ∘s)ᵀ·W, so that
   * (x − μ)∘s · W + b = x · W' + b': numbers go into the first GEMM as they are, scaled by its alpha.
   */
  private readonly folded: { weights: Float32Array; bias: Float32Array };
  /** predict's buffers, kept from call to call: [0] the input, [l + 1] layer l's output, then probabilities. */
  private readonly scratch: Float32Array[] = [];

  constructor(
    readonly layers: readonly InferenceLayer[],
    readonly standardization: InputStandardization,
    /** Of every product: bf16 answers within bfloat16 rounding of fp32 (native.ts, Precision). */
    readonly precision: Precision = 'fp32',
  ) {
    if (precision !== 'fp32' && precision !== 'bf16') throw new TypeError(`Expected 'fp32' or 'bf16' for precision but received ${String(precision)}`);
    if (layers.length === 0) throw new RangeError('Expected at least one layer');
    layers.forEach((layer, l) => {
      if (layer.weights.length !== layer.inputs * layer.outputs || layer.bias.length !== layer.outputs) {
        throw new RangeError(`layer ${l}: expected ${layer.inputs}×${layer.outputs} weights and ${layer.outputs} biases`);
      }
      if (l > 0 && layer.inputs !== layers[l - 1]!.outputs) throw new RangeError(`layer ${l} takes ${layer.inputs} inputs but layer ${l - 1} gives ${layers[l - 1]!.outputs}`);
    });
    this.inputs = layers[0]!.inputs;
    this.classes = layers[layers.length - 1]!.outputs;
    const { mean, invStd } = standardization;
    if (mean.length !== invStd.length || (mean.length !== 1 && mean.length !== this.inputs)) {
      throw new RangeError(`Expected standardization statistics of length 1 or ${this.inputs} but received ${mean.length} and ${invStd.length}`);
    }
    this.folded = foldStandardization(layers[0]!, standardization);
  }

  /**
   * The first layer as it takes pixels 0–255 unstandardized: the folded weights and bias (copies), the
   * layer any other runtime runs to answer as this network does.
   */
  foldedFirstLayer(): InferenceLayer {
    const first = this.layers[0]!;
    return { ...first, weights: this.folded.weights.slice(), bias: this.folded.bias.slice() };
  }

  /** The network of a trained Mlp (its parameters shared, not copied) for inputs with the given statistics. */
  static fromMlp(model: Mlp, standardization: InputStandardization): InferenceNetwork {
    const layers = model.innerProducts.map((ip, l) => ({
      inputs: ip.inputs,
      outputs: ip.outputs,
      weights: ip.weights,
      bias: ip.bias,
      activation: model.activations[l]?.kind ?? ('none' as const),
    }));
    return new InferenceNetwork(layers, standardization, model.shape.precision);
  }

  /**
   * Predicts a batch of images, `inputs` pixels each, concatenated: bytes (0–255), or numbers on the given
   * scale. Throws a TypeError or RangeError naming what is wrong with the input.
   */
  predict(images: Images, scale: PixelScale = 'byte', options: PredictOptions = {}): Predictions {
    const count = this.imageCount(images);
    const run = () => {
      const labels = new Int32Array(count);
      const probabilities = new Float32Array(count * this.classes);
      for (let start = 0; start < count; start += BATCH) {
        const rows = Math.min(BATCH, count - start);
        const input = this.firstInput(images, start, rows, count, scale, () => this.buffer(0, rows * this.inputs));
        const outputs = this.layers.map((layer, l) => this.buffer(l + 1, rows * layer.outputs).subarray(0, rows * layer.outputs));
        for (const product of this.products(rows, input, outputs)) native.gemm(product);
        const p = this.buffer(this.layers.length + 1, rows * this.classes).subarray(0, rows * this.classes);
        this.finish(rows, outputs[outputs.length - 1]!, p, labels.subarray(start, start + rows));
        probabilities.set(p, start * this.classes);
      }
      return { labels, probabilities, classes: this.classes };
    };
    return options.threads === undefined ? run() : withCallerThreads(options.threads, run);
  }

  /**
   * The same as predict, with every GEMM run off the calling thread: for large batches on an event loop
   * that must keep answering. Calls may overlap; each has buffers of its own. Numbers are copied first, so
   * the caller may reuse its array at once; bytes of 64 images or more are read in place, and must not
   * change until the promise settles.
   */
  async predictAsync(images: Images, scale: PixelScale = 'byte'): Promise<Predictions> {
    const count = this.imageCount(images);
    // Numbers as a copy (see above); bytes in place.
    const input = this.firstInput(images, 0, count, count, scale, () => new Float32Array(count * this.inputs), true);
    const outputs = this.layers.map((layer) => new Float32Array(count * layer.outputs));
    for (const product of this.products(count, input, outputs)) await native.gemmAsync(product);
    const labels = new Int32Array(count);
    const probabilities = new Float32Array(count * this.classes);
    this.finish(count, outputs[outputs.length - 1]!, probabilities, labels);
    return { labels, probabilities, classes: this.classes };
  }

  /**
   * Each layer's product for `rows` images, in order: out_l = act(in_l · W_l + b_l), in_0 the first input
   * and in_l = out_(l−1). Raw numbers meet the folded first layer, scaled to bytes by the GEMM's alpha. An
   * output layer without activation is taken in the call of the layer below (GemmArgs.next).
   */
  private *products(rows: number, first: FirstInput, outputs: Float32Array[]): Generator<GemmArgs> {
    const last = this.layers.length - 1;
    for (let l = 0; l <= last; l++) {
      const layer = this.layers[l]!, above = this.layers[l + 1];
      const fused = l + 1 === last && above !== undefined && above.activation === 'none';
      const common = {
        m: rows,
        n: layer.outputs,
        k: layer.inputs,
        c: outputs[l]!,
        activation: layer.activation,
        ...(this.precision === 'bf16' ? { precision: this.precision } : {}),
        ...(fused ? { next: { n: above.outputs, b: above.weights, bias: above.bias, c: outputs[last]! } } : {}),
      };
      if (l > 0) yield { ...common, a: outputs[l - 1]!, b: layer.weights, bias: layer.bias };
      else if ('bytes' in first) yield { ...common, a: first.bytes, b: layer.weights, bias: layer.bias };
      else yield { ...common, a: first.raw, b: this.folded.weights, bias: this.folded.bias, alpha: first.scale === 'unit' ? 255 : 1 };
      if (fused) return;
    }
  }

  /** Softmax of the scores into probabilities, and each row's most probable class. */
  private finish(rows: number, scores: Float32Array, probabilities: Float32Array, labels: Int32Array): void {
    softmaxInto(matrix(rows, this.classes, scores), matrix(rows, this.classes, probabilities));
    native.argmax(probabilities, rows, this.classes, labels);
  }

  private imageCount(images: Images): number {
    if (images.length % this.inputs !== 0 || images.length === 0) {
      throw new RangeError(`Expected images to hold a positive multiple of ${this.inputs} pixels but received ${images.length}`);
    }
    return images.length / this.inputs;
  }

  /**
   * Images start … start + rows as the first layer takes them (see BYTES_FROM): bytes for the GEMM to
   * standardize, or the numbers as given, each checked finite — a view of a Float32Array unless `copy`,
   * else copied into `into()`.
   */
  private firstInput(images: Images, start: number, rows: number, count: number, scale: PixelScale, into: () => Float32Array, copy = false): FirstInput {
    const n = this.inputs;
    const first = start * n, end = (start + rows) * n;
    if (images instanceof Uint8Array && scale === 'byte' && count >= BYTES_FROM) {
      const { mean, invStd } = this.standardization;
      return { bytes: { bytes: images, rowLength: n, rows: Int32Array.from({ length: rows }, (_, i) => start + i), mean, invStd } };
    }
    if (images instanceof Float32Array && !copy) {
      const view = images.subarray(first, end);
      // A NaN or ±Infinity makes the sum non-finite; only then is the culprit looked for.
      let sum = 0;
      for (let i = 0; i < view.length; i++) sum += view[i]!;
      if (Number.isFinite(sum)) return { raw: view, scale };
    }
    const out = into().subarray(0, rows * n);
    if (images instanceof Uint8Array) {
      out.set(images.subarray(first, end));
      return { raw: out, scale };
    }
    for (let i = 0; i < rows * n; i++) {
      const v = Number(images[first + i]);
      if (!Number.isFinite(v)) throw new TypeError(`Expected a finite number for pixel ${first + i} but received ${String(images[first + i])}`);
      out[i] = v;
    }
    return { raw: out, scale };
  }

  /** Buffer `slot` of predict's, at least `length` floats. */
  private buffer(slot: number, length: number): Float32Array {
    let buffer = this.scratch[slot];
    if (buffer === undefined || buffer.length < length) this.scratch[slot] = buffer = new Float32Array(length);
    return buffer;
  }
}

/** W' = diag(s)·W and b' = b − (μ∘s)ᵀ·W for a first layer W (inputs × outputs); the shift summed in doubles. */
function foldStandardization(layer: InferenceLayer, { mean, invStd }: InputStandardization): { weights: Float32Array; bias: Float32Array } {
  const { inputs, outputs } = layer;
  const weights = new Float32Array(inputs * outputs);
  const shift = new Float64Array(outputs);
  for (let p = 0; p < inputs; p++) {
    const s = invStd[invStd.length > 1 ? p : 0]!;
    const mu = mean[mean.length > 1 ? p : 0]!;
    for (let j = 0; j < outputs; j++) {
      const w = layer.weights[p * outputs + j]!;
      weights[p * outputs + j] = w * s;
      shift[j]! += mu * s * w;
    }
  }
  return { weights, bias: Float32Array.from(layer.bias, (b, j) => b - shift[j]!) };
}
