import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdxFormatError, readIdx, readIdxImages, readIdxLabels, writeIdx } from '../../src/data/idx.js';

let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fastmlp-idx-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 37 + seed * 11) & 255;
  return out;
}

/** An idx header: magic with the given type code, then the dims big-endian. */
function header(type: number, dims: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return head;
}

/** Expects reading `path` to fail with an IdxFormatError naming the file and matching `what`. */
async function expectFormatError(read: Promise<unknown>, path: string, what: RegExp): Promise<void> {
  const error: unknown = await read.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(IdxFormatError);
  const formatError = error as IdxFormatError;
  expect(formatError.path).toBe(path);
  expect(formatError.message).toContain(path);
  expect(formatError.message).toMatch(what);
}

describe('writeIdx and readIdx', () => {
  it('round-trip a plain file', async () => {
    const path = join(dir, 'plain-idx3-ubyte');
    const data = bytes(3 * 2 * 4);
    await writeIdx(path, [3, 2, 4], data);
    const raw = await readFile(path);
    expect(Array.from(raw.subarray(0, 8))).toEqual([0, 0, 8, 3, 0, 0, 0, 3]);
    expect(raw.length).toBe(16 + data.length);
    const read = await readIdx(path);
    expect(read.path).toBe(path);
    expect(read.dims).toEqual([3, 2, 4]);
    expect(read.data).toEqual(data);
    // A view of the file's bytes after the header, not a copy.
    expect(read.data.buffer.byteLength).toBeGreaterThanOrEqual(raw.length);
  });

  it('round-trip a gzip file and detect gzip by its content, not its name', async () => {
    const path = join(dir, 'compressed.bin');
    const data = bytes(5 * 7 * 3, 2);
    await writeIdx(path, [5, 7, 3], data, { gzip: true });
    const raw = await readFile(path);
    expect([raw[0], raw[1]]).toEqual([0x1f, 0x8b]);
    const images = await readIdxImages(path);
    expect(images).toMatchObject({ count: 5, rows: 7, cols: 3 });
    expect(images.pixels).toEqual(data);

    // And a plain file named .gz is read as plain.
    const misnamed = join(dir, 'plain.gz');
    await writeIdx(misnamed, [4], Uint8Array.of(9, 8, 7, 6));
    expect(await readIdxLabels(misnamed)).toEqual(Uint8Array.of(9, 8, 7, 6));
  });

  it('replace an existing file and leave no temporary file behind', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'labels-idx1-ubyte');
    await writeIdx(path, [3], Uint8Array.of(1, 2, 3));
    await writeIdx(path, [2], Uint8Array.of(4, 5), { gzip: true });
    expect(await readIdxLabels(path)).toEqual(Uint8Array.of(4, 5));
    expect(await readdir(sub)).toEqual(['labels-idx1-ubyte']);
  });

  it('write rejects dims that do not match the data', async () => {
    const path = join(dir, 'never');
    await expect(writeIdx(path, [2, 3], bytes(5))).rejects.toThrow(RangeError);
    await expect(writeIdx(path, [], bytes(1))).rejects.toThrow(/dims/);
    await expect(writeIdx(path, [-1], bytes(1))).rejects.toThrow(/dims/);
  });
});

describe('readIdx errors', () => {
  it('truncated data', async () => {
    const path = join(dir, 'truncated-idx3-ubyte');
    await writeIdx(path, [10, 4, 4], bytes(160));
    await truncate(path, 16 + 159);
    await expectFormatError(readIdx(path), path, /truncated data: dimensions 10×4×4 need 160 bytes.*holds 159/);
  });

  it('truncated header and a file too short for a magic', async () => {
    const path = join(dir, 'short-header');
    await writeFile(path, header(8, [10, 4, 4]).subarray(0, 10));
    await expectFormatError(readIdx(path), path, /truncated header: 3 dimensions need 16 header bytes/);
    const empty = join(dir, 'empty');
    await writeFile(empty, Buffer.alloc(0));
    await expectFormatError(readIdx(empty), empty, /too short.*4-byte idx magic/);
  });

  it('wrong magic', async () => {
    const path = join(dir, 'not-idx.txt');
    await writeFile(path, 'hello, this is not an idx file');
    await expectFormatError(readIdx(path), path, /wrong magic 0x68656c6c; expected/);
  });

  it('trailing bytes', async () => {
    const path = join(dir, 'trailing-idx1-ubyte');
    await writeFile(path, Buffer.concat([header(8, [3]), Buffer.from([1, 2, 3, 4, 5])]));
    await expectFormatError(readIdx(path), path, /2 trailing bytes: dimensions 3 need 3 bytes/);
  });

  it('unsupported type code, named with its type', async () => {
    const path = join(dir, 'floats-idx1');
    await writeFile(path, Buffer.concat([header(0x0d, [2]), Buffer.alloc(8)]));
    await expectFormatError(readIdx(path), path, /unsupported type code 0x0d \(float32\); expected 0x08 \(unsigned byte\)/);
  });

  it('zero dimension count and oversized dimensions', async () => {
    const none = join(dir, 'no-dims');
    await writeFile(none, header(8, []));
    await expectFormatError(readIdx(none), none, /declares 0 dimensions; expected at least 1/);
    const huge = join(dir, 'huge-dims');
    await writeFile(huge, Buffer.concat([header(8, [0xffffffff, 0xffffffff]), Buffer.alloc(4)]));
    await expectFormatError(readIdx(huge), huge, /truncated data: dimensions 4294967295×4294967295/);
  });

  it('corrupt or truncated gzip', async () => {
    const gz = gzipSync(Buffer.concat([header(8, [64]), Buffer.from(bytes(64))]));
    const cut = join(dir, 'cut.gz');
    await writeFile(cut, gz.subarray(0, gz.length - 12));
    await expectFormatError(readIdx(cut), cut, /corrupt gzip data/);
    const flipped = Buffer.from(gz);
    for (let i = 12; i < flipped.length - 8; i++) flipped[i]! ^= 0x5a;
    const garbled = join(dir, 'garbled-idx1-ubyte');
    await writeFile(garbled, flipped);
    await expectFormatError(readIdx(garbled), garbled, /corrupt gzip data/);
  });

  it('a labels file read as images and an images file read as labels', async () => {
    const labels = join(dir, 'some-labels');
    await writeIdx(labels, [4], bytes(4));
    await expectFormatError(readIdxImages(labels), labels, /wrong magic 0x00000801; expected 0x00000803/);
    const images = join(dir, 'some-images');
    await writeIdx(images, [2, 2, 2], bytes(8));
    await expectFormatError(readIdxLabels(images), images, /wrong magic 0x00000803; expected 0x00000801/);
  });

  it('images without pixels', async () => {
    const path = join(dir, 'flat-images');
    await writeIdx(path, [3, 0, 5], new Uint8Array(0));
    await expectFormatError(readIdxImages(path), path, /images of 0×5 pixels; expected at least 1×1/);
  });
});
