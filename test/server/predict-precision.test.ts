import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob, finished, makeDataDir, testApp, tinyJob, waitForJob, type DataDir, type TestApp } from './helpers.js';

// The precision of /predict: each model's own (the one it was trained in), or the service's --precision.
let data: DataDir;
let fp32Model: string;
let bf16Model: string;

type Predictions = { predictions: { label: number; probabilities: number[] }[] };

async function predict(app: TestApp, model: string): Promise<Predictions['predictions']> {
  const images = Array.from({ length: 40 }, (_, i) => Array.from(data.test.pixels.subarray(i * 784, (i + 1) * 784)));
  const response = await app.inject({ method: 'POST', url: '/predict', payload: { images, model } });
  expect(response.statusCode).toBe(200);
  return response.json<Predictions>().predictions;
}

async function withApp<T>(options: Parameters<typeof testApp>[1], fn: (app: TestApp) => Promise<T>): Promise<T> {
  const app = testApp(data, options);
  await app.ready();
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

beforeAll(async () => {
  data = await makeDataDir();
  const ids = await withApp({}, async (app) => {
    const ids: string[] = [];
    for (const precision of ['fp32', 'bf16']) {
      const job = await waitForJob(app, await createJob(app, tinyJob(data, { precision })), finished);
      expect(job.status).toBe('succeeded');
      ids.push(job.modelId!);
    }
    return ids;
  });
  [fp32Model, bf16Model] = [ids[0]!, ids[1]!];
});

afterAll(async () => {
  await data.remove();
});

describe('/predict precision', () => {
  it('is the model’s own unless the service sets one', async () => {
    const own = await withApp({}, async (app) => [await predict(app, fp32Model), await predict(app, bf16Model)]);
    const fp32 = await withApp({ predictPrecision: 'fp32' }, async (app) => [await predict(app, fp32Model), await predict(app, bf16Model)]);
    const bf16 = await withApp({ predictPrecision: 'bf16' }, async (app) => [await predict(app, fp32Model), await predict(app, bf16Model)]);
    // An fp32 model answers in fp32, a bf16 model in bf16, by default.
    expect(own[0]).toEqual(fp32[0]);
    expect(own[1]).toEqual(bf16[1]);
    // Asked for the other precision, each answers within bfloat16 rounding of its own answer.
    for (const [a, b] of [[fp32[0]!, bf16[0]!], [bf16[1]!, fp32[1]!]] as const) {
      expect(a).not.toEqual(b);
      let worst = 0, same = 0;
      a.forEach((p, i) => {
        same += p.label === b[i]!.label ? 1 : 0;
        p.probabilities.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[i]!.probabilities[j]!))));
      });
      expect(worst).toBeLessThan(0.05);
      expect(same).toBeGreaterThanOrEqual(39);
    }
  });
});
