/// <reference lib="dom" />
import { describe, expect, it } from 'vitest';
import { recipes } from '../../src/train/recipe.js';
import { inputForField } from '../../web/src/job-form.js';
import { AUGMENT_DEFAULTS } from '../../src/cli.js';
import { AUGMENT_LIMITS, RECIPE_DEFAULTS, optimizerOf } from '../../web/src/recipes.js';

describe('the form’s view of the recipes', () => {
  it('shows the recipes’ own values as placeholders', () => {
    for (const name of ['reference', 'accurate', 'best'] as const) {
      const r = recipes[name];
      const augment = (Object.keys(AUGMENT_LIMITS) as (keyof typeof AUGMENT_LIMITS)[]).find((k) => JSON.stringify(AUGMENT_LIMITS[k]) === JSON.stringify(r.augment ?? {}));
      expect(RECIPE_DEFAULTS[name]).toEqual({
        widths: r.hidden.map((h) => h.width),
        activation: r.hidden[0]!.activation,
        optimizer: r.optimizer.kind,
        lr: r.lr,
        batchSize: r.batchSize,
        epochs: r.epochs,
        folds: r.folds,
        dropout: r.hidden[0]!.dropout ?? 0,
        augment,
      });
    }
  });

  it('augments as the command line does', () => {
    expect(AUGMENT_LIMITS.affine).toEqual(AUGMENT_DEFAULTS.affine);
    expect(AUGMENT_LIMITS['affine,elastic']).toEqual({ ...AUGMENT_DEFAULTS.affine, ...AUGMENT_DEFAULTS.elastic });
  });

  it('chooses an optimizer with the coefficients of the accurate recipe and the CLI', () => {
    expect(optimizerOf('adam')).toEqual(recipes.accurate.optimizer);
    expect(optimizerOf('sgd')).toEqual(recipes.reference.optimizer);
    expect(optimizerOf('momentum')).toEqual({ kind: 'momentum', momentum: 0.9, nesterov: false });
  });
});

describe('an API error’s field → the form’s input', () => {
  it('maps body fields to their inputs', () => {
    expect(inputForField('body.epochs')).toBe('epochs');
    expect(inputForField('body.batchSize')).toBe('batchSize');
    expect(inputForField('body.hidden.1.width')).toBe('hidden');
    expect(inputForField('body.hidden')).toBe('hidden');
    expect(inputForField('body.hidden.0.activation')).toBe('activation');
    expect(inputForField('body.optimizer.kind')).toBe('optimizer');
    expect(inputForField('body.recipe')).toBe('recipe');
    expect(inputForField('body.hidden.0.dropout')).toBe('dropout');
    expect(inputForField('body.augment.rotate')).toBe('augment');
  });

  it('has no input for other fields, or none', () => {
    expect(inputForField(undefined)).toBeNull();
    expect(inputForField('body.dataset.trainImages')).toBe('dataset');
    expect(inputForField('body.dataset.id')).toBe('dataset');
    expect(inputForField('body.base.dataset')).toBeNull();
    expect(inputForField('params.id')).toBeNull();
    expect(inputForField('body')).toBeNull();
  });
});
