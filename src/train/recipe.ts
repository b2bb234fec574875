import type { TrainRecipe } from './types.js';

/** The report's experiment: 784→256 sigmoid→10 softmax, N(0, 1/n_in), gradient descent lr 0.05, batch 2000, 50 epochs, 3 folds. */
export const referenceRecipe: TrainRecipe = {
  hidden: [{ width: 256, activation: 'sigmoid' }],
  init: 'normal-fan-in',
  optimizer: { kind: 'sgd' },
  lr: 0.05,
  schedule: { kind: 'constant' },
  weightDecay: 0,
  batchSize: 2000,
  epochs: 50,
  folds: 3,
  seed: 1,
  normalization: 'global',
};

export const recipes = { reference: referenceRecipe } as const satisfies Record<string, TrainRecipe>;
export type RecipeName = keyof typeof recipes;
