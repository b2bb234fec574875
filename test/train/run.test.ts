import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, type Dataset, type DatasetFiles } from '../../src/data/dataset.js';
import { Classifier } from '../../src/model/classifier.js';
import { encodeCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import type { TrainEvent } from '../../src/train/kfold.js';
import { trainFold } from '../../src/train/fold.js';
import { prepareRun } from '../../src/train/prepare.js';
import { decodeFoldSnapshot, decodeTrainingState, ResumeStateError, type FinishedFold } from '../../src/train/resume.js';
import { trainKFold } from '../../src/train/kfold.js';
import { runTraining, selectInWorker, trainFoldInWorker, trainInWorker, type RunOutcome } from '../../src/train/run.js';
import { TrainingCancelled } from '../../src/train/trainer.js';
import type { TrainRecipe } from '../../src/train/types.js';
import { quickRecipe, smallMnist, writeDatasetFiles } from '../helpers/datasets.js';

const recipe: TrainRecipe = quickRecipe({ hidden: [{ width: 32, activation: 'relu' }], lr: 3e-3, batchSize: 50, epochs: 3, folds: 2, seed: 11 });

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let dir: string;
let dataset: Dataset;
let files: DatasetFiles;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fastmlp-run-'));
  dataset = await smallMnist(2000, 500);
  // Train images and test labels gzipped, the other two plain: both kinds come through the worker.
  files = await writeDatasetFiles(dir, dataset, { trainImages: true, testLabels: true });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runTraining', () => {
  let outcome: RunOutcome;
  let outDir: string;
  const events: TrainEvent[] = [];

  beforeAll(async () => {
    outDir = join(dir, 'run', 'nested');
    outcome = await runTraining({ recipe, files, outDir, ensemble: true, onEvent: (e) => events.push(e) });
  });

  it('reads plain and gzipped idx files and trains on them', async () => {
    expect((await readFile(files.trainImages)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect((await readFile(files.trainLabels)).subarray(0, 2)).toEqual(Buffer.from([0, 0]));
    expect(outcome.folds).toHaveLength(2);
    expect(outcome.folds.map((f) => f.history.length)).toEqual([3, 3]);
    expect(outcome.test.accuracy).toBeGreaterThan(0.75);
    expect(outcome.ensembleTest!.accuracy).toBeGreaterThan(0.75);
    expect(outcome.seconds).toBeGreaterThan(0);
  });

  it('writes the checkpoint and the whole report into the run folder', async () => {
    expect(outcome.checkpointPath).toBe(join(outDir, 'model.fmlp'));
    expect((await readdir(outDir)).sort()).toEqual(['curves.png', 'curves.svg', 'digits.png', 'model.fmlp', 'report.json', 'report.md']);
    expect(outcome.artifacts).toEqual({
      curvesSvg: join(outDir, 'curves.svg'),
      curvesPng: join(outDir, 'curves.png'),
      digitsPng: join(outDir, 'digits.png'),
      reportMd: join(outDir, 'report.md'),
      reportJson: join(outDir, 'report.json'),
    });
    for (const png of [outcome.artifacts.curvesPng, outcome.artifacts.digitsPng]) {
      const bytes = await readFile(png);
      expect(bytes.subarray(0, 8)).toEqual(PNG_SIGNATURE);
      expect(bytes.length).toBeGreaterThan(1000);
    }
    expect(await readFile(outcome.artifacts.curvesSvg, 'utf8')).toMatch(/<svg[\s>]/);

    const report = JSON.parse(await readFile(outcome.artifacts.reportJson, 'utf8')) as Record<string, unknown>;
    expect(report['selectedFold']).toBe(outcome.selectedFold);
    expect(report['test']).toEqual(outcome.test);
    expect(report['ensembleTest']).toEqual(outcome.ensembleTest);
    expect(report['recipe']).toEqual(recipe);
    expect((report['folds'] as unknown[]).length).toBe(2);

    const markdown = await readFile(outcome.artifacts.reportMd, 'utf8');
    expect(markdown).toContain(`${(100 * outcome.test.accuracy).toFixed(2)}%`);
    expect(markdown).toContain('(digits.png)');
    expect(markdown).toContain('(curves.png)');
  });

  it('saves the selected checkpoint: reloaded, it predicts exactly as the one in memory', async () => {
    const saved = await loadCheckpoint(outcome.checkpointPath);
    expect(Buffer.from(encodeCheckpoint(saved)).equals(await readFile(outcome.checkpointPath))).toBe(true);
    expect(saved.metrics).toEqual(outcome.checkpoint.metrics);
    expect(saved.metrics!.fold).toBe(outcome.selectedFold);
    expect(saved.metrics!.testAccuracy).toBe(outcome.test.accuracy);
    expect(saved.recipe).toEqual(recipe);

    const fromFile = new Classifier(saved).predict(dataset.test.pixels);
    const inMemory = new Classifier(outcome.checkpoint).predict(dataset.test.pixels);
    expect(fromFile.labels).toEqual(inMemory.labels);
    expect(Buffer.from(fromFile.probabilities.buffer).equals(Buffer.from(inMemory.probabilities.buffer))).toBe(true);
    expect(new Classifier(saved).evaluate(dataset.test).accuracy).toBeCloseTo(outcome.test.accuracy, 3);
  });

  it('forwards the events of the worker: folds, epochs and the test', () => {
    const starts = events.filter((e) => e.type === 'fold-start');
    expect(starts.map((e) => [e.fold, e.folds, e.trainSamples, e.validSamples])).toEqual([
      [1, 2, 1000, 1000],
      [2, 2, 1000, 1000],
    ]);
    const epochs = events.filter((e) => e.type === 'epoch');
    expect(epochs.map((e) => [e.fold, e.metrics.epoch])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
      [2, 1],
      [2, 2],
      [2, 3],
    ]);
    expect(epochs.map((e) => e.metrics)).toEqual(outcome.folds.flatMap((f) => f.history));
    const tests = events.filter((e) => e.type === 'test');
    expect(tests).toEqual([{ type: 'test', fold: outcome.selectedFold, test: outcome.test, ensembleTest: outcome.ensembleTest }]);
    expect(events.at(-1)!.type).toBe('test');
  });
});

describe('trainFoldInWorker', () => {
  it('trains one fold off the main thread to the bits trainFold gives here', async () => {
    const here = trainFold(prepareRun(recipe, await loadDataset(files)), 2);
    const events: TrainEvent[] = [];
    const there = await trainFoldInWorker({ recipe, files, fold: 2, threads: 1, onEvent: (e) => events.push(e) });
    expect(Buffer.from(there.bestParams.buffer).equals(Buffer.from(here.bestParams.buffer))).toBe(true);
    const withoutSeconds = (f: FinishedFold) => f.summary.history.map(({ seconds: _, ...m }) => m);
    expect(withoutSeconds(there)).toEqual(withoutSeconds(here));
    expect(there.summary.bestEpoch).toBe(here.summary.bestEpoch);
    expect(events[0]).toMatchObject({ type: 'fold-start', fold: 2, folds: 2 });
    expect(events.filter((e) => e.type === 'epoch')).toHaveLength(recipe.epochs);
  });

  it('is cancelled by its signal and refuses a fold the recipe does not have', async () => {
    const controller = new AbortController();
    const run = trainFoldInWorker({
      recipe: { ...recipe, epochs: 1000 },
      files,
      fold: 1,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'epoch') controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(TrainingCancelled);
    await expect(trainFoldInWorker({ recipe, files, fold: 3 })).rejects.toThrow(RangeError);
  });

  it('snapshots the fold after every epoch and resumes from any of them to the same bits', async () => {
    const snapshots: { epoch: number; bytes: Uint8Array }[] = [];
    const whole = await trainFoldInWorker({ recipe, files, fold: 2, threads: 1, snapshotIntervalMs: 0, onSnapshot: (s) => snapshots.push(s) });
    expect(snapshots.map((s) => s.epoch)).toEqual([1, 2, 3]);
    const first = decodeFoldSnapshot(snapshots[0]!.bytes);
    expect(first).toMatchObject({ fold: 2, epoch: 1, trainSamples: 2000 });
    for (const { epoch, bytes } of snapshots.slice(0, 2)) {
      const events: TrainEvent[] = [];
      const resumed = await trainFoldInWorker({ recipe, files, fold: 2, threads: 1, resume: bytes, onEvent: (e) => events.push(e) });
      expect(Buffer.from(resumed.bestParams.buffer).equals(Buffer.from(whole.bestParams.buffer))).toBe(true);
      expect(resumed.summary.history.map((m) => m.validAccuracy)).toEqual(whole.summary.history.map((m) => m.validAccuracy));
      expect(events[0]).toMatchObject({ type: 'fold-start', fold: 2, resumedAfterEpoch: epoch });
    }
  });

  it('refuses a snapshot of another fold or another recipe', async () => {
    let bytes: Uint8Array | undefined;
    await trainFoldInWorker({ recipe, files, fold: 1, threads: 1, snapshotIntervalMs: 0, onSnapshot: (s) => (bytes ??= s.bytes) });
    await expect(trainFoldInWorker({ recipe, files, fold: 2, resume: bytes! })).rejects.toThrow(/fold 1, not 2/);
    await expect(trainFoldInWorker({ recipe: { ...recipe, lr: 0.5 }, files, fold: 1, resume: bytes! })).rejects.toThrow(/another recipe/);
  });
});

describe('selectInWorker', () => {
  it('selects among folds trained apart exactly as trainKFold selects among its own', async () => {
    const folds = await Promise.all([1, 2].map((fold) => trainFoldInWorker({ recipe, files, fold, threads: 1 })));
    const { result, digits } = await selectInWorker({ recipe, files, folds, threads: 1 });
    const whole = trainKFold({ recipe, dataset: await loadDataset(files) });
    expect(result.selectedFold).toBe(whole.selectedFold);
    expect(result.test).toEqual(whole.test);
    expect(Buffer.from(encodeCheckpoint(result.checkpoint)).equals(Buffer.from(encodeCheckpoint(whole.checkpoint)))).toBe(true);
    expect(digits.labels).toHaveLength(10);
    await expect(selectInWorker({ recipe, files, folds: folds.slice(0, 1) })).rejects.toThrow(/the 2 folds/);
    await expect(selectInWorker({ recipe, files, folds: [folds[1]!, folds[0]!] })).rejects.toThrow(/fold 1 in place 1/);
  });
});

describe('runTraining failures', () => {
  it('rejects with TrainingCancelled when the signal aborts, and writes no checkpoint', async () => {
    const outDir = join(dir, 'cancelled');
    const controller = new AbortController();
    let epochs = 0;
    const run = runTraining({
      recipe: { ...recipe, epochs: 1000, folds: 1 },
      files,
      outDir,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'epoch') {
          epochs++;
          controller.abort();
        }
      },
    });
    await expect(run).rejects.toBeInstanceOf(TrainingCancelled);
    // Stopped once the flag reached the worker, however late this thread set it: short of the 1000 epochs
    // asked for. (That a run stops within one batch of its signal is trainer.test.ts's to show.)
    expect(epochs).toBeGreaterThanOrEqual(1);
    expect(epochs).toBeLessThan(1000);
    expect(existsSync(join(outDir, 'model.fmlp'))).toBe(false);
    expect(existsSync(join(outDir, 'report.md'))).toBe(false);
  });

  it('rejects at once with TrainingCancelled when the signal has already aborted', async () => {
    const outDir = join(dir, 'pre-aborted');
    let events = 0;
    await expect(
      runTraining({ recipe, files, outDir, signal: AbortSignal.abort(), onEvent: () => events++ }),
    ).rejects.toBeInstanceOf(TrainingCancelled);
    expect(events).toBe(0);
    expect(existsSync(join(outDir, 'model.fmlp'))).toBe(false);
  });

  it('rejects with an error naming a missing idx file', async () => {
    const missing = join(dir, 'no-such-labels-idx1-ubyte');
    const outDir = join(dir, 'missing');
    await expect(runTraining({ recipe, files: { ...files, testLabels: missing }, outDir })).rejects.toThrow(missing);
    expect(existsSync(join(outDir, 'model.fmlp'))).toBe(false);
  });

  it('rejects with an IdxFormatError naming a malformed idx file', async () => {
    // The labels file where the images file belongs.
    const outDir = join(dir, 'malformed');
    const error = await runTraining({ recipe, files: { ...files, trainImages: files.trainLabels }, outDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('IdxFormatError');
    expect((error as Error).message).toContain(files.trainLabels);
    expect((await stat(outDir)).isDirectory()).toBe(true);
    expect(await readdir(outDir)).toEqual([]);
  });

  it('rejects an invalid recipe with a TypeError before starting a worker', async () => {
    await expect(runTraining({ recipe: { ...recipe, batchSize: 0 }, files, outDir: join(dir, 'invalid') })).rejects.toThrow(/field batchSize/);
  });
});

describe('trainInWorker with snapshots', () => {
  it('posts a snapshot after the first epoch and each fold\'s last (a long interval), and resumes from one to the same bits', async () => {
    const whole = await trainInWorker({ recipe, files, threads: 1 });
    const snapshots: { fold: number; epoch: number; bytes: Uint8Array }[] = [];
    const again = await trainInWorker({ recipe, files, threads: 1, snapshotIntervalMs: 60_000, onSnapshot: (s) => snapshots.push(s) });
    expect(snapshots.map((s) => [s.fold, s.epoch])).toEqual([[1, 1], [1, 3], [2, 3]]);
    // Transferred, not cloned: each arrives as a whole buffer of its own.
    for (const s of snapshots) expect(s.bytes.byteLength).toBe(s.bytes.buffer.byteLength);
    expect(decodeTrainingState(snapshots[1]!.bytes)).toMatchObject({ fold: 1, epoch: 3, completed: [] });
    const resumed = await trainInWorker({ recipe, files, threads: 1, resume: snapshots[0]!.bytes });
    for (const run of [again, resumed]) {
      expect(Buffer.from(encodeCheckpoint(run.result.checkpoint)).equals(Buffer.from(encodeCheckpoint(whole.result.checkpoint)))).toBe(true);
      expect(run.result.test).toEqual(whole.result.test);
    }
  });

  it('rejects with a ResumeStateError for a damaged resume state', async () => {
    const snapshots: Uint8Array[] = [];
    await trainInWorker({ recipe: { ...recipe, epochs: 1, folds: 1 }, files, threads: 1, onSnapshot: (s) => snapshots.push(s.bytes) });
    const damaged = snapshots[0]!.slice();
    damaged[20]! ^= 1;
    const error = await trainInWorker({ recipe: { ...recipe, epochs: 1, folds: 1 }, files, threads: 1, resume: damaged }).catch((e: unknown) => e);
    // The type it was thrown as in the worker, with its parts.
    expect(error).toBeInstanceOf(ResumeStateError);
    expect((error as ResumeStateError).problem).toMatch(/checksum mismatch/);
    expect((error as Error).message).toBe(`${(error as ResumeStateError).source}: ${(error as ResumeStateError).problem}`);
  });
});
