/**
 * The epoch loop: shuffled mini-batches standardized from bytes by the native kernel, forward and backward,
 * an optimizer step per batch; then loss and accuracy on the fold's training part and its validation part.
 */
import { pixelWords } from '../data/normalize.js';
import { shuffleInPlace, type RandomSource } from '../data/split.js';
import { native } from '../native.js';
import type { PixelBatch } from '../nn/matrix.js';
import type { Mlp } from '../nn/mlp.js';
import { learningRate, type Optimizer } from '../nn/optimizers.js';
import type { AugmentSpec, TrainRecipe } from './types.js';

/** Something that says whether to stop: an AbortSignal, or a flag shared with another thread. */
export interface StopSignal {
  readonly aborted: boolean;
}

/** Thrown when a run is cancelled; it stops within one batch. */
export class TrainingCancelled extends Error {
  constructor() {
    super('training was cancelled');
    this.name = 'TrainingCancelled';
  }
}

/** Samples kept as bytes, their labels, and the training-set statistics that standardize them. */
export interface SampleSource {
  pixels: Uint8Array;
  /** Image size: features = rows × cols. */
  rows: number;
  cols: number;
  features: number;
  labels: Int32Array;
  mean: Float32Array;
  invStd: Float32Array;
}

/** Rows evaluated at once: large enough for efficient GEMMs, small enough to stay in cache-friendly sizes. */
export const EVALUATION_ROWS = 4000;

/** An epoch's augmentation: the recipe's limits, and the seed and epoch its transforms follow from. */
export interface EpochAugment {
  spec: AugmentSpec;
  seed: number;
  epoch: number;
}

/** Bytes of training samples the loader copies at a time (whole batches, at least one): few enough to stay in cache until read. */
export const WINDOW_BYTES = 1 << 21;

/**
 * Turns a list of sample indices into a batch and its labels. The batch stays as bytes: the first inner
 * product standardizes it while packing it for its GEMM. Buffers and the batch object are reused.
 *
 * The GEMM packs a batch a few samples at a time (6 on AVX-512) and skips the pixels that are zero in all
 * of them, so it does less work when those samples have their zeros in the same places. The loader therefore
 * orders the samples of each batch, and every evaluation list, by label and then by the first non-zero pixel:
 * digits of one class share their blank regions (`npm run bench -- gemm` times the products from pixels).
 * Losses, gradients and accuracies are sums over the samples, so the order changes none of them beyond
 * rounding (test/train/trainer.test.ts holds it to that).
 */
export class BatchLoader {
  private labelBuffer = new Int32Array(0);
  private readonly labelViews = new Map<number, Int32Array>();
  private readonly batch: PixelBatch;
  /** A window of the current epoch's samples in their shuffled order, contiguous (see arrange). */
  private window = new Uint8Array(0);
  /** The epoch's samples [windowStart, windowEnd) are in the window; none before the epoch's first batch. */
  private windowStart = 0;
  private windowEnd = 0;
  private windowAugment: EpochAugment | undefined;
  private arrangedLabels = new Int32Array(0);
  private identity = new Int32Array(0);
  private batchOrder = new Int32Array(0);
  /** Per sample: the index of its first non-zero pixel (features when it has none). */
  private readonly firstLit: Int32Array;
  /** Counts of the two passes of packingOrder: by first lit pixel (features + 1 of them), by label. */
  private readonly byFirstLit: Int32Array;
  private readonly byLabel: Int32Array;
  private sortBuffer = new Int32Array(0);

  /** @param firstLit - each sample's first lit pixel, when the caller has it (a gathered copy's) */
  constructor(
    readonly source: SampleSource,
    firstLit?: Int32Array,
  ) {
    const { pixels, features, mean, invStd, labels } = source;
    this.batch = { rows: 0, cols: features, source: { bytes: pixels, rowLength: features, rows: new Int32Array(0), mean, invStd } };
    this.firstLit = firstLit ?? firstLitPixels(pixels, features, labels.length);
    let classes = 0;
    for (let i = 0; i < labels.length; i++) {
      if (!(labels[i]! >= 0)) throw new RangeError(`Expected class labels from 0 but sample ${String(i)} has ${String(labels[i])}`);
      classes = Math.max(classes, labels[i]! + 1);
    }
    this.byFirstLit = new Int32Array(features + 1);
    this.byLabel = new Int32Array(classes);
  }

  /**
   * The indices sorted by label, then first lit pixel, ties by position, written to out: a permutation of the
   * same samples. Two stable counting passes (by first lit pixel, then by label), linear in the indices: the
   * loader orders every batch of every epoch.
   */
  packingOrder(indices: Int32Array, out: Int32Array = new Int32Array(indices.length)): Int32Array {
    const n = indices.length;
    if (this.sortBuffer.length < n) this.sortBuffer = new Int32Array(n);
    const byFirst = this.sortBuffer;
    countingPass(indices, this.firstLit, this.byFirstLit, byFirst, n);
    countingPass(byFirst, this.source.labels, this.byLabel, out, n);
    return out;
  }

  /**
   * A loader over a copy of the given samples, contiguous in that order, and the indices that list them: a set
   * evaluated every epoch then reads its pixels in sequence instead of from scattered rows (and pages).
   */
  gather(indices: Int32Array): { loader: BatchLoader; indices: Int32Array } {
    const { pixels, features, labels } = this.source;
    const copy = new Uint8Array(indices.length * features);
    native.gatherRows({ bytes: pixels, rowLength: features, indices, out: copy });
    const loader = new BatchLoader({ ...this.source, pixels: copy, labels: Int32Array.from(indices, (i) => labels[i]!) }, Int32Array.from(indices, (i) => this.firstLit[i]!));
    return { loader, indices: Int32Array.from({ length: indices.length }, (_, i) => i) };
  }

  /** A batch of the given samples, read where they lie. */
  load(indices: Int32Array): { x: PixelBatch; labels: Int32Array } {
    const x = this.batch;
    x.rows = indices.length;
    x.source.bytes = this.source.pixels;
    x.source.rows = indices;
    const labels = this.labelsFor(indices.length);
    for (let i = 0; i < indices.length; i++) labels[i] = this.source.labels[indices[i]!]!;
    return { x, labels };
  }

  /**
   * Orders the samples of an epoch, batch after batch of its shuffled order (each batch's samples in packing
   * order). loadArranged then copies them, a window of whole batches at a time, into one contiguous block, so
   * that every batch reads its pixels sequentially instead of from scattered rows; a window of about
   * WINDOW_BYTES stays in cache until its batches have read it, and the epoch never exists as a second copy
   * of the training set. With `augment`, each sample is copied through its random transform of that epoch
   * (native augmentRows), still as bytes: a transform follows from (seed, epoch, sample) alone, so the
   * windows change none of it.
   */
  arrange(order: Int32Array, batchSize: number, augment?: EpochAugment): void {
    const { features, labels } = this.source;
    if (this.batchOrder.length !== order.length) {
      this.arrangedLabels = new Int32Array(order.length);
      this.batchOrder = new Int32Array(order.length);
    }
    const windowRows = Math.min(order.length, batchSize * Math.max(1, Math.floor(WINDOW_BYTES / (batchSize * features))));
    if (this.window.length !== windowRows * features) {
      this.window = new Uint8Array(windowRows * features);
      this.identity = Int32Array.from({ length: windowRows }, (_, i) => i);
    }
    for (let start = 0; start < order.length; start += batchSize) {
      const end = Math.min(order.length, start + batchSize);
      this.packingOrder(order.subarray(start, end), this.batchOrder.subarray(start, end));
    }
    for (let i = 0; i < order.length; i++) this.arrangedLabels[i] = labels[this.batchOrder[i]!]!;
    this.windowStart = this.windowEnd = 0;
    this.windowAugment = augment;
  }

  /** Samples [start, end) of the arranged epoch (at most a window's rows: a batch of the size it was arranged for). */
  loadArranged(start: number, end: number): { x: PixelBatch; labels: Int32Array } {
    if (start < this.windowStart || end > this.windowEnd) this.fillWindow(start, end);
    const x = this.batch;
    x.rows = end - start;
    x.source.bytes = this.window;
    x.source.rows = this.identity.subarray(start - this.windowStart, end - this.windowStart);
    return { x, labels: this.arrangedLabels.subarray(start, end) };
  }

  /** Copies the arranged samples from start on into the window, as many as it holds. */
  private fillWindow(start: number, end: number): void {
    const { pixels, rows, cols, features } = this.source;
    const windowRows = this.identity.length;
    if (end - start > windowRows) throw new RangeError(`a batch of ${String(end - start)} samples is larger than the ${String(windowRows)} the loader arranged for`);
    const stop = Math.min(this.batchOrder.length, start + windowRows);
    const indices = this.batchOrder.subarray(start, stop);
    const out = this.window.subarray(0, (stop - start) * features);
    const augment = this.windowAugment;
    if (augment) native.augmentRows({ bytes: pixels, rows, cols, indices, out, spec: augment.spec, seed: augment.seed, epoch: augment.epoch });
    else native.gatherRows({ bytes: pixels, rowLength: features, indices, out });
    this.windowStart = start;
    this.windowEnd = stop;
  }

  private labelsFor(rows: number): Int32Array {
    let view = this.labelViews.get(rows);
    if (!view) {
      if (rows > this.labelBuffer.length) {
        this.labelBuffer = new Int32Array(rows);
        this.labelViews.clear();
      }
      view = this.labelBuffer.subarray(0, rows);
      this.labelViews.set(rows, view);
    }
    return view;
  }
}

/**
 * Mean loss and accuracy of the model over the given samples; NaN for an empty list. Lists evaluated every
 * epoch are best given in the loader's packingOrder.
 */
export function evaluate(model: Mlp, loader: BatchLoader, indices: Int32Array): { loss: number; accuracy: number } {
  if (indices.length === 0) return { loss: Number.NaN, accuracy: Number.NaN };
  let loss = 0;
  let correct = 0;
  for (let start = 0; start < indices.length; start += EVALUATION_ROWS) {
    const chunk = indices.subarray(start, Math.min(indices.length, start + EVALUATION_ROWS));
    const { x, labels } = loader.load(chunk);
    const r = model.evaluate(x, labels);
    loss += r.loss * chunk.length;
    correct += r.correct;
  }
  return { loss: loss / indices.length, accuracy: correct / indices.length };
}

/** True when the recipe transforms its training images: some limit of its augment is above 0. */
export function augments(recipe: TrainRecipe): boolean {
  return recipe.augment !== undefined && Object.values(recipe.augment).some((v) => v !== undefined && v > 0);
}

export interface EpochPlan {
  recipe: TrainRecipe;
  model: Mlp;
  optimizer: Optimizer;
  loader: BatchLoader;
  /** The fold's training samples; shuffled in place at the start of every epoch. */
  order: Int32Array;
  random: RandomSource;
  /** 1-based; with the recipe's seed it draws the epoch's augmentation. */
  epoch: number;
  /** Optimizer steps taken before this epoch, and in the whole run (for the learning-rate schedule). */
  stepsBefore: number;
  totalSteps: number;
  signal?: StopSignal;
  /** Called after every batch with the batch index (0-based) and the batch count. */
  onBatch?: (batch: number, batches: number) => void;
}

/** One pass over the fold's training part; returns the mean loss and accuracy of its batches as they trained. */
export function trainEpoch(plan: EpochPlan): { loss: number; accuracy: number } {
  const { recipe, model, optimizer, loader, order } = plan;
  shuffleInPlace(order, plan.random);
  loader.arrange(order, recipe.batchSize, augments(recipe) ? { spec: recipe.augment!, seed: recipe.seed, epoch: plan.epoch } : undefined);
  const batches = Math.ceil(order.length / recipe.batchSize);
  const stepsPerEpoch = batches;
  let loss = 0;
  let correct = 0;
  for (let b = 0; b < batches; b++) {
    if (plan.signal?.aborted) throw new TrainingCancelled();
    const start = b * recipe.batchSize, end = Math.min(order.length, start + recipe.batchSize);
    const { x, labels } = loader.loadArranged(start, end);
    const step = plan.stepsBefore + b;
    const r = model.computeGradients(x, labels, { seed: recipe.seed, step });
    loss += r.loss * (end - start);
    correct += r.correct;
    optimizer.step(model, learningRate(recipe.lr, recipe.schedule, step, plan.totalSteps, stepsPerEpoch));
    if (recipe.maxNorm !== undefined) model.constrainNorms(recipe.maxNorm);
    plan.onBatch?.(b, batches);
  }
  return { loss: loss / order.length, accuracy: correct / order.length };
}

/** Per sample (row of `features` bytes): the index of its first non-zero pixel, features when it has none. */
function firstLitPixels(pixels: Uint8Array, features: number, count: number): Int32Array {
  const out = new Int32Array(count);
  const words = pixelWords(pixels, features);
  const perRow = features >>> 2;
  for (let i = 0; i < count; i++) {
    let first = 0;
    if (words) {
      // A word at a time over the blank top rows; the lowest set byte of the first non-zero word is the pixel.
      let w = i * perRow;
      const end = w + perRow;
      while (w < end && words[w] === 0) w++;
      const x = w < end ? words[w]! : 0;
      first = x === 0 ? features : 4 * (w - i * perRow) + ((31 - Math.clz32(x & -x)) >>> 3);
    } else {
      const row = i * features;
      while (first < features && pixels[row + first] === 0) first++;
    }
    out[i] = first;
  }
  return out;
}

/** Writes the first n of `from` to `to`, stably ordered by key[from[i]] (0 ≤ key < counts.length); counts is scratch. */
function countingPass(from: Int32Array, key: ArrayLike<number>, counts: Int32Array, to: Int32Array, n: number): void {
  counts.fill(0);
  for (let i = 0; i < n; i++) counts[key[from[i]!]!]!++;
  let start = 0;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k]!;
    counts[k] = start;
    start += c;
  }
  for (let i = 0; i < n; i++) {
    const sample = from[i]!;
    to[counts[key[sample]!]!++] = sample;
  }
}
