/**
 * The layers of the report, each with forward and backward side by side; backward consumes exactly what
 * forward cached. Shapes: a batch is (batch × features), one row per sample.
 */
import { native, type EpilogueActivation, type Precision } from '../native.js';
import { Workspace, type LayerInput, type Matrix } from './matrix.js';

export type ActivationKind = 'sigmoid' | 'relu';

function operand(x: LayerInput) {
  return 'data' in x ? x.data : x.source;
}

/** Y = X·W + B, with W (inputs × outputs) and B (outputs) views into the network's parameter block. */
export class InnerProduct {
  private readonly out: Workspace;
  private readonly inputGrad: Workspace;
  private input: LayerInput | undefined;

  constructor(
    readonly inputs: number,
    readonly outputs: number,
    readonly weights: Float32Array,
    readonly bias: Float32Array,
    readonly gradWeights: Float32Array,
    readonly gradBias: Float32Array,
    /** Of the three products, forward and backward (native gemm: fp32, or bf16 operands with fp32 sums). */
    readonly precision: Precision = 'fp32',
  ) {
    this.out = new Workspace(outputs);
    this.inputGrad = new Workspace(inputs);
  }

  /**
   * Y = X·W + B, or act(X·W + B) when an activation is fused into the GEMM's write-back. With `next`, the
   * inner product above (taking Y), returns its output instead, computed in the same call: for an output
   * layer of a few classes, from each block of Y's rows while they are in cache (GemmArgs.next), with the
   * bits of its own forward.
   */
  forward(x: LayerInput, fused?: Activation, next?: InnerProduct): Matrix {
    if (x.cols !== this.inputs) throw new RangeError(`inner product expects ${this.inputs} inputs, got ${x.cols}`);
    if (next && next.inputs !== this.outputs) throw new RangeError(`inner product expects ${next.inputs} inputs, got ${this.outputs}`);
    this.input = x;
    const y = fused ? fused.outputFor(x.rows) : this.out.get(x.rows);
    const activation: EpilogueActivation = fused ? fused.kind : 'none';
    const dropout = fused?.dropoutArgs();
    const z = next?.out.get(x.rows);
    const then = next && z ? { next: { n: next.outputs, b: next.weights, bias: next.bias, c: z.data } } : {};
    native.gemm({ m: x.rows, n: this.outputs, k: this.inputs, a: operand(x), b: this.weights, c: y.data, bias: this.bias, activation, ...(dropout ? { dropout } : {}), ...this.precisionArgs, ...then });
    fused?.adopt(y);
    if (!next || !z) return y;
    next.input = y;
    return z;
  }

  /**
   * Given dY, writes dW = Xᵀ·dY and dB = Σ_rows dY (overwriting the last batch's), and returns dX = dY·Wᵀ — multiplied by f'(y) of
   * the activation below when one is given, which fuses that activation's backward into this GEMM.
   * With needInput false (the first layer) dX is not computed.
   */
  backward(dy: Matrix, below?: Activation, needInput = true): Matrix | undefined {
    const x = this.input;
    if (!x) throw new Error('inner product backward called before forward');
    // Y = X·W + B  ⇒  dW = Xᵀ·dY, dB = Σ_i dY[i], dX = dY·Wᵀ
    native.gemm({ transA: true, m: this.inputs, n: this.outputs, k: x.rows, a: operand(x), b: dy.data, c: this.gradWeights, ...this.precisionArgs });
    native.columnSums(dy.data, dy.rows, this.outputs, this.gradBias);
    if (!needInput) return undefined;
    const dx = this.inputGrad.get(x.rows);
    const y = below?.output;
    const dropout = below?.dropoutArgs();
    native.gemm({
      ...(dropout ? { dropout } : {}),
      transB: true,
      m: x.rows,
      n: this.inputs,
      k: this.outputs,
      a: dy.data,
      b: this.weights,
      c: dx.data,
      ...(below && y ? { derivative: below.kind, derivativeOf: y.data } : {}),
      ...this.precisionArgs,
    });
    return dx;
  }

  private get precisionArgs(): { precision?: Precision } {
    return this.precision === 'fp32' ? {} : { precision: this.precision };
  }
}

/** The 32-bit integer hash of the native dropout masks (kernels.h mix32). */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** The mask key of a layer's dropout at one training step: from the run's seed and the step alone, so resumes and any thread count draw the same masks. */
export function dropoutKey(seed: number, step: number, layer: number): number {
  return mix32((mix32((mix32(seed >>> 0) ^ step) >>> 0) ^ layer) >>> 0);
}

/** Where a training batch's dropout masks come from: the run's seed and the optimizer step. */
export interface MaskSource {
  seed: number;
  step: number;
}

/**
 * Elementwise activation; caches its output y, from which both derivatives are computed. With a dropout
 * rate, a training forward (a key set) also drops and rescales outputs, fused into the same GEMM write-back.
 */
export class Activation {
  private readonly out: Workspace;
  private readonly inputGrad: Workspace;
  output: Matrix | undefined;
  /** The mask key of the current training batch; undefined: no dropout (evaluation). */
  maskKey: number | undefined;

  constructor(
    readonly kind: ActivationKind,
    readonly width: number,
    readonly dropout = 0,
  ) {
    if (!(dropout >= 0 && dropout <= 0.9)) throw new RangeError(`Expected a dropout rate from 0 to 0.9 but received ${String(dropout)}`);
    this.out = new Workspace(width);
    this.inputGrad = new Workspace(width);
  }

  /** The dropout of the current batch, as the native GEMM takes it; undefined when nothing is dropped. */
  dropoutArgs(): { rate: number; key: number } | undefined {
    return this.dropout > 0 && this.maskKey !== undefined ? { rate: this.dropout, key: this.maskKey } : undefined;
  }

  /** The buffer a fused inner product writes this activation's output into. */
  outputFor(rows: number): Matrix {
    return this.out.get(rows);
  }

  /** Records an output computed elsewhere (by a fused inner product) as this layer's forward result. */
  adopt(y: Matrix): void {
    this.output = y;
  }

  forward(x: Matrix): Matrix {
    if (this.dropoutArgs()) throw new Error('dropout is fused into the inner product below: use InnerProduct.forward(x, activation)');
    const y = this.out.get(x.rows);
    if (this.kind === 'sigmoid') native.sigmoidForward(x.data, y.data);
    else native.reluForward(x.data, y.data);
    this.output = y;
    return y;
  }

  // sigmoid: y = σ(x) ⇒ dx = dy·y·(1 − y);  ReLU: y = max(0, x) ⇒ dx = dy·[y > 0]
  backward(dy: Matrix): Matrix {
    const y = this.output;
    if (!y) throw new Error('activation backward called before forward');
    if (this.dropoutArgs()) throw new Error('dropout is fused into the inner product above: use InnerProduct.backward(dy, activation)');
    const dx = this.inputGrad.get(dy.rows);
    if (this.kind === 'sigmoid') native.sigmoidBackward(y.data, dy.data, dx.data);
    else native.reluBackward(y.data, dy.data, dx.data);
    return dx;
  }
}

/** Softmax over the classes with the mean cross-entropy against the targets, in one native pass. */
export class SoftmaxCrossEntropy {
  private readonly grad: Workspace;
  private gradient: Matrix | undefined;

  /** @param smoothing - label smoothing ε of the training targets (forward); evaluate scores plain targets */
  constructor(
    readonly classes: number,
    readonly smoothing = 0,
  ) {
    if (!(smoothing >= 0 && smoothing < 1)) throw new RangeError(`Expected label smoothing from 0 to below 1 but received ${String(smoothing)}`);
    this.grad = new Workspace(classes);
  }

  /** Mean loss and correct count of scores (batch × classes) against class labels (smoothed); caches dL/dscores. */
  forward(scores: Matrix, labels: Int32Array): { loss: number; correct: number } {
    const gradient = this.grad.get(scores.rows);
    const smoothing = this.smoothing > 0 ? { smoothing: this.smoothing } : {};
    const result = native.softmaxCrossEntropy({ logits: scores.data, targets: labels, m: scores.rows, n: this.classes, gradient: gradient.data, ...smoothing });
    this.gradient = gradient;
    return result;
  }

  /** Loss and correct count only, for evaluation. */
  evaluate(scores: Matrix, labels: Int32Array): { loss: number; correct: number } {
    return native.softmaxCrossEntropy({ logits: scores.data, targets: labels, m: scores.rows, n: this.classes });
  }

  // L = −(1/m)·Σ log softmax(z)[t]  ⇒  dL/dz = (softmax(z) − onehot(t)) / m, computed by forward
  backward(): Matrix {
    if (!this.gradient) throw new Error('softmax backward called before forward');
    return this.gradient;
  }
}

/** Class 0 for every row: the kernel wants targets, and probabilities do not depend on them. Only read. */
let noTargets = new Int32Array(0);

/** Probabilities of scores (batch × classes), written into out. */
export function softmaxInto(scores: Matrix, out: Matrix): void {
  if (noTargets.length < scores.rows) noTargets = new Int32Array(scores.rows);
  native.softmaxCrossEntropy({ logits: scores.data, targets: noTargets, m: scores.rows, n: scores.cols, probabilities: out.data });
}
