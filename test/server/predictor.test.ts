import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ImageSet } from '../../src/data/dataset.js';
import type { Classifier } from '../../src/model/classifier.js';
import { HttpError } from '../../src/server/errors.js';
import { createMetrics } from '../../src/server/metrics.js';
import { ModelRegistry } from '../../src/server/model-registry.js';
import { ASYNC_FROM_IMAGES, classify, pickModel, type PredictorDeps } from '../../src/server/predictor.js';
import { JobStore, type ModelRecord } from '../../src/server/store.js';
import type { Checkpoint } from '../../src/train/checkpoint.js';
import { quickRecipe, smallMnist } from '../helpers/datasets.js';
import { modelRecord, tinyCheckpoints } from '../helpers/models.js';

let checkpoint: Checkpoint;
let test: ImageSet;
let dir: string;
let deps: PredictorDeps;

beforeAll(async () => {
  checkpoint = (await tinyCheckpoints([3]))[0]!;
  test = (await smallMnist(10, 100)).test;
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fastmlp-predictor-'));
  const store = new JobStore(join(dir, 'store.db'));
  const models = new ModelRegistry(store);
  const metrics = createMetrics({ store, modelAccuracies: () => [], version: 'test', defaultMetrics: false });
  deps = { store, models, metrics };
});

afterEach(async () => {
  deps.store.close();
  await rm(dir, { recursive: true, force: true });
});

async function register(id: string, accuracy: number): Promise<{ record: ModelRecord; classifier: Classifier }> {
  deps.models.add(await modelRecord(dir, id, checkpoint, accuracy), checkpoint);
  return { record: deps.models.get(id)!, classifier: deps.models.inMemory(id)! };
}

const image = (i: number) => Float32Array.from(test.pixels.subarray(i * 784, (i + 1) * 784));

describe('pickModel', () => {
  it('answers 503 with a hint and Retry-After while there is no model, naming a job that trains one', () => {
    const none = (() => {
      try {
        pickModel(deps, undefined, 'body.model');
      } catch (error) {
        return error;
      }
    })() as HttpError;
    expect(none).toBeInstanceOf(HttpError);
    expect(none.statusCode).toBe(503);
    expect(none.message).toMatch(/POST \/jobs/);
    expect(none.headers['retry-after']).toBe('10');
    const job = deps.store.createJob({ recipe: quickRecipe(), testEveryEpoch: false });
    expect(() => pickModel(deps, undefined, 'body.model')).toThrow(new RegExp(`job ${job.id}`));
  });

  it('picks the model asked for, else the best; an unknown id is a 404 naming the field', async () => {
    await register('m1', 0.7);
    await register('m2', 0.9);
    expect(pickModel(deps, 'm1', 'body.model').id).toBe('m1');
    expect(pickModel(deps, undefined, 'body.model').id).toBe('m2');
    expect(() => pickModel(deps, 'nope', 'body.model')).toThrow(expect.objectContaining({ statusCode: 404, field: 'body.model' }));
  });
});

describe('classify', () => {
  it('predicts requests that arrive in one turn of the event loop in one forward pass, each getting its own rows', async () => {
    const { record, classifier } = await register('m1', 0.9);
    const predict = vi.spyOn(classifier, 'predict');
    const answers = await Promise.all([0, 1, 2, 3, 4].map((i) => classify(deps, record, image(i), 'byte', 'body.pixels')));
    expect(predict).toHaveBeenCalledTimes(1);
    expect(predict.mock.calls[0]![0].length).toBe(5 * 784);
    predict.mockRestore();
    const together = classifier.predict(test.pixels.subarray(0, 5 * 784), 'byte');
    answers.forEach((answer, i) => {
      expect(answer.labels).toEqual(together.labels.subarray(i, i + 1));
      expect(answer.probabilities).toEqual(together.probabilities.subarray(i * 10, (i + 1) * 10));
    });
    const samples = await deps.metrics.registry.getSingleMetricAsString('fastmlp_predicted_samples_total');
    expect(samples).toMatch(/model="m1"\} 5$/m);
  });

  it('keeps pixel scales apart and predicts a large request off the event loop, as predict would', async () => {
    const { record, classifier } = await register('m1', 0.9);
    const count = ASYNC_FROM_IMAGES + 1;
    const many = Float32Array.from(test.pixels.subarray(0, count * 784));
    const asynchronous = vi.spyOn(classifier, 'predictAsync');
    const [large, unit] = await Promise.all([
      classify(deps, record, many, 'byte', 'body.images'),
      classify(deps, record, image(0).map((v) => v / 255), 'unit', 'body.pixels'),
    ]);
    expect(asynchronous).toHaveBeenCalledTimes(1);
    asynchronous.mockRestore();
    expect(large.probabilities).toEqual(classifier.predict(many).probabilities);
    expect(unit.labels[0]).toBe(classifier.predict(image(0)).labels[0]);
  });

  it('refuses images of another size with a 400 naming the field, and fails every request of a failed batch', async () => {
    const { record, classifier } = await register('m1', 0.9);
    await expect(classify(deps, record, new Float32Array(783), 'byte', 'body.pixels')).rejects.toMatchObject({ statusCode: 400, field: 'body.pixels' });
    vi.spyOn(classifier, 'predict').mockImplementationOnce(() => {
      throw new Error('broken');
    });
    const results = await Promise.allSettled([classify(deps, record, image(0), 'byte', 'body.pixels'), classify(deps, record, image(1), 'byte', 'body.pixels')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
