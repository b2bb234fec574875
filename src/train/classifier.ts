/** A trained model ready to predict: its network, the training-set statistics, and its checkpoint. */
import type { ImageSet } from '../data/dataset.js';
import { inverseStd } from '../data/normalize.js';
import { native, type GemmArgs, type StandardizedRows } from '../native.js';
import { softmaxInto } from '../nn/layers.js';
import { matrix } from '../nn/matrix.js';
import type { Mlp } from '../nn/mlp.js';
import { loadCheckpoint, type Checkpoint } from './checkpoint.js';
import { fromCheckpoint } from './snapshot.js';

/** How input pixels are scaled: 0–255 as in the idx files ('byte'), or 0–1 ('unit'). */
export type PixelScale = 'byte' | 'unit';

export interface Predictions {
  /** The most probable class of each image. */
  labels: Int32Array;
  /** Class probabilities, images × classes, row-major. */
  probabilities: Float32Array;
  classes: number;
}

export interface Evaluation {
  accuracy: number;
  /** Mean cross-entropy. */
  loss: number;
  /** confusion[actual][predicted] counts. */
  confusion: number[][];
  count: number;
}

/** Images predicted per batch: bounds the buffers while keeping GEMMs efficient. */
const BATCH = 4096;

/**
 * From this many images on, bytes go to the first GEMM as bytes, which skips their zero pixels; below it,
 * packing the weights for that GEMM would cost more than it saves, and they go as numbers, like every other
 * input, into the first layer with the standardization folded in. predict and predictAsync follow the same
 * rule, so they give the same bits.
 */
const BYTES_FROM = 64;

export class Classifier {
  readonly features: number;
  readonly classes: number;
  private readonly model: Mlp;
  private readonly mean: Float32Array;
  private readonly invStd: Float32Array;
  /**
   * The first layer with the standardization folded in, W' = diag(s)·W and b' = b − (μ∘s)ᵀ·W, so that
   * (x − μ)∘s · W + b = x · W' + b': numbers go into the first GEMM as they are, scaled by its alpha.
   */
  private readonly rawWeights: Float32Array;
  private readonly rawBias: Float32Array;
  private readonly scratch: Float32Array[] = [];

  constructor(readonly checkpoint: Checkpoint) {
    this.model = fromCheckpoint(checkpoint);
    this.features = checkpoint.architecture.inputRows * checkpoint.architecture.inputCols;
    this.classes = checkpoint.architecture.classes;
    this.mean = checkpoint.normalization.mean;
    this.invStd = inverseStd(checkpoint.normalization);
    const { inputs, outputs, weights, bias } = this.model.innerProducts[0]!;
    this.rawWeights = new Float32Array(inputs * outputs);
    const shift = new Float64Array(outputs);
    for (let p = 0; p < inputs; p++) {
      const s = this.invStd[this.invStd.length > 1 ? p : 0]!;
      const mu = this.mean[this.mean.length > 1 ? p : 0]!;
      for (let j = 0; j < outputs; j++) {
        const w = weights[p * outputs + j]!;
        this.rawWeights[p * outputs + j] = w * s;
        shift[j]! += mu * s * w;
      }
    }
    this.rawBias = Float32Array.from(bias, (b, j) => b - shift[j]!);
  }

  /** Loads and checks a checkpoint file. */
  static async load(path: string): Promise<Classifier> {
    return new Classifier(await loadCheckpoint(path));
  }

  /**
   * Predicts a batch of images, each `features` pixels, concatenated: bytes (0–255), or numbers on the
   * given scale. Throws a TypeError or RangeError naming what is wrong with the input.
   */
  predict(images: Uint8Array | Float32Array | ArrayLike<number>, scale: PixelScale = 'byte'): Predictions {
    if (images.length % this.features !== 0 || images.length === 0) {
      throw new RangeError(`Expected images to hold a positive multiple of ${this.features} pixels but received ${images.length}`);
    }
    const count = images.length / this.features;
    const labels = new Int32Array(count);
    const probabilities = new Float32Array(count * this.classes);
    const asBytes = this.asBytes(images, count, scale);
    for (let start = 0; start < count; start += BATCH) {
      const rows = Math.min(BATCH, count - start);
      let p: Float32Array;
      if (asBytes) {
        p = this.model.predict({ rows, cols: this.features, source: this.byteRows(asBytes, start, rows) }).data;
      } else {
        const x = this.rawRows(images, start, rows, () => this.buffer(0, rows * this.features));
        p = this.forwardRaw(x, rows, scale, (layer, length) => this.buffer(layer + 1, length));
      }
      probabilities.set(p, start * this.classes);
      native.argmax(p, rows, this.classes, labels.subarray(start, start + rows));
    }
    return { labels, probabilities, classes: this.classes };
  }

  /**
   * The same as predict, with every GEMM run off the calling thread: for large batches on an event loop
   * that must keep answering. Calls may overlap; each has buffers of its own.
   */
  async predictAsync(images: Uint8Array | Float32Array | ArrayLike<number>, scale: PixelScale = 'byte'): Promise<Predictions> {
    if (images.length % this.features !== 0 || images.length === 0) {
      throw new RangeError(`Expected images to hold a positive multiple of ${this.features} pixels but received ${images.length}`);
    }
    const count = images.length / this.features;
    const asBytes = this.asBytes(images, count, scale);
    let h: Float32Array | StandardizedRows;
    if (asBytes) {
      h = this.byteRows(asBytes, 0, count);
    } else {
      // A copy: the caller may reuse its array while the GEMMs run.
      const copy = new Float32Array(count * this.features);
      const raw = this.rawRows(images, 0, count, () => copy);
      if (raw !== copy) copy.set(raw);
      h = copy;
    }
    for (let l = 0; l < this.model.innerProducts.length; l++) {
      const out = new Float32Array(count * this.model.innerProducts[l]!.outputs);
      await native.gemmAsync(this.layerGemm(l, count, h, out, asBytes ? undefined : scale));
      h = out;
    }
    const probabilities = new Float32Array(count * this.classes);
    softmaxInto(matrix(count, this.classes, h as Float32Array), matrix(count, this.classes, probabilities));
    const labels = new Int32Array(count);
    native.argmax(probabilities, count, this.classes, labels);
    return { labels, probabilities, classes: this.classes };
  }

  /** Accuracy, loss and confusion matrix on a labelled image set of the model's input size. */
  evaluate(set: ImageSet): Evaluation {
    if (set.features !== this.features) {
      throw new RangeError(`Expected images of ${this.features} pixels but the set has ${set.features}`);
    }
    const { labels, probabilities } = this.predict(set.pixels);
    const confusion = Array.from({ length: this.classes }, () => new Array<number>(this.classes).fill(0));
    let correct = 0;
    let loss = 0;
    for (let i = 0; i < set.count; i++) {
      const actual = set.labels[i]!;
      if (actual >= this.classes) throw new RangeError(`label ${actual} of image ${i} is outside the model's ${this.classes} classes`);
      confusion[actual]![labels[i]!]!++;
      if (labels[i] === actual) correct++;
      loss -= Math.log(Math.max(probabilities[i * this.classes + actual]!, 1e-30));
    }
    return { accuracy: correct / set.count, loss: loss / set.count, confusion, count: set.count };
  }

  /** Buffer `slot` of predict's, at least `length` floats, kept from call to call. */
  private buffer(slot: number, length: number): Float32Array {
    let buffer = this.scratch[slot];
    if (buffer === undefined || buffer.length < length) this.scratch[slot] = buffer = new Float32Array(length);
    return buffer;
  }

  /** The images as bytes when the first GEMM should take them so (see BYTES_FROM). */
  private asBytes(images: Uint8Array | Float32Array | ArrayLike<number>, count: number, scale: PixelScale): Uint8Array | undefined {
    return images instanceof Uint8Array && scale === 'byte' && count >= BYTES_FROM ? images : undefined;
  }

  /** Images start … start + rows of the bytes, standardized by the first GEMM as it packs them. */
  private byteRows(bytes: Uint8Array, start: number, rows: number): StandardizedRows {
    return { bytes, rowLength: this.features, rows: Int32Array.from({ length: rows }, (_, i) => start + i), mean: this.mean, invStd: this.invStd };
  }

  /**
   * Images start … start + rows as floats with their values as given, each checked finite: a view of a
   * Float32Array, or the numbers copied into `into()`.
   */
  private rawRows(images: Uint8Array | Float32Array | ArrayLike<number>, start: number, rows: number, into: () => Float32Array): Float32Array {
    const n = this.features;
    const first = start * n, end = (start + rows) * n;
    if (images instanceof Float32Array) {
      const view = images.subarray(first, end);
      // A NaN or ±Infinity makes the sum non-finite; only then is the culprit looked for.
      let sum = 0;
      for (let i = 0; i < view.length; i++) sum += view[i]!;
      if (Number.isFinite(sum)) return view;
    }
    const out = into().subarray(0, rows * n);
    if (images instanceof Uint8Array) {
      out.set(images.subarray(first, end));
      return out;
    }
    for (let i = 0; i < rows * n; i++) {
      const v = Number(images[first + i]);
      if (!Number.isFinite(v)) throw new TypeError(`Expected a finite number for pixel ${first + i} but received ${String(images[first + i])}`);
      out[i] = v;
    }
    return out;
  }

  /**
   * Layer l's GEMM with its fused bias and activation, out = act(h·W + b) for `rows` rows. With `raw` the
   * first layer takes numbers on that scale as they are (the folded weights); without, standardized input.
   */
  private layerGemm(l: number, rows: number, h: Float32Array | StandardizedRows, out: Float32Array, raw?: PixelScale): GemmArgs {
    const ip = this.model.innerProducts[l]!;
    const folded = l === 0 && raw !== undefined;
    return {
      m: rows,
      n: ip.outputs,
      k: ip.inputs,
      a: h,
      b: folded ? this.rawWeights : ip.weights,
      c: out,
      bias: folded ? this.rawBias : ip.bias,
      activation: this.model.activations[l]?.kind ?? 'none',
      ...(folded ? { alpha: scaleFactor(raw) } : {}),
    };
  }

  /**
   * Class probabilities of `rows` images given as raw numbers on `scale`: the first GEMM takes them with the
   * folded first layer, the layers above as they are. Layer outputs go into buffer(l, length).
   */
  private forwardRaw(x: Float32Array, rows: number, scale: PixelScale, buffer: (layer: number, length: number) => Float32Array): Float32Array {
    let h = x;
    this.model.innerProducts.forEach((ip, l) => {
      const out = buffer(l, rows * ip.outputs).subarray(0, rows * ip.outputs);
      native.gemm(this.layerGemm(l, rows, h, out, scale));
      h = out;
    });
    const probabilities = buffer(this.model.innerProducts.length, rows * this.classes).subarray(0, rows * this.classes);
    softmaxInto(matrix(rows, this.classes, h), matrix(rows, this.classes, probabilities));
    return probabilities;
  }
}

/** What a pixel value on the scale is multiplied by to be on the byte scale. */
function scaleFactor(scale: PixelScale): number {
  return scale === 'unit' ? 255 : 1;
}
