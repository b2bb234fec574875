/**
 * What augmentation does to the training digits, to look at: the first image of each class as it is,
 * then as the first epochs' draws transform it (the same transforms training uses, from the run's seed).
 */
import type { ImageSet } from '../data/dataset.js';
import { native } from '../native.js';
import type { AugmentSpec } from './types.js';

export interface AugmentationPreview {
  /** Row after row: one class's image as it is, then `draws` transformed copies; pixel values 0–255. */
  images: Float32Array;
  labels: number[];
  /** Images per row of the grid: 1 + draws. */
  columns: number;
}

/**
 * The first image of each class (up to `classes` of them) and its transforms in epochs 1…draws.
 */
export function augmentationPreview(set: Pick<ImageSet, 'pixels' | 'labels' | 'rows' | 'cols' | 'count'>, spec: AugmentSpec, seed: number, draws = 7, classes = 10): AugmentationPreview {
  const firsts: number[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < set.count && firsts.length < classes; i++) {
    if (!seen.has(set.labels[i]!)) {
      seen.add(set.labels[i]!);
      firsts.push(i);
    }
  }
  firsts.sort((a, b) => set.labels[a]! - set.labels[b]!);
  const features = set.rows * set.cols;
  const indices = Int32Array.from(firsts);
  const perEpoch = new Uint8Array(indices.length * features);
  const columns = 1 + draws;
  const images = new Float32Array(indices.length * columns * features);
  const labels: number[] = [];
  firsts.forEach((sample, r) => {
    images.set(set.pixels.subarray(sample * features, (sample + 1) * features), r * columns * features);
    for (let d = 0; d < columns; d++) labels.push(set.labels[sample]!);
  });
  for (let epoch = 1; epoch <= draws; epoch++) {
    native.augmentRows({ bytes: set.pixels, rows: set.rows, cols: set.cols, indices, out: perEpoch, spec, seed, epoch });
    for (let r = 0; r < indices.length; r++) images.set(perEpoch.subarray(r * features, (r + 1) * features), (r * columns + epoch) * features);
  }
  return { images, labels, columns };
}
