/**
 * Models the service can predict with: the store's records, each loaded into a Classifier on first use and
 * kept in memory. The default model is the succeeded model with the best test accuracy.
 */
import { rm } from 'node:fs/promises';
import { Classifier } from '../train/classifier.js';
import type { Checkpoint } from '../train/checkpoint.js';
import type { JobStore, ModelRecord } from './store.js';

export class ModelRegistry {
  private readonly loading = new Map<string, Promise<Classifier>>();
  /** The classifiers loading has produced, for callers that can go on without waiting. */
  private readonly ready = new Map<string, Classifier>();
  /** The records, read from the store once and kept in step by add and remove: /predict asks on every request. */
  private records: Map<string, ModelRecord> | undefined;
  private bestRecord: ModelRecord | undefined;

  constructor(private readonly store: JobStore) {}

  private cache(): Map<string, ModelRecord> {
    if (this.records === undefined) {
      const list = this.store.listModels();
      this.records = new Map(list.map((m) => [m.id, m]));
      this.bestRecord = list[0];
    }
    return this.records;
  }

  list(): ModelRecord[] {
    return this.store.listModels();
  }

  get(id: string): ModelRecord | undefined {
    return this.cache().get(id);
  }

  /** The best model by test accuracy, if any. */
  best(): ModelRecord | undefined {
    this.cache();
    return this.bestRecord;
  }

  /** Registers a model whose checkpoint is already on disk; its classifier is ready at once. */
  add(record: ModelRecord, checkpoint: Checkpoint): void {
    this.store.addModel(record);
    this.records = undefined;
    const classifier = new Classifier(checkpoint);
    this.loading.set(record.id, Promise.resolve(classifier));
    this.ready.set(record.id, classifier);
  }

  /** The classifier of a model; loads its checkpoint the first time. */
  classifier(record: ModelRecord): Promise<Classifier> {
    let classifier = this.loading.get(record.id);
    if (classifier === undefined) {
      const loading = Classifier.load(record.checkpointPath);
      loading.then(
        (loaded) => {
          if (this.loading.get(record.id) === loading) this.ready.set(record.id, loaded);
        },
        // A failed load is not cached: the next request tries again.
        () => this.loading.delete(record.id),
      );
      this.loading.set(record.id, loading);
      classifier = loading;
    }
    return classifier;
  }

  /** The classifier of a model once it is in memory, else undefined (see classifier()). */
  loaded(id: string): Classifier | undefined {
    return this.ready.get(id);
  }

  /** Removes the record, then the checkpoint file. */
  async remove(record: ModelRecord): Promise<void> {
    this.store.deleteModel(record.id);
    this.records = undefined;
    this.loading.delete(record.id);
    this.ready.delete(record.id);
    await rm(record.checkpointPath, { force: true });
  }
}
