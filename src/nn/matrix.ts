import type { StandardizedRows } from '../native.js';

/** A row-major view over a Float32Array: every matrix carries its shape. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

/**
 * A batch of samples still as bytes (rows samples × cols pixels): the first inner product standardizes them
 * while its GEMM packs them, so the float batch is never written out.
 */
export interface PixelBatch {
  rows: number;
  cols: number;
  source: StandardizedRows;
}

/** What an inner product takes: floats, or for the first layer, a batch of pixels. */
export type LayerInput = Matrix | PixelBatch;

export function matrix(rows: number, cols: number, data: Float32Array = new Float32Array(rows * cols)): Matrix {
  if (data.length < rows * cols) throw new RangeError(`a ${rows}×${cols} matrix needs ${rows * cols} elements, got ${data.length}`);
  return { rows, cols, data };
}

/**
 * Storage for a matrix whose row count changes from batch to batch (the last batch is shorter) while its
 * width stays fixed: grows when needed, and hands out one cached view per row count, so the batch loop
 * allocates nothing once every size has been seen.
 */
export class Workspace {
  private buffer = new Float32Array(0);
  private views = new Map<number, Matrix>();

  constructor(readonly cols: number) {}

  get(rows: number): Matrix {
    let view = this.views.get(rows);
    if (view) return view;
    if (rows * this.cols > this.buffer.length) {
      this.buffer = new Float32Array(rows * this.cols);
      this.views.clear();
    }
    view = matrix(rows, this.cols, this.buffer.subarray(0, rows * this.cols));
    this.views.set(rows, view);
    return view;
  }
}
