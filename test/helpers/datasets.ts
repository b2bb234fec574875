/** Small slices of MNIST for training tests, in memory or written to idx, CSV, image folders and archives. */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { strToU8, zipSync } from 'fflate';
import sharp from 'sharp';
import tarStream from 'tar-stream';
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

/**
 * An image set as a folder of PNGs (sharp), one subfolder per class named by classNames or the label,
 * files numbered within their class, in the order of the set.
 */
export async function writeImageFolder(dir: string, set: ImageSet, options: { classNames?: string[]; format?: 'png' | 'jpeg' } = {}): Promise<string> {
  const seen = new Map<number, number>();
  for (let i = 0; i < set.count; i++) {
    const label = set.labels[i]!;
    const folder = join(dir, options.classNames?.[label] ?? String(label));
    const n = seen.get(label) ?? 0;
    seen.set(label, n + 1);
    if (n === 0) await mkdir(folder, { recursive: true });
    const image = sharp(set.pixels.subarray(i * set.features, (i + 1) * set.features), { raw: { width: set.cols, height: set.rows, channels: 1 } });
    const format = options.format ?? 'png';
    await (format === 'png' ? image.png() : image.jpeg({ quality: 95 })).toFile(join(folder, `img${n}.${format === 'png' ? 'png' : 'jpg'}`));
  }
  return dir;
}

/** Every file under dir, as archive entries: path relative to dir (with /), and bytes. */
async function filesUnder(dir: string, prefix = ''): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const name = prefix + entry.name;
    if (entry.isDirectory()) Object.assign(out, await filesUnder(path, `${name}/`));
    else out[name] = await readFile(path);
  }
  return out;
}

/** A zip of the given entries (names as they are, `../` included), or of every file under a folder. */
export async function writeZip(path: string, entries: Record<string, Uint8Array | string> | { folder: string }): Promise<string> {
  const files = 'folder' in entries && typeof entries.folder === 'string' ? await filesUnder(entries.folder) : (entries as Record<string, Uint8Array | string>);
  const zipped = zipSync(Object.fromEntries(Object.entries(files).map(([name, data]) => [name, typeof data === 'string' ? strToU8(data) : data])), { level: 1 });
  await writeFile(path, zipped);
  return path;
}

/** A tar (gzipped if asked) of the given entries; an entry may be a symbolic link. */
export async function writeTar(path: string, entries: { name: string; data?: Uint8Array | string; linkname?: string }[], options: { gzip?: boolean } = {}): Promise<string> {
  const pack = tarStream.pack();
  for (const e of entries) {
    if (e.linkname !== undefined) pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else pack.entry({ name: e.name }, typeof e.data === 'string' ? e.data : Buffer.from(e.data ?? new Uint8Array(0)));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const tar = Buffer.concat(chunks);
  await writeFile(path, options.gzip ? gzipSync(tar) : tar);
  return path;
}
