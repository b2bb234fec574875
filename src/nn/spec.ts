/** Plain descriptions of a network and of how its parameters are updated. */

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
