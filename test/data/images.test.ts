import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mnistInput } from '../../src/data/centring.js';
import { loadDataset, subset, type ImageSet } from '../../src/data/dataset.js';
import { ImageFolderError, decodeImage, readImageFolder } from '../../src/data/images.js';
import { firstIndices, mnistOnce, writeImageFolder } from '../helpers/datasets.js';

let dir: string;
let digits: ImageSet;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fastmlp-images-'));
  digits = subset((await mnistOnce()).test, firstIndices(120));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** One image of the set as a 28×28 single-channel sharp pipeline. */
const digit = (i: number) => sharp(digits.pixels.subarray(i * 784, (i + 1) * 784), { raw: { width: 28, height: 28, channels: 1 } });

/** Images sorted by class, then by their order in the set: how a folder of them reads back. */
function byClass(set: ImageSet): { pixels: Uint8Array; labels: Uint8Array } {
  const order = Array.from({ length: set.count }, (_, i) => i).sort((a, b) => set.labels[a]! - set.labels[b]! || a - b);
  const s = subset(set, Int32Array.from(order));
  return { pixels: s.pixels, labels: s.labels };
}

describe('image folders', () => {
  it('round-trip a folder of PNGs to the same bytes, with the folders as class names in numeric order', async () => {
    const folder = await writeImageFolder(join(dir, 'png'), digits);
    const read = await readImageFolder(folder);
    const expected = byClass(digits);
    expect(read.count).toBe(120);
    expect([read.rows, read.cols]).toEqual([28, 28]);
    expect(read.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(Buffer.from(read.labels).equals(Buffer.from(expected.labels))).toBe(true);
    expect(Buffer.from(read.pixels).equals(Buffer.from(expected.pixels))).toBe(true);
  });

  it('reads JPEGs to within their compression', async () => {
    const folder = await writeImageFolder(join(dir, 'jpeg'), subset(digits, firstIndices(20)), { format: 'jpeg' });
    const read = await readImageFolder(folder);
    const expected = byClass(subset(digits, firstIndices(20)));
    let diff = 0;
    for (let i = 0; i < read.pixels.length; i++) diff += Math.abs(read.pixels[i]! - expected.pixels[i]!);
    expect(diff / read.pixels.length).toBeLessThan(4);
    // The first 20 digits have no 8: labels number the folders there are, and the names say which.
    expect(read.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '9']);
    expect(Array.from(read.labels, (l) => read.classNames[l])).toEqual(Array.from(expected.labels, String));
  });

  it('scales other sizes to fit, inverts dark ink on a light page, and turns colour and transparency into gray', async () => {
    // Twice the size by pixel doubling: area averaging halves it back to the same bytes.
    const big = join(dir, 'big.png');
    await digit(0).resize(56, 56, { kernel: 'nearest' }).png().toFile(big);
    expect(Buffer.from(await decodeImage(big)).equals(Buffer.from(digits.pixels.subarray(0, 784)))).toBe(true);
    // Dark on light, in RGB.
    const page = join(dir, 'page.png');
    await digit(1).negate().toColourspace('srgb').png().toFile(page);
    expect(Buffer.from(await decodeImage(page, { invert: true })).equals(Buffer.from(digits.pixels.subarray(784, 2 * 784)))).toBe(true);
    // A transparent page: ink only in the alpha channel.
    const alpha = Buffer.alloc(784 * 4);
    for (let i = 0; i < 784; i++) {
      alpha[4 * i + 3] = digits.pixels[2 * 784 + i]!;
    }
    const transparent = join(dir, 'transparent.png');
    await sharp(alpha, { raw: { width: 28, height: 28, channels: 4 } }).png().toFile(transparent);
    expect(Buffer.from(await decodeImage(transparent, { invert: true })).equals(Buffer.from(digits.pixels.subarray(2 * 784, 3 * 784)))).toBe(true);
    // A wide image keeps its aspect ratio, centred.
    const wide = join(dir, 'wide.png');
    await sharp({ create: { width: 56, height: 28, channels: 3, background: '#ffffff' } }).png().toFile(wide);
    const fitted = await decodeImage(wide);
    expect(fitted[0]).toBe(0); // row 0 is padding
    expect(fitted[7 * 28 + 14]).toBe(255); // rows 7–20 are the image
    expect(fitted[21 * 28]).toBe(0);
  });

  it('centres as the web page does when asked', async () => {
    const off = join(dir, 'off-centre.png');
    // A digit in a corner of a larger white page.
    await digit(3).negate().extend({ top: 0, left: 0, bottom: 40, right: 30, background: '#ffffff' }).png().toFile(off);
    const { data, info } = await sharp(off).greyscale().raw().toBuffer({ resolveWithObject: true });
    const ink = { width: info.width, height: info.height, data: Float32Array.from(data, (v) => 1 - v / 255) };
    expect(Buffer.from(await decodeImage(off, { invert: true, centre: true })).equals(Buffer.from(mnistInput(ink)!))).toBe(true);
  });

  it('names classes by their folders, and a test set takes the training set’s classes by name', async () => {
    const train = subset(digits, firstIndices(100));
    const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    await writeImageFolder(join(dir, 'named', 'train'), train, { classNames: names });
    // The test set lacks every class but 7 and 2.
    const pick = Int32Array.from(Array.from({ length: 20 }, (_, i) => 100 + i).filter((i) => digits.labels[i] === 7 || digits.labels[i] === 2));
    await writeImageFolder(join(dir, 'named', 'test'), subset(digits, pick), { classNames: names });
    const dataset = await loadDataset({ train: join(dir, 'named', 'train'), test: join(dir, 'named', 'test') });
    expect(dataset.train.classNames).toEqual([...names].sort(new Intl.Collator('en').compare));
    expect(dataset.test.classNames).toEqual(dataset.train.classNames);
    expect(dataset.test.classes).toBe(10);
    const seven = dataset.train.classNames!.indexOf('seven');
    const two = dataset.train.classNames!.indexOf('two');
    expect(new Set(dataset.test.labels)).toEqual(new Set([two, seven]));
    expect(dataset.test.count).toBe(pick.length);
  });

  it('refuses what is not a folder of class folders of images, naming the file', async () => {
    const root = join(dir, 'bad');
    await mkdir(join(root, 'a'), { recursive: true });
    await mkdir(join(root, 'b'), { recursive: true });
    await writeFile(join(root, 'a', 'one.png'), await digit(0).png().toBuffer());
    await writeFile(join(root, 'b', 'notes.png'), 'this is text, not a picture');
    await expect(readImageFolder(root)).rejects.toThrow(new ImageFolderError(join(root, 'b', 'notes.png'), 'not an image sharp can read').message.slice(0, -1));
    await writeFile(join(root, 'b', 'notes.png'), await digit(1).png().toBuffer());
    await writeFile(join(root, 'README'), 'a file beside the classes');
    await expect(readImageFolder(root)).rejects.toThrow(`${join(root, 'README')}: a file beside the class folders`);
    await rm(join(root, 'README'));
    await mkdir(join(root, 'c'));
    await expect(readImageFolder(root)).rejects.toThrow(`${join(root, 'c')}: no images in this class folder`);
    await mkdir(join(root, 'c', 'deeper'));
    await expect(readImageFolder(root)).rejects.toThrow(`${join(root, 'c', 'deeper')}: not an image file`);
    await rm(join(root, 'c'), { recursive: true });
    // A test set with a class the training set lacks.
    await expect(readImageFolder(root, { classNames: ['a'] })).rejects.toThrow(`${join(root, 'b')}: a class the training set does not have (it has a)`);
    await expect(readImageFolder(root, { size: 2 })).rejects.toThrow(RangeError);
  });
});
