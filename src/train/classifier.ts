/** A trained model ready to predict: its network, the training-set statistics, and its checkpoint. */
import type { ImageSet } from '../data/dataset.js';
import { inverseStd } from '../data/normalize.js';
import { native, type StandardizedRows } from '../native.js';
import { softmaxInto } from '../nn/layers.js';
import { matrix, type LayerInput } from '../nn/matrix.js';
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
 * packing the weights for that GEMM would cost more than it saves, and the images are standardized first.
 * predict and predictAsync follow the same rule, so they give the same bits.
 */
const BYTES_FROM = 64;

export class Classifier {
  readonly features: number;
  readonly classes: number;
  private readonly model: Mlp;
  private readonly mean: Float32Array;
  private readonly invStd: Float32Array;
  private standardized = new Float32Array(0);

  constructor(readonly checkpoint: Checkpoint) {
    this.model = fromCheckpoint(checkpoint);
    this.features = checkpoint.architecture.inputRows * checkpoint.architecture.inputCols;
    this.classes = checkpoint.architecture.classes;
    this.mean = checkpoint.normalization.mean;
    this.invStd = inverseStd(checkpoint.normalization);
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
    const x = asBytes ? undefined : this.scratch(Math.min(count, BATCH) * this.features);
    for (let start = 0; start < count; start += BATCH) {
      const rows = Math.min(BATCH, count - start);
      let input: LayerInput;
      if (asBytes) {
        input = { rows, cols: this.features, source: this.byteRows(asBytes, start, rows) };
      } else {
        const view = x!.subarray(0, rows * this.features);
        this.standardize(images, start, rows, scale, view);
        input = matrix(rows, this.features, view);
      }
      const p = this.model.predict(input);
      probabilities.set(p.data, start * this.classes);
      native.argmax(p.data, rows, this.classes, labels.subarray(start, start + rows));
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
      h = new Float32Array(count * this.features);
      this.standardize(images, 0, count, scale, h);
    }
    for (const [l, ip] of this.model.innerProducts.entries()) {
      const out = new Float32Array(count * ip.outputs);
      const activation = this.model.activations[l]?.kind ?? 'none';
      await native.gemmAsync({ m: count, n: ip.outputs, k: ip.inputs, a: h, b: ip.weights, c: out, bias: ip.bias, activation });
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

  /** A buffer of at least `length` floats for predict's standardized images, reused from call to call. */
  private scratch(length: number): Float32Array {
    if (this.standardized.length < length) this.standardized = new Float32Array(length);
    return this.standardized;
  }

  /** The images as bytes when the first GEMM should take them so (see BYTES_FROM). */
  private asBytes(images: Uint8Array | Float32Array | ArrayLike<number>, count: number, scale: PixelScale): Uint8Array | undefined {
    return images instanceof Uint8Array && scale === 'byte' && count >= BYTES_FROM ? images : undefined;
  }

  /** Images start … start + rows of the bytes, standardized by the first GEMM as it packs them. */
  private byteRows(bytes: Uint8Array, start: number, rows: number): StandardizedRows {
    return { bytes, rowLength: this.features, rows: Int32Array.from({ length: rows }, (_, i) => start + i), mean: this.mean, invStd: this.invStd };
  }

  private standardize(images: Uint8Array | Float32Array | ArrayLike<number>, start: number, rows: number, scale: PixelScale, out: Float32Array): void {
    const n = this.features;
    if (images instanceof Uint8Array && scale === 'byte') {
      const indices = Int32Array.from({ length: rows }, (_, i) => start + i);
      native.standardize({ pixels: images, rowLength: n, indices, mean: this.mean, invStd: this.invStd, out });
      return;
    }
    const factor = scale === 'unit' ? 255 : 1;
    const first = start * n;
    if (images instanceof Float32Array && this.mean.length === 1) {
      // The common case of the service, in one tight loop; a NaN or ±Infinity makes the sum non-finite.
      const mean = this.mean[0]!, invStd = this.invStd[0]!;
      let sum = 0;
      for (let i = 0; i < rows * n; i++) {
        const v = images[first + i]!;
        sum += v;
        out[i] = (v * factor - mean) * invStd;
      }
      if (Number.isFinite(sum)) return;
    }
    const perPixel = this.mean.length > 1;
    for (let i = 0; i < rows * n; i++) {
      const v = Number(images[first + i]);
      if (!Number.isFinite(v)) throw new TypeError(`Expected a finite number for pixel ${first + i} but received ${String(images[first + i])}`);
      const q = perPixel ? i % n : 0;
      out[i] = (v * factor - this.mean[q]!) * this.invStd[q]!;
    }
  }
}
