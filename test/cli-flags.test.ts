import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { AUGMENT_DEFAULTS, parseHidden, recipeFromFlags } from '../src/cli.js';

describe('the dropout flags', () => {
  it('--hidden takes a rate per layer; --dropout gives it to the layers without one', () => {
    expect(parseHidden('1024:relu:0.3,256')).toEqual([{ width: 1024, activation: 'relu', dropout: 0.3 }, { width: 256, activation: 'sigmoid' }]);
    const recipe = recipeFromFlags({ recipe: 'accurate', hidden: parseHidden('512:relu:0.5,256:relu'), dropout: 0.2 });
    expect(recipe.hidden).toEqual([{ width: 512, activation: 'relu', dropout: 0.5 }, { width: 256, activation: 'relu', dropout: 0.2 }]);
    // Without either, the recipe has no dropout at all: the reference recipe stays as it was.
    expect(recipeFromFlags({ recipe: 'reference' }).hidden).toEqual([{ width: 256, activation: 'sigmoid' }]);
  });

  it('--dropout without --hidden sets the rate of every layer of the recipe, 0 taking it away', () => {
    const best = recipeFromFlags({ recipe: 'best' }).hidden;
    expect(best.every((layer) => layer.dropout === 0.2)).toBe(true);
    expect(recipeFromFlags({ recipe: 'best', dropout: 0.1 }).hidden).toEqual(best.map((layer) => ({ ...layer, dropout: 0.1 })));
    expect(recipeFromFlags({ recipe: 'best', dropout: 0 }).hidden).toEqual(best.map(({ width, activation }) => ({ width, activation })));
  });

  it('refuses rates outside 0–0.9, naming the flag or field', () => {
    for (const bad of ['64:relu:1.5', '64:relu:', '64:relu:x', '64:relu:0.1:2']) expect(() => parseHidden(bad), bad).toThrow(InvalidArgumentError);
    expect(() => recipeFromFlags({ recipe: 'accurate', dropout: 0.95 })).toThrow(/hidden\.0\.dropout/);
  });
});

describe('the augmentation flags', () => {
  it('--augment starts from its kinds’ defaults, each limit flag lays over them, none turns it off', () => {
    expect(recipeFromFlags({ recipe: 'accurate', augment: ['affine'] }).augment).toEqual(AUGMENT_DEFAULTS.affine);
    expect(recipeFromFlags({ recipe: 'accurate', augment: ['affine', 'elastic'], rotate: 5, elasticSigma: 5 }).augment).toEqual({ ...AUGMENT_DEFAULTS.affine, rotate: 5, elasticAlpha: 34, elasticSigma: 5 });
    expect(recipeFromFlags({ recipe: 'accurate', shift: 1 }).augment).toEqual({ shift: 1 });
    expect(recipeFromFlags({ recipe: 'accurate', augment: [] }).augment).toBeUndefined();
    expect(recipeFromFlags({ recipe: 'reference' }).augment).toBeUndefined();
    expect(() => recipeFromFlags({ recipe: 'accurate', rotate: 90 })).toThrow(/augment\.rotate/);
    expect(() => recipeFromFlags({ recipe: 'accurate', elasticAlpha: 30 })).toThrow(/augment\.elasticSigma/);
  });
});

describe('label smoothing and max-norm flags', () => {
  it('lay over the recipe and are checked by its schema', () => {
    expect(recipeFromFlags({ recipe: 'accurate', labelSmoothing: 0.1, maxNorm: 3 })).toMatchObject({ labelSmoothing: 0.1, maxNorm: 3 });
    expect(recipeFromFlags({ recipe: 'accurate' })).not.toHaveProperty('labelSmoothing');
    expect(() => recipeFromFlags({ recipe: 'accurate', labelSmoothing: 0.7 })).toThrow(/labelSmoothing/);
    expect(() => recipeFromFlags({ recipe: 'accurate', maxNorm: 0 })).toThrow(/maxNorm/);
  });
});

describe('--precision and --input-dropout', () => {
  it('lays over the recipe and is checked by its schema', () => {
    expect(recipeFromFlags({ recipe: 'reference', precision: 'bf16' }).precision).toBe('bf16');
    expect(recipeFromFlags({ recipe: 'reference' })).not.toHaveProperty('precision');
    expect(() => recipeFromFlags({ recipe: 'reference', precision: 'fp16' as 'bf16' })).toThrow(/precision/);
    expect(recipeFromFlags({ recipe: 'best', inputDropout: 0.2 }).inputDropout).toBe(0.2);
    expect(() => recipeFromFlags({ recipe: 'best', inputDropout: 0.95 })).toThrow(/inputDropout/);
  });
});
