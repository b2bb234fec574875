/**
 * Models the service can predict with: the store's records, each loaded into a Classifier on first use and
 * kept in memory. The default model is the succeeded model with the best test accuracy.
 */
import { rm } from 'node:fs/promises';
import { Classifier } from '../model/classifier.js';
import type { Checkpoint } from '../train/checkpoint.js';
import type { JobStore, ModelRecord } from './store.js';

export class ModelRegistry {
  /** Each model's classifier once in memory, or the promise of it while its checkpoint loads. */
  private readonly loaded = new Map<string, Classifier | Promise<Classifier>>();
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
    this.loaded.set(record.id, new Classifier(checkpoint));
  }

  /** The classifier of a model; loads its checkpoint the first time. */
  classifier(record: ModelRecord): Promise<Classifier> {
    const known = this.loaded.get(record.id);
    if (known !== undefined) return Promise.resolve(known);
    const loading = Classifier.load(record.checkpointPath);
    this.loaded.set(record.id, loading);
    loading.then(
      (classifier) => {
        // Unless the model was removed (or loaded anew) meanwhile.
        if (this.loaded.get(record.id) === loading) this.loaded.set(record.id, classifier);
      },
      // A failed load is not cached: the next request tries again.
      () => {
        if (this.loaded.get(record.id) === loading) this.loaded.delete(record.id);
      },
    );
    return loading;
  }

  /** The classifier of a model once it is in memory, else undefined (see classifier()). */
  inMemory(id: string): Classifier | undefined {
    const known = this.loaded.get(id);
    return known instanceof Classifier ? known : undefined;
  }

  /** Removes the record, then the checkpoint file. */
  async remove(record: ModelRecord): Promise<void> {
    this.store.deleteModel(record.id);
    this.records = undefined;
    this.loaded.delete(record.id);
    await rm(record.checkpointPath, { force: true });
  }
}
