import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { FloatArena, joinFloats } from '../../src/server/float-arena.js';

const body = (values: number[]) => Buffer.from(JSON.stringify({ pixels: values }));

describe('FloatArena', () => {
  it('hands out views side by side that are never written again', () => {
    const arena = new FloatArena(40);
    const taken: { view: Float32Array; values: number[] }[] = [];
    for (let i = 0; i < 50; i++) {
      const values = [i, i + 0.5, -1 - i, 255 - i, i / 7, 3];
      const read = native.readPixelsJson(body(values), 6, 1, arena.free())!;
      arena.take(read.pixels);
      taken.push({ view: read.pixels, values });
      // A read that is not taken (the body was refused after reading) may use the space again.
      native.readPixelsJson(body([9, 9, 9, 9, 9, 9]), 6, 1, arena.free());
    }
    for (const { view, values } of taken) expect(Array.from(view)).toEqual(Array.from(Float32Array.from(values)));
    // Six blocks of 40 floats hold six reads of 6 each (a seventh would leave less than 6 free).
    const buffers = new Set(taken.map((t) => t.view.buffer));
    expect(buffers.size).toBe(Math.ceil(50 / 6));
    expect(taken[1]!.view.byteOffset).toBe(taken[0]!.view.byteOffset + 24);
  });

  it('ignores values that are not at the start of its free space', () => {
    const arena = new FloatArena(16);
    const first = arena.free();
    arena.take(new Float32Array(4));
    arena.take(first.subarray(2, 6));
    expect(arena.free().byteOffset).toBe(first.byteOffset);
    arena.take(first.subarray(0, 5));
    expect(arena.free().byteOffset).toBe(first.byteOffset + 20);
  });
});

describe('joinFloats', () => {
  it('is a view of parts that lie side by side, in order', () => {
    const buffer = Float32Array.from({ length: 10 }, (_, i) => i);
    const joined = joinFloats([buffer.subarray(2, 4), buffer.subarray(4, 5), buffer.subarray(5, 8)]);
    expect(joined.buffer).toBe(buffer.buffer);
    expect(Array.from(joined)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('copies parts that do not, into `into` when it is long enough', () => {
    const buffer = Float32Array.from({ length: 10 }, (_, i) => i);
    const outOfOrder = [buffer.subarray(4, 6), buffer.subarray(2, 4)];
    const into = new Float32Array(8);
    const joined = joinFloats(outOfOrder, into);
    expect(joined.buffer).toBe(into.buffer);
    expect(Array.from(joined)).toEqual([4, 5, 2, 3]);
    const gap = joinFloats([buffer.subarray(0, 2), buffer.subarray(3, 5)], new Float32Array(3));
    expect(gap.buffer).not.toBe(buffer.buffer);
    expect(Array.from(gap)).toEqual([0, 1, 3, 4]);
    const mixed = joinFloats([Uint8Array.of(1, 255), buffer.subarray(2, 3)]);
    expect(Array.from(mixed)).toEqual([1, 255, 2]);
    expect(Array.from(joinFloats([Uint8Array.of(7)]))).toEqual([7]);
    expect(Array.from(joinFloats([[1, 2], [0.5]]))).toEqual([1, 2, 0.5]);
    expect(joinFloats([]).length).toBe(0);
  });
});
