/**
 * The main settings of the service's recipes (src/train/recipe.ts), shown as the form's placeholders:
 * an empty field means "the recipe's value". A test checks that these agree with the recipes.
 */
import type { Recipe } from './api.js';

export type RecipeName = 'reference' | 'accurate' | 'best';
export type AugmentChoice = 'none' | 'affine' | 'affine,elastic';
export type OptimizerKind = Recipe['optimizer']['kind'];
export type Activation = Recipe['hidden'][number]['activation'];

export interface RecipeDefaults {
  widths: number[];
  activation: Activation;
  optimizer: OptimizerKind;
  lr: number;
  batchSize: number;
  epochs: number;
  folds: number;
  /** Of every hidden layer. */
  dropout: number;
  augment: AugmentChoice;
}

export const RECIPE_DEFAULTS: Record<RecipeName, RecipeDefaults> = {
  reference: { widths: [256], activation: 'sigmoid', optimizer: 'sgd', lr: 0.05, batchSize: 2000, epochs: 50, folds: 3, dropout: 0, augment: 'none' },
  accurate: { widths: [256], activation: 'relu', optimizer: 'adam', lr: 2e-3, batchSize: 128, epochs: 5, folds: 1, dropout: 0, augment: 'none' },
  best: { widths: [512, 512], activation: 'relu', optimizer: 'adam', lr: 1e-3, batchSize: 128, epochs: 60, folds: 1, dropout: 0.2, augment: 'affine' },
};

/** The limits of each augmentation choice, as `fastmlp train --augment` sets them. */
export const AUGMENT_LIMITS: Record<AugmentChoice, Recipe['augment'] & object> = {
  none: {},
  affine: { shift: 2, rotate: 10, scale: 0.1, shear: 10 },
  'affine,elastic': { shift: 2, rotate: 10, scale: 0.1, shear: 10, elasticAlpha: 34, elasticSigma: 4 },
};

/** An optimizer with the coefficients `fastmlp train --optimizer` uses by default. */
export function optimizerOf(kind: OptimizerKind): Recipe['optimizer'] {
  switch (kind) {
    case 'sgd':
      return { kind };
    case 'momentum':
      return { kind, momentum: 0.9, nesterov: false };
    case 'adam':
      return { kind, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
  }
}
