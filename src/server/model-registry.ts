/**
 * Models the service can predict with: the store's records, each loaded into a Classifier on first use and
 * kept in memory. The default model is the one with the best test accuracy (an imported model has none: it
 * comes after every trained one). A model with a name is a version of it: `digits@3` is version 3,
 * `digits@production` the version that alias points at, and `digits` alone the `production` version if that
 * alias is set, else the latest.
 */
import { rm } from 'node:fs/promises';
import { Classifier, type ClassifierOptions } from '../model/classifier.js';
import type { Checkpoint } from '../train/checkpoint.js';
import type { JobStore, ModelRecord, NewModel } from './store.js';

/** The alias a bare name resolves to when it is set. */
export const PRODUCTION = 'production';

/** A model name or alias: lower-case, a letter first, never an id's `model-` form. */
export const MODEL_NAME = /^(?!model-)[a-z][a-z0-9_-]{0,62}$/;
const MODEL_REF = /^((?!model-)[a-z][a-z0-9_-]{0,62})(?:@(\d{1,9}|[a-z][a-z0-9_-]{0,62}))?$/;

export class ModelRegistry {
  /** Each model's classifier once in memory, or the promise of it while its checkpoint loads. */
  private readonly loaded = new Map<string, Classifier | Promise<Classifier>>();
  /** The records, read from the store once and kept in step by add and remove: /predict asks on every request. */
  private records: Map<string, ModelRecord> | undefined;
  private bestRecord: ModelRecord | undefined;
  /** Each name's versions, oldest first, and its aliases; kept with the records. */
  private named = new Map<string, ModelRecord[]>();
  private aliasesByName = new Map<string, Map<string, number>>();

  constructor(
    private readonly store: JobStore,
    /** How every model's classifier predicts (its precision; default: the model's own). */
    private readonly predictOptions: ClassifierOptions = {},
  ) {}

  private cache(): Map<string, ModelRecord> {
    if (this.records === undefined) {
      const list = this.store.listModels();
      this.records = new Map(list.map((m) => [m.id, m]));
      this.bestRecord = list[0];
      this.named = new Map();
      for (const m of list) if (m.name !== null) (this.named.get(m.name) ?? this.named.set(m.name, []).get(m.name)!).push(m);
      for (const versions of this.named.values()) versions.sort((a, b) => a.version! - b.version!);
      this.aliasesByName = this.store.aliases();
    }
    return this.records;
  }

  /**
   * The model a reference names: an id, `name`, `name@version` or `name@alias`; undefined if none.
   */
  resolve(ref: string): ModelRecord | undefined {
    const byId = this.cache().get(ref);
    if (byId !== undefined) return byId;
    const match = MODEL_REF.exec(ref);
    if (!match) return undefined;
    const [, name, tag] = match as unknown as [string, string, string | undefined];
    const versions = this.named.get(name);
    if (!versions?.length) return undefined;
    const aliases = this.aliasesByName.get(name);
    const version = tag === undefined ? (aliases?.get(PRODUCTION) ?? versions.at(-1)!.version) : /^\d+$/.test(tag) ? Number(tag) : aliases?.get(tag);
    return versions.find((m) => m.version === version);
  }

  /** Every name with its versions (oldest first) and aliases. */
  names(): { name: string; versions: ModelRecord[]; aliases: Record<string, number> }[] {
    this.cache();
    return [...this.named.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, versions]) => ({ name, versions, aliases: Object.fromEntries(this.aliasesByName.get(name) ?? []) }));
  }

  /** Points an alias at a version of a name; false if that version does not exist. */
  setAlias(name: string, alias: string, version: number): boolean {
    this.cache();
    if (!this.named.get(name)?.some((m) => m.version === version)) return false;
    this.store.setAlias(name, alias, version);
    this.records = undefined;
    return true;
  }

  deleteAlias(name: string, alias: string): boolean {
    const removed = this.store.deleteAlias(name, alias);
    this.records = undefined;
    return removed;
  }

  /** The aliases that point at this model. */
  aliasesOf(record: ModelRecord): string[] {
    this.cache();
    if (record.name === null) return [];
    return [...(this.aliasesByName.get(record.name) ?? [])].filter(([, v]) => v === record.version).map(([alias]) => alias);
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
  add(record: NewModel, checkpoint: Checkpoint): void {
    this.store.addModel(record);
    this.records = undefined;
    this.loaded.set(record.id, new Classifier(checkpoint, this.predictOptions));
  }

  /** The classifier of a model; loads its checkpoint the first time. */
  classifier(record: Pick<ModelRecord, 'id' | 'checkpointPath'>): Promise<Classifier> {
    const known = this.loaded.get(record.id);
    if (known !== undefined) return Promise.resolve(known);
    const loading = Classifier.load(record.checkpointPath, this.predictOptions);
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
  async remove(record: Pick<ModelRecord, 'id' | 'checkpointPath'>): Promise<void> {
    this.store.deleteModel(record.id);
    this.records = undefined;
    this.loaded.delete(record.id);
    await rm(record.checkpointPath, { force: true });
  }
}
