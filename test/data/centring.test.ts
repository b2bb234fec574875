import { describe, expect, it } from 'vitest';
import {
  BOX,
  CENTRE,
  SIDE,
  boundingBox,
  centreByMass,
  centreOfMass,
  crop,
  fitSize,
  inkFromRgba,
  mnistInput,
  preprocessRgba,
  resizeArea,
  type Gray,
} from '../../src/data/centring.js';
import { mnistOnce } from '../helpers/datasets.js';

/** A width×height image with ink 1 wherever `on(x, y)`. */
function image(width: number, height: number, on: (x: number, y: number) => boolean): Gray {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = on(x, y) ? 1 : 0;
  return { width, height, data };
}

/** Ink as RGBA dark-on-white pixels, the way the page's canvas holds a drawing. */
function rgbaOf(gray: Gray): Uint8ClampedArray {
  const rgba = new Uint8ClampedArray(gray.data.length * 4);
  gray.data.forEach((v, i) => {
    const level = Math.round(255 * (1 - v));
    rgba.set([level, level, level, 255], 4 * i);
  });
  return rgba;
}

/** 784 bytes as a Gray image with ink 0–1. */
function grayOf(bytes: Uint8Array): Gray {
  return { width: SIDE, height: SIDE, data: Float32Array.from(bytes, (b) => b / 255) };
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]! / n; mb += b[i]! / n; }
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

describe('colour: dark ink on a light page becomes white on black', () => {
  it('turns black into full ink, white and transparent into none, grey into half', () => {
    const rgba = Uint8Array.from([0, 0, 0, 255, 255, 255, 255, 255, 0, 0, 0, 0, 128, 128, 128, 255, 0, 0, 0, 128]);
    const ink = inkFromRgba(rgba, 5, 1);
    expect(ink.data[0]).toBeCloseTo(1, 6);
    expect(ink.data[1]).toBeCloseTo(0, 6);
    expect(ink.data[2]).toBeCloseTo(0, 6); // transparent: the white page shows through
    expect(ink.data[3]).toBeCloseTo(1 - 128 / 255, 3);
    expect(ink.data[4]).toBeCloseTo(128 / 255, 3); // half-transparent black
  });

  it('weighs the channels by luminance (green looks brighter than blue)', () => {
    const ink = inkFromRgba(Uint8Array.from([0, 255, 0, 255, 0, 0, 255, 255]), 2, 1);
    expect(ink.data[0]).toBeLessThan(ink.data[1]!);
  });

  it('gives the model bytes 255 where the ink is full and 0 on the page', () => {
    const drawing = image(40, 40, (x, y) => x >= 10 && x < 30 && y >= 10 && y < 30);
    const input = preprocessRgba(rgbaOf(drawing), 40, 40)!;
    expect(input).toHaveLength(784);
    expect(input[CENTRE * SIDE + CENTRE]).toBe(255);
    expect(input[0]).toBe(0);
    expect(Math.max(...input)).toBe(255);
  });

  it('refuses RGBA of the wrong length', () => {
    expect(() => inkFromRgba(new Uint8Array(15), 2, 2)).toThrow(/Expected 16 RGBA values for 2×2 but received 15/);
  });
});

describe('the empty canvas', () => {
  it('has no bounding box, no centre of mass and no input', () => {
    const blank = image(50, 50, () => false);
    expect(boundingBox(blank)).toBeNull();
    expect(centreOfMass(blank)).toBeNull();
    expect(mnistInput(blank)).toBeNull();
    expect(preprocessRgba(new Uint8ClampedArray(50 * 50 * 4).fill(255), 50, 50)).toBeNull();
  });

  it('ignores faint anti-aliasing dust below the threshold', () => {
    const dust = { width: 10, height: 10, data: new Float32Array(100).fill(0.01) };
    expect(mnistInput(dust)).toBeNull();
  });

  it('centres an empty image into an all-black field', () => {
    const out = centreByMass(image(5, 5, () => false));
    expect(out.width).toBe(SIDE);
    expect(Array.from(out.data).every((v) => v === 0)).toBe(true);
  });
});

describe('the bounding box and its scaling to 20×20', () => {
  it('finds the box of the ink', () => {
    expect(boundingBox(image(30, 20, (x, y) => x >= 3 && x <= 12 && y >= 5 && y <= 7))).toEqual({ x: 3, y: 5, width: 10, height: 3 });
  });

  it('crops to the box', () => {
    const cropped = crop(image(6, 6, (x, y) => x === 2 && y === 3), { x: 2, y: 3, width: 2, height: 2 });
    expect(Array.from(cropped.data)).toEqual([1, 0, 0, 0]);
  });

  it('fits the longer side to 20 and keeps the aspect ratio', () => {
    expect(fitSize(200, 100)).toEqual({ width: BOX, height: 10 });
    expect(fitSize(60, 240)).toEqual({ width: 5, height: BOX });
    expect(fitSize(7, 7)).toEqual({ width: BOX, height: BOX }); // small drawings grow
    expect(fitSize(400, 1)).toEqual({ width: BOX, height: 1 }); // a flat line stays one pixel high
  });

  it('averages areas: a 2×2 checker shrinks to its mean, a solid block keeps full ink', () => {
    expect(resizeArea(image(2, 2, (x, y) => (x + y) % 2 === 0), 1, 1).data[0]).toBeCloseTo(0.5, 6);
    const solid = resizeArea(image(90, 90, () => true), 20, 20);
    expect(Math.min(...solid.data)).toBeCloseTo(1, 5);
    expect(Math.max(...solid.data)).toBeCloseTo(1, 5);
  });

  it('weighs fractional edges by their share of the pixel', () => {
    // 3 source columns into 2: the middle column is split half and half.
    const out = resizeArea(image(3, 1, (x) => x === 1), 2, 1);
    expect(out.data[0]).toBeCloseTo(0.5 / 1.5, 6);
    expect(out.data[1]).toBeCloseTo(0.5 / 1.5, 6);
  });

  it('turns a tall drawing into an input 20 pixels high with the width scaled alike', () => {
    // 100 wide, 200 high anywhere on a 300×300 canvas → 10×20 in the input.
    const input = mnistInput(image(300, 300, (x, y) => x >= 150 && x < 250 && y >= 40 && y < 240))!;
    const box = boundingBox(grayOf(input), 0)!;
    expect(box.height).toBe(BOX);
    expect(box.width).toBe(10);
  });
});

describe('centring by the centre of mass', () => {
  it('computes the ink-weighted mean position', () => {
    const gray = { width: 4, height: 2, data: Float32Array.from([1, 0, 0, 3, 0, 0, 0, 0]) };
    expect(centreOfMass(gray)).toEqual({ x: (0 * 1 + 3 * 3) / 4, y: 0 });
  });

  it('puts the centre of mass of a ring at (14, 14) wherever it was drawn', () => {
    for (const [cx, cy] of [[40, 40], [250, 60], [150, 260]] as const) {
      const ring = image(300, 300, (x, y) => {
        const r = Math.hypot(x - cx, y - cy);
        return r > 20 && r < 30;
      });
      const com = centreOfMass(grayOf(mnistInput(ring)!))!;
      // Whole-pixel shifts: within half a pixel.
      expect(Math.abs(com.x - CENTRE)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(com.y - CENTRE)).toBeLessThanOrEqual(0.5);
    }
  });

  it('centres by mass, not by the box: a heavy side moves towards the middle', () => {
    // An L: a thick vertical bar on the left and a thin foot. Its box would sit in the middle; its mass is left.
    const ell = image(200, 200, (x, y) => (x >= 20 && x < 80 && y >= 20 && y < 180) || (x >= 20 && x < 180 && y >= 170 && y < 180));
    const input = grayOf(mnistInput(ell)!);
    const com = centreOfMass(input)!;
    expect(Math.abs(com.x - CENTRE)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(com.y - CENTRE)).toBeLessThanOrEqual(0.5);
    const box = boundingBox(input, 0)!;
    // The box's middle lies right of the centre because the mass is on the left.
    expect(box.x + box.width / 2).toBeGreaterThan(CENTRE + 1);
  });

  it('shifts by whole pixels and cuts off what falls outside 28×28', () => {
    const dot = centreByMass(image(3, 3, (x, y) => x === 2 && y === 0));
    expect(dot.data[CENTRE * SIDE + CENTRE]).toBe(1);
    expect(Array.from(dot.data).filter((v) => v > 0)).toHaveLength(1);
  });
});

describe('MNIST digits drawn large come back as themselves', () => {
  it('recovers test digits from 10× enlargements on a wide page', async () => {
    const { test } = await mnistOnce();
    for (let k = 0; k < 20; k++) {
      const digit = test.pixels.subarray(k * 784, (k + 1) * 784);
      // Enlarge 10× (nearest) onto a 400×300 page, off-centre, as dark ink on white.
      const page = image(400, 300, () => false);
      for (let y = 0; y < 280; y++) for (let x = 0; x < 280; x++) page.data[(y + 10) * 400 + x + 100] = digit[Math.floor(y / 10) * 28 + Math.floor(x / 10)]! / 255;
      const input = preprocessRgba(rgbaOf(page), 400, 300)!;
      expect(correlation(input, digit)).toBeGreaterThan(0.85);
    }
  });
});
