/**
 * Reader and writer for the idx format of the MNIST files: a 4-byte magic (two zero bytes, a type code, a
 * dimension count), one big-endian uint32 per dimension, then the data in row-major order. Files may be
 * gzip-compressed; that is told from their first bytes, never from their name.
 */
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip as gunzipCallback, gzip as gzipCallback } from 'node:zlib';
import { writeFileAtomic } from '../atomic-write.js';

const gunzip = promisify(gunzipCallback);
const gzip = promisify(gzipCallback);

/** The only element type read and written: unsigned bytes. */
export const IDX_UBYTE = 0x08;
/** Magic of an idx file of unsigned bytes with 3 dimensions (count × rows × cols). */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** Magic of an idx file of unsigned bytes with 1 dimension (count). */
export const IDX_LABELS_MAGIC = 0x00000801;

const TYPE_NAMES: Readonly<Record<number, string>> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

/** A malformed idx file: the message names the file, what is wrong and what was expected. */
export class IdxFormatError extends Error {
  override readonly name = 'IdxFormatError';
  /** The file at fault. */
  readonly path: string;

  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/** The contents of an idx file of unsigned bytes. */
export interface IdxArray {
  path: string;
  /** Sizes of the dimensions, outermost first. */
  dims: number[];
  /** The elements in row-major order: a view of the bytes read, not a copy. */
  data: Uint8Array;
}

/** An idx file of images (magic 0x00000803). */
export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count × rows × cols bytes, row-major, one image after another. */
  pixels: Uint8Array;
}

function hex(value: number, digits: number): string {
  return `0x${value.toString(16).padStart(digits, '0')}`;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The file's bytes, inflated when they start with the gzip magic. */
async function readBytes(path: string): Promise<Buffer> {
  const raw = await readFile(path);
  if (!isGzip(raw)) return raw;
  try {
    return await gunzip(raw);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new IdxFormatError(path, `corrupt gzip data (${reason}); expected a complete gzip stream of an idx file`);
  }
}

/** Parses and checks an idx header and its data size against the bytes. */
function parseIdx(path: string, bytes: Buffer): IdxArray {
  if (bytes.length < 4) {
    throw new IdxFormatError(path, `file of ${bytes.length} bytes is too short; expected at least the 4-byte idx magic`);
  }
  const magic = bytes.readUInt32BE(0);
  const type = bytes[2]!;
  const dimCount = bytes[3]!;
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new IdxFormatError(path, `wrong magic ${hex(magic, 8)}; expected two zero bytes, a type code and a dimension count (such as 0x00000803)`);
  }
  if (type !== IDX_UBYTE) {
    const known = TYPE_NAMES[type];
    throw new IdxFormatError(
      path,
      `unsupported type code ${hex(type, 2)}${known === undefined ? '' : ` (${known})`}; expected ${hex(IDX_UBYTE, 2)} (unsigned byte)`,
    );
  }
  if (dimCount === 0) {
    throw new IdxFormatError(path, `magic ${hex(magic, 8)} declares 0 dimensions; expected at least 1`);
  }
  const headerLength = 4 + 4 * dimCount;
  if (bytes.length < headerLength) {
    throw new IdxFormatError(
      path,
      `truncated header: ${dimCount} dimensions need ${headerLength} header bytes; the file holds ${bytes.length}`,
    );
  }
  const dims: number[] = [];
  let size = 1;
  for (let d = 0; d < dimCount; d++) {
    const dim = bytes.readUInt32BE(4 + 4 * d);
    dims.push(dim);
    size *= dim;
  }
  const available = bytes.length - headerLength;
  const shape = dims.join('×');
  if (size > available) {
    throw new IdxFormatError(path, `truncated data: dimensions ${shape} need ${size} bytes after the header; the file holds ${available}`);
  }
  if (size < available) {
    throw new IdxFormatError(
      path,
      `${available - size} trailing bytes: dimensions ${shape} need ${size} bytes after the header; the file holds ${available}`,
    );
  }
  return { path, dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerLength, size) };
}

/**
 * Reads an idx file of unsigned bytes, plain or gzip-compressed.
 *
 * @throws IdxFormatError if the file is not a complete, well-formed idx file of unsigned bytes.
 */
export async function readIdx(path: string): Promise<IdxArray> {
  return parseIdx(path, await readBytes(path));
}

function checkMagic(array: IdxArray, expected: number, what: string): void {
  const found = (IDX_UBYTE << 8) | array.dims.length;
  if (found !== expected) {
    throw new IdxFormatError(array.path, `wrong magic ${hex(found, 8)}; expected ${hex(expected, 8)} (${what})`);
  }
}

/**
 * Reads an idx file of images: magic 0x00000803, dimensions count × rows × cols.
 *
 * @throws IdxFormatError if the file is malformed, not of 3 dimensions, or its images have no pixels.
 */
export async function readIdxImages(path: string): Promise<IdxImages> {
  const array = await readIdx(path);
  checkMagic(array, IDX_IMAGES_MAGIC, 'images: unsigned bytes, count × rows × cols');
  const [count, rows, cols] = array.dims as [number, number, number];
  if (rows === 0 || cols === 0) {
    throw new IdxFormatError(path, `images of ${rows}×${cols} pixels; expected at least 1×1`);
  }
  return { count, rows, cols, pixels: array.data };
}

/**
 * Reads an idx file of labels: magic 0x00000801, one byte per sample.
 *
 * @throws IdxFormatError if the file is malformed or not of 1 dimension.
 */
export async function readIdxLabels(path: string): Promise<Uint8Array> {
  const array = await readIdx(path);
  checkMagic(array, IDX_LABELS_MAGIC, 'labels: unsigned bytes, one dimension');
  return array.data;
}

export interface WriteIdxOptions {
  /** Compress with gzip. Default false. */
  gzip?: boolean;
}

/**
 * Writes an idx file of unsigned bytes, atomically: a temporary file in the same folder, synced, then
 * renamed, so `path` never holds a partial file.
 *
 * @param dims - 1 to 255 sizes, each an integer from 0 to 2^32 − 1, whose product is data.length.
 * @throws RangeError if dims do not fit the format or do not match data.
 */
export async function writeIdx(
  path: string,
  dims: readonly number[],
  data: Uint8Array,
  options: WriteIdxOptions = {},
): Promise<void> {
  if (dims.length < 1 || dims.length > 255) {
    throw new RangeError(`Expected 1 to 255 dims but received ${dims.length}`);
  }
  let size = 1;
  for (const dim of dims) {
    if (!Number.isInteger(dim) || dim < 0 || dim > 0xffff_ffff) {
      throw new RangeError(`Expected integers from 0 to 2^32 − 1 in dims but received ${String(dim)}`);
    }
    size *= dim;
  }
  if (size !== data.length) {
    throw new RangeError(`Expected data of ${size} bytes for dims ${dims.join('×')} but received ${data.length}`);
  }
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = IDX_UBYTE;
  header[3] = dims.length;
  dims.forEach((dim, d) => header.writeUInt32BE(dim, 4 + 4 * d));
  const plain = Buffer.concat([header, data]);
  const bytes = options.gzip === true ? await gzip(plain) : plain;
  await writeFileAtomic(path, bytes);
}
