import { describe, expect, it } from 'vitest';
import { accurateRecipe, referenceRecipe } from '../../src/train/recipe.js';
import { bestTrial, DEFAULT_HOLDOUT, gridSize, MAX_TRIALS, SweepSpaceError, trialParams, trialRecipe, trialScore } from '../../src/sweep/space.js';

describe('trialParams', () => {
  it('walks a grid in order, the last field fastest, every combination once', () => {
    const space = { lr: [0.01, 0.05], hidden: [[{ width: 32, activation: 'relu' }], [{ width: 64, activation: 'relu' }]], epochs: [1, 2, 3] };
    const trials = trialParams({ space, strategy: 'grid', seed: 1 });
    expect(gridSize(space)).toBe(12);
    expect(trials).toHaveLength(12);
    expect(trials[0]).toEqual({ lr: 0.01, hidden: [{ width: 32, activation: 'relu' }], epochs: 1 });
    expect(trials[1]).toEqual({ lr: 0.01, hidden: [{ width: 32, activation: 'relu' }], epochs: 2 });
    expect(trials[3]).toEqual({ lr: 0.01, hidden: [{ width: 64, activation: 'relu' }], epochs: 1 });
    expect(trials[11]).toEqual({ lr: 0.05, hidden: [{ width: 64, activation: 'relu' }], epochs: 3 });
    expect(new Set(trials.map((t) => JSON.stringify(t))).size).toBe(12);
    // trials caps a grid.
    expect(trialParams({ space, strategy: 'grid', seed: 1, trials: 5 })).toEqual(trials.slice(0, 5));
  });

  it('draws random trials from the seed: the same seed the same trials, inside every range, integers where the field is', () => {
    const space = { lr: { min: 1e-4, max: 1e-1, log: true }, batchSize: { min: 32, max: 512, log: false }, init: ['he', 'glorot-uniform'] };
    const a = trialParams({ space, strategy: 'random', seed: 7, trials: 200 });
    expect(trialParams({ space, strategy: 'random', seed: 7, trials: 200 })).toEqual(a);
    expect(trialParams({ space, strategy: 'random', seed: 8, trials: 200 })).not.toEqual(a);
    for (const t of a) {
      expect(t.lr).toBeGreaterThanOrEqual(1e-4);
      expect(t.lr).toBeLessThanOrEqual(1e-1);
      expect(Number.isInteger(t.batchSize)).toBe(true);
      expect(t.batchSize).toBeGreaterThanOrEqual(32);
      expect(t.batchSize).toBeLessThanOrEqual(512);
    }
    // Log-uniform: about as many draws in each decade.
    const decades = [1e-4, 1e-3, 1e-2].map((lo) => a.filter((t) => (t.lr as number) >= lo && (t.lr as number) < lo * 10).length);
    for (const n of decades) expect(n).toBeGreaterThan(40);
    expect(new Set(a.map((t) => t.init))).toEqual(new Set(['he', 'glorot-uniform']));
  });

  it('refuses what does not fit, naming the field', () => {
    const refuse = (plan: Parameters<typeof trialParams>[0], path: string, message: RegExp) => {
      let error: unknown;
      try {
        trialParams(plan);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SweepSpaceError);
      expect((error as SweepSpaceError).path).toBe(path);
      expect((error as SweepSpaceError).message).toMatch(message);
    };
    refuse({ space: { lr: [0.1, -1] }, strategy: 'grid', seed: 1 }, 'space.lr.1', /too small|>0/i);
    refuse({ space: { hidden: [[{ width: 0, activation: 'relu' }]] }, strategy: 'grid', seed: 1 }, 'space.hidden.0.0.width', /./);
    refuse({ space: { lr: { min: 0.01, max: 0.1, log: false } }, strategy: 'grid', seed: 1 }, 'space.lr', /needs strategy "random"/);
    refuse({ space: { init: { min: 1, max: 2, log: false } }, strategy: 'random', seed: 1, trials: 2 }, 'space.init', /applies to lr, weightDecay, batchSize, epochs, holdout only/);
    refuse({ space: { epochs: { min: 1, max: 5000, log: false } }, strategy: 'random', seed: 1, trials: 2 }, 'space.epochs.max', /./);
    refuse({ space: { lr: [0.01] }, strategy: 'random', seed: 1 }, 'trials', /needs the number of trials/);
    const wide = Object.fromEntries(['lr', 'epochs', 'batchSize'].map((f, i) => [f, Array.from({ length: 5 }, (_, j) => (f === 'lr' ? 0.01 * (j + 1) : j + 1 + i))]));
    refuse({ space: wide, strategy: 'grid', seed: 1 }, 'space', new RegExp(`125 combinations, more than the ${MAX_TRIALS}`));
  });
});

describe('trialRecipe', () => {
  it('lays the parameters over the base, holds out a share of a one-fold recipe, and names a trial that is no recipe', () => {
    const one = trialRecipe(accurateRecipe, { lr: 0.01 }, 0);
    expect(one).toMatchObject({ ...accurateRecipe, lr: 0.01, holdout: DEFAULT_HOLDOUT });
    expect(trialRecipe({ ...accurateRecipe, holdout: 0.2 }, {}, 0).holdout).toBe(0.2);
    expect(trialRecipe(referenceRecipe, { epochs: 2 }, 0)).toEqual({ ...referenceRecipe, epochs: 2 });
    // Folds from the space drop the base's holdout, which applies to one fold only.
    expect(trialRecipe({ ...accurateRecipe, holdout: 0.2 }, { folds: 3 }, 0).holdout).toBeUndefined();
    expect(() => trialRecipe(referenceRecipe, { schedule: { kind: 'step', everyEpochs: 0, gamma: 0.5 } }, 4)).toThrow(/^trial 5: Invalid recipe field schedule/);
  });
});

describe('comparing trials', () => {
  it('scores a trial by the mean of its folds and picks the first of the best, never a missing score', () => {
    expect(trialScore([{ validAccuracy: 0.9 }, { validAccuracy: 0.8 }])).toBeCloseTo(0.85, 12);
    expect(bestTrial([0.8, null, 0.9, 0.9, Number.NaN])).toBe(2);
    expect(bestTrial([null, null])).toBe(-1);
  });
});
