/** What a set of images holds: its size, its classes and how many of each, and examples of each to look at. */
import type { ImageSet } from './dataset.js';

export interface ImageSetSummary {
  count: number;
  rows: number;
  cols: number;
  /** Images per label, label 0 first; empty for a set without labels. */
  perClass: number[];
  /** Mean pixel value, 0–255. */
  meanPixel: number;
  /** Share of pixels that are 0 (the zero-skipping first layer's gain grows with it). */
  zeroShare: number;
}

export function summarizeImages(set: Pick<ImageSet, 'count' | 'rows' | 'cols' | 'pixels'> & { labels?: Uint8Array }): ImageSetSummary {
  const perClass: number[] = [];
  if (set.labels) for (const label of set.labels) perClass[label] = (perClass[label] ?? 0) + 1;
  let sum = 0;
  let zeros = 0;
  for (const p of set.pixels) {
    sum += p;
    if (p === 0) zeros++;
  }
  const n = set.pixels.length || 1;
  return { count: set.count, rows: set.rows, cols: set.cols, perClass: Array.from(perClass, (c) => c ?? 0), meanPixel: sum / n, zeroShare: zeros / n };
}

/**
 * Up to `each` images of every label, in label order (the first ones of the set), or the first images of
 * a set without labels: the pixels as numbers and their labels, for a preview grid.
 */
export function previewImages(set: Pick<ImageSet, 'count' | 'rows' | 'cols' | 'pixels'> & { labels?: Uint8Array }, each = 3, unlabelled = 30): { images: Float32Array; labels: number[] } {
  const features = set.rows * set.cols;
  const chosen: number[] = [];
  if (set.labels) {
    const taken = new Map<number, number>();
    const order: number[][] = [];
    for (let i = 0; i < set.count; i++) {
      const label = set.labels[i]!;
      const n = taken.get(label) ?? 0;
      if (n >= each) continue;
      taken.set(label, n + 1);
      (order[label] ??= []).push(i);
    }
    for (const indices of order) if (indices) chosen.push(...indices);
  } else {
    for (let i = 0; i < Math.min(unlabelled, set.count); i++) chosen.push(i);
  }
  const images = new Float32Array(chosen.length * features);
  chosen.forEach((i, k) => images.set(set.pixels.subarray(i * features, (i + 1) * features), k * features));
  return { images, labels: chosen.map((i) => (set.labels ? set.labels[i]! : i)) };
}
