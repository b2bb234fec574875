import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { addonPath, native, type PoolInfo } from '../../src/native.js';
import { SCHED_IDLE, currentThreadId, threadPriority, type ThreadPriority } from '../helpers/threads.js';

// A worker thread that answers each step with its pool as poolInfo reports it: before and after lowering its
// own priority, and after resizing its pool.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { readlinkSync } = require('node:fs');
const addon = require(workerData.path);
const steps = {
  before: () => ({ tid: Number(readlinkSync('/proc/thread-self').split('/').pop()), pool: addon.poolInfo() }),
  lower: () => ({ applied: addon.lowerPriority(7, true), pool: addon.poolInfo() }),
  resize: () => {
    const m = 300, n = 200, k = 250;
    let s = 5;
    const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
    const a = Float32Array.from({ length: m * k }, next), b = Float32Array.from({ length: k * n }, next);
    const c = new Float32Array(m * n);
    addon.setThreads(3);
    addon.gemm({ m, n, k, a, b, c });
    let maxError = 0;
    for (let i = 0; i < m; i += 7) for (let j = 0; j < n; j += 5) {
      let z = 0;
      for (let p = 0; p < k; p++) z += a[i * k + p] * b[p * n + j];
      maxError = Math.max(maxError, Math.abs(c[i * n + j] - z));
    }
    return { pool: addon.poolInfo(), maxError };
  },
};
parentPort.on('message', (step) => parentPort.postMessage(steps[step]()));
`;

interface Answers {
  before: { tid: number; pool: PoolInfo };
  lower: { applied: boolean; pool: PoolInfo };
  resize: { pool: PoolInfo; maxError: number };
}

/** Expects the pool's workers, each distinct, to run at the priority they recorded, which Linux confirms. */
function expectWorkers(pool: PoolInfo, priority: ThreadPriority): void {
  expect(pool.workers).toHaveLength(pool.threads - 1);
  expect(new Set(pool.workers.map((w) => w.tid)).size).toBe(pool.workers.length);
  for (const worker of pool.workers) {
    expect(worker, `worker ${worker.tid}`).toMatchObject({ nice: priority.nice, idle: priority.policy === SCHED_IDLE });
    expect(threadPriority(worker.tid), `worker ${worker.tid}`).toEqual(priority);
  }
}

const lowered: ThreadPriority = { nice: 7, policy: SCHED_IDLE };

describe.runIf(process.platform === 'linux')('lowerPriority', () => {
  it('lowers the calling thread and gives it a pool of lowered threads, leaving the others alone', async () => {
    const foreground = native.poolInfo();
    expect(foreground).toMatchObject({ threads: native.getThreads(), background: false, nice: 0, idle: false });
    const own = threadPriority(currentThreadId())!;
    expectWorkers(foreground, own);

    const worker = new Worker(workerSource, { eval: true, workerData: { path: addonPath() } });
    const ask = <S extends keyof Answers>(step: S) =>
      new Promise<Answers[S]>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage(step);
      });
    // The foreground pool is left as it was: the same workers at the same priority.
    const unchanged = () => {
      expect(native.poolInfo()).toEqual(foreground);
      expectWorkers(foreground, own);
      expect(threadPriority(currentThreadId())).toEqual(own);
    };
    try {
      const before = await ask('before');
      expect(before.pool).toEqual(foreground);

      const after = await ask('lower');
      expect(after.applied).toBe(true);
      expect(after.pool).toMatchObject({ threads: foreground.threads, background: true, nice: 7, idle: true });
      expectWorkers(after.pool, lowered);
      expect(threadPriority(before.tid)).toEqual(lowered);
      unchanged();

      // Resizing its pool gives it new workers at the same priority; its products are still right.
      const resized = await ask('resize');
      expect(resized.maxError).toBeLessThan(1e-4);
      expect(resized.pool).toMatchObject({ threads: 3, background: true, nice: 7, idle: true });
      expectWorkers(resized.pool, lowered);
      unchanged();
    } finally {
      await worker.terminate();
    }
  });

  it('checks its arguments', () => {
    expect(() => native.lowerPriority(20)).toThrow(/from 0 to 19/);
    expect(() => native.lowerPriority(-1)).toThrow(RangeError);
    expect(() => native.lowerPriority(5, 'yes' as unknown as boolean)).toThrow(/boolean for idle/);
    expect(() => (native.poolInfo as (x: unknown) => PoolInfo)(1)).toThrow(/poolInfo takes no arguments/);
    expect(native.poolInfo().background).toBe(false);
  });
});
