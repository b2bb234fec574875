/** Classifying images for /predict and /v2: picks the model, runs it, counts and times it. */
import type { Predictions, PixelScale } from '../train/classifier.js';
import { HttpError } from './errors.js';
import type { ServiceMetrics } from './metrics.js';
import type { ModelRegistry } from './model-registry.js';
import type { JobStore, ModelRecord } from './store.js';

export interface PredictorDeps {
  store: JobStore;
  models: ModelRegistry;
  metrics: ServiceMetrics;
}

/** The model asked for, or the best one; 404 for an unknown id, 503 while no model exists yet. */
export function pickModel(deps: PredictorDeps, id: string | undefined, field: string): ModelRecord {
  if (id !== undefined) {
    const model = deps.models.get(id);
    if (model === undefined) throw new HttpError(404, `No model ${id}`, field);
    return model;
  }
  const best = deps.models.best();
  if (best !== undefined) return best;
  const training = deps.store.listJobs({ status: 'running', limit: 1, offset: 0 }).jobs[0] ?? deps.store.nextQueued();
  const hint =
    training === undefined
      ? 'no job is training: queue one with POST /jobs'
      : `a model is training in job ${training.id}; watch it at GET /jobs/${training.id}/events (or GET /jobs/${training.id})`;
  throw new HttpError(503, `No model yet: ${hint}`, undefined, { 'retry-after': '10' });
}

/** Batches larger than this many images are predicted off the event loop. */
export const ASYNC_FROM_IMAGES = 16;

/** Classifies `count` images of the model's input size. */
export async function classify(deps: PredictorDeps, model: ModelRecord, pixels: Float32Array | Uint8Array, scale: PixelScale, field: string): Promise<Predictions> {
  const classifier = await deps.models.classifier(model);
  if (pixels.length % classifier.features !== 0) {
    throw new HttpError(400, `${field}: model ${model.id} takes images of ${classifier.features} pixels`, field);
  }
  const started = performance.now();
  // A single image is quicker on this thread; a batch runs its GEMMs off the event loop.
  const predictions = pixels.length > ASYNC_FROM_IMAGES * classifier.features ? await classifier.predictAsync(pixels, scale) : classifier.predict(pixels, scale);
  deps.metrics.predictionDuration.observe({ model: model.id }, (performance.now() - started) / 1000);
  deps.metrics.predictedSamples.inc({ model: model.id }, predictions.labels.length);
  return predictions;
}
