/**
 * The first step of a K-fold run: everything that follows from the recipe and the dataset before any fold
 * trains — the training set's statistics, the seeded split into folds with each fold's own generator, and the
 * loaders that hand batches to the network. Deterministic: whoever prepares the same recipe on the same data
 * (this thread, a worker thread, another machine) gets the same folds.
 */
import type { Dataset, ImageSet } from '../data/dataset.js';
import { computeStandardization, inverseStd, type Standardization } from '../data/normalize.js';
import { kFold, shuffledIndices } from '../data/split.js';
import type { MlpShape } from '../nn/mlp.js';
import { Rng, type RngState } from '../nn/rng.js';
import { validateRecipe } from './recipe.js';
import { BatchLoader, type SampleSource } from './trainer.js';
import type { TrainRecipe } from './types.js';

/** One fold of the run: its samples and the state its generator starts from. */
export interface FoldPlan {
  /** 1-based. */
  fold: number;
  train: Int32Array;
  /** Empty when the run trains on the whole training set (folds = 1). */
  validation: Int32Array;
  rng: RngState;
  /** Batches in one epoch of this fold, and optimizer steps over all its epochs. */
  batchesPerEpoch: number;
  totalSteps: number;
  /** Batches of the folds before this one: where its progress starts. */
  batchesBefore: number;
}

export interface PreparedRun {
  /** The recipe, validated. */
  recipe: TrainRecipe;
  dataset: Dataset;
  /** The training set's statistics, which standardize every set. */
  normalization: Standardization;
  shape: MlpShape;
  folds: FoldPlan[];
  /** Batches of every fold over all epochs: progress is measured against it. */
  totalBatches: number;
  trainLoader: BatchLoader;
  testLoader: BatchLoader;
  /** The test set in the order that packs fastest (evaluation does not depend on it). */
  testIndices: Int32Array;
}

function samples(set: ImageSet, normalization: Standardization): SampleSource {
  return {
    pixels: set.pixels,
    rows: set.rows,
    cols: set.cols,
    features: set.features,
    labels: Int32Array.from(set.labels),
    mean: normalization.mean,
    invStd: inverseStd(normalization),
  };
}

/** The one "fold" of a run without folds: the set shuffled, and the holdout's share of it held out. */
function wholeSet(count: number, holdout: number, rng: Rng): Pick<FoldPlan, 'fold' | 'train' | 'validation'> {
  const order = shuffledIndices(count, rng);
  const held = Math.round(count * holdout);
  return { fold: 1, train: order.slice(held), validation: order.slice(0, held) };
}

/** Statistics, folds and loaders of the recipe on the dataset. */
export function prepareRun(recipeInput: TrainRecipe, dataset: Dataset): PreparedRun {
  const recipe = validateRecipe(recipeInput);
  const { train, test } = dataset;
  const rng = new Rng(recipe.seed);
  // Training-set statistics only, as the report standardizes.
  const normalization = computeStandardization(train, recipe.normalization);
  const trainLoader = new BatchLoader(samples(train, normalization));
  const testLoader = new BatchLoader(samples(test, normalization));
  const testIndices = testLoader.packingOrder(Int32Array.from({ length: test.count }, (_, i) => i));
  const splits = recipe.folds === 1 ? [wholeSet(train.count, recipe.holdout ?? 0, rng)] : kFold(train.count, recipe.folds, rng);
  let batchesBefore = 0;
  // Every fold forks the run's generator in order, after the split: fold k draws the same whatever ran before.
  const folds = splits.map((split) => {
    const batchesPerEpoch = Math.ceil(split.train.length / recipe.batchSize);
    const plan: FoldPlan = { ...split, rng: rng.fork().getState(), batchesPerEpoch, totalSteps: batchesPerEpoch * recipe.epochs, batchesBefore };
    batchesBefore += plan.totalSteps;
    return plan;
  });
  const shape = {
    inputs: train.features,
    hidden: recipe.hidden,
    classes: Math.max(train.classes, test.classes),
    ...(recipe.labelSmoothing ? { labelSmoothing: recipe.labelSmoothing } : {}),
    ...(recipe.inputDropout ? { inputDropout: recipe.inputDropout } : {}),
    ...(recipe.precision === 'bf16' ? { precision: recipe.precision } : {}),
  };
  return { recipe, dataset, normalization, shape, folds, totalBatches: batchesBefore, trainLoader, testLoader, testIndices };
}
