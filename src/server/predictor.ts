/** Classifying images for /predict and /v2: picks the model, runs it, counts and times it. */
import type { Classifier, Predictions, PixelScale } from '../model/classifier.js';
import { HttpError } from './errors.js';
import type { ServiceMetrics } from './metrics.js';
import type { ModelRegistry } from './model-registry.js';
import { joinFloats } from './predict-body.js';
import type { JobStore, ModelRecord } from './store.js';

/** Predictions, with the names of the model's classes when its training data named them. */
export type Classified = Predictions & { classNames?: readonly string[] };

/** The predictions with the classifier's class names. */
function named(classifier: Classifier, predictions: Predictions): Classified {
  return classifier.classNames ? { ...predictions, classNames: classifier.classNames } : predictions;
}

export interface PredictorDeps {
  store: JobStore;
  models: ModelRegistry;
  metrics: ServiceMetrics;
}

/** The model asked for (an id or a name, see ModelRegistry.resolve), or the best one; 404 for an unknown one, 503 while no model exists yet. */
export function pickModel(deps: PredictorDeps, id: string | undefined, field: string): ModelRecord {
  if (id !== undefined) {
    const model = deps.models.resolve(id);
    if (model === undefined) throw new HttpError(404, `No model ${id} (an id, a name, name@version or name@alias)`, field);
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

/** Requests of more than this many images are predicted off the event loop. */
export const ASYNC_FROM_IMAGES = 16;

/**
 * Small requests batched together run on the event loop up to this many images (a fraction of a
 * millisecond for MNIST-sized models); handing a batch to another thread would leave the loop idle. They run
 * on the loop's thread alone: waking the pool for them would take cores from training and from clients.
 */
export const BATCH_ON_LOOP_IMAGES = 256;

/**
 * Small requests for one model (and pixel scale) that arrive in the same turn of the event loop share one
 * forward pass: reading the model's weights once for all of them is what makes single-image requests cheap
 * under load (for 784→256 the first layer's weights alone are 800 KB). Each request still gets its own
 * rows of the result, and a batch that grows large runs off the event loop like any large request.
 */
interface Waiting {
  pixels: Float32Array | Uint8Array;
  resolve: (p: Classified) => void;
  reject: (error: unknown) => void;
}

interface PendingBatch {
  classifier: Classifier;
  waiting: Waiting[];
  images: number;
}

const pendingBatches = new WeakMap<PredictorDeps, Map<string, PendingBatch>>();

/** The pixels of batches predicted on the event loop, which are done before the next one is gathered. */
let onLoopPixels = new Float32Array(0);

/** The waiting requests' pixels one after the other; on the loop, into a buffer kept for it. */
function gather(waiting: Waiting[], length: number, onLoop: boolean): Float32Array {
  if (onLoop && onLoopPixels.length < length) onLoopPixels = new Float32Array(length);
  return joinFloats(
    waiting.map((w) => w.pixels),
    onLoop ? onLoopPixels : undefined,
  );
}

async function runBatch(deps: PredictorDeps, modelId: string, scale: PixelScale, batch: PendingBatch): Promise<void> {
  const { classifier, waiting } = batch;
  try {
    const onLoop = batch.images <= BATCH_ON_LOOP_IMAGES;
    const pixels = waiting.length === 1 ? waiting[0]!.pixels : gather(waiting, batch.images * classifier.features, onLoop);
    const started = performance.now();
    const all = onLoop ? classifier.predict(pixels, scale, { threads: 1 }) : await classifier.predictAsync(pixels, scale);
    const seconds = (performance.now() - started) / 1000;
    deps.metrics.predictedSamples.inc({ model: modelId }, batch.images);
    let first = 0;
    for (const w of waiting) {
      const count = w.pixels.length / classifier.features;
      // Each request waited for the whole batch.
      deps.metrics.predictionDuration.observe({ model: modelId }, seconds);
      w.resolve(
        named(classifier, {
          labels: all.labels.subarray(first, first + count),
          probabilities: all.probabilities.subarray(first * all.classes, (first + count) * all.classes),
          classes: all.classes,
        }),
      );
      first += count;
    }
  } catch (error) {
    for (const w of waiting) w.reject(error);
  }
}

/** Classifies `count` images of the model's input size. */
export function classify(deps: PredictorDeps, model: ModelRecord, pixels: Float32Array | Uint8Array, scale: PixelScale, field: string): Promise<Classified> {
  // A loaded model is used at once: one promise fewer per request.
  const loaded = deps.models.inMemory(model.id);
  if (loaded === undefined) return deps.models.classifier(model).then((classifier) => classifyWith(deps, model, classifier, pixels, scale, field));
  try {
    return classifyWith(deps, model, loaded, pixels, scale, field);
  } catch (error) {
    return Promise.reject(error);
  }
}

function classifyWith(deps: PredictorDeps, model: ModelRecord, classifier: Classifier, pixels: Float32Array | Uint8Array, scale: PixelScale, field: string): Promise<Classified> {
  if (pixels.length % classifier.features !== 0) {
    throw new HttpError(400, `${field}: model ${model.id} takes images of ${classifier.features} pixels`, field);
  }
  const images = pixels.length / classifier.features;
  if (images > ASYNC_FROM_IMAGES) {
    // A large request is a batch already: its GEMMs run off the event loop.
    const started = performance.now();
    return classifier.predictAsync(pixels, scale).then((predictions) => {
      deps.metrics.predictionDuration.observe({ model: model.id }, (performance.now() - started) / 1000);
      deps.metrics.predictedSamples.inc({ model: model.id }, images);
      return named(classifier, predictions);
    });
  }
  let batches = pendingBatches.get(deps);
  if (batches === undefined) pendingBatches.set(deps, (batches = new Map()));
  const key = `${model.id} ${scale}`;
  let batch = batches.get(key);
  if (batch === undefined || batch.classifier !== classifier) {
    const fresh: PendingBatch = { classifier, waiting: [], images: 0 };
    batches.set(key, fresh);
    // After the I/O of this turn of the event loop: every request parsed in it joins the batch.
    setImmediate(() => {
      if (batches.get(key) === fresh) batches.delete(key);
      void runBatch(deps, model.id, scale, fresh);
    });
    batch = fresh;
  }
  const joined = batch;
  return new Promise<Classified>((resolve, reject) => {
    joined.waiting.push({ pixels, resolve, reject });
    joined.images += images;
  });
}
