/** Small slices of MNIST for training tests, in memory or written to idx and CSV files. */
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { loadMnist, subset, type Dataset, type DatasetFiles, type ImageSet } from '../../src/data/dataset.js';
import { writeIdx } from '../../src/data/idx.js';
import type { TrainRecipe } from '../../src/train/types.js';

let mnist: Promise<Dataset> | undefined;

/** MNIST, read once per test file. */
export function mnistOnce(): Promise<Dataset> {
  mnist ??= loadMnist();
  return mnist;
}

/** The indices 0..n−1. */
export function firstIndices(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** The first `trainCount` training images and the first `testCount` test images of MNIST. */
export async function smallMnist(trainCount: number, testCount: number): Promise<Dataset> {
  const { train, test } = await mnistOnce();
  return { train: subset(train, firstIndices(trainCount)), test: subset(test, firstIndices(testCount)) };
}

/** Which of the four files to gzip. */
export type GzipChoice = Partial<Record<keyof DatasetFiles, boolean>>;

async function writeSet(images: string, labels: string, set: ImageSet, gzipImages: boolean, gzipLabels: boolean): Promise<void> {
  await writeIdx(images, [set.count, set.rows, set.cols], set.pixels, { gzip: gzipImages });
  await writeIdx(labels, [set.count], set.labels, { gzip: gzipLabels });
}

/** Writes the dataset as four idx files in `dir` (gzipped where asked) and returns their paths. */
export async function writeDatasetFiles(dir: string, dataset: Dataset, gzip: GzipChoice = {}): Promise<DatasetFiles> {
  const name = (base: string, key: keyof DatasetFiles) => join(dir, gzip[key] ? `${base}.gz` : base);
  const files: DatasetFiles = {
    trainImages: name('train-images-idx3-ubyte', 'trainImages'),
    trainLabels: name('train-labels-idx1-ubyte', 'trainLabels'),
    testImages: name('t10k-images-idx3-ubyte', 'testImages'),
    testLabels: name('t10k-labels-idx1-ubyte', 'testLabels'),
  };
  await writeSet(files.trainImages, files.trainLabels, dataset.train, gzip.trainImages ?? false, gzip.trainLabels ?? false);
  await writeSet(files.testImages, files.testLabels, dataset.test, gzip.testImages ?? false, gzip.testLabels ?? false);
  return files;
}

/** A quick learner for tests on small subsets — one ReLU layer, Adam, constant rate — with the given changes. */
export function quickRecipe(changes: Partial<TrainRecipe> = {}): TrainRecipe {
  return {
    hidden: [{ width: 64, activation: 'relu' }],
    init: 'he',
    optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
    lr: 2e-3,
    schedule: { kind: 'constant' },
    weightDecay: 0,
    batchSize: 100,
    epochs: 2,
    folds: 1,
    seed: 1,
    normalization: 'global',
    ...changes,
  };
}

/** An image set as a Kaggle-style CSV (`label,pixel0,…`), optionally without the label column, optionally gzipped. */
export async function writeCsv(path: string, set: ImageSet, options: { labels?: boolean; gzip?: boolean } = {}): Promise<string> {
  const withLabels = options.labels ?? true;
  const header = [...(withLabels ? ['label'] : []), ...Array.from({ length: set.features }, (_, i) => `pixel${i}`)].join(',');
  const lines = [header];
  for (let i = 0; i < set.count; i++) {
    const pixels = Array.from(set.pixels.subarray(i * set.features, (i + 1) * set.features)).join(',');
    lines.push(withLabels ? `${set.labels[i]},${pixels}` : pixels);
  }
  const text = `${lines.join('\n')}\n`;
  await writeFile(path, options.gzip ? gzipSync(text) : text);
  return path;
}
