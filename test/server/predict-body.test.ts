import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/nn/rng.js';
import { IMAGE_PIXELS, MAX_BATCH, acceptPredictBody, predictBody } from '../../src/server/schemas.js';

const rng = new Rng(7);
const image = (max = 255, integer = true) => Array.from({ length: IMAGE_PIXELS }, () => (integer ? rng.uniformInt(max + 1) : rng.nextDouble() * max));

describe('acceptPredictBody', () => {
  it('accepts what predictBody accepts, with the same value', () => {
    const bodies: unknown[] = [
      { pixels: image() },
      { pixels: image(255, false), scale: 'byte' },
      { pixels: image(1, false), scale: 'unit', model: 'model-1' },
      { pixels: Array.from({ length: IMAGE_PIXELS }, () => 255) },
      { pixels: Array.from({ length: IMAGE_PIXELS }, () => 0), model: 'm' },
      { images: [image()] },
      { images: [image(), image(), image()], model: 'x'.repeat(64) },
      { images: Array.from({ length: MAX_BATCH }, () => image(1, false)), scale: 'unit' },
    ];
    for (const body of bodies) {
      const fast = acceptPredictBody(body);
      expect(fast).toBeDefined();
      expect(fast).toEqual(predictBody.parse(body));
    }
  });

  it('declines everything predictBody rejects, leaving the message to it', () => {
    const bad = (change: (pixels: number[]) => unknown) => change(image());
    const bodies: unknown[] = [
      null,
      [],
      'pixels',
      {},
      { pixels: image(), images: [image()] },
      { pixels: image().slice(1) },
      { pixels: [...image(), 1] },
      bad((p) => ({ pixels: p.map((v, i) => (i === 5 ? -1 : v)) })),
      bad((p) => ({ pixels: p.map((v, i) => (i === 783 ? 255.5 : v)) })),
      bad((p) => ({ pixels: p.map((v, i) => (i === 0 ? Number.NaN : v)) })),
      bad((p) => ({ pixels: p.map((v, i) => (i === 9 ? '7' : v)) })),
      bad((p) => ({ pixels: p.map((v, i) => (i === 9 ? null : v)) })),
      { pixels: image(), scale: 'unit' },
      { pixels: image(), scale: 'percent' },
      { pixels: image(), model: '' },
      { pixels: image(), model: 'x'.repeat(65) },
      { pixels: image(), model: 3 },
      { pixels: image(), extra: true },
      { images: [] },
      { images: [image(), image().slice(2)] },
      { images: image() },
      { images: Array.from({ length: MAX_BATCH + 1 }, () => image()) },
    ];
    for (const body of bodies) {
      expect(acceptPredictBody(body), JSON.stringify(body)?.slice(0, 80)).toBeUndefined();
      expect(predictBody.safeParse(body).success).toBe(false);
    }
  });
});
