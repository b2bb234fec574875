/** Plain data shared by the trainer, K-fold orchestration, checkpoints and reports. */
import type { NormalizationMode } from '../data/normalize.js';
import type { AugmentLimits } from '../native.js';
import type { HiddenLayerSpec, Initializer, OptimizerSpec, Precision, ScheduleSpec } from '../nn/spec.js';

export type { Activation, HiddenLayerSpec, Initializer, OptimizerSpec, ScheduleSpec } from '../nn/spec.js';
export type { NormalizationMode };

/** Everything that decides what a training run computes. */
export interface TrainRecipe {
  hidden: HiddenLayerSpec[];
  init: Initializer;
  optimizer: OptimizerSpec;
  lr: number;
  schedule: ScheduleSpec;
  weightDecay: number;
  batchSize: number;
  epochs: number;
  /** K of K-fold cross-validation, 2..10; 1 trains on the whole training set with no validation part. */
  folds: number;
  /**
   * With folds = 1: the fraction of the training set held out to validate each epoch (the best epoch is
   * kept, as a fold's is). Absent: the whole set trains and the last epoch is kept.
   */
  holdout?: number;
  seed: number;
  normalization: NormalizationMode;
  /** Random transforms of every training image, drawn anew each epoch; absent: the images as they are. */
  augment?: AugmentSpec;
  /** Input dropout: the share of each training image's pixels made background, the rest scaled by 1/(1 − rate). */
  inputDropout?: number;
  /** Label smoothing ε: training targets (1 − ε)·onehot + ε/classes; evaluation scores plain cross-entropy. */
  labelSmoothing?: number;
  /** Max-norm constraint: after every step each unit's incoming weights are scaled down to this norm if longer. */
  maxNorm?: number;
  /**
   * Of the network's products: 'bf16' rounds their operands to bfloat16 and sums in fp32 (mixed precision;
   * weights, gradients and optimizer state stay fp32); absent: 'fp32'.
   */
  precision?: Precision;
}

/**
 * Limits of the random transforms of training images (native augmentRows, whose AugmentLimits it is): each
 * image of each epoch gets a shift, rotation, scale and shear drawn uniformly within them, and with
 * elasticAlpha and elasticSigma an elastic distortion (Simard et al. 2003). Validation, test and prediction
 * see the images as they are.
 */
export type AugmentSpec = AugmentLimits;

/**
 * Loss and accuracy after one epoch, on the fold's training part and its validation part. Without a
 * validation part (folds = 1) the training figures are the means over the epoch's batches as they trained.
 */
export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  /** NaN when the run has no validation part (folds = 1). */
  validLoss: number;
  validAccuracy: number;
  /** Wall time of the epoch, training and evaluation. */
  seconds: number;
  /** Only when the run asked for the test set after every epoch; never used to choose a checkpoint. */
  testLoss?: number;
  testAccuracy?: number;
}

export interface FoldSummary {
  fold: number;
  history: EpochMetrics[];
  /** 1-based epoch with the best validation accuracy (the first of equals). */
  bestEpoch: number;
  trainAccuracy: number;
  validAccuracy: number;
}

export interface TestResult {
  accuracy: number;
  loss: number;
}

/** What a training run reports as it goes: folds, batches, epochs, and the test of the selected fold. */
export type TrainEvent =
  | {
      type: 'fold-start';
      fold: number;
      folds: number;
      epochs: number;
      trainSamples: number;
      validSamples: number;
      /** When the run resumes inside this fold: the epochs it had finished before. */
      resumedAfterEpoch?: number;
    }
  | { type: 'batch'; fold: number; epoch: number; batch: number; batches: number; progress: number }
  | { type: 'epoch'; fold: number; metrics: EpochMetrics; samplesPerSecond: number; progress: number }
  | { type: 'fold-end'; summary: FoldSummary }
  | { type: 'test'; fold: number; test: TestResult; ensembleTest?: TestResult };
