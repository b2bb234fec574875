/**
 * Folders of images, one subfolder per class (`train/3/img001.png`), decoded by sharp (libvips: PNG,
 * JPEG, WebP, GIF, TIFF, …) into the bytes of an image set: grayscale, white ink on black as MNIST has it,
 * every image made `size`×`size`. An image of that size is taken as it is, to the byte; another is scaled
 * to fit, keeping its aspect ratio, and centred; with `centre` every image is made the way MNIST's digits
 * were (centring.ts, as the web page does with a drawing). The folders' names are the class names.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputInfo } from 'sharp';
import { boundingBox, centreByMass, crop, fitSize, resizeArea, toBytes, type Gray } from './centring.js';

/** A folder that is not a set of images; the message names the folder or file and the problem. */
export class ImageFolderError extends Error {
  override readonly name = 'ImageFolderError';

  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

export interface ImageOptions {
  /** Side of the images made, 4–256; default 28. */
  size?: number;
  /** MNIST's way: the ink's bounding box scaled into 20/28 of the side, its centre of mass at the centre. */
  centre?: boolean;
  /** Dark ink on a light background (scans, photos, drawings): inverted to white on black. */
  invert?: boolean;
}

export interface FolderImages {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
  labels: Uint8Array;
  /** The subfolders, in label order. */
  classNames: string[];
}

export const DEFAULT_IMAGE_SIZE = 28;

/** Images decoded at once; sharp works on libuv's threads. */
const IN_FLIGHT = 8;

/** Names as people number them: img2 before img10. */
const naturally = new Intl.Collator('en', { numeric: true }).compare;

/** Hidden entries (.DS_Store, ._img.png, .git) and the folder macOS adds to a zip are never data. */
export function isHidden(name: string): boolean {
  return name.startsWith('.') || name === '__MACOSX' || name === 'Thumbs.db';
}

export function checkImageOptions(options: ImageOptions): Required<ImageOptions> {
  const size = options.size ?? DEFAULT_IMAGE_SIZE;
  if (!Number.isInteger(size) || size < 4 || size > 256) throw new RangeError(`Expected an integer from 4 to 256 for size but received ${String(size)}`);
  return { size, centre: options.centre ?? false, invert: options.invert ?? false };
}

/** Ink 0–255 at any size → size×size bytes: taken as is, scaled to fit and centred, or centred as MNIST's. */
export function fitImage(ink: Uint8Array, width: number, height: number, size: number, centre: boolean): Uint8Array {
  if (!centre && width === size && height === size) return ink;
  const image: Gray = { width, height, data: Float32Array.from(ink, (v) => v / 255) };
  if (centre) {
    const box = boundingBox(image);
    if (box === null) return new Uint8Array(size * size);
    const fit = fitSize(box.width, box.height, Math.round((size * 20) / 28));
    return toBytes(centreByMass(resizeArea(crop(image, box), fit.width, fit.height), size, size / 2));
  }
  const fit = fitSize(width, height, size);
  const scaled = resizeArea(image, fit.width, fit.height);
  const out = new Float32Array(size * size);
  const left = Math.floor((size - fit.width) / 2);
  const top = Math.floor((size - fit.height) / 2);
  for (let y = 0; y < fit.height; y++) out.set(scaled.data.subarray(y * fit.width, (y + 1) * fit.width), (top + y) * size + left);
  return toBytes({ width: size, height: size, data: out });
}

/** One image file as size×size bytes of white-on-black ink. */
export async function decodeImage(path: string, options: ImageOptions = {}): Promise<Uint8Array> {
  const { size, centre, invert } = checkImageOptions(options);
  // Imported on first use: most runs read idx or CSV, and every training worker would load libvips.
  const { default: sharp } = await import('sharp');
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // Transparency is the page: black, or white for dark ink that is then inverted.
    decoded = await sharp(path, { failOn: 'error' })
      .flatten({ background: invert ? '#ffffff' : '#000000' })
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ImageFolderError(path, `not an image sharp can read (${reason})`);
  }
  const { width, height, channels } = decoded.info;
  const ink = new Uint8Array(width * height);
  for (let i = 0; i < ink.length; i++) {
    const v = decoded.data[i * channels]!;
    ink[i] = invert ? 255 - v : v;
  }
  return fitImage(ink, width, height, size, centre);
}

/**
 * The class subfolders of a folder: sorted as numbers when every name is an integer (so 0–9 are labels
 * 0–9), otherwise by name, naturally; or in the order given.
 */
async function classFolders(dir: string, given?: string[]): Promise<string[]> {
  let entries;
  try {
    entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !isHidden(e.name));
  } catch (error) {
    throw new ImageFolderError(dir, `cannot be read (${error instanceof Error ? error.message : String(error)})`);
  }
  const file = entries.find((e) => !e.isDirectory());
  if (file) throw new ImageFolderError(join(dir, file.name), 'a file beside the class folders; expected one folder per class (train/3/img001.png)');
  const names = entries.map((e) => e.name);
  if (names.length === 0) throw new ImageFolderError(dir, 'no class folders; expected one folder per class (train/3/img001.png)');
  if (names.length > 256) throw new ImageFolderError(dir, `${names.length} class folders; at most 256 classes`);
  if (given === undefined) {
    return names.every((n) => /^\d+$/.test(n)) ? names.sort((a, b) => Number(a) - Number(b) || naturally(a, b)) : names.sort(naturally);
  }
  const unknown = names.find((n) => !given.includes(n));
  if (unknown !== undefined) throw new ImageFolderError(join(dir, unknown), `a class the training set does not have (it has ${given.join(', ')})`);
  return given;
}

/**
 * Every image under dir's class folders, class by class and by file name within a class.
 *
 * @param options.classNames - the classes in label order (a test set takes the training set's); folders
 *   of other names are refused, and a class may lack a folder.
 * @throws ImageFolderError naming the folder or file: not one folder per class, an empty class, a file
 *   that is not an image.
 */
export async function readImageFolder(dir: string, options: ImageOptions & { classNames?: string[] } = {}): Promise<FolderImages> {
  const checked = checkImageOptions(options);
  const classNames = await classFolders(dir, options.classNames);
  const files: { path: string; label: number }[] = [];
  for (const [label, name] of classNames.entries()) {
    const folder = join(dir, name);
    let entries;
    try {
      entries = (await readdir(folder, { withFileTypes: true })).filter((e) => !isHidden(e.name));
    } catch (error) {
      // A class the test set lacks.
      if (options.classNames && error instanceof Error && 'code' in error && error.code === 'ENOENT') continue;
      throw new ImageFolderError(folder, `cannot be read (${error instanceof Error ? error.message : String(error)})`);
    }
    const nested = entries.find((e) => !e.isFile());
    if (nested) throw new ImageFolderError(join(folder, nested.name), 'not an image file; a class folder holds images only');
    if (entries.length === 0 && options.classNames === undefined) throw new ImageFolderError(folder, 'no images in this class folder');
    for (const name of entries.map((e) => e.name).sort(naturally)) files.push({ path: join(folder, name), label });
  }
  const features = checked.size * checked.size;
  const pixels = new Uint8Array(files.length * features);
  const labels = Uint8Array.from(files, (f) => f.label);
  let next = 0;
  const decodeSome = async () => {
    while (next < files.length) {
      const i = next++;
      pixels.set(await decodeImage(files[i]!.path, checked), i * features);
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, files.length) }, decodeSome));
  return { count: files.length, rows: checked.size, cols: checked.size, pixels, labels, classNames };
}
