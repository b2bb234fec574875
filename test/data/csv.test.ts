import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsvFormatError, readCsvImages } from '../../src/data/csv.js';
import { fileFormat, loadDataset, type Dataset } from '../../src/data/dataset.js';
import { encodeCheckpoint } from '../../src/train/checkpoint.js';
import { trainKFold } from '../../src/train/kfold.js';
import { quickRecipe, smallMnist, writeCsv, writeDatasetFiles } from '../helpers/datasets.js';

describe('CSV datasets', () => {
  let dir: string;
  let dataset: Dataset;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fastmlp-csv-'));
    dataset = await smallMnist(2000, 500);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a Kaggle-style CSV to the bytes of the idx files, and trains the same model from it', async () => {
    const train = await writeCsv(join(dir, 'train.csv'), dataset.train);
    const test = await writeCsv(join(dir, 'test.csv.gz'), dataset.test, { gzip: true });
    expect(await fileFormat(train)).toBe('csv');
    expect(await fileFormat(test)).toBe('csv');
    const fromCsv = await loadDataset({ train, test });
    const fromIdx = await loadDataset(await writeDatasetFiles(dir, dataset));
    expect(await fileFormat(join(dir, 'train-images-idx3-ubyte'))).toBe('idx');
    expect(fromCsv).toEqual(fromIdx);
    const recipe = quickRecipe({ hidden: [{ width: 16, activation: 'relu' }], epochs: 1 });
    const a = trainKFold({ recipe, dataset: fromCsv }).checkpoint;
    const b = trainKFold({ recipe, dataset: fromIdx }).checkpoint;
    expect(Buffer.from(encodeCheckpoint(a)).equals(Buffer.from(encodeCheckpoint(b)))).toBe(true);
  });

  it('reads a CSV without the label column, as Kaggle’s test file', async () => {
    const path = await writeCsv(join(dir, 'unlabelled.csv'), dataset.test, { labels: false });
    const csv = await readCsvImages(path);
    expect(csv).toMatchObject({ count: 500, rows: 28, cols: 28 });
    expect(csv.labels).toBeUndefined();
    expect(csv.pixels).toEqual(dataset.test.pixels);
    await expect(loadDataset({ train: path, test: path })).rejects.toThrow(/no label column/);
  });

  it('names the file, the line and the column of what is wrong', async () => {
    const header = `label,${Array.from({ length: 4 }, (_, i) => `pixel${i}`).join(',')}`;
    const write = async (name: string, text: string) => {
      await writeFile(join(dir, name), text);
      return join(dir, name);
    };
    const refused = async (text: string, message: RegExp) => {
      const path = await write('bad.csv', text);
      const error = await readCsvImages(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CsvFormatError);
      expect((error as Error).message).toMatch(message);
    };
    await refused(`${header}\n1,0,0,0,0\n2,0,256,0,0\n`, /bad\.csv, line 3: column 3 is "256"; expected an integer from 0 to 255/);
    await refused(`${header}\n1,0,0,0\n`, /line 2: 4 columns; the header has 5/);
    await refused(`${header}\n1,0,0,0,x\n`, /line 2: column 5 is "x"/);
    await refused(`1,0,0,0,0\n`, /line 1: expected a header row/);
    await refused('', /the file is empty/);
    await refused('label,pixel0\n', /a header line and no images/);
    await refused(`label,${Array.from({ length: 5 }, (_, i) => `pixel${i}`).join(',')}\n1,0,0,0,0,0\n`, /5 pixel columns are not a square image/);
    // A 2×2 CSV reads; idx passed where a CSV is expected is refused with the way to pass it.
    const small = await readCsvImages(await write('small.csv', `${header}\n1,0,1,2,3\n`));
    expect(small).toMatchObject({ count: 1, rows: 2, cols: 2, pixels: Uint8Array.from([0, 1, 2, 3]), labels: Uint8Array.from([1]) });
    const files = await writeDatasetFiles(dir, dataset);
    await expect(loadDataset({ train: files.trainImages, test: files.testImages })).rejects.toThrow(/not a CSV of images .*--train-images/);
  });
});
