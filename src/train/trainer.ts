/**
 * The epoch loop: shuffled mini-batches standardized from bytes by the native kernel, forward and backward,
 * an optimizer step per batch; then loss and accuracy on the fold's training part and its validation part.
 */
import { shuffleInPlace, type RandomSource } from '../data/split.js';
import type { PixelBatch } from '../nn/matrix.js';
import type { Mlp } from '../nn/mlp.js';
import { learningRate, type Optimizer } from '../nn/optimizers.js';
import type { TrainRecipe } from './types.js';

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
  features: number;
  labels: Int32Array;
  mean: Float32Array;
  invStd: Float32Array;
}

/** Rows evaluated at once: large enough for efficient GEMMs, small enough to stay in cache-friendly sizes. */
export const EVALUATION_ROWS = 4000;

/**
 * Turns a list of sample indices into a batch and its labels. The batch stays as bytes: the first inner
 * product standardizes it while packing it for its GEMM. Buffers and the batch object are reused.
 */
export class BatchLoader {
  private labelBuffer = new Int32Array(0);
  private readonly labelViews = new Map<number, Int32Array>();
  private readonly batch: PixelBatch;

  constructor(readonly source: SampleSource) {
    const { pixels, features, mean, invStd } = source;
    this.batch = { rows: 0, cols: features, source: { bytes: pixels, rowLength: features, rows: new Int32Array(0), mean, invStd } };
  }

  load(indices: Int32Array): { x: PixelBatch; labels: Int32Array } {
    const x = this.batch;
    x.rows = indices.length;
    x.source.rows = indices;
    const labels = this.labelsFor(indices.length);
    for (let i = 0; i < indices.length; i++) labels[i] = this.source.labels[indices[i]!]!;
    return { x, labels };
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

/** Mean loss and accuracy of the model over the given samples; NaN for an empty list. */
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

export interface EpochPlan {
  recipe: TrainRecipe;
  model: Mlp;
  optimizer: Optimizer;
  loader: BatchLoader;
  /** The fold's training samples; shuffled in place at the start of every epoch. */
  order: Int32Array;
  random: RandomSource;
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
  const batches = Math.ceil(order.length / recipe.batchSize);
  const stepsPerEpoch = batches;
  let loss = 0;
  let correct = 0;
  for (let b = 0; b < batches; b++) {
    if (plan.signal?.aborted) throw new TrainingCancelled();
    const indices = order.subarray(b * recipe.batchSize, Math.min(order.length, (b + 1) * recipe.batchSize));
    const { x, labels } = loader.load(indices);
    const r = model.computeGradients(x, labels);
    loss += r.loss * indices.length;
    correct += r.correct;
    const step = plan.stepsBefore + b;
    optimizer.step(model, learningRate(recipe.lr, recipe.schedule, step, plan.totalSteps, stepsPerEpoch));
    plan.onBatch?.(b, batches);
  }
  return { loss: loss / order.length, accuracy: correct / order.length };
}
