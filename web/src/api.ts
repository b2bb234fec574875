/** The service's HTTP API as the page uses it: typed requests, errors carrying the API's field. */
import type { EpochView, JobView, ModelView, SweepView } from '../../src/server/schemas.js';
import type { DatasetRecord } from '../../src/server/dataset-uploads.js';

export type { EpochView, JobView, ModelView, SweepView };
export type DatasetView = DatasetRecord & { preview: string; usedBy: string[] };
export type TrialView = SweepView['trials'][number];

export interface SweepList {
  sweeps: SweepView[];
  total: number;
}
export type JobSummary = Omit<JobView, 'history'>;
export type JobStatus = JobView['status'];
export type Recipe = JobView['recipe'];

export interface ModelList {
  models: ModelView[];
  defaultModel: string | null;
}

export interface JobList {
  jobs: JobSummary[];
  total: number;
}

export interface Prediction {
  model: string;
  label: number;
  /** What the label stands for, when the model's training data named its classes. */
  className?: string;
  probabilities: number[];
}

/** An `epoch` event of GET /jobs/:id/events. */
export interface EpochEvent extends EpochView {
  fold: number;
  progress?: JobView['progress'];
}

/** The `end` event of GET /jobs/:id/events. */
export interface EndEvent {
  id: string;
  status: JobStatus;
  modelId: string | null;
  error: JobView['error'];
  test: JobView['test'];
}

/** The body of POST /jobs as the form builds it: only the fields the user set. */
export interface JobRequest {
  recipe: 'reference' | 'accurate' | 'best';
  hidden?: Recipe['hidden'];
  optimizer?: Recipe['optimizer'];
  lr?: number;
  batchSize?: number;
  epochs?: number;
  folds?: number;
  augment?: Recipe['augment'];
  precision?: 'fp32' | 'bf16';
  dataset?: { id: string };
}

/** A 4xx or 5xx answer: the API's sentence and, for bad input, the offending field (e.g. body.epochs). */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const FINISHED: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled']);

/** Paths are relative, so the page also works behind a proxy that mounts the service under a prefix. */
async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(path, { ...init, headers: { accept: 'application/json', ...init.headers } });
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's error page): reported below with the status.
  }
  if (!response.ok) {
    const error = body as { error?: string; field?: string } | null;
    throw new ApiError(response.status, error?.error ?? `${response.status} ${response.statusText}`, error?.field);
  }
  return body as T;
}

function post<T>(path: string, body: unknown, token = ''): Promise<T> {
  return call<T>(path, {
    method: 'POST',
    // No content type without a body: Fastify refuses an empty JSON body.
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

export const api = {
  models: () => call<ModelList>('models'),
  predict: (pixels: ArrayLike<number>, model?: string) =>
    post<Prediction>('predict', { pixels: Array.from(pixels), ...(model ? { model } : {}) }),
  jobs: (limit = 20) => call<JobList>(`jobs?limit=${limit}`),
  job: (id: string) => call<JobView>(`jobs/${encodeURIComponent(id)}`),
  createJob: (body: JobRequest, token?: string) => post<{ id: string; status: JobStatus }>('jobs', body, token),
  cancelJob: (id: string, token?: string) => post<{ id: string; status: JobStatus }>(`jobs/${encodeURIComponent(id)}/cancel`, undefined, token),
  eventsUrl: (id: string) => `jobs/${encodeURIComponent(id)}/events`,
  sweeps: (limit = 20) => call<SweepList>(`sweeps?limit=${limit}`),
  datasets: () => call<{ datasets: DatasetView[] }>('datasets'),
  /** The file as the body, as it is: the service streams it to disk and checks it whole. */
  uploadDataset: (file: Blob, name: string, token = '') =>
    call<DatasetView>(`datasets?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: file,
    }),
};
