import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { subset, type ImageSet } from '../../src/data/dataset.js';
import { firstIndices, writeCsv, writeImageFolder, writeZip } from '../helpers/datasets.js';
import { appPerTest, createJob, finished, longJob, testApp, tinyJob, waitForJob, type TestApp } from './helpers.js';

interface DatasetBody {
  id: string;
  name: string | null;
  format: string;
  rows: number;
  cols: number;
  classes: number;
  classNames: string[] | null;
  train: { count: number; perClass: number[] };
  test: { count: number; perClass: number[] };
  preview: string;
  usedBy: string[];
  images: Record<string, unknown> | null;
}

const NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const SORTED = [...NAMES].sort(new Intl.Collator('en').compare);

function upload(app: TestApp, bytes: Uint8Array, query = '', headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: `/datasets${query}`, payload: Buffer.from(bytes), headers: { 'content-type': 'application/zip', ...headers } });
}

/** Images per label. */
const perClass = (set: ImageSet, classes = 10) => Array.from({ length: classes }, (_, k) => set.labels.filter((l) => l === k).length);

describe('dataset uploads', () => {
  const ctx = appPerTest({ maxUploadBytes: 4 * 1024 * 1024 });

  /** A zip of train/ and test/ folders of PNGs named by class, made under the data directory's parent. */
  async function namedZip(train: ImageSet, test: ImageSet): Promise<Uint8Array> {
    const folder = join(ctx.data.dir, 'scratch', 'named');
    await writeImageFolder(join(folder, 'train'), train, { classNames: NAMES });
    await writeImageFolder(join(folder, 'test'), test, { classNames: NAMES });
    const zip = await writeZip(join(ctx.data.dir, 'scratch', 'named.zip'), { folder });
    return readFile(zip);
  }

  it('stores an upload of class folders by its hash, with counts per class and a preview; the same bytes again are the same dataset', async () => {
    const train = subset(ctx.data.train, firstIndices(300));
    const test = subset(ctx.data.test, firstIndices(100));
    const bytes = await namedZip(train, test);
    const created = await upload(ctx.app, bytes, '?name=named%20digits');
    expect(created.statusCode, created.body).toBe(201);
    const body = created.json<DatasetBody>();
    const { createHash } = await import('node:crypto');
    expect(body.id).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(created.headers.location).toBe(`/datasets/${body.id}`);
    // Folders are classes in name order.
    const byName = (set: ImageSet) => SORTED.map((n) => perClass(set)[NAMES.indexOf(n)]);
    expect(body).toMatchObject({ name: 'named digits', format: 'zip', rows: 28, cols: 28, classes: 10, classNames: SORTED, images: null, usedBy: [] });
    expect(body.train).toEqual({ count: 300, perClass: byName(train) });
    expect(body.test).toEqual({ count: 100, perClass: byName(test) });
    expect((await ctx.app.inject({ url: '/datasets' })).json<{ datasets: DatasetBody[] }>().datasets.map((d) => d.id)).toEqual([body.id]);
    expect((await ctx.app.inject({ url: `/datasets/${body.id}` })).json<DatasetBody>()).toEqual(body);
    const preview = await ctx.app.inject({ url: body.preview });
    expect(preview.statusCode).toBe(200);
    expect(preview.headers['content-type']).toBe('image/png');
    expect(preview.rawPayload.subarray(1, 4).toString()).toBe('PNG');

    const again = await upload(ctx.app, bytes);
    expect(again.statusCode).toBe(200);
    expect(again.json<DatasetBody>().id).toBe(body.id);
    const otherOptions = await upload(ctx.app, bytes, '?invert=true');
    expect(otherOptions.statusCode).toBe(409);
    // Nothing is left half-written.
    expect(await readdir(join(ctx.data.dir, 'datasets', '.incoming'))).toEqual([]);
    expect((await ctx.app.inject({ url: '/datasets/00' })).statusCode).toBe(400);
    expect((await ctx.app.inject({ url: `/datasets/${'0'.repeat(64)}` })).statusCode).toBe(404);
  });

  it('trains a job on an uploaded dataset as on the same idx files, names the classes in /predict, and refuses to delete it while the job is queued', async () => {
    const { data, app } = ctx;
    // The idx files the other jobs use, as an upload.
    const entries = Object.fromEntries(
      await Promise.all(
        Object.entries({ 'train-images-idx3-ubyte': data.dataset.trainImages, 'train-labels-idx1-ubyte': data.dataset.trainLabels, 't10k-images-idx3-ubyte': data.dataset.testImages, 't10k-labels-idx1-ubyte': data.dataset.testLabels }).map(
          async ([name, path]) => [`mnist/${name}`, await readFile(join(data.dir, path))] as const,
        ),
      ),
    );
    const idx = await upload(app, zipSync(entries, { level: 1 }));
    expect(idx.statusCode, idx.body).toBe(201);
    const idxId = idx.json<DatasetBody>().id;
    expect(idx.json<DatasetBody>()).toMatchObject({ classNames: null, train: { count: 2000, perClass: perClass(data.train) }, test: { count: 500 } });

    // A job that trains for minutes holds the dataset until it is cancelled.
    const holding = await createJob(app, { ...longJob(data), dataset: { id: idxId } });
    const refused = await app.inject({ method: 'DELETE', url: `/datasets/${idxId}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json<{ error: string }>().error).toContain(holding);
    expect((await app.inject({ url: `/datasets/${idxId}` })).json<DatasetBody>().usedBy).toEqual([holding]);
    expect((await app.inject({ method: 'POST', url: `/jobs/${holding}/cancel` })).statusCode).toBeLessThan(300);
    expect((await waitForJob(app, holding, finished)).status).toBe('cancelled');
    const onUpload = await createJob(app, tinyJob(data, { dataset: { id: idxId } }));
    const onFiles = await createJob(app, tinyJob(data));
    const [a, b] = [await waitForJob(app, onUpload, finished), await waitForJob(app, onFiles, finished)];
    expect(a.status, JSON.stringify(a.error)).toBe('succeeded');
    expect(a.dataset).toEqual({ id: idxId });
    // The same bytes in the same order: the same model.
    expect(a.test).toEqual(b.test);

    // Class folders: the model answers with the class names.
    const named = await upload(app, await namedZip(subset(data.train, firstIndices(1000)), subset(data.test, firstIndices(200))));
    const namedId = named.json<DatasetBody>().id;
    const job = await waitForJob(app, await createJob(app, tinyJob(data, { dataset: { id: namedId } })), finished);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const predicted = await app.inject({ method: 'POST', url: '/predict', payload: { model: job.modelId, images: [Array.from(data.test.pixels.subarray(0, 784)), Array.from(data.test.pixels.subarray(784, 1568))] } });
    const predictions = predicted.json<{ predictions: { label: number; className: string }[] }>().predictions;
    expect(predictions.map((p) => p.className)).toEqual(predictions.map((p) => SORTED[p.label]));
    const single = await app.inject({ method: 'POST', url: '/predict', payload: { model: job.modelId, pixels: Array.from(data.test.pixels.subarray(0, 784)) } });
    expect(single.json<{ className: string }>().className).toBe(predictions[0]!.className);
    const v2 = await app.inject({ method: 'POST', url: `/v2/models/${job.modelId}/infer`, payload: { inputs: [{ name: 'images', shape: [1, 784], datatype: 'UINT8', data: Array.from(data.test.pixels.subarray(0, 784)) }] } });
    expect(v2.json<{ outputs: { name: string; data: unknown[] }[] }>().outputs.find((o) => o.name === 'class_name')!.data).toEqual([predictions[0]!.className]);

    // Finished jobs do not hold a dataset.
    const deleted = await app.inject({ method: 'DELETE', url: `/datasets/${idxId}` });
    expect(deleted.statusCode).toBe(204);
    expect(existsSync(join(data.dir, 'datasets', idxId))).toBe(false);
    expect((await app.inject({ url: `/datasets/${idxId}` })).statusCode).toBe(404);
    const gone = await app.inject({ method: 'POST', url: '/jobs', payload: tinyJob(data, { dataset: { id: idxId } }) });
    expect(gone.statusCode).toBe(400);
    expect(gone.json<{ field: string }>().field).toBe('body.dataset.id');
  });

  it('refuses what is not a dataset with the reason, and writes nothing outside its folder', async () => {
    const { app, data } = ctx;
    const refusal = async (bytes: Uint8Array, status: number, reason: string | RegExp, headers?: Record<string, string>) => {
      const response = await upload(app, bytes, '', headers);
      expect(response.statusCode, response.body).toBe(status);
      expect(response.json<{ error: string }>().error).toMatch(reason);
    };
    const png = await readFile(join(await writeImageFolder(join(data.dir, 'scratch', 'one'), subset(data.test, firstIndices(1))), '7', 'img0.png'));
    await refusal(zipSync({ 'train/0/a.png': png, 'test/0/a.png': png, '../escaped.txt': strToU8('out') }), 400, 'entry "../escaped.txt": a path that climbs out of the archive (..)');
    expect(existsSync(join(data.dir, 'escaped.txt')) || existsSync(join(dirname(data.dir), 'escaped.txt')) || existsSync(join(data.dir, 'datasets', 'escaped.txt'))).toBe(false);
    // A CSV with a bad row.
    const csvDir = join(data.dir, 'scratch', 'csv');
    await mkdir(csvDir, { recursive: true });
    const good = await readFile(await writeCsv(join(csvDir, 'train.csv'), subset(data.train, firstIndices(3))), 'utf8');
    const bad = good.replace(/\n([^\n]*)\n$/, '\n$1,7\n');
    await refusal(zipSync({ 'train.csv': strToU8(bad), 'test.csv': strToU8(good) }), 400, /train\.csv, line 4: 786 columns; the header has 785/);
    // An image that is not one.
    await refusal(zipSync({ 'train/0/a.png': png, 'train/1/b.png': strToU8('not a picture'), 'test/0/a.png': png, 'test/1/a.png': png }), 400, /train\/1\/b\.png: not an image sharp can read/);
    // Not an archive, nothing at all, and no train and test inside.
    await refusal(strToU8('label,pixel0\n1,2\n'), 400, 'not a zip or tar');
    await refusal(new Uint8Array(0), 400, 'empty');
    await refusal(zipSync({ 'readme.txt': strToU8('hello'), 'other.txt': strToU8('x') }), 400, 'expected a training and a test part named train and test');
    // Larger than the limit (4 MiB here), though it compresses to nothing.
    const big = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    await refusal(big, 413, 'larger than the limit of 4194304 bytes');
    // Sent in chunks without a length, it is cut off at the limit while it streams.
    const streamed = await app.inject({ method: 'POST', url: '/datasets', payload: Readable.from([big.subarray(0, 3 * 1024 * 1024), big.subarray(3 * 1024 * 1024)]), headers: { 'content-type': 'application/zip' } });
    expect(streamed.statusCode, streamed.body).toBe(413);
    const wrongType = await app.inject({ method: 'POST', url: '/datasets', payload: 'x', headers: { 'content-type': 'text/plain' } });
    expect(wrongType.statusCode).toBe(415);
    // Nothing was stored, and nothing was left behind.
    expect((await app.inject({ url: '/datasets' })).json<{ datasets: unknown[] }>().datasets).toEqual([]);
    expect(await readdir(join(data.dir, 'datasets'))).toEqual(['.incoming']);
    expect(await readdir(join(data.dir, 'datasets', '.incoming'))).toEqual([]);
  });
});

describe('dataset uploads behind a token, across a restart', () => {
  const ctx = appPerTest({ token: 'secret' });

  it('needs the token to upload and delete, and a restarted service still has the dataset (and clears what was half-written)', async () => {
    const { app, data } = ctx;
    const csvDir = join(data.dir, 'scratch');
    await mkdir(csvDir, { recursive: true });
    const train = await readFile(await writeCsv(join(csvDir, 'train.csv'), subset(data.train, firstIndices(50))));
    const test = await readFile(await writeCsv(join(csvDir, 'test.csv'), subset(data.test, firstIndices(20))));
    const bytes = zipSync({ 'kaggle/train.csv': train, 'kaggle/test.csv': test });
    expect((await upload(app, bytes)).statusCode).toBe(401);
    const created = await upload(app, bytes, '', { authorization: 'Bearer secret' });
    expect(created.statusCode, created.body).toBe(201);
    const { id } = created.json<DatasetBody>();
    await app.close();
    // A crash mid-upload leaves a file under .incoming and a folder the store never named.
    await writeFile(join(data.dir, 'datasets', '.incoming', 'partial'), 'half');
    await mkdir(join(data.dir, 'datasets', 'a'.repeat(64)));
    const again = testApp(data, { token: 'secret' });
    await again.ready();
    try {
      expect((await again.inject({ url: `/datasets/${id}` })).json<DatasetBody>()).toMatchObject({ id, train: { count: 50 }, test: { count: 20 } });
      expect(existsSync(join(data.dir, 'datasets', '.incoming'))).toBe(false);
      expect(existsSync(join(data.dir, 'datasets', 'a'.repeat(64)))).toBe(false);
      expect((await again.inject({ method: 'DELETE', url: `/datasets/${id}` })).statusCode).toBe(401);
      expect((await again.inject({ method: 'DELETE', url: `/datasets/${id}`, headers: { authorization: 'Bearer secret' } })).statusCode).toBe(204);
    } finally {
      await again.close();
      ctx.app = again;
    }
    await rm(join(data.dir, 'scratch'), { recursive: true, force: true });
  });
});
