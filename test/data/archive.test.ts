import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveError, archiveKind, entryPath, extractArchive } from '../../src/data/archive.js';
import { datasetLayout, loadDataset, loadLabelledPart, subset, type ImageSet } from '../../src/data/dataset.js';
import { firstIndices, mnistOnce, writeCsv, writeDatasetFiles, writeImageFolder, writeTar, writeZip } from '../helpers/datasets.js';

let dir: string;
let train: ImageSet;
let test: ImageSet;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fastmlp-archive-'));
  const mnist = await mnistOnce();
  train = subset(mnist.train, firstIndices(100));
  test = subset(mnist.test, firstIndices(50));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Everything under a folder, as relative paths. */
async function tree(folder: string): Promise<string[]> {
  return (await readdir(folder, { recursive: true })).map(String).sort();
}

const same = (a: ImageSet, b: ImageSet) => Buffer.from(a.pixels).equals(Buffer.from(b.pixels)) && Buffer.from(a.labels).equals(Buffer.from(b.labels));

describe('archives', () => {
  it('tells zip, tar and tar.gz by content, whatever the name', async () => {
    const files = { 'a/b.txt': 'hello' };
    expect(await archiveKind(await writeZip(join(dir, 'kind.bin'), files))).toBe('zip');
    expect(await archiveKind(await writeTar(join(dir, 'kind.tar'), [{ name: 'a/b.txt', data: 'hello' }]))).toBe('tar');
    expect(await archiveKind(await writeTar(join(dir, 'kind.data'), [{ name: 'a/b.txt', data: 'hello' }], { gzip: true }))).toBe('tar.gz');
    await writeFile(join(dir, 'plain.csv'), 'label,pixel0\n1,2\n');
    expect(await archiveKind(join(dir, 'plain.csv'))).toBeUndefined();
  });

  it('unpacks a zip or a tar of an image folder or a CSV to the same images as the folder or file', async () => {
    const folder = await writeImageFolder(join(dir, 'folder'), train);
    const fromFolder = await loadLabelledPart(folder);
    const zip = await writeZip(join(dir, 'train.zip'), { folder: join(dir, 'folder') });
    expect(same(await loadLabelledPart(zip), fromFolder)).toBe(true);
    // A wrapping folder inside the archive is looked through.
    await mkdir(join(dir, 'wrapped'));
    await writeImageFolder(join(dir, 'wrapped', 'digits'), train);
    const wrappedZip = await writeZip(join(dir, 'wrapped.zip'), { folder: join(dir, 'wrapped') });
    const wrapped = await loadLabelledPart(wrappedZip);
    expect(same(wrapped, fromFolder)).toBe(true);
    expect(wrapped.classNames).toEqual(fromFolder.classNames);
    // A CSV in a gzipped tar.
    const csv = await writeCsv(join(dir, 'train.csv'), train);
    const tar = await writeTar(join(dir, 'csv.tar.gz'), [{ name: 'data/train.csv', data: await readFile(csv) }], { gzip: true });
    const fromTar = await loadLabelledPart(tar);
    expect(same(fromTar, train)).toBe(true);
    expect(fromTar.classNames).toBeUndefined();
  });

  it('finds the training and test parts in a folder or an archive: train/ and test/, train.csv and test.csv, or the MNIST idx names', async () => {
    const root = join(dir, 'layout');
    await writeImageFolder(join(root, 'folders', 'train'), train);
    await writeImageFolder(join(root, 'folders', 'test'), test);
    const layout = await datasetLayout(join(root, 'folders'));
    expect(layout).toEqual({ train: join(root, 'folders', 'train'), test: join(root, 'folders', 'test') });
    const fromFolders = await loadDataset(layout);
    expect(fromFolders.train.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(fromFolders.train.count).toBe(100);
    expect(fromFolders.test.count).toBe(50);

    await mkdir(join(root, 'csv', 'kaggle'), { recursive: true });
    await writeCsv(join(root, 'csv', 'kaggle', 'Train.csv'), train);
    await writeCsv(join(root, 'csv', 'kaggle', 'test.csv.gz'), test, { gzip: true });
    const csvs = await loadDataset(await datasetLayout(join(root, 'csv')));
    expect(same(csvs.train, train) && same(csvs.test, test)).toBe(true);

    await mkdir(join(root, 'idx'));
    await writeDatasetFiles(join(root, 'idx'), { train, test }, { testImages: true });
    expect(await datasetLayout(join(root, 'idx'))).toEqual({
      trainImages: join(root, 'idx', 'train-images-idx3-ubyte'),
      trainLabels: join(root, 'idx', 'train-labels-idx1-ubyte'),
      testImages: join(root, 'idx', 't10k-images-idx3-ubyte.gz'),
      testLabels: join(root, 'idx', 't10k-labels-idx1-ubyte'),
    });

    await mkdir(join(root, 'neither'));
    await writeFile(join(root, 'neither', 'data.bin'), 'x');
    await writeFile(join(root, 'neither', 'other.bin'), 'y');
    await expect(datasetLayout(join(root, 'neither'))).rejects.toThrow('expected a training and a test part named train and test');
  });

  it('refuses entries that climb out, absolute paths and links, and writes nothing outside', async () => {
    const into = join(dir, 'unpacked', 'here');
    const outside = join(dir, 'unpacked', 'evil.txt');
    const climbing = await writeZip(join(dir, 'climb.zip'), { 'ok.txt': 'fine', '../evil.txt': 'escaped' });
    await expect(extractArchive(climbing, into)).rejects.toThrow(new ArchiveError(climbing, '../evil.txt', 'a path that climbs out of the archive (..)').message);
    expect(existsSync(outside)).toBe(false);
    const absolute = await writeTar(join(dir, 'absolute.tar'), [{ name: '/tmp/evil.txt', data: 'x' }]);
    await rm(into, { recursive: true, force: true });
    await expect(extractArchive(absolute, into)).rejects.toThrow('an absolute path');
    const link = await writeTar(join(dir, 'link.tar'), [{ name: 'train/0', linkname: '/etc' }, { name: 'train/0/passwd', data: 'x' }]);
    await rm(into, { recursive: true, force: true });
    await expect(extractArchive(link, into)).rejects.toThrow('a symlink entry; only files and folders are unpacked');
    expect(await tree(join(dir, 'unpacked'))).toEqual(['here']);
    expect(entryPath('a/./b//c.png')).toBe('a/b/c.png');
    expect(entryPath('C:/x')).toEqual({ problem: 'an absolute path' });
    expect(entryPath('a\\..\\b')).toEqual({ problem: 'a backslash in its path' });
  });

  it('stops unpacking at the size and entry limits, not after', async () => {
    // 64 MiB of zeros compress to almost nothing.
    const bomb = await writeZip(join(dir, 'bomb.zip'), { 'zeros.bin': new Uint8Array(64 * 1024 * 1024) });
    const into = join(dir, 'bomb');
    await expect(extractArchive(bomb, into, { maxBytes: 1024 * 1024 })).rejects.toThrow('unpacks to more than 1048576 bytes');
    const many = await writeZip(join(dir, 'many.zip'), Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, 'x'])));
    await expect(extractArchive(many, join(dir, 'many'), { maxEntries: 10 })).rejects.toThrow('more than 10 entries');
  });

  it('refuses a file that is no archive, and a damaged one, naming it', async () => {
    await writeFile(join(dir, 'text.zip'), 'not a zip at all');
    await expect(extractArchive(join(dir, 'text.zip'), join(dir, 'x'))).rejects.toThrow(`${join(dir, 'text.zip')}: not a zip or tar archive`);
    const good = await writeZip(join(dir, 'cut.zip'), { 'a.txt': 'x'.repeat(5000) });
    const bytes = await readFile(good);
    await writeFile(good, bytes.subarray(0, bytes.length - 30));
    await expect(extractArchive(good, join(dir, 'y'))).rejects.toThrow(ArchiveError);
  });
});
