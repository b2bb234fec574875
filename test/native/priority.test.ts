import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { addonPath, native } from '../../src/native.js';
import { SCHED_IDLE, threadPriorities } from '../helpers/threads.js';

// A worker thread that lowers its own priority, reporting the threads it had before and after.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.path);
const threadsBefore = addon.getThreads();
parentPort.postMessage({ step: 'before', threadsBefore });
parentPort.once('message', () => {
  const applied = addon.lowerPriority(7, true);
  const threads = addon.getThreads();
  parentPort.postMessage({ step: 'after', applied, threads });
  parentPort.once('message', () => {
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
    parentPort.postMessage({ step: 'resized', threads: addon.getThreads(), maxError });
  });
});
`;

describe.runIf(process.platform === 'linux')('lowerPriority', () => {
  it('lowers the calling thread and gives it a pool of lowered threads, leaving the others alone', async () => {
    const own = native.getThreads();
    const worker = new Worker(workerSource, { eval: true, workerData: { path: addonPath() } });
    const messages: Record<string, unknown>[] = [];
    let waiting: ((m: Record<string, unknown>) => void) | undefined;
    worker.on('message', (m: Record<string, unknown>) => (waiting ? waiting(m) : messages.push(m)));
    const next = () => (messages.length > 0 ? Promise.resolve(messages.shift()!) : new Promise<Record<string, unknown>>((r) => (waiting = (m) => ((waiting = undefined), r(m)))));
    try {
      expect(await next()).toMatchObject({ step: 'before', threadsBefore: own });
      const before = threadPriorities();
      worker.postMessage('lower');
      const after = await next();
      expect(after).toMatchObject({ step: 'after', applied: true, threads: own });
      const now = threadPriorities();
      // Of the threads there were, only the worker's own changed.
      const changed = [...before].filter(([tid, p]) => now.has(tid) && (now.get(tid)!.nice !== p.nice || now.get(tid)!.policy !== p.policy));
      expect(changed.length).toBe(1);
      expect(now.get(changed[0]![0])).toEqual({ nice: 7, policy: SCHED_IDLE });
      // New: the worker's pool, its threads − 1 workers, at the priority it asked for.
      const added = [...now].filter(([tid]) => !before.has(tid)).map(([, p]) => p);
      expect(added.filter((p) => p.nice === 7 && p.policy === SCHED_IDLE).length).toBe(own - 1);
      // Resizing its pool leaves this thread's pool as it was; its products are still right.
      worker.postMessage('resize');
      const resized = await next();
      expect(resized).toMatchObject({ step: 'resized', threads: 3 });
      expect(resized.maxError as number).toBeLessThan(1e-4);
      expect(native.getThreads()).toBe(own);
      expect([...threadPriorities()].filter(([, p]) => p.nice === 7 && p.policy === SCHED_IDLE).length).toBe(3);
    } finally {
      await worker.terminate();
    }
  });

  it('checks its arguments', () => {
    expect(() => native.lowerPriority(20)).toThrow(/from 0 to 19/);
    expect(() => native.lowerPriority(-1)).toThrow(RangeError);
    expect(() => native.lowerPriority(5, 'yes' as unknown as boolean)).toThrow(/boolean for idle/);
  });
});
