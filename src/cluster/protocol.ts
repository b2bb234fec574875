/**
 * What the service and the workers agree on through Redis: the two BullMQ queues, the keys of the binary
 * values beside them, the cancel channel, and the shapes of job data, progress and results.
 *
 * A training job is one BullMQ flow: a parent in the `select` queue (id: the service's job id) whose
 * children are its folds in the `folds` queue (id: `<job id>-fold-<k>`). Workers take folds; the service
 * takes the parent once every fold has finished, selects and publishes. Snapshots and finished folds are
 * the byte forms of train/resume.ts, stored as plain Redis strings: never base64, never JSON.
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { TrainEvent, TrainRecipe } from '../train/types.js';
import type { ImageOptions } from '../data/images.js';
import type { DatasetRef } from './datasets.js';

export const FOLD_QUEUE = 'fastmlp-folds';
export const SELECT_QUEUE = 'fastmlp-select';
/** Published to with a job id: every worker stops that job's folds within a batch. */
export const CANCEL_CHANNEL = 'fastmlp:cancel';

/** Snapshots, results and cancel marks outlive a job by at most this (a job lost with its service). */
export const VALUE_TTL_SECONDS = 7 * 24 * 3600;

/** Default time a worker's fold lock lasts without renewal before another worker takes the fold. */
export const DEFAULT_LOCK_MS = 30_000;

export const keys = {
  /** The latest fold snapshot (encodeFoldSnapshot) of a fold being trained. */
  snapshot: (jobId: string, fold: number) => `fastmlp:job:${jobId}:snapshot:${fold}`,
  /** A finished fold (encodeFinishedFold), until the service has published the job's model. */
  result: (jobId: string, fold: number) => `fastmlp:job:${jobId}:result:${fold}`,
  /** Set when the job was cancelled: a worker that takes one of its folds later drops it. */
  cancelled: (jobId: string) => `fastmlp:job:${jobId}:cancelled`,
  /** The service's base URL, where workers fetch the files of a dataset of its own. */
  service: 'fastmlp:service:url',
  /** Every key of a job (for clean-up). */
  all: (jobId: string, folds: number) => [
    ...Array.from({ length: folds }, (_, i) => keys.snapshot(jobId, i + 1)),
    ...Array.from({ length: folds }, (_, i) => keys.result(jobId, i + 1)),
  ],
};

export function foldJobId(jobId: string, fold: number): string {
  return `${jobId}-fold-${fold}`;
}

/** The service's job id and fold of a fold job's id, or undefined for an id of another form. */
export function parseFoldJobId(id: string): { jobId: string; fold: number } | undefined {
  const match = /^(.+)-fold-(\d+)$/.exec(id);
  return match ? { jobId: match[1]!, fold: Number(match[2]) } : undefined;
}

/** A fold job's data. */
export interface FoldJobData {
  jobId: string;
  /** 1-based. */
  fold: number;
  /** Validated: every worker prepares the same run from it. */
  recipe: TrainRecipe;
  testEveryEpoch: boolean;
  /** A dataset of its own, by its files' hashes; absent: MNIST. */
  dataset?: DatasetRef;
  /** How the dataset's image files become input (DatasetPair.images). */
  images?: ImageOptions;
}

/** A fold job's return value; the fold itself is at keys.result. */
export interface FoldJobResult {
  worker: string;
  fold: number;
  /** Epochs this attempt trained (fewer than the recipe's when it resumed from a snapshot). */
  epochsTrained: number;
}

/** A fold job's progress, as job.updateProgress carries it to the service. */
export interface FoldProgress {
  worker: string;
  event: TrainEvent;
}

/** The parent's data. */
export interface SelectJobData {
  jobId: string;
  folds: number;
}

/** This process as a worker name: host and pid. */
export function processName(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * A Redis connection as BullMQ needs it: commands wait for a reconnection instead of failing after a few
 * retries, so a Redis that restarts delays the cluster rather than failing its jobs.
 */
export function connect(url: string): Redis {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Expected a Redis URL such as redis://127.0.0.1:6379 but received ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`Expected a redis:// or rediss:// URL but received ${JSON.stringify(url)}`);
  }
  return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
}
