import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { computeStandardization, inverseStd } from '../../src/data/normalize.js';
import { native } from '../../src/native.js';
import { createOptimizer } from '../../src/nn/optimizers.js';
import { Mlp } from '../../src/nn/mlp.js';
import { Rng } from '../../src/nn/rng.js';
import { BatchLoader, EVALUATION_ROWS, TrainingCancelled, WINDOW_BYTES, evaluate, trainEpoch, type SampleSource } from '../../src/train/trainer.js';
import type { TrainRecipe } from '../../src/train/types.js';
import { firstIndices, quickRecipe, smallMnist } from '../helpers/datasets.js';

let dataset: Dataset;
let source: SampleSource;

beforeAll(async () => {
  dataset = await smallMnist(6000, 100);
  const normalization = computeStandardization(dataset.train, 'global');
  source = { pixels: dataset.train.pixels, rows: 28, cols: 28, features: 784, labels: Int32Array.from(dataset.train.labels), mean: normalization.mean, invStd: inverseStd(normalization) };
});

/** A loader that keeps every batch in its shuffled order: what training would be without the packing order. */
class UnorderedLoader extends BatchLoader {
  override packingOrder(indices: Int32Array, out: Int32Array = new Int32Array(indices.length)): Int32Array {
    out.set(indices);
    return out;
  }
}

function firstLitPixel(i: number): number {
  let first = 0;
  while (first < 784 && source.pixels[i * 784 + first] === 0) first++;
  return first;
}

/** A fresh network, optimizer and generator for one epoch of `recipe` over the first `count` samples. */
function epochPlan(recipe: TrainRecipe, loader: BatchLoader, count: number) {
  const rng = new Rng(recipe.seed);
  const model = Mlp.initialized({ inputs: 784, hidden: recipe.hidden, classes: 10 }, recipe.init, rng);
  return { recipe, model, optimizer: createOptimizer(recipe.optimizer, recipe.weightDecay), loader, order: firstIndices(count), random: rng, epoch: 1, stepsBefore: 0, totalSteps: 100 };
}

describe('BatchLoader', () => {
  it('orders samples by label, then by first lit pixel, then by position: a permutation of the same samples', () => {
    const loader = new BatchLoader(source);
    const indices = Int32Array.from({ length: 500 }, (_, i) => (i * 37) % 6000);
    const ordered = loader.packingOrder(indices);
    expect([...ordered].sort((a, b) => a - b)).toEqual([...indices].sort((a, b) => a - b));
    for (let r = 1; r < ordered.length; r++) {
      const [a, b] = [ordered[r - 1]!, ordered[r]!];
      const key = (i: number) => [source.labels[i]!, firstLitPixel(i), indices.indexOf(i)] as const;
      const [ka, kb] = [key(a), key(b)];
      const before = ka[0] < kb[0] || (ka[0] === kb[0] && (ka[1] < kb[1] || (ka[1] === kb[1] && ka[2] < kb[2])));
      expect(before, `rows ${r - 1} and ${r}`).toBe(true);
    }
  });

  it('finds each sample’s first lit pixel at any place in a word, or none, whether or not its rows start on a word boundary', () => {
    const features = 12, count = features + 1;
    // Sample i lights pixels 11 − i and on (128 and up, so a word's top byte may be the first); sample 12 none.
    const aligned = new Uint8Array(count * features);
    for (let i = 0; i < features; i++) aligned.fill(128 + i, i * features + features - 1 - i, (i + 1) * features);
    const unaligned = new Uint8Array(aligned.length + 1).subarray(1);
    unaligned.set(aligned);
    const expected = [...Array.from({ length: features }, (_, i) => features - 1 - i), features];
    for (const pixels of [aligned, unaligned]) {
      const loader = new BatchLoader({ pixels, rows: 3, cols: 4, features, labels: new Int32Array(count), mean: Float32Array.of(0), invStd: Float32Array.of(1) });
      expect([...loader.packingOrder(Int32Array.from({ length: count }, (_, i) => i))]).toEqual(expected);
    }
  });

  it('arranges an epoch so that each batch holds the same samples, in packing order, as loading them where they lie', () => {
    const loader = new BatchLoader(source);
    const order = Int32Array.from({ length: 1000 }, (_, i) => (i * 7919) % 6000);
    loader.arrange(order, 300);
    for (const [start, end] of [[0, 300], [300, 600], [900, 1000]] as const) {
      const arranged = loader.loadArranged(start, end);
      const expected = loader.packingOrder(order.subarray(start, end));
      expect(arranged.x.rows).toBe(end - start);
      for (let r = 0; r < expected.length; r++) {
        const sample = expected[r]!, row = arranged.x.source.rows[r]!;
        expect(arranged.labels[r]).toBe(source.labels[sample]);
        const got = arranged.x.source.bytes.subarray(row * 784, (row + 1) * 784);
        expect(Buffer.from(got).equals(Buffer.from(source.pixels.subarray(sample * 784, (sample + 1) * 784)))).toBe(true);
      }
    }
  });

  it('copies an epoch a window at a time: batches across and after windows, and read again, hold their samples', () => {
    const loader = new BatchLoader(source);
    const batch = 100;
    const perWindow = Math.floor(WINDOW_BYTES / (batch * 784)) * batch;
    const order = Int32Array.from({ length: 6000 }, (_, i) => (i * 4001) % 6000);
    expect(order.length).toBeGreaterThan(2 * perWindow);
    for (const augment of [undefined, { spec: { shift: 2, rotate: 10 }, seed: 3, epoch: 2 }]) {
      loader.arrange(order, batch, augment);
      const starts = [...Array.from({ length: 60 }, (_, b) => b * batch), 0, perWindow, perWindow - batch, 5900];
      const seen = new Map<number, Buffer>();
      for (const start of starts) {
        const { x, labels } = loader.loadArranged(start, start + batch);
        const expected = loader.packingOrder(order.subarray(start, start + batch));
        const rows = Buffer.from(x.source.bytes.buffer, x.source.bytes.byteOffset, x.source.bytes.length);
        const got = Buffer.concat(Array.from(x.source.rows, (r) => rows.subarray(r * 784, (r + 1) * 784)));
        expect([...labels]).toEqual(Array.from(expected, (i) => source.labels[i]!));
        // Each sample as it is, or through its transform of (seed, epoch, sample) alone: the same bytes whatever window it was copied in.
        const direct = new Uint8Array(batch * 784);
        if (augment) native.augmentRows({ bytes: source.pixels, rows: 28, cols: 28, indices: expected, out: direct, ...augment });
        else native.gatherRows({ bytes: source.pixels, rowLength: 784, indices: expected, out: direct });
        expect(got.equals(Buffer.from(direct))).toBe(true);
        // A batch read again, from a window filled anew, has the same bytes (augmented: the same transforms).
        const before = seen.get(start);
        if (before) expect(got.equals(before)).toBe(true);
        seen.set(start, Buffer.from(got));
      }
    }
  });

  it('loads samples where they lie, as bytes with the training-set statistics, and their labels', () => {
    const loader = new BatchLoader(source);
    const indices = Int32Array.of(3, 1, 4);
    const { x, labels } = loader.load(indices);
    expect([x.rows, x.cols]).toEqual([3, 784]);
    expect(x.source.bytes).toBe(source.pixels);
    expect(x.source.rows).toEqual(indices);
    expect([x.source.mean, x.source.invStd]).toEqual([source.mean, source.invStd]);
    expect(labels).toEqual(Int32Array.from(indices, (i) => source.labels[i]!));
  });
});

describe('trainEpoch', () => {
  const recipe = quickRecipe({ hidden: [{ width: 48, activation: 'sigmoid' }], optimizer: { kind: 'sgd' }, lr: 0.1, batchSize: 250 });

  it('changes the result of an epoch only by rounding when the batches are packed in label order', () => {
    const ordered = epochPlan(recipe, new BatchLoader(source), 6000);
    const unordered = epochPlan(recipe, new UnorderedLoader(source), 6000);
    const a = trainEpoch(ordered);
    const b = trainEpoch(unordered);
    // The same shuffle: the same samples in every batch, only their order inside the batch differs.
    expect(ordered.order).toEqual(unordered.order);
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5);
    expect(Math.abs(a.accuracy - b.accuracy)).toBeLessThanOrEqual(2 / 6000);
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < ordered.model.params.length; i++) {
      worst = Math.max(worst, Math.abs(ordered.model.params[i]! - unordered.model.params[i]!));
      scale = Math.max(scale, Math.abs(ordered.model.params[i]!));
    }
    // 24 steps of float32 sums over 250 samples in another order: differences of a few ulps of the weights.
    expect(worst).toBeLessThan(1e-5 * scale);
    expect(worst).toBeGreaterThan(0);
  });

  it('calls onBatch once per batch and steps the optimizer that many times', () => {
    const plan = epochPlan({ ...recipe, batchSize: 700 }, new BatchLoader(source), 3000);
    const seen: [number, number][] = [];
    const before = plan.model.params.slice();
    trainEpoch({ ...plan, onBatch: (b, n) => seen.push([b, n]) });
    expect(seen).toEqual([0, 1, 2, 3, 4].map((b) => [b, 5]));
    expect(plan.model.params).not.toEqual(before);
  });

  it('stops within a batch when its signal is raised, after the steps of the batches it finished', () => {
    const signal = { aborted: false };
    const plan = epochPlan(recipe, new BatchLoader(source), 3000);
    let afterTwo: Float32Array | undefined;
    const onBatch = (b: number) => {
      if (b !== 1) return;
      afterTwo = plan.model.params.slice();
      signal.aborted = true;
    };
    expect(() => trainEpoch({ ...plan, signal, onBatch })).toThrow(TrainingCancelled);
    // No step after the signal: the parameters are those of the first two batches.
    expect(plan.model.params).toEqual(afterTwo);
  });
});

describe('evaluate', () => {
  it('averages loss and accuracy over chunks of EVALUATION_ROWS as one pass over all samples would', () => {
    const rng = new Rng(4);
    const model = Mlp.initialized({ inputs: 784, hidden: [{ width: 32, activation: 'relu' }], classes: 10 }, 'he', rng);
    const loader = new BatchLoader(source);
    const indices = loader.packingOrder(firstIndices(EVALUATION_ROWS + 1000));
    const chunked = evaluate(model, loader, indices);
    let loss = 0;
    let correct = 0;
    for (const part of [indices.subarray(0, EVALUATION_ROWS), indices.subarray(EVALUATION_ROWS)]) {
      const { x, labels } = loader.load(part);
      const r = model.evaluate(x, labels);
      loss += r.loss * part.length;
      correct += r.correct;
    }
    expect(chunked.accuracy).toBe(correct / indices.length);
    expect(chunked.loss).toBeCloseTo(loss / indices.length, 12);
    expect(evaluate(model, loader, new Int32Array(0)).loss).toBeNaN();
  });
});
