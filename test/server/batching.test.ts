import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob, finished, getJob, makeDataDir, testApp, tinyJob, waitForJob, type DataDir, type TestApp } from './helpers.js';

interface Answer {
  label: number;
  probabilities: number[];
  model: string;
}

describe('concurrent single-image predictions', () => {
  let data: DataDir;
  let app: TestApp;

  beforeAll(async () => {
    data = await makeDataDir();
    app = testApp(data);
    const id = await createJob(app, tinyJob(data));
    await waitForJob(app, id, finished);
    expect((await getJob(app, id)).status).toBe('succeeded');
  });
  afterAll(async () => {
    await app.close();
    await data.remove();
  });

  it('answer each request with its own rows when they share one forward pass', async () => {
    const images = Array.from({ length: 40 }, (_, i) => Array.from(data.test.pixels.subarray(i * 784, (i + 1) * 784)));
    const predict = (pixels: number[], scale?: string) =>
      app.inject({ method: 'POST', url: '/predict', payload: { pixels, ...(scale ? { scale } : {}) } }).then((r) => r.json<Answer>());
    // All at once first, bytes only: one batch.
    const adjacent = await Promise.all(images.slice(0, 20).map((image) => predict(image)));
    // One at a time: each request alone in its batch.
    const alone: Answer[] = [];
    for (const image of images) alone.push(await predict(image));
    // All at once, bytes and unit scale interleaved: batched by model and scale (floats copied together).
    const together = await Promise.all(images.flatMap((image) => [predict(image), predict(image.map((v) => v / 255), 'unit')]));
    adjacent.forEach((answer, i) => {
      expect(answer.label).toBe(alone[i]!.label);
      answer.probabilities.forEach((p, j) => expect(Math.abs(p - alone[i]!.probabilities[j]!)).toBeLessThan(1e-5));
    });
    images.forEach((_, i) => {
      const bytes = together[2 * i]!, unit = together[2 * i + 1]!;
      expect(bytes.label).toBe(alone[i]!.label);
      expect(unit.label).toBe(alone[i]!.label);
      bytes.probabilities.forEach((p, j) => expect(Math.abs(p - alone[i]!.probabilities[j]!)).toBeLessThan(1e-5));
      unit.probabilities.forEach((p, j) => expect(Math.abs(p - alone[i]!.probabilities[j]!)).toBeLessThan(1e-5));
    });
    // And the batch predicted what the labels say, about as well as the job's test accuracy.
    const correct = alone.filter((a, i) => a.label === data.test.labels[i]).length;
    expect(correct).toBeGreaterThan(30);
  });

  it('answers the same whether the JSON is read straight into floats or by JSON.parse and zod', async () => {
    const pixels = Array.from(data.test.pixels.subarray(0, 784));
    const send = (payload: string) =>
      app.inject({ method: 'POST', url: '/predict', payload, headers: { 'content-type': 'application/json' } }).then((r) => ({ status: r.statusCode, body: r.json<Answer>() }));
    const plain = await send(JSON.stringify({ pixels }));
    // The single-image answer is written by hand: exactly what JSON.stringify writes for it.
    const raw = await app.inject({ method: 'POST', url: '/predict', payload: { pixels } });
    expect(raw.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(raw.body).toBe(JSON.stringify(JSON.parse(raw.body)));
    // An escaped key and a number below a double's range: valid JSON the native reader leaves to JSON.parse.
    const escaped = await send(`{"pix\\u0065ls": ${JSON.stringify(pixels)}}`);
    const underflow = await send(`{"pixels": [1e-400${JSON.stringify(pixels.slice(1)).replace('[', ',')}}`);
    expect(plain.status).toBe(200);
    expect(escaped).toEqual(plain);
    expect(underflow.status).toBe(200);
    const first = await send(JSON.stringify({ pixels: [0, ...pixels.slice(1)] }));
    expect(underflow).toEqual(first);
    // Out of range by less than a float can tell: rejected as zod rejects it, naming the pixel.
    const over = await send(JSON.stringify({ pixels: [255.00000001, ...pixels.slice(1)] }));
    expect(over.status).toBe(400);
    expect(JSON.stringify(over.body)).toContain('body.pixels.0');
  });
});
