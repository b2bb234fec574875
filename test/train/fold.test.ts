import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { encodeCheckpoint } from '../../src/train/checkpoint.js';
import { trainFold, type FoldState } from '../../src/train/fold.js';
import { trainKFold, type KFoldResult } from '../../src/train/kfold.js';
import { prepareRun } from '../../src/train/prepare.js';
import { ResumeStateError } from '../../src/train/resume.js';
import { selectFold } from '../../src/train/select.js';
import type { TrainEvent, TrainRecipe } from '../../src/train/types.js';
import { quickRecipe, smallMnist } from '../helpers/datasets.js';

const recipe: TrainRecipe = quickRecipe({ epochs: 2, folds: 3, seed: 11, batchSize: 128 });

let dataset: Dataset;
let whole: KFoldResult;

beforeAll(async () => {
  dataset = await smallMnist(2400, 300);
  whole = trainKFold({ recipe, dataset, ensemble: true });
});

const bytes = (result: { checkpoint: Parameters<typeof encodeCheckpoint>[0] }) => Buffer.from(encodeCheckpoint(result.checkpoint));

describe('prepareRun', () => {
  it('splits the training set into the same folds, with their own generators, every time', () => {
    const a = prepareRun(recipe, dataset);
    const b = prepareRun(recipe, dataset);
    expect(a.folds.map((f) => f.rng)).toEqual(b.folds.map((f) => f.rng));
    expect(a.folds.map((f) => [...f.validation])).toEqual(b.folds.map((f) => [...f.validation]));
    // The validation parts partition the training set; each fold trains on the rest.
    const all = a.folds.flatMap((f) => [...f.validation]).sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 2400 }, (_, i) => i));
    for (const f of a.folds) expect(f.train.length + f.validation.length).toBe(2400);
    expect(new Set(a.folds.map((f) => JSON.stringify(f.rng))).size).toBe(3);
    // Progress is measured over every batch of every fold.
    expect(a.folds.map((f) => f.batchesBefore)).toEqual([0, a.folds[0]!.totalSteps, a.folds[0]!.totalSteps + a.folds[1]!.totalSteps]);
    expect(a.totalBatches).toBe(a.folds.reduce((s, f) => s + f.totalSteps, 0));
    expect(prepareRun({ ...recipe, seed: 12 }, dataset).folds[0]!.validation).not.toEqual(a.folds[0]!.validation);
  });
});

describe('trainFold', () => {
  it('trains any fold on its own to the bits it has in the whole run: folds are independent units of work', () => {
    const run = prepareRun(recipe, dataset);
    // Fold 3 first, in a run that never trained folds 1 and 2.
    const third = trainFold(run, 3);
    const folds = [trainFold(run, 1), trainFold(run, 2), third];
    expect(folds.map((f) => f.summary.bestEpoch)).toEqual(whole.folds.map((f) => f.bestEpoch));
    const selection = selectFold(run, folds, { ensemble: true });
    expect(selection.selectedFold).toBe(whole.selectedFold);
    expect(selection.test).toEqual(whole.test);
    expect(selection.ensembleTest).toEqual(whole.ensembleTest);
    expect(bytes(selection).equals(bytes(whole))).toBe(true);
    selection.foldCheckpoints.forEach((c, i) => expect(Buffer.from(encodeCheckpoint(c)).equals(Buffer.from(encodeCheckpoint(whole.foldCheckpoints[i]!)))).toBe(true));
  });

  it('reports its fold, with progress counted from the batches of the folds before it', () => {
    const run = prepareRun(recipe, dataset);
    const events: TrainEvent[] = [];
    trainFold(run, 2, { onEvent: (e) => events.push(e) });
    expect(events[0]).toMatchObject({ type: 'fold-start', fold: 2, folds: 3, epochs: 2, trainSamples: 1600, validSamples: 800 });
    const batches = events.filter((e) => e.type === 'batch');
    expect(batches).toHaveLength(run.folds[1]!.totalSteps);
    expect(batches[0]!.progress).toBe((run.folds[1]!.batchesBefore + 1) / run.totalBatches);
    expect(events.at(-1)).toMatchObject({ type: 'fold-end', summary: { fold: 2 } });
  });

  it('resumes from a snapshot of its own fold to the same bits, and refuses another fold\'s', () => {
    const run = prepareRun(recipe, dataset);
    let first: FoldState | undefined;
    const uninterrupted = trainFold(run, 2, {
      onSnapshot: (s) => {
        if (s.epoch === 1) first = structuredClone({ ...s, params: s.params.slice(), bestParams: s.bestParams.slice(), order: s.order.slice() });
      },
    });
    const resumed = trainFold(run, 2, { resume: first! });
    expect(resumed.bestParams).toEqual(uninterrupted.bestParams);
    expect(resumed.summary.history.map(({ seconds: _, ...m }) => m)).toEqual(uninterrupted.summary.history.map(({ seconds: _, ...m }) => m));
    expect(() => trainFold(run, 1, { resume: first! })).toThrow(ResumeStateError);
    expect(() => trainFold(run, 4)).toThrow(RangeError);
  });
});
