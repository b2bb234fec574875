/** Plain data shared by the trainer, K-fold orchestration, checkpoints and reports. */
import type { NormalizationMode } from '../data/normalize.js';

export type { NormalizationMode };

export type Activation = 'sigmoid' | 'relu';
export type Initializer = 'normal-fan-in' | 'he' | 'glorot-uniform';

export interface HiddenLayerSpec {
  width: number;
  activation: Activation;
}

export type OptimizerSpec =
  | { kind: 'sgd' }
  | { kind: 'momentum'; momentum: number; nesterov: boolean }
  | { kind: 'adam'; beta1: number; beta2: number; epsilon: number };

export type ScheduleSpec =
  | { kind: 'constant' }
  | { kind: 'step'; everyEpochs: number; gamma: number }
  | { kind: 'cosine'; minLr: number };

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
  seed: number;
  normalization: NormalizationMode;
}

/** Loss and accuracy after one epoch, on the fold's training part and its validation part. */
export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  validLoss: number;
  validAccuracy: number;
  /** Wall time of the epoch, training and evaluation. */
  seconds: number;
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
