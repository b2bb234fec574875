/**
 * Floats of request bodies, handed out one after the other from large shared blocks. A body read into a
 * block needs no array (and no malloc) of its own, and the bodies read in one turn of the event loop lie side
 * by side, so the batch they make is a view instead of a copy (joinFloats). A block is never written twice:
 * a request keeps its values for as long as it holds them, and the block is freed with its last view.
 */
export class FloatArena {
  private block: Float32Array;
  private used = 0;

  constructor(private readonly blockFloats = 1 << 15) {
    this.block = new Float32Array(blockFloats);
  }

  /** The current block's free tail, for a reader to fill from its start. */
  free(): Float32Array {
    return this.block.subarray(this.used);
  }

  /**
   * Marks `values`, read into the start of the last free(), as taken; values elsewhere are ignored. A new
   * block starts once the rest of this one could not hold as many values again.
   */
  take(values: Float32Array): void {
    if (values.buffer !== this.block.buffer || values.byteOffset !== this.block.byteOffset + this.used * 4) return;
    this.used += values.length;
    if (this.block.length - this.used < values.length) {
      this.block = new Float32Array(this.blockFloats);
      this.used = 0;
    }
  }
}

/**
 * The parts one after the other as floats: a view of their buffer when they are floats lying side by side
 * in it (no copy), else a copy, into the start of `into` when it is long enough.
 */
export function joinFloats(parts: readonly ArrayLike<number>[], into?: Float32Array): Float32Array {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const first = parts[0];
  if (first instanceof Float32Array && sideBySide(first, parts)) return new Float32Array(first.buffer, first.byteOffset, length);
  const joined = into !== undefined && into.length >= length ? into.subarray(0, length) : new Float32Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/** Every part a Float32Array of first's buffer that starts where the one before it ends. */
function sideBySide(first: Float32Array, parts: readonly ArrayLike<number>[]): boolean {
  let end = first.byteOffset;
  for (const part of parts) {
    if (!(part instanceof Float32Array) || part.buffer !== first.buffer || part.byteOffset !== end) return false;
    end += part.byteLength;
  }
  return true;
}
