/**
 * A multilayer perceptron: inner product → activation, repeated for each hidden layer, then an inner
 * product to the classes and softmax with cross-entropy. Every parameter lives in one block (all weights,
 * then all biases) so an optimizer updates the whole network in two native calls.
 */
import { native } from '../native.js';
import { initializeWeights } from './initializers.js';
import { Activation, InnerProduct, SoftmaxCrossEntropy, dropoutKey, softmaxInto, type MaskSource } from './layers.js';
import { Workspace, type LayerInput, type Matrix } from './matrix.js';
import type { ParameterBlock } from './optimizers.js';
import type { Rng } from './rng.js';
import type { HiddenLayerSpec, Initializer, Precision } from './spec.js';

export interface MlpShape {
  inputs: number;
  hidden: HiddenLayerSpec[];
  classes: number;
  /** Label smoothing ε of the training loss; 0 or absent: none. */
  labelSmoothing?: number;
  /** Of every product, in training and prediction; absent: fp32. */
  precision?: Precision;
  /**
   * Input dropout: the share of each training image's pixels made background (byte 0), the rest scaled by
   * 1/(1 − rate) before standardization, from 0 to 0.9; 0 or absent: none. Trains from pixel batches only.
   */
  inputDropout?: number;
}

/** The layer number of the input's dropout masks in dropoutKey (hidden layers are 0, 1, …). */
export const INPUT_MASK_LAYER = 0xffffffff;

/** Largest layer width accepted, a guard against shapes that could not fit in memory. */
export const MAX_WIDTH = 1 << 16;

function checkShape(shape: MlpShape): void {
  const widths = [shape.inputs, ...shape.hidden.map((h) => h.width), shape.classes];
  const names = ['inputs', ...shape.hidden.map((_, i) => `hidden[${i}].width`), 'classes'];
  widths.forEach((w, i) => {
    if (!Number.isInteger(w) || w < 1 || w > MAX_WIDTH) {
      throw new RangeError(`Expected an integer from 1 to ${MAX_WIDTH} for ${names[i]} but received ${String(w)}`);
    }
  });
  if (shape.inputDropout !== undefined && !(shape.inputDropout >= 0 && shape.inputDropout <= 0.9)) {
    throw new RangeError(`Expected a rate from 0 to 0.9 for inputDropout but received ${String(shape.inputDropout)}`);
  }
  if (shape.precision !== undefined && shape.precision !== 'fp32' && shape.precision !== 'bf16') {
    throw new TypeError(`Expected 'fp32' or 'bf16' for precision but received ${String(shape.precision)}`);
  }
  shape.hidden.forEach((h, i) => {
    if (h.activation !== 'sigmoid' && h.activation !== 'relu') {
      throw new TypeError(`Expected 'sigmoid' or 'relu' for hidden[${i}].activation but received ${String(h.activation)}`);
    }
    if (h.dropout !== undefined && !(h.dropout >= 0 && h.dropout <= 0.9)) {
      throw new RangeError(`Expected a rate from 0 to 0.9 for hidden[${i}].dropout but received ${String(h.dropout)}`);
    }
  });
}

export class Mlp implements ParameterBlock {
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly weightCount: number;
  readonly innerProducts: InnerProduct[] = [];
  /** activations[l] follows innerProducts[l]; the last inner product feeds the softmax. */
  readonly activations: Activation[] = [];
  readonly loss: SoftmaxCrossEntropy;
  private readonly probabilities: Workspace;
  /** The dropped training batch's bytes, and its statistics per source statistics (see dropInput). */
  private droppedBytes = new Uint8Array(0);
  private droppedIdentity = new Int32Array(0);
  private droppedStats: { of: [Float32Array, Float32Array]; mean: Float32Array; invStd: Float32Array } | undefined;

  constructor(readonly shape: MlpShape) {
    checkShape(shape);
    const widths = [shape.inputs, ...shape.hidden.map((h) => h.width), shape.classes];
    let weightCount = 0;
    let biasCount = 0;
    for (let l = 0; l + 1 < widths.length; l++) {
      weightCount += widths[l]! * widths[l + 1]!;
      biasCount += widths[l + 1]!;
    }
    this.weightCount = weightCount;
    this.params = new Float32Array(weightCount + biasCount);
    this.grads = new Float32Array(weightCount + biasCount);
    // Carve the block into named views: weights of every layer first, then biases.
    let w = 0;
    let b = weightCount;
    for (let l = 0; l + 1 < widths.length; l++) {
      const inputs = widths[l]!, outputs = widths[l + 1]!;
      const take = (offset: number, length: number) =>
        [this.params.subarray(offset, offset + length), this.grads.subarray(offset, offset + length)] as const;
      const [weights, gradWeights] = take(w, inputs * outputs);
      const [bias, gradBias] = take(b, outputs);
      this.innerProducts.push(new InnerProduct(inputs, outputs, weights, bias, gradWeights, gradBias, shape.precision));
      w += inputs * outputs;
      b += outputs;
    }
    shape.hidden.forEach((h) => this.activations.push(new Activation(h.activation, h.width, h.dropout ?? 0)));
    this.loss = new SoftmaxCrossEntropy(shape.classes, shape.labelSmoothing ?? 0);
    this.probabilities = new Workspace(shape.classes);
  }

  /** A network with weights drawn by the initializer from the run's generator and zero biases. */
  static initialized(shape: MlpShape, initializer: Initializer, rng: Rng): Mlp {
    const mlp = new Mlp(shape);
    for (const ip of mlp.innerProducts) initializeWeights(initializer, ip.weights, ip.inputs, ip.outputs, rng);
    return mlp;
  }

  /**
   * Class scores (batch × classes) of standardized inputs (batch × inputs); activations fused into the GEMMs,
   * and the output layer into the last hidden layer's call (InnerProduct.forward's `next`).
   */
  forward(x: LayerInput): Matrix {
    const layers = this.innerProducts, last = layers.length - 1;
    let h: LayerInput = x;
    for (let l = 0; l < last; l++) h = layers[l]!.forward(h, this.activations[l], l + 1 === last ? layers[last] : undefined);
    return last === 0 ? layers[0]!.forward(h) : (h as Matrix);
  }

  /** True when the input or some hidden layer drops outputs in training. */
  get hasDropout(): boolean {
    return (this.shape.inputDropout ?? 0) > 0 || this.activations.some((a) => a.dropout > 0);
  }

  /**
   * The batch with input dropout: its bytes gathered with the dropped pixels made 0, and statistics that
   * scale the kept ones by 1/(1 − r) before standardizing, (P∘m/(1 − r) − μ)·s = (P∘m − μ(1 − r))·s/(1 − r):
   * the first layer still reads bytes, skipping the zeros, with its standardization a rank-one correction.
   */
  private dropInput(x: LayerInput, key: number): LayerInput {
    const rate = this.shape.inputDropout ?? 0;
    if (rate === 0) return x;
    if (!('source' in x)) throw new TypeError('input dropout drops pixels: train from a pixel batch');
    const { source } = x;
    const length = x.rows * source.rowLength;
    if (this.droppedBytes.length < length) this.droppedBytes = new Uint8Array(length);
    if (this.droppedIdentity.length < x.rows) this.droppedIdentity = Int32Array.from({ length: x.rows }, (_, i) => i);
    const out = this.droppedBytes.subarray(0, length);
    native.gatherRows({ bytes: source.bytes, rowLength: source.rowLength, indices: source.rows, out, dropout: { rate, key } });
    if (this.droppedStats?.of[0] !== source.mean || this.droppedStats.of[1] !== source.invStd) {
      this.droppedStats = { of: [source.mean, source.invStd], mean: source.mean.map((m) => m * (1 - rate)), invStd: source.invStd.map((s) => s / (1 - rate)) };
    }
    const { mean, invStd } = this.droppedStats;
    return { rows: x.rows, cols: x.cols, source: { bytes: out, rowLength: source.rowLength, rows: this.droppedIdentity.subarray(0, x.rows), mean, invStd } };
  }

  /**
   * One training step's forward and backward: fills grads and returns the batch's mean loss and correct
   * count. Layers with dropout draw their masks from `masks` (required then); evaluation never drops.
   */
  computeGradients(x: LayerInput, labels: Int32Array, masks?: MaskSource): { loss: number; correct: number } {
    if (this.hasDropout && masks === undefined) throw new TypeError('a network with dropout trains with the batch’s mask source (seed and step)');
    this.activations.forEach((a, l) => {
      a.maskKey = masks && a.dropout > 0 ? dropoutKey(masks.seed, masks.step, l) : undefined;
    });
    try {
      const input = masks ? this.dropInput(x, dropoutKey(masks.seed, masks.step, INPUT_MASK_LAYER)) : x;
      const result = this.loss.forward(this.forward(input), labels);
      let dy: Matrix | undefined = this.loss.backward();
      for (let l = this.innerProducts.length - 1; l >= 0; l--) {
        // dX of layer l, with the backward of the activation below fused in, is dY of layer l − 1.
        dy = this.innerProducts[l]!.backward(dy!, this.activations[l - 1], l > 0);
      }
      return result;
    } finally {
      for (const a of this.activations) a.maskKey = undefined;
    }
  }

  /** Mean loss and correct count without gradients. */
  evaluate(x: LayerInput, labels: Int32Array): { loss: number; correct: number } {
    return this.loss.evaluate(this.forward(x), labels);
  }

  /** Class probabilities (batch × classes); the returned matrix is reused by the next call. */
  predict(x: LayerInput): Matrix {
    const scores = this.forward(x);
    const out = this.probabilities.get(x.rows);
    softmaxInto(scores, out);
    return out;
  }

  /** Scales every unit's incoming weights down to `limit` where their norm is above it (max-norm). */
  constrainNorms(limit: number): void {
    for (const ip of this.innerProducts) native.maxNorm(ip.weights, ip.inputs, ip.outputs, limit);
  }

  /** Parameter count. */
  get size(): number {
    return this.params.length;
  }
}
