/**
 * Uploaded datasets: a zip or tar (plain or gzip) holding a training and a test part in any form the
 * loader reads, streamed into the data directory under a size limit while its SHA-256 is taken, unpacked
 * inside a folder of its own (data/archive.ts: no path leaves it), read and checked whole, then kept as
 * the four idx files of its images and labels under datasets/<sha256>/ with a preview grid. A job on it
 * reads bytes as fast as on MNIST, and workers fetch the idx files by hash like any other dataset. The
 * folder is complete before the store names it; anything half-written is under datasets/.incoming and
 * goes at the next start.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ArchiveError, archiveKind, extractArchive, type ArchiveKind } from '../data/archive.js';
import { CsvFormatError } from '../data/csv.js';
import { datasetLayout, loadDataset, type DatasetFiles, type ImageSet } from '../data/dataset.js';
import { IdxFormatError, writeIdx } from '../data/idx.js';
import { ImageFolderError, type ImageOptions } from '../data/images.js';
import { previewImages, summarizeImages } from '../data/inspect.js';
import { writeFileAtomic } from '../atomic-write.js';
import { renderDigits } from '../train/plots.js';
import { HttpError } from './errors.js';
import type { JobStore } from './store.js';

/** What a part of an uploaded dataset holds. */
export interface DatasetPartSummary {
  count: number;
  /** Images per label. */
  perClass: number[];
}

/** An uploaded dataset as the store keeps it. */
export interface DatasetRecord {
  /** The SHA-256 of the uploaded bytes, hex. */
  id: string;
  /** The name it was uploaded under, if any. */
  name: string | null;
  createdAt: string;
  /** Size of the upload. */
  bytes: number;
  format: ArchiveKind;
  /** How its image files were made input, as asked at upload. */
  images: ImageOptions | null;
  rows: number;
  cols: number;
  classes: number;
  /** The class folders' names, when its parts are image folders. */
  classNames: string[] | null;
  train: DatasetPartSummary;
  test: DatasetPartSummary;
}

export interface UploadLimits {
  /** Largest upload in bytes. */
  maxBytes: number;
  /** Largest total once unpacked. Default 8× maxBytes, at least 1 GiB. */
  maxUnpackedBytes?: number;
}

/** The idx file names a dataset's folder keeps, as MNIST names them. */
const FILES: DatasetFiles = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

/** Errors of the data that make an upload a 400, with the reason. */
function isDataError(error: unknown): error is Error {
  return error instanceof ArchiveError || error instanceof ImageFolderError || error instanceof CsvFormatError || error instanceof IdxFormatError || error instanceof RangeError;
}

/**
 * Writes a request body to a file, hashing it; past the limit it stops with a 413 and lets the rest of the
 * body drain unread, so the answer still reaches the client (destroying the request would cut the socket).
 */
function receiveFile(body: Readable, path: string, limit: number): Promise<{ hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const out = createWriteStream(path, { flags: 'wx' });
    let bytes = 0;
    const fail = (error: unknown) => {
      body.off('data', onData);
      body.resume();
      out.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) return fail(new HttpError(413, `The upload is larger than the limit of ${limit} bytes`, 'body', { connection: 'close' }));
      hash.update(chunk);
      if (!out.write(chunk)) {
        body.pause();
        out.once('drain', () => body.resume());
      }
    };
    body.on('data', onData);
    body.once('end', () => out.end());
    body.once('error', fail);
    body.once('aborted', () => fail(new HttpError(400, 'body: the upload was cut off', 'body')));
    out.once('error', fail);
    out.once('finish', () => resolve({ hash: hash.digest('hex'), bytes }));
  });
}

export class DatasetUploads {
  readonly root: string;
  private readonly incoming: string;

  constructor(
    dataDir: string,
    private readonly store: JobStore,
    private readonly limits: UploadLimits,
  ) {
    this.root = join(dataDir, 'datasets');
    this.incoming = join(this.root, '.incoming');
  }

  /** Clears what a stopped process left half-written, and folders the store never came to name. */
  async recover(): Promise<void> {
    await rm(this.incoming, { recursive: true, force: true });
    if (!existsSync(this.root)) return;
    for (const entry of await readdir(this.root)) {
      if (/^[0-9a-f]{64}$/.test(entry) && this.store.dataset(entry) === undefined) await rm(join(this.root, entry), { recursive: true, force: true });
    }
  }

  /** The largest upload taken. */
  get maxBytes(): number {
    return this.limits.maxBytes;
  }

  folder(id: string): string {
    return join(this.root, id);
  }

  /** The idx files of an uploaded dataset, as a job trains on them. */
  files(id: string): DatasetFiles {
    const folder = this.folder(id);
    return Object.fromEntries(Object.entries(FILES).map(([key, name]) => [key, join(folder, name)])) as unknown as DatasetFiles;
  }

  previewPath(id: string): string {
    return join(this.folder(id), 'preview.png');
  }

  /**
   * Takes an upload from its stream to a stored dataset. The same bytes uploaded again are the same
   * dataset (created false); with other image options they are refused.
   *
   * @throws HttpError 413 past the size limit, 400 with the reason for what is not a dataset, 409 for the
   *   same bytes with other image options
   */
  async receive(body: Readable, options: { name?: string; images?: ImageOptions }): Promise<{ record: DatasetRecord; created: boolean }> {
    const work = join(this.incoming, randomBytes(8).toString('hex'));
    await mkdir(work, { recursive: true });
    try {
      const upload = join(work, 'upload');
      const seen = await receiveFile(body, upload, this.limits.maxBytes);
      const id = seen.hash;
      const known = this.store.dataset(id);
      if (known) return { record: this.same(known, options.images), created: false };
      if (seen.bytes === 0) throw new HttpError(400, 'body: empty; expected a zip or tar of a dataset', 'body');
      const format = await archiveKind(upload);
      if (format === undefined) throw new HttpError(400, 'body: not a zip or tar (plain or gzip); a dataset is uploaded as an archive holding train and test', 'body');
      const unpacked = join(work, 'unpacked');
      const sets = await this.read(upload, unpacked, options.images);
      const out = join(work, 'out');
      await this.write(out, sets);
      await rm(unpacked, { recursive: true, force: true });
      const record: DatasetRecord = {
        id,
        name: options.name ?? null,
        createdAt: new Date().toISOString(),
        bytes: seen.bytes,
        format,
        images: options.images ?? null,
        rows: sets.train.rows,
        cols: sets.train.cols,
        classes: sets.train.classes,
        classNames: sets.train.classNames ?? null,
        train: part(sets.train),
        test: part(sets.test),
      };
      await mkdir(this.root, { recursive: true });
      try {
        await rename(out, this.folder(id));
      } catch (error) {
        // The same bytes arrived twice at once: the other upload stored them.
        const other = this.store.dataset(id);
        if (other) return { record: this.same(other, options.images), created: false };
        throw error;
      }
      this.store.addDataset(record);
      return { record, created: true };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** The stored dataset, if the options agree with those it was stored with. */
  private same(record: DatasetRecord, images: ImageOptions | undefined): DatasetRecord {
    if (JSON.stringify(record.images ?? {}) !== JSON.stringify(images ?? {})) {
      throw new HttpError(409, `Dataset ${record.id} holds these bytes already, made with other image options (${JSON.stringify(record.images ?? {})}); delete it first to make it anew`, 'querystring');
    }
    return record;
  }

  /** The archive unpacked and read whole: every file checked, by the loader of its format. */
  private async read(upload: string, unpacked: string, images: ImageOptions | undefined) {
    const shown = (error: Error) => error.message.replaceAll(`${unpacked}/`, '').replaceAll(unpacked, '(archive)').replaceAll(upload, '(archive)');
    try {
      await extractArchive(upload, unpacked, { maxBytes: this.limits.maxUnpackedBytes ?? Math.max(8 * this.limits.maxBytes, 1024 ** 3) });
      return await loadDataset(await datasetLayout(unpacked, images));
    } catch (error) {
      if (isDataError(error)) throw new HttpError(400, `body: ${shown(error)}`, 'body');
      throw error;
    }
  }

  /** The four idx files and the preview, into a folder of their own. */
  private async write(out: string, { train, test }: { train: ImageSet; test: ImageSet }): Promise<void> {
    await mkdir(out);
    const path = (key: keyof DatasetFiles) => join(out, FILES[key]);
    await writeIdx(path('trainImages'), [train.count, train.rows, train.cols], train.pixels);
    await writeIdx(path('trainLabels'), [train.count], train.labels);
    await writeIdx(path('testImages'), [test.count, test.rows, test.cols], test.pixels);
    await writeIdx(path('testLabels'), [test.count], test.labels);
    const { images, labels } = previewImages(train);
    const plot = await renderDigits(images, labels, train.rows, train.cols, labels.length, 3 * Math.min(5, train.classes));
    await writeFileAtomic(join(out, 'preview.png'), plot.png);
  }

  /**
   * Deletes a dataset: the store first (so no new job can name it), then its folder.
   *
   * @throws HttpError 404 for an unknown id, 409 while a job that is not finished trains on it
   */
  async remove(id: string): Promise<void> {
    if (this.store.dataset(id) === undefined) throw new HttpError(404, `No dataset ${id}`, 'params.id');
    const users = this.store.jobsOnDataset(id);
    if (users.length > 0) throw new HttpError(409, `Dataset ${id} is in use by ${users.length === 1 ? 'job' : 'jobs'} ${users.join(', ')}; cancel or wait for ${users.length === 1 ? 'it' : 'them'} first`, 'params.id');
    this.store.deleteDataset(id);
    await rm(this.folder(id), { recursive: true, force: true });
  }
}

function part(set: ImageSet): DatasetPartSummary {
  const { perClass } = summarizeImages(set);
  return { count: set.count, perClass: Array.from({ length: set.classes }, (_, k) => perClass[k] ?? 0) };
}
