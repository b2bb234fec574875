import { describe, expect, it } from 'vitest';
import { previewImages, summarizeImages } from '../../src/data/inspect.js';

describe('summarizeImages and previewImages', () => {
  // Six 2×2 images: labels 0, 1, 1, 2, 1, 0.
  const set = {
    count: 6,
    rows: 2,
    cols: 2,
    pixels: Uint8Array.from([0, 0, 0, 255, 1, 1, 1, 1, 2, 0, 2, 0, 3, 3, 3, 3, 4, 0, 0, 0, 5, 5, 0, 0]),
    labels: Uint8Array.from([0, 1, 1, 2, 1, 0]),
  };

  it('counts images per class, the mean pixel and the share of zeros', () => {
    const s = summarizeImages(set);
    expect(s).toMatchObject({ count: 6, rows: 2, cols: 2, perClass: [2, 3, 1] });
    expect(s.meanPixel).toBeCloseTo((255 + 4 + 4 + 12 + 4 + 10) / 24, 12);
    expect(s.zeroShare).toBeCloseTo(10 / 24, 12);
    expect(summarizeImages({ ...set, labels: undefined }).perClass).toEqual([]);
  });

  it('takes the first examples of each class in label order, or the first images of a set without labels', () => {
    const p = previewImages(set, 2);
    expect(p.labels).toEqual([0, 0, 1, 1, 2]);
    expect(Array.from(p.images.subarray(0, 8))).toEqual([0, 0, 0, 255, 5, 5, 0, 0]);
    expect(Array.from(p.images.subarray(16, 20))).toEqual([3, 3, 3, 3]);
    expect(previewImages({ ...set, labels: undefined }, 2, 3).labels).toEqual([0, 1, 2]);
  });
});
