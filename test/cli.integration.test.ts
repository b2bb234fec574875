import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetFiles } from '../src/data/dataset.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import sharp from 'sharp';
import { smallMnist, writeCsv, writeDatasetFiles, writeImageFolder, writeZip } from './helpers/datasets.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli.js ...args` and collects its exit code and output. */
function fastmlp(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: root, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Compiles dist/ when a source file is newer than its compiled counterpart (or dist/ is missing). */
function ensureDist(): void {
  const src = join(root, 'src');
  const stale = (dir: string): boolean =>
    readdirSync(dir, { withFileTypes: true }).some((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return stale(path);
      if (!entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) return false;
      const compiled = join(root, 'dist', relative(src, path)).replace(/\.ts$/, '.js');
      return !existsSync(compiled) || statSync(compiled).mtimeMs < statSync(path).mtimeMs;
    });
  if (!existsSync(cli) || stale(src)) {
    try {
      execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
    } catch (error) {
      // tsc still emits on type errors; only a missing CLI is fatal.
      if (!existsSync(cli)) throw error;
    }
  }
}

let dir: string;
let files: DatasetFiles;
let testCount: number;
let testLabels: Uint8Array;

beforeAll(async () => {
  ensureDist();
  dir = await mkdtemp(join(tmpdir(), 'fastmlp-cli-'));
  const dataset = await smallMnist(2000, 600);
  testCount = dataset.test.count;
  testLabels = dataset.test.labels;
  files = await writeDatasetFiles(dir, dataset, { trainImages: true, testImages: true });
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function dataFlags(f: DatasetFiles = files): string[] {
  return ['--train-images', f.trainImages, '--train-labels', f.trainLabels, '--test-images', f.testImages, '--test-labels', f.testLabels];
}

describe('fastmlp train, predict and eval', () => {
  let trained: Run;
  let summary: Record<string, unknown> & { test: { accuracy: number; loss: number }; checkpoint: string };
  let outDir: string;

  beforeAll(async () => {
    outDir = join(dir, 'run');
    trained = await fastmlp(
      'train',
      '--json',
      '--epochs', '2',
      '--folds', '2',
      '--batch', '500',
      '--hidden', '64:relu',
      '--optimizer', 'adam',
      '--lr', '0.005',
      '--seed', '5',
      '--out', outDir,
      ...dataFlags(),
    );
    summary = JSON.parse(trained.stdout) as typeof summary;
  }, 120_000);

  it('train --json prints exactly one JSON object with the run summary', () => {
    expect(trained.code).toBe(0);
    const lines = trained.stdout.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    expect(Object.keys(summary)).toEqual(expect.arrayContaining(['folds', 'selectedFold', 'test', 'seconds', 'checkpoint', 'artifacts']));
    const folds = summary['folds'] as { fold: number; bestEpoch: number; trainAccuracy: number; validAccuracy: number }[];
    expect(folds.map((f) => f.fold)).toEqual([1, 2]);
    for (const f of folds) {
      expect([1, 2]).toContain(f.bestEpoch);
      expect(f.validAccuracy).toBeGreaterThan(0.5);
    }
    expect([1, 2]).toContain(summary['selectedFold']);
    expect(summary.test.accuracy).toBeGreaterThan(0.5);
    expect(summary.test.accuracy).toBeLessThanOrEqual(1);
    expect(summary.test.loss).toBeGreaterThan(0);
    expect(summary['seconds']).toBeGreaterThan(0);
    expect(summary.checkpoint).toBe(join(outDir, 'model.fmlp'));
    expect(summary['artifacts']).toEqual({
      curvesSvg: join(outDir, 'curves.svg'),
      curvesPng: join(outDir, 'curves.png'),
      digitsPng: join(outDir, 'digits.png'),
      reportMd: join(outDir, 'report.md'),
      reportJson: join(outDir, 'report.json'),
    });
    for (const path of Object.values(summary['artifacts'] as Record<string, string>)) expect(existsSync(path)).toBe(true);
  });

  it('lays the flags over the reference recipe', async () => {
    const recipe = {
      hidden: [{ width: 64, activation: 'relu' }],
      init: 'normal-fan-in',
      optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
      lr: 0.005,
      schedule: { kind: 'constant' },
      weightDecay: 0,
      batchSize: 500,
      epochs: 2,
      folds: 2,
      seed: 5,
      normalization: 'global',
    };
    expect(summary['recipe']).toEqual(recipe);
    const checkpoint = await loadCheckpoint(summary.checkpoint);
    expect(checkpoint.recipe).toEqual(recipe);
    expect(checkpoint.metrics!.fold).toBe(summary['selectedFold']);
    expect(checkpoint.metrics!.testAccuracy).toBe(summary.test.accuracy);
    const report = JSON.parse(await readFile(join(outDir, 'report.json'), 'utf8')) as { test: unknown };
    expect(report.test).toEqual(summary.test);
  });

  it('predict --labels --json reports the accuracy the training run measured on the same files', async () => {
    const run = await fastmlp('predict', '--model', summary.checkpoint, '--images', files.testImages, '--labels', files.testLabels, '--json');
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    const result = JSON.parse(run.stdout) as { count: number; accuracy: number; loss: number; confusion: number[][] };
    expect(result.count).toBe(testCount);
    expect(result.accuracy).toBe(summary.test.accuracy);
    expect(result.loss).toBeCloseTo(summary.test.loss, 4);
    expect(result.confusion.flat().reduce((s, c) => s + c, 0)).toBe(testCount);
  });

  it('predict --json without labels lists one class per image, as accurate as reported', async () => {
    const run = await fastmlp('predict', '--model', summary.checkpoint, '--images', files.testImages, '--json');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { count: number; predictions: number[] };
    expect(result.count).toBe(testCount);
    expect(result.predictions).toHaveLength(testCount);
    const correct = result.predictions.filter((p, i) => p === testLabels[i]).length;
    expect(correct / testCount).toBe(summary.test.accuracy);
  });

  it('eval prints the accuracy and a 10×10 confusion matrix', async () => {
    const run = await fastmlp('eval', '--model', summary.checkpoint, '--images', files.testImages, '--labels', files.testLabels);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`${testCount} images · accuracy ${(100 * summary.test.accuracy).toFixed(2)}% · loss ${summary.test.loss.toFixed(4)}`);
    expect(lines[1]).toMatch(/^actual\\predicted(\s+\d){10}$/);
    const rows = lines.slice(2).map((line) => line.trim().split(/\s+/).map(Number));
    expect(rows).toHaveLength(10);
    rows.forEach((row, i) => {
      expect(row).toHaveLength(11);
      expect(row[0]).toBe(i);
    });
    const matrix = rows.map((row) => row.slice(1));
    expect(matrix.flat().reduce((s, c) => s + c, 0)).toBe(testCount);
    const perLabel = new Array<number>(10).fill(0);
    for (const label of testLabels) perLabel[label]!++;
    expect(matrix.map((row) => row.reduce((s, c) => s + c, 0))).toEqual(perLabel);
    expect(matrix.reduce((s, row, i) => s + row[i]!, 0) / testCount).toBe(summary.test.accuracy);
  });

  it('export writes the checkpoint as an ONNX model', async () => {
    const out = join(outDir, 'model.onnx');
    const run = await fastmlp('export', '--model', summary.checkpoint, '--out', out);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('pixels FLOAT [N, 784] 0–255 → probabilities FLOAT [N, 10], label INT64 [N]');
    const model = onnxProto.onnx.ModelProto.decode(await readFile(out));
    expect(model.graph!.node!.map((n) => n.opType)).toEqual(['Gemm', 'Relu', 'Gemm', 'Softmax', 'ArgMax']);
  });

  it('trains from CSV files and evaluates a CSV, as from the idx files', async () => {
    const dataset = await smallMnist(2000, 600);
    const train = await writeCsv(join(dir, 'train.csv'), dataset.train);
    const test = await writeCsv(join(dir, 'test.csv'), dataset.test);
    const out = join(dir, 'from-csv');
    const run = await fastmlp('train', '--json', '--epochs', '2', '--folds', '2', '--batch', '500', '--hidden', '64:relu', '--optimizer', 'adam', '--lr', '0.005', '--seed', '5', '--out', out, '--train-data', train, '--test-data', test);
    expect(run.code, run.stderr).toBe(0);
    const fromCsv = JSON.parse(run.stdout) as { test: { accuracy: number }; checkpoint: string };
    // The same bytes as the idx files of the first run: the same model.
    expect(fromCsv.test).toEqual(summary.test);
    const evaluated = await fastmlp('eval', '--model', fromCsv.checkpoint, '--images', test, '--json');
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect((JSON.parse(evaluated.stdout) as { accuracy: number }).accuracy).toBe(summary.test.accuracy);
    const preview = join(dir, 'preview.png');
    const inspected = await fastmlp('dataset', 'inspect', test, '--preview', preview, '--json');
    expect(inspected.code, inspected.stderr).toBe(0);
    const counts = Array.from({ length: 10 }, (_, k) => dataset.test.labels.filter((l) => l === k).length);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ count: 600, rows: 28, cols: 28, perClass: counts, labelled: true });
    expect((await readFile(preview)).subarray(1, 4).toString()).toBe('PNG');
    const mixed = await fastmlp('train', '--train-data', train, '--test-data', test, '--train-images', train);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/--data, --train-data with --test-data, and the four idx flags each name a whole dataset/);
  });

  it('trains from a zip of class folders of PNGs, keeps the class names, and predicts one image file by name', async () => {
    const dataset = await smallMnist(2000, 600);
    const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    const folder = join(dir, 'named-digits');
    await writeImageFolder(join(folder, 'digits', 'train'), dataset.train, { classNames: names });
    await writeImageFolder(join(folder, 'digits', 'test'), dataset.test, { classNames: names });
    const zip = await writeZip(join(dir, 'named-digits.zip'), { folder });
    const out = join(dir, 'from-folders');
    const run = await fastmlp('train', '--json', '--epochs', '2', '--folds', '2', '--batch', '500', '--hidden', '64:relu', '--optimizer', 'adam', '--lr', '0.005', '--seed', '5', '--out', out, '--data', zip);
    expect(run.code, run.stderr).toBe(0);
    const trainedHere = JSON.parse(run.stdout) as { test: { accuracy: number }; checkpoint: string };
    // Four steps of Adam on 1000 digits: well above chance (the idx files of these digits give 0.71).
    expect(trainedHere.test.accuracy).toBeGreaterThan(0.6);
    const checkpoint = await loadCheckpoint(trainedHere.checkpoint);
    expect(checkpoint.classNames).toEqual([...names].sort(new Intl.Collator('en').compare));
    // The test folder scores as training measured it.
    const evaluated = await fastmlp('eval', '--model', trainedHere.checkpoint, '--images', join(folder, 'digits', 'test'), '--json');
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect((JSON.parse(evaluated.stdout) as { accuracy: number }).accuracy).toBe(trainedHere.test.accuracy);
    // One PNG of a seven, predicted by name.
    const seven = dataset.test.labels.indexOf(7);
    const png = join(dir, 'seven.png');
    await sharp(dataset.test.pixels.subarray(seven * 784, (seven + 1) * 784), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);
    const predicted = await fastmlp('predict', '--model', trainedHere.checkpoint, '--images', png, '--json');
    expect(predicted.code, predicted.stderr).toBe(0);
    expect(JSON.parse(predicted.stdout)).toEqual({ count: 1, predictions: [checkpoint.classNames!.indexOf('seven')], classNames: ['seven'] });
    const part = await fastmlp('dataset', 'inspect', join(folder, 'digits', 'test'), '--json');
    expect(part.code, part.stderr).toBe(0);
    expect(JSON.parse(part.stdout)).toMatchObject({ count: 600, rows: 28, cols: 28, classNames: checkpoint.classNames, labelled: true });
    const notImages = join(dir, 'noise.bin');
    await writeFile(notImages, Uint8Array.from({ length: 300 }, (_, i) => (i * 37) % 256));
    const refused = await fastmlp('predict', '--model', trainedHere.checkpoint, '--images', notImages);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${notImages}: neither idx images, a CSV, a folder of class folders, a zip or tar, nor an image file`);
  });

  it('augment-preview draws each class’s first digit and its transforms, and needs a transform to draw', async () => {
    const png = join(dir, 'augmented.png');
    const run = await fastmlp('augment-preview', ...dataFlags(), '--augment', 'affine', '--rotate', '20', '--draws', '3', '--out', png);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('10 digits, each as it is and in 3 draws of {"shift":2,"rotate":20,"scale":0.1,"shear":10}');
    expect((await readFile(png)).subarray(1, 4).toString()).toBe('PNG');
    const none = await fastmlp('augment-preview', '--out', png);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Give the transforms to show');
  });

  it('eval names a checkpoint that does not exist and exits with 1', async () => {
    const missing = join(dir, 'missing.fmlp');
    const run = await fastmlp('eval', '--model', missing, '--images', files.testImages, '--labels', files.testLabels);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(missing);
    expect(run.stdout).toBe('');
  });
});

// Each case is a separate process; they run side by side.
describe('fastmlp sweep', () => {
  it('trains every trial of a grid, names the best by validation accuracy and saves its checkpoint', async () => {
    const space = join(dir, 'space.json');
    await writeFile(space, JSON.stringify({ base: { recipe: 'accurate', epochs: 1, hidden: [{ width: 16, activation: 'relu' }] }, space: { lr: [1e-4, 3e-3], batchSize: [100] } }));
    const out = join(dir, 'sweep');
    const run = await fastmlp('sweep', '--space', space, '--json', '--out', out, ...dataFlags());
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { trials: { index: number; params: Record<string, unknown>; validAccuracy: number }[]; best: { index: number; validAccuracy: number; checkpoint: string; recipe: { holdout: number } } };
    expect(summary.trials.map((t) => t.params)).toEqual([{ lr: 1e-4, batchSize: 100 }, { lr: 3e-3, batchSize: 100 }]);
    const scores = summary.trials.map((t) => t.validAccuracy);
    expect(summary.best.index).toBe(scores.indexOf(Math.max(...scores)));
    expect(summary.best.recipe.holdout).toBe(0.1);
    const checkpoint = await loadCheckpoint(summary.best.checkpoint);
    expect(checkpoint.metrics!.validAccuracy).toBe(summary.best.validAccuracy);
    expect(checkpoint.recipe!.holdout).toBe(0.1);
    expect(JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8'))).toEqual(summary);
  });

  it('refuses a space that does not fit with code 2, naming the field', async () => {
    const space = join(dir, 'bad-space.json');
    await writeFile(space, JSON.stringify({ lr: { min: 0.01, max: 0.1 } }));
    const run = await fastmlp('sweep', '--space', space);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^fastmlp: --space .*bad-space\.json: space\.lr: a range needs strategy "random"/);
  });
});

describe.concurrent('fastmlp with bad flags', () => {
  // Checked by fastmlp itself (the recipe and the data files): exit code 2, as the README says.
  it.for([
    ['--folds 11', ['train', '--folds', '11'], /folds/],
    ['--batch 0', ['train', '--batch', '0'], /batchSize/],
    ['--hidden 5000', ['train', '--hidden', '5000:relu'], /hidden\.0\.width/],
    ['only --train-images', ['train', '--train-images', 'x.idx'], /--train-images/],
  ] as const)('%s exits with code 2 and a message naming the flag', async ([, args, message], { expect }) => {
    const run = await fastmlp(...args, '--json');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/^fastmlp: /);
    expect(run.stdout).toBe('');
  });

  // Rejected by commander while parsing: it prints its own error; fastmlp exits with the same code 2.
  it.for([
    ['--lr abc', ['train', '--lr', 'abc'], /--lr/],
    ['--recipe nope', ['train', '--recipe', 'nope'], /--recipe/],
    ['--hidden 12:tanh', ['train', '--hidden', '12:tanh'], /--hidden/],
    ['predict without --model', ['predict', '--images', 'x.idx'], /--model/],
  ] as const)('%s exits with code 2 and a message naming the flag', async ([, args, message], { expect }) => {
    const run = await fastmlp(...args, '--json');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/^error: /);
    expect(run.stdout).toBe('');
  });
});
