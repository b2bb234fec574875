import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { Rng } from '../../src/nn/rng.js';

const rng = new Rng(11);
const read = (text: string, pixels = 4, images = 3) => native.readPixelsJson(Buffer.from(text), pixels, images);

describe('readPixelsJson', () => {
  it('reads the numbers JSON.parse reads, rounded to float as a Float32Array rounds them', () => {
    const numbers = ['0', '-0', '7', '255', '0.5', '1e2', '2.5E-1', '-3.25', '1.0000000001', '12345678901234567', '0.1', '4.9e-320', '1.7976931348623157e308'];
    for (let trial = 0; trial < 200; trial++) {
      const values = Array.from({ length: 4 }, () => numbers[rng.uniformInt(numbers.length)]!);
      const space = () => [' ', '', '\n', '\t ', '\r\n'][rng.uniformInt(5)]!;
      const text = `${space()}{${space()}"pixels"${space()}:${space()}[${values.map((v) => space() + v + space()).join(',')}]${space()}}${space()}`;
      const parsed = JSON.parse(text) as { pixels: number[] };
      const got = read(text);
      expect(got, text).toBeDefined();
      expect(Array.from(got!.pixels)).toEqual(Array.from(Float32Array.from(parsed.pixels)));
      // Equal as numbers (−0 and 0 alike, as the range checks see them).
      expect(got!.min === Math.min(...parsed.pixels)).toBe(true);
      expect(got!.max === Math.max(...parsed.pixels)).toBe(true);
      expect(got!.batch).toBe(false);
      expect(got!.images).toBe(1);
    }
  });

  it('reads a batch with its scale and model', () => {
    const got = read('{"model":"m-1","images":[[1,2,3,4],[5,6,7,8.5]],"scale":"unit"}');
    expect(got).toEqual({ pixels: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8.5), images: 2, batch: true, scale: 'unit', model: 'm-1', min: 1, max: 8.5 });
  });

  it('says no to everything else, for JSON.parse to read', () => {
    const refused = [
      '',
      '[]',
      '{}',
      '{"pixels":[1,2,3]}',
      '{"pixels":[1,2,3,4,5]}',
      '{"pixels":[1,2,3,4],"pixels":[1,2,3,4]}',
      '{"pixels":[1,2,3,4],"images":[[1,2,3,4]]}',
      '{"pixels":[1,2,3,4],"extra":1}',
      '{"pixels":[1,2,3,4],"scale":"byte","scale":"unit"}',
      '{"pixels":[1,2,3,4],"model":"a\\u0062"}',
      '{"pixels":[1,2,3,4],"model":"é"}',
      '{"pixels":[1,2,3,4],"model":7}',
      '{"pixels":[01,2,3,4]}',
      '{"pixels":[1.,2,3,4]}',
      '{"pixels":[.5,2,3,4]}',
      '{"pixels":[+1,2,3,4]}',
      '{"pixels":[1e,2,3,4]}',
      '{"pixels":[1e400,2,3,4]}',
      '{"pixels":[NaN,2,3,4]}',
      '{"pixels":[1,2,3,4,]}',
      '{"pixels":[1,2,3,"4"]}',
      '{"pixels":[1,2,3,4]} x',
      '{"pixels":[1,2,3,4]',
      '{"images":[]}',
      '{"images":[[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]]}',
      '{pixels:[1,2,3,4]}',
    ];
    for (const text of refused) expect(read(text), text).toBeUndefined();
  });

  it('writes into the start of `into` when the values fit, else into an array of their own', () => {
    const into = new Float32Array(12).fill(-1);
    const tail = into.subarray(3);
    const got = native.readPixelsJson(Buffer.from('{"images":[[1,2,3,4],[5,6,7,8]]}'), 4, 3, tail)!;
    expect(got.pixels.buffer).toBe(into.buffer);
    expect(got.pixels.byteOffset).toBe(tail.byteOffset);
    expect(Array.from(into)).toEqual([-1, -1, -1, 1, 2, 3, 4, 5, 6, 7, 8, -1]);
    const short = new Float32Array(7).fill(-1);
    const own = native.readPixelsJson(Buffer.from('{"images":[[1,2,3,4],[5,6,7,8]]}'), 4, 3, short)!;
    expect(own.pixels.buffer).not.toBe(short.buffer);
    expect(Array.from(own.pixels)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(short)).toEqual(Array.from({ length: 7 }, () => -1));
    // A body it says no to leaves `into` alone.
    expect(native.readPixelsJson(Buffer.from('{"pixels":[9,9,9,"9"]}'), 4, 3, short)).toBeUndefined();
    expect(Array.from(short)).toEqual(Array.from({ length: 7 }, () => -1));
  });

  it('checks its arguments', () => {
    expect(() => native.readPixelsJson(Buffer.from('{}'), 4, 3, new Float64Array(8) as unknown as Float32Array)).toThrow(/Float32Array for into/);
    expect(() => native.readPixelsJson('{}' as unknown as Uint8Array, 4, 3)).toThrow(/Uint8Array for body/);
    expect(() => native.readPixelsJson(Buffer.from('{}'), 0, 3)).toThrow(/imagePixels/);
  });
});
