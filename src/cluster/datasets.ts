/**
 * Datasets of their own on a cluster, by content: the service names each of a job's four files by its
 * SHA-256 and serves them to workers (GET /cluster/files/:sha256, behind the token when one is set); a
 * worker downloads a file it has not got, checks its hash, and keeps it in its cache folder under that name,
 * so the same file is fetched once whatever the jobs, and a file that changed is a new file. MNIST needs
 * none of this: every worker has it from the package.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DatasetSource } from '../data/dataset.js';

/** A job's dataset as its folds carry it: each file's SHA-256, hex, under its key of the source (trainImages, …, or train and test). */
export type DatasetRef = Record<string, string>;

export const SHA256 = /^[0-9a-f]{64}$/;

/** The SHA-256 of a file, streamed. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The service's side: files by hash, hashed once per path and modification. */
export class DatasetRegistry {
  private readonly byHash = new Map<string, string>();
  private readonly hashes = new Map<string, { mtimeMs: number; size: number; hash: string }>();

  /** The dataset's hashes; its files become downloadable by them. */
  async register(files: DatasetSource): Promise<DatasetRef> {
    const ref: DatasetRef = {};
    for (const [key, path] of Object.entries(files)) {
      if (typeof path !== 'string') continue;
      const info = await stat(path);
      if (info.isDirectory()) throw new DatasetFolderError(`${path} is a folder: fold workers fetch datasets as files; pack it as a zip or tar, or upload it (POST /datasets)`);
      const { mtimeMs, size } = info;
      const known = this.hashes.get(path);
      const hash = known && known.mtimeMs === mtimeMs && known.size === size ? known.hash : await hashFile(path);
      this.hashes.set(path, { mtimeMs, size, hash });
      this.byHash.set(hash, path);
      ref[key] = hash;
    }
    return ref;
  }

  /** The path of a registered file, if its content still has that hash's size and time. */
  path(hash: string): string | undefined {
    const path = this.byHash.get(hash);
    return path !== undefined && this.hashes.get(path)?.hash === hash ? path : undefined;
  }
}

/** A dataset that cannot go to workers as it is. */
export class DatasetFolderError extends Error {
  override readonly name = 'DatasetFolderError';
}

/** A file a worker could not get: the service did not answer, refused, or sent other bytes. */
export class DatasetFetchError extends Error {
  override readonly name = 'DatasetFetchError';
}

export function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fastmlp', 'datasets');
}

/** The worker's side: files by hash in a folder, downloaded once (also when several folds ask at once). */
export class DatasetCache {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    readonly dir: string,
    /** The service's base URL, asked when a file is first needed. */
    private readonly service: () => Promise<string>,
    private readonly token?: string,
  ) {}

  /** Local paths of the dataset's files, downloading the missing ones. */
  async files(ref: DatasetRef): Promise<DatasetSource> {
    const keys = Object.keys(ref).sort().join(',');
    if (keys !== 'testImages,testLabels,trainImages,trainLabels' && keys !== 'test,train') throw new DatasetFetchError(`a dataset of files ${keys}: expected four idx files or a CSV pair`);
    const entries = Object.entries(ref);
    const paths = await Promise.all(entries.map(([, hash]) => this.file(hash)));
    return Object.fromEntries(entries.map(([key], i) => [key, paths[i]!])) as unknown as DatasetSource;
  }

  private file(hash: string): Promise<string> {
    if (!SHA256.test(hash)) return Promise.reject(new DatasetFetchError(`not a SHA-256: ${JSON.stringify(hash)}`));
    const path = join(this.dir, hash);
    if (existsSync(path)) return Promise.resolve(path);
    let pending = this.pending.get(hash);
    if (pending === undefined) {
      pending = this.download(hash, path).finally(() => this.pending.delete(hash));
      this.pending.set(hash, pending);
    }
    return pending;
  }

  private async download(hash: string, path: string): Promise<string> {
    const url = `${(await this.service()).replace(/\/+$/, '')}/cluster/files/${hash}`;
    let response: Response;
    try {
      response = await fetch(url, this.token ? { headers: { authorization: `Bearer ${this.token}` } } : {});
    } catch (error) {
      throw new DatasetFetchError(`could not reach ${url}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!response.ok) throw new DatasetFetchError(`${url} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== hash) throw new DatasetFetchError(`${url} sent bytes whose SHA-256 is ${got}`);
    await mkdir(this.dir, { recursive: true });
    // Written aside, then renamed: a file under its hash's name is always whole.
    const temporary = `${path}.${randomBytes(4).toString('hex')}.part`;
    try {
      await writeFile(temporary, bytes);
      await rename(temporary, path);
    } finally {
      await rm(temporary, { force: true });
    }
    return path;
  }
}
