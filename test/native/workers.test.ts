import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { addonPath, native } from '../../src/native.js';

// Each worker loads the addon itself and runs GEMMs and kernels while the others do the same.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.path);
const { m, n, k, seed, rounds } = workerData;
let s = seed;
const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
const a = Float32Array.from({ length: m * k }, next);
const b = Float32Array.from({ length: k * n }, next);
const c = new Float32Array(m * n);
for (let r = 0; r < rounds; r++) addon.gemm({ m, n, k, a, b, c, activation: 'sigmoid' });
let maxError = 0;
for (let i = 0; i < m; i += 7) for (let j = 0; j < n; j += 5) {
  let z = 0;
  for (let p = 0; p < k; p++) z += a[i * k + p] * b[p * n + j];
  maxError = Math.max(maxError, Math.abs(c[i * n + j] - 1 / (1 + Math.exp(-z))));
}
parentPort.postMessage({ maxError, isa: addon.getIsa() });
`;

function runWorker(seed: number): Promise<{ maxError: number; isa: string }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: { path: addonPath(), m: 300, n: 200, k: 250, seed, rounds: 20 },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

describe('the addon in worker threads', () => {
  it('loads in several workers at once and computes correct results concurrently', async () => {
    const results = await Promise.all([runWorker(1), runWorker(2), runWorker(3)]);
    for (const r of results) {
      expect(r.maxError).toBeLessThan(1e-5);
      expect(r.isa).toBe(native.getIsa());
    }
    // The main thread still works after the workers have exited.
    const c = new Float32Array(1);
    native.gemm({ m: 1, n: 1, k: 2, a: Float32Array.of(2, 3), b: Float32Array.of(4, 5), c });
    expect(c[0]).toBe(23);
  });
});
