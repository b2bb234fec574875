/**
 * Worker-thread entry of a training run: loads the data, runs the K-fold recipe and posts its events and
 * result back. Cancellation arrives through a shared flag, read between batches.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadDataset, mnistPaths, type DatasetFiles } from '../data/dataset.js';
import { standardizeRowsReference } from '../data/normalize.js';
import { native } from '../native.js';
import { trainKFold, type TrainEvent } from './kfold.js';
import type { TrainRecipe } from './types.js';

export interface WorkerInput {
  recipe: TrainRecipe;
  files?: DatasetFiles;
  ensemble: boolean;
  testEveryEpoch: boolean;
  threads?: number;
  /** Int32 flag: 1 asks the run to stop. */
  stop: SharedArrayBuffer;
  /** Digits to return preprocessed, for the report's picture. */
  digits: number;
}

export type WorkerMessage =
  | { type: 'event'; event: TrainEvent }
  | { type: 'done'; result: ReturnType<typeof trainKFold>; digits: { images: Float32Array; labels: Uint8Array; rows: number; cols: number } }
  | { type: 'error'; name: string; message: string };

async function main(input: WorkerInput): Promise<void> {
  const port = parentPort!;
  if (input.threads !== undefined) native.setThreads(input.threads);
  const dataset = await loadDataset(input.files ?? mnistPaths());
  const flag = new Int32Array(input.stop);
  // Batch events are many; forward at most a few per second, and every other event as it comes.
  let lastBatch = 0;
  const result = trainKFold({
    recipe: input.recipe,
    dataset,
    ensemble: input.ensemble,
    testEveryEpoch: input.testEveryEpoch,
    signal: { get aborted() { return Atomics.load(flag, 0) === 1; } },
    onEvent: (event) => {
      if (event.type === 'batch') {
        const now = performance.now();
        if (now - lastBatch < 100) return;
        lastBatch = now;
      }
      port.postMessage({ type: 'event', event } satisfies WorkerMessage);
    },
  });
  const { train } = dataset;
  const count = Math.min(input.digits, train.count);
  const indices = Int32Array.from({ length: count }, (_, i) => i);
  const images = standardizeRowsReference(train.pixels, train.features, indices, result.normalization, new Float32Array(count * train.features));
  const digits = { images, labels: train.labels.slice(0, count), rows: train.rows, cols: train.cols };
  port.postMessage({ type: 'done', result, digits } satisfies WorkerMessage);
}

main(workerData as WorkerInput).catch((error: unknown) => {
  const e = error instanceof Error ? error : new Error(String(error));
  parentPort!.postMessage({ type: 'error', name: e.name, message: e.message } satisfies WorkerMessage);
});
