/**
 * An image turned into the model's input the way MNIST's digits were made: grayscale ink, the digit's
 * bounding box scaled to fit 20×20 keeping its aspect ratio, placed in 28×28 so that its centre of mass
 * sits at the centre, white on black (0–255). The web page uses it for drawings, the image-folder reader
 * (images.ts) for photos and scans when asked. Pure functions on arrays: no DOM, so they run in a browser.
 */

/** The model's input side. */
export const SIDE = 28;
/** The side of the box the digit's bounding box is scaled to fit. */
export const BOX = 20;
/**
 * Where the centre of mass lands, in pixel-index coordinates (x = column, y = row). MNIST's test digits
 * average (14.0, 14.0) there, the convention of the original centring.
 */
export const CENTRE = 14;
/** Ink below this (0–1) does not count towards the bounding box: stray anti-aliasing is not the digit. */
export const INK_THRESHOLD = 0.05;

/** A grayscale image, row by row; values are ink from 0 (none) to 1 (full), unless said otherwise. */
export interface Gray {
  width: number;
  height: number;
  data: Float32Array;
}

export interface Box {
  /** First column and row with ink. */
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * RGBA pixels (a canvas's ImageData: dark ink on a light page) as ink: 1 − luminance, transparent pixels
 * counting as the white page underneath.
 */
export function inkFromRgba(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number): Gray {
  if (rgba.length !== width * height * 4) throw new RangeError(`Expected ${width * height * 4} RGBA values for ${width}×${height} but received ${rgba.length}`);
  const data = new Float32Array(width * height);
  for (let i = 0; i < data.length; i++) {
    const r = rgba[4 * i]!, g = rgba[4 * i + 1]!, b = rgba[4 * i + 2]!, a = rgba[4 * i + 3]! / 255;
    // Rec. 601 luma, composited over white.
    const luma = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    data[i] = 1 - (luma * a + (1 - a));
  }
  return { width, height, data };
}

/** The smallest box holding every pixel with ink above the threshold; null for an empty image. */
export function boundingBox(image: Gray, threshold = INK_THRESHOLD): Box | null {
  let x0 = image.width, y0 = image.height, x1 = -1, y1 = -1;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if (image.data[y * image.width + x]! > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** The part of the image inside the box. */
export function crop(image: Gray, box: Box): Gray {
  const data = new Float32Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const from = (box.y + y) * image.width + box.x;
    data.set(image.data.subarray(from, from + box.width), y * box.width);
  }
  return { width: box.width, height: box.height, data };
}

/** The sizes that fit `box`×`box` with the longer side exactly `box`, keeping the aspect ratio (each ≥ 1). */
export function fitSize(width: number, height: number, box = BOX): { width: number; height: number } {
  const scale = box / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Resampled to width×height by area averaging: each output pixel is the mean of the source area it covers,
 * fractional edges weighted by their share. Shrinking a drawing this way anti-aliases it as MNIST's were.
 */
export function resizeArea(image: Gray, width: number, height: number): Gray {
  const sx = image.width / width;
  const sy = image.height / height;
  const out = new Float32Array(width * height);
  for (let oy = 0; oy < height; oy++) {
    const top = oy * sy, bottom = top + sy;
    for (let ox = 0; ox < width; ox++) {
      const left = ox * sx, right = left + sx;
      let sum = 0;
      for (let y = Math.floor(top); y < Math.min(Math.ceil(bottom), image.height); y++) {
        const wy = Math.min(bottom, y + 1) - Math.max(top, y);
        for (let x = Math.floor(left); x < Math.min(Math.ceil(right), image.width); x++) {
          const wx = Math.min(right, x + 1) - Math.max(left, x);
          sum += wx * wy * image.data[y * image.width + x]!;
        }
      }
      out[oy * width + ox] = sum / (sx * sy);
    }
  }
  return { width, height, data: out };
}

/** The ink-weighted mean position (column, row) in pixel-index coordinates; null without ink. */
export function centreOfMass(image: Gray): { x: number; y: number } | null {
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const v = image.data[y * image.width + x]!;
      mass += v;
      mx += x * v;
      my += y * v;
    }
  }
  return mass > 0 ? { x: mx / mass, y: my / mass } : null;
}

/**
 * The image pasted into a side×side black field, shifted by whole pixels so that its centre of mass lands
 * nearest to (centre, centre); whatever falls outside is cut off.
 */
export function centreByMass(image: Gray, side = SIDE, centre = CENTRE): Gray {
  const out = new Float32Array(side * side);
  const com = centreOfMass(image);
  if (com === null) return { width: side, height: side, data: out };
  const dx = Math.round(centre - com.x);
  const dy = Math.round(centre - com.y);
  for (let y = 0; y < image.height; y++) {
    const ty = y + dy;
    if (ty < 0 || ty >= side) continue;
    for (let x = 0; x < image.width; x++) {
      const tx = x + dx;
      if (tx >= 0 && tx < side) out[ty * side + tx] = image.data[y * image.width + x]!;
    }
  }
  return { width: side, height: side, data: out };
}

/** Ink 0–1 as bytes 0–255 (white digit on black, as /predict takes them with scale "byte"). */
export function toBytes(image: Gray): Uint8Array {
  const bytes = new Uint8Array(image.data.length);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, image.data[i]!)) * 255);
  return bytes;
}

/** Ink → the model's 28×28 input (784 bytes, white on black); null when nothing is drawn. */
export function mnistInput(ink: Gray): Uint8Array | null {
  const box = boundingBox(ink);
  if (box === null) return null;
  const size = fitSize(box.width, box.height);
  return toBytes(centreByMass(resizeArea(crop(ink, box), size.width, size.height)));
}

/** A canvas's RGBA pixels (dark ink on a light page) → the model's input; null when nothing is drawn. */
export function preprocessRgba(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number): Uint8Array | null {
  return mnistInput(inkFromRgba(rgba, width, height));
}
