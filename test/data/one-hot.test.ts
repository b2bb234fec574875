import { describe, expect, it } from 'vitest';
import { oneHot } from '../../src/data/one-hot.js';

describe('oneHot', () => {
  it('puts a single 1 in each row, in the label column', () => {
    const out = oneHot(Uint8Array.of(2, 0, 3), 4);
    expect(Array.from(out)).toEqual([0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    expect(oneHot([], 10)).toEqual(new Float32Array(0));
  });

  it('rejects labels outside 0..classes−1 and a bad class count', () => {
    expect(() => oneHot([0, 4], 4)).toThrow(/labels .* 4 at index 1/);
    expect(() => oneHot([-1], 4)).toThrow(RangeError);
    expect(() => oneHot([1.5], 4)).toThrow(RangeError);
    expect(() => oneHot([0], 0)).toThrow(/classes/);
  });
});
