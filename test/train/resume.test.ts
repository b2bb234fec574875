import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { encodeCheckpoint } from '../../src/train/checkpoint.js';
import { trainKFold, type KFoldResult, type TrainEvent } from '../../src/train/kfold.js';
import {
  decodeFinishedFold,
  decodeFoldSnapshot,
  decodeTrainingState,
  encodeFinishedFold,
  encodeFoldSnapshot,
  encodeTrainingState,
  ResumeStateError,
  RESUME_FORMAT_VERSION,
  type TrainingState,
} from '../../src/train/resume.js';
import { TrainingCancelled } from '../../src/train/trainer.js';
import type { FoldSummary, TrainRecipe } from '../../src/train/types.js';
import { smallMnist } from '../helpers/datasets.js';

/** 784→64 ReLU→10, 2 folds of 4 epochs on 3000 images; the optimizer varies. */
const base: TrainRecipe = {
  hidden: [{ width: 64, activation: 'relu' }],
  init: 'he',
  optimizer: { kind: 'sgd' },
  lr: 0.05,
  schedule: { kind: 'step', everyEpochs: 2, gamma: 0.5 },
  weightDecay: 1e-4,
  batchSize: 100,
  epochs: 4,
  folds: 2,
  seed: 11,
  normalization: 'global',
};

const recipes: [string, TrainRecipe][] = [
  ['plain gradient descent', base],
  ['momentum (Nesterov)', { ...base, optimizer: { kind: 'momentum', momentum: 0.9, nesterov: true }, lr: 0.01 }],
  ['Adam with cosine decay', { ...base, optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, lr: 2e-3, schedule: { kind: 'cosine', minLr: 0 } }],
  [
    'Adam with dropout in two layers and affine and elastic augmentation',
    {
      ...base,
      hidden: [{ width: 64, activation: 'relu', dropout: 0.3 }, { width: 32, activation: 'sigmoid', dropout: 0.2 }],
      augment: { shift: 2, rotate: 10, scale: 0.1, shear: 10, elasticAlpha: 34, elasticSigma: 4 },
      optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
      lr: 2e-3,
    },
  ],
];

/** The fold summaries without the wall times, which differ from run to run. */
function withoutTimes(folds: FoldSummary[]): unknown {
  return folds.map((f) => ({ ...f, history: f.history.map(({ seconds: _, ...m }) => m) }));
}

function expectSameRun(actual: KFoldResult, expected: KFoldResult): void {
  expect(Buffer.from(encodeCheckpoint(actual.checkpoint)).equals(Buffer.from(encodeCheckpoint(expected.checkpoint)))).toBe(true);
  actual.foldCheckpoints.forEach((c, i) => expect(Buffer.from(encodeCheckpoint(c)).equals(Buffer.from(encodeCheckpoint(expected.foldCheckpoints[i]!)))).toBe(true));
  expect(withoutTimes(actual.folds)).toEqual(withoutTimes(expected.folds));
  expect(actual.test).toEqual(expected.test);
  expect(actual.selectedFold).toBe(expected.selectedFold);
}

describe.each(recipes)('resuming a stopped run: %s', (_, recipe) => {
  let dataset: Dataset;
  let whole: KFoldResult;
  /** Encoded snapshots of the interrupted run, by "fold.epoch". */
  const snapshots = new Map<string, Uint8Array>();

  beforeAll(async () => {
    dataset = await smallMnist(3000, 1000);
    whole = trainKFold({ recipe, dataset });
  });

  it('stopped by its signal after epoch 2 of fold 2, continues from the last snapshot to the same bits', () => {
    const signal = { aborted: false };
    expect(() =>
      trainKFold({
        recipe,
        dataset,
        signal,
        onSnapshot: (state) => {
          snapshots.set(`${state.fold}.${state.epoch}`, encodeTrainingState(state));
          if (state.fold === 2 && state.epoch === 2) signal.aborted = true;
        },
      }),
    ).toThrow(TrainingCancelled);
    expect([...snapshots.keys()]).toEqual(['1.1', '1.2', '1.3', '1.4', '2.1', '2.2']);

    const state = decodeTrainingState(snapshots.get('2.2')!);
    expect(state.completed.map((c) => c.summary.fold)).toEqual([1]);
    const events: TrainEvent[] = [];
    const resumed = trainKFold({ recipe, dataset, resume: state, onEvent: (e) => void (e.type !== 'batch' && events.push(e)) });
    expectSameRun(resumed, whole);
    // Only what was left: fold 2's last two epochs, then the test.
    expect(events.map((e) => (e.type === 'epoch' ? `epoch ${e.fold}.${e.metrics.epoch}` : e.type))).toEqual(['fold-start', 'epoch 2.3', 'epoch 2.4', 'fold-end', 'test']);
    expect(events[0]).toMatchObject({ fold: 2, resumedAfterEpoch: 2 });
    const epochs = events.filter((e) => e.type === 'epoch');
    expect(epochs.at(-1)!.progress).toBe(1);
    expect(resumed.seconds).toBeGreaterThan(state.seconds);
  });

  it('continues to the same bits from the end of fold 1 and from its first epoch', () => {
    for (const key of ['1.4', '1.1']) {
      const resumed = trainKFold({ recipe, dataset, resume: decodeTrainingState(snapshots.get(key)!) });
      expectSameRun(resumed, whole);
    }
  });
});

describe('the training state and its file', () => {
  let dataset: Dataset;
  let states: Uint8Array[];
  const recipe: TrainRecipe = { ...recipes[2]![1], folds: 1, epochs: 2, hidden: [{ width: 16, activation: 'relu' }] };

  beforeAll(async () => {
    dataset = await smallMnist(600, 200);
    states = [];
    trainKFold({ recipe, dataset, testEveryEpoch: true, onSnapshot: (s) => void states.push(encodeTrainingState(s)) });
  });

  it('round-trips: same state, same bytes; NaN validation figures survive', () => {
    const state = decodeTrainingState(states[1]!);
    expect(state.history[0]!.validAccuracy).toBeNaN();
    expect(state.history[0]!.testAccuracy).toBeGreaterThan(0);
    expect(state.optimizer.buffers).toHaveLength(2);
    expect(state.optimizer.step).toBe(2 * 6);
    expect(Buffer.from(encodeTrainingState(state)).equals(Buffer.from(states[1]!))).toBe(true);
    // As a file reads back: a Buffer at an odd offset of a larger one.
    const inFile = Buffer.concat([Buffer.alloc(3), Buffer.from(states[1]!)]).subarray(3);
    expect(decodeTrainingState(inFile)).toEqual(state);
  });

  it('resumes a run without folds from its first epoch to the same bits', () => {
    const whole = trainKFold({ recipe, dataset, testEveryEpoch: true });
    const resumed = trainKFold({ recipe, dataset, testEveryEpoch: true, resume: decodeTrainingState(states[0]!) });
    expectSameRun(resumed, whole);
  });

  it('rejects damaged, truncated, foreign and newer files with ResumeStateError', () => {
    const bytes = states[0]!;
    const flipped = bytes.slice();
    flipped[Math.floor(bytes.length / 2)]! ^= 0x10;
    expect(() => decodeTrainingState(flipped, 'resume.bin')).toThrow(/resume\.bin: checksum mismatch/);
    expect(() => decodeTrainingState(bytes.subarray(0, bytes.length - 100))).toThrow(ResumeStateError);
    expect(() => decodeTrainingState(bytes.subarray(0, 8))).toThrow(/too few/);
    expect(() => decodeTrainingState(new TextEncoder().encode('not a resume file at all'))).toThrow(/not a fastmlp resume file/);
    const newer = bytes.slice();
    new DataView(newer.buffer).setUint32(4, RESUME_FORMAT_VERSION + 1, true);
    expect(() => decodeTrainingState(newer)).toThrow(/format version 2/);
  });

  it('refuses to resume another recipe or another training set', async () => {
    const state = decodeTrainingState(states[0]!);
    expect(() => trainKFold({ recipe: { ...recipe, seed: 12 }, dataset, resume: state })).toThrow(/another recipe/);
    const smaller = await smallMnist(500, 200);
    expect(() => trainKFold({ recipe, dataset: smaller, resume: state })).toThrow(/600 training samples, not 500/);
    const inconsistent: TrainingState = { ...state, epoch: 2 };
    expect(() => trainKFold({ recipe, dataset, resume: inconsistent })).toThrow(ResumeStateError);
  });
});

describe('a fold snapshot and a finished fold as bytes', () => {
  const recipe: TrainRecipe = { ...base, epochs: 2, hidden: [{ width: 16, activation: 'relu' }] };
  let dataset: Dataset;
  let state: TrainingState;

  beforeAll(async () => {
    dataset = await smallMnist(600, 200);
    const states: Uint8Array[] = [];
    trainKFold({ recipe, dataset, onSnapshot: (s) => void states.push(encodeTrainingState(s)) });
    // Fold 2 after its first epoch: fold 1 is finished, as a run's state holds it.
    state = decodeTrainingState(states[2]!);
  });

  it('round-trip, same state same bytes, and each form refuses the others', () => {
    const { seconds: _, completed, ...alone } = state;
    const bytes = encodeFoldSnapshot(alone);
    const back = decodeFoldSnapshot(bytes);
    expect(back).toEqual(alone);
    expect(Buffer.from(encodeFoldSnapshot(back)).equals(Buffer.from(bytes))).toBe(true);
    const finished = encodeFinishedFold(completed[0]!, recipe);
    expect(decodeFinishedFold(finished)).toEqual({ fold: completed[0], recipe });
    expect(() => decodeTrainingState(bytes)).toThrow(/not a fastmlp resume file/);
    expect(() => decodeFoldSnapshot(finished)).toThrow(/not a fastmlp fold snapshot: .* instead of "FMFS"/);
    expect(() => decodeFinishedFold(encodeTrainingState(state))).toThrow(/instead of "FMFR"/);
  });

  it('check what they hold: a damaged byte, a fold beyond the recipe, a history of the wrong length', () => {
    const finished = encodeFinishedFold(completed(), recipe);
    const flipped = finished.slice();
    flipped[finished.length - 9]! ^= 1;
    expect(() => decodeFinishedFold(flipped, 'result of fold 1')).toThrow(/result of fold 1: checksum mismatch/);
    const beyond = { ...completed(), summary: { ...completed().summary, fold: 3 } };
    expect(() => decodeFinishedFold(encodeFinishedFold(beyond, recipe))).toThrow(/fold 3 is beyond the recipe's 2 folds/);
    const short = { ...completed(), summary: { ...completed().summary, history: completed().summary.history.slice(0, 1) } };
    expect(() => encodeFinishedFold(short, recipe)).toThrow(/has 1 epochs, not 2/);
    const { seconds: _, completed: __, ...alone } = state;
    expect(() => encodeFoldSnapshot({ ...alone, fold: 3 })).toThrow(/fold 3 is beyond/);
  });

  function completed() {
    return state.completed[0]!;
  }
});
