/**
 * The service's Prometheus metrics, in a registry of their own per app (tests build many apps). Names follow
 * Prometheus conventions: the fastmlp_ prefix, base units, _total on counters only, and no job ids as labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ClusterStats } from '../cluster/coordinator.js';
import { backendInfo } from '../nn/backend.js';
import { JOB_STATUSES, type JobStore } from './store.js';

// prom-client names these gauges with a _total suffix, which Prometheus reserves for counters; the same
// figures stay as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources (by type).
const NONCONFORMING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface ServiceMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  predictedSamples: Counter<'model'>;
  predictionDuration: Histogram<'model'>;
  epochsTrained: Counter;
  samplesTrained: Counter;
  trainingSamplesPerSecond: Gauge;
}

export interface MetricsSources {
  store: JobStore;
  /** Test accuracy of each registered model. */
  modelAccuracies: () => { id: string; testAccuracy: number }[];
  version: string;
  /** Default process and Node.js metrics; off in tests that build many apps. */
  defaultMetrics: boolean;
  /** The cluster's queue and workers, when jobs train on one. */
  cluster?: () => Promise<ClusterStats>;
}

/** A scrape waits this long for Redis, then reports the cluster down rather than hang. */
export const CLUSTER_SCRAPE_TIMEOUT_MS = 1000;

export function createMetrics(sources: MetricsSources): ServiceMetrics {
  const registry = new Registry();
  if (sources.defaultMetrics) {
    collectDefaultMetrics({ register: registry });
    for (const name of NONCONFORMING_DEFAULTS) registry.removeSingleMetric(name);
  }
  const { isa, threads } = backendInfo();
  new Gauge({
    name: 'fastmlp_build_info',
    help: 'fastmlp version, the instruction set of the native kernels and their thread count; always 1.',
    labelNames: ['version', 'isa', 'threads'],
    registers: [registry],
  }).set({ version: sources.version, isa, threads: String(threads) }, 1);
  new Gauge({
    name: 'fastmlp_jobs',
    help: 'Training jobs in the store by status.',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      if (!sources.store.open) return;
      const counts = sources.store.countJobs();
      for (const status of JOB_STATUSES) this.set({ status }, counts[status]);
    },
  });
  new Gauge({
    name: 'fastmlp_model_test_accuracy_ratio',
    help: 'Test-set accuracy of each model, 0 to 1.',
    labelNames: ['model'],
    registers: [registry],
    collect() {
      this.reset();
      if (!sources.store.open) return;
      for (const m of sources.modelAccuracies()) this.set({ model: m.id }, m.testAccuracy);
    },
  });
  if (sources.cluster) clusterMetrics(registry, sources.cluster);
  return {
    registry,
    httpDuration: new Histogram({
      name: 'fastmlp_http_request_duration_seconds',
      help: 'HTTP request duration by route template, method and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    predictedSamples: new Counter({
      name: 'fastmlp_predicted_samples_total',
      help: 'Images classified, by model.',
      labelNames: ['model'],
      registers: [registry],
    }),
    predictionDuration: new Histogram({
      name: 'fastmlp_prediction_duration_seconds',
      help: 'Time to classify one request of images, by model.',
      labelNames: ['model'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
    epochsTrained: new Counter({ name: 'fastmlp_epochs_trained_total', help: 'Epochs trained, over every fold of every job.', registers: [registry] }),
    samplesTrained: new Counter({ name: 'fastmlp_samples_trained_total', help: 'Training samples passed through the network, over every epoch.', registers: [registry] }),
    trainingSamplesPerSecond: new Gauge({
      name: 'fastmlp_training_samples_per_second',
      help: 'Training throughput of the latest epoch; 0 when no job trains.',
      registers: [registry],
    }),
  };
}

/** Fold jobs by state, fold workers, and whether Redis answered this scrape. */
function clusterMetrics(registry: Registry, stats: () => Promise<ClusterStats>): void {
  // One look at Redis per scrape, shared by the three gauges.
  let latest: Promise<ClusterStats | undefined> | undefined;
  const look = () =>
    (latest ??= Promise.race([
      stats().catch(() => undefined),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), CLUSTER_SCRAPE_TIMEOUT_MS)),
    ]).finally(() => setImmediate(() => (latest = undefined))));
  new Gauge({
    name: 'fastmlp_cluster_up',
    help: 'Whether Redis answered this scrape: 1, or 0 (the other cluster figures are then absent).',
    registers: [registry],
    async collect() {
      this.set((await look()) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fastmlp_cluster_folds',
    help: 'Fold jobs in the queue by state (waiting, active, delayed before a retry).',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      const s = await look();
      if (s) for (const [state, n] of Object.entries(s.folds)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'fastmlp_cluster_workers',
    help: 'Fold workers connected to the queue, this service\'s own included.',
    registers: [registry],
    async collect() {
      this.reset();
      const s = await look();
      if (s) this.set(s.workers);
    },
  });
}
