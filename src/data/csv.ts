/**
 * Images in CSV as Kaggle's digit-recognizer has them: a header `label,pixel0,…,pixel783` (the label column
 * may be absent, as in its test file) and one row per image of integers 0–255, row by row. Streamed
 * (papaparse) straight into the bytes of an image set: never one string of the whole file. Square images
 * unless the caller gives rows and columns.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import Papa from 'papaparse';

/** A CSV file that is not a set of images; the message names the file, and the line where it can. */
export class CsvFormatError extends Error {
  override readonly name = 'CsvFormatError';

  constructor(
    readonly path: string,
    readonly line: number | undefined,
    problem: string,
  ) {
    super(`${path}${line === undefined ? '' : `, line ${line}`}: ${problem}`);
  }
}

export interface CsvImages {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
  /** Absent when the file has no label column. */
  labels?: Uint8Array;
}

export interface CsvOptions {
  /** Image height and width; default the square root of the pixel columns. */
  rows?: number;
  cols?: number;
}

/** Grows a byte buffer by doubling. */
class Bytes {
  private buffer = new Uint8Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.buffer.length) {
      const bigger = new Uint8Array(this.buffer.length * 2);
      bigger.set(this.buffer);
      this.buffer = bigger;
    }
    this.buffer[this.length++] = value;
  }

  take(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

/** A cell as a byte, or undefined if it is not an integer from 0 to 255. */
function byteOf(cell: string): number | undefined {
  if (cell.length === 0 || cell.length > 3) return undefined;
  let v = 0;
  for (let i = 0; i < cell.length; i++) {
    const c = cell.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    v = v * 10 + c;
  }
  return v <= 255 ? v : undefined;
}

/**
 * Reads a CSV of images (plain, or gzip by its name ending in .gz).
 *
 * @throws CsvFormatError naming the file and line of the first problem
 */
export async function readCsvImages(path: string, options: CsvOptions = {}): Promise<CsvImages> {
  const pixels = new Bytes();
  const labels = new Bytes();
  let line = 0;
  let labelColumn = -1;
  let pixelColumns = 0;
  let failure: CsvFormatError | undefined;
  const source = createReadStream(path);
  const input = path.endsWith('.gz') ? source.pipe(createGunzip()) : source;
  await new Promise<void>((resolve, reject) => {
    const fail = (problem: string, at: number | undefined = line) => {
      failure ??= new CsvFormatError(path, at, problem);
    };
    source.once('error', (error) => reject(new CsvFormatError(path, undefined, error.message)));
    Papa.parse<string[]>(input as unknown as File, {
      skipEmptyLines: true,
      step: (result, parser) => {
        line++;
        const row = result.data;
        if (result.errors.length > 0) fail(result.errors[0]!.message);
        else if (line === 1) {
          // The header names the columns: `label` (optional) and the pixels.
          const names = row.map((c) => c.trim().toLowerCase());
          labelColumn = names.indexOf('label');
          pixelColumns = names.length - (labelColumn >= 0 ? 1 : 0);
          if (names.some((n) => byteOf(n) !== undefined)) fail('expected a header row (label,pixel0,pixel1,…) first');
          else if (pixelColumns === 0) fail('no pixel columns');
        } else if (row.length !== pixelColumns + (labelColumn >= 0 ? 1 : 0)) {
          fail(`${row.length} columns; the header has ${pixelColumns + (labelColumn >= 0 ? 1 : 0)}`);
        } else {
          for (let c = 0; c < row.length && failure === undefined; c++) {
            const v = byteOf(row[c]!.trim());
            if (v === undefined) fail(`column ${c + 1} is ${JSON.stringify(row[c]!.slice(0, 20))}; expected an integer from 0 to 255`);
            else if (c === labelColumn) labels.push(v);
            else pixels.push(v);
          }
        }
        if (failure) parser.abort();
      },
      complete: () => resolve(),
      error: (error: Error) => reject(new CsvFormatError(path, undefined, error.message)),
    });
  });
  if (failure) throw failure;
  if (line === 0) throw new CsvFormatError(path, undefined, 'the file is empty');
  if (line === 1) throw new CsvFormatError(path, undefined, 'a header line and no images');
  const side = Math.round(Math.sqrt(pixelColumns));
  const rows = options.rows ?? side;
  const cols = options.cols ?? (options.rows ? pixelColumns / options.rows : side);
  if (rows * cols !== pixelColumns || !Number.isInteger(cols)) {
    throw new CsvFormatError(path, 1, `${pixelColumns} pixel columns are not ${options.rows ? `${rows} rows of whole columns` : 'a square image'}`);
  }
  const count = line - 1;
  return { count, rows, cols, pixels: pixels.take(), ...(labelColumn >= 0 ? { labels: labels.take() } : {}) };
}

/** True if the bytes open like a CSV of images: text whose first cell is a name, not a byte value. */
export function looksLikeCsv(head: Uint8Array): boolean {
  if (head.length === 0) return false;
  for (const b of head.subarray(0, 64)) if (b === 0 || b > 0x7e || (b < 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09)) return false;
  return /^[\s"]*[A-Za-z_]/.test(new TextDecoder().decode(head.subarray(0, 64)));
}
