import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetCache, DatasetFetchError, DatasetRegistry, hashFile } from '../../src/cluster/datasets.js';
import type { DatasetFiles } from '../../src/data/dataset.js';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('datasets by content hash', () => {
  let dir: string;
  let server: Server;
  let url: string;
  const served = new Map<string, Buffer>();
  const requests: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fastmlp-datasets-'));
    server = createServer((request, response) => {
      requests.push(`${request.url} ${request.headers.authorization ?? ''}`);
      const bytes = served.get(request.url!.split('/').at(-1)!);
      if (!bytes) return void response.writeHead(404).end('no such file');
      response.writeHead(200).end(bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('the registry names files by their SHA-256 and forgets a path whose content changed', async () => {
    const files = Object.fromEntries(['trainImages', 'trainLabels', 'testImages', 'testLabels'].map((k) => [k, join(dir, `${k}.idx`)])) as Record<'trainImages' | 'trainLabels' | 'testImages' | 'testLabels', string>;
    for (const [k, path] of Object.entries(files)) await writeFile(path, `the bytes of ${k}`);
    const registry = new DatasetRegistry();
    const ref = await registry.register(files);
    expect(ref.trainImages).toBe(sha(Buffer.from('the bytes of trainImages')));
    expect(ref.trainImages).toBe(await hashFile(files.trainImages));
    expect(registry.path(ref.testLabels!)).toBe(files.testLabels);
    await writeFile(files.testLabels, 'other bytes, other size');
    await utimes(files.testLabels, new Date(), new Date(Date.now() + 5000));
    const again = await registry.register(files);
    expect(again.testLabels).not.toBe(ref.testLabels);
    expect(registry.path(ref.testLabels!)).toBeUndefined();
    expect(registry.path(again.testLabels!)).toBe(files.testLabels);
  });

  it('the cache downloads a file once, however many folds ask at once, and keeps it under its hash', async () => {
    const bytes = Buffer.from('a dataset file');
    served.set(sha(bytes), bytes);
    const cacheDir = join(dir, 'cache');
    const cache = new DatasetCache(cacheDir, async () => url, 'the-token');
    const hash = sha(bytes);
    const ref = { trainImages: hash, trainLabels: hash, testImages: hash, testLabels: hash };
    requests.length = 0;
    const [a, b] = (await Promise.all([cache.files(ref), cache.files(ref)])) as [DatasetFiles, DatasetFiles];
    expect(a).toEqual(b);
    expect(a.trainImages).toBe(join(cacheDir, hash));
    expect(await readFile(a.trainImages)).toEqual(bytes);
    expect(requests).toEqual([`/cluster/files/${hash} Bearer the-token`]);
    await cache.files(ref);
    expect(requests).toHaveLength(1);
    // A CSV pair travels the same way, under its own keys; anything else is refused.
    expect(await cache.files({ train: hash, test: hash })).toEqual({ train: join(cacheDir, hash), test: join(cacheDir, hash) });
    await expect(cache.files({ train: hash })).rejects.toThrow(/expected four idx files or a CSV pair/);
  });

  it('refuses bytes that are not the hash, an unknown file and a malformed hash, leaving nothing behind', async () => {
    const cacheDir = join(dir, 'refusing');
    const cache = new DatasetCache(cacheDir, async () => url);
    const liar = sha(Buffer.from('what was asked for'));
    served.set(liar, Buffer.from('something else'));
    const one = (hash: string) => cache.files({ trainImages: hash, trainLabels: hash, testImages: hash, testLabels: hash });
    await expect(one(liar)).rejects.toThrow(DatasetFetchError);
    await expect(one(liar)).rejects.toThrow(/sent bytes whose SHA-256 is/);
    await expect(one('f'.repeat(64))).rejects.toThrow(/answered 404: no such file/);
    await expect(one('../../etc/passwd')).rejects.toThrow(/not a SHA-256/);
    await expect(readdir(cacheDir).catch(() => [])).resolves.toEqual([]);
    const unreachable = new DatasetCache(cacheDir, async () => 'http://127.0.0.1:1');
    await expect(unreachable.files({ trainImages: liar, trainLabels: liar, testImages: liar, testLabels: liar })).rejects.toThrow(/could not reach/);
  });
});
