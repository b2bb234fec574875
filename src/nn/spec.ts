/** Plain descriptions of a network and of how its parameters are updated. */
export type { Precision } from '../native.js';

export type Activation = 'sigmoid' | 'relu';
export type Initializer = 'normal-fan-in' | 'he' | 'glorot-uniform';

export interface HiddenLayerSpec {
  width: number;
  activation: Activation;
  /** Share of the layer's outputs dropped in training (inverted dropout), from 0 to 0.9; absent: none. */
  dropout?: number;
}

export type OptimizerSpec =
  | { kind: 'sgd' }
  | { kind: 'momentum'; momentum: number; nesterov: boolean }
  | { kind: 'adam'; beta1: number; beta2: number; epsilon: number };

export type ScheduleSpec =
  | { kind: 'constant' }
  | { kind: 'step'; everyEpochs: number; gamma: number }
  | { kind: 'cosine'; minLr: number };
