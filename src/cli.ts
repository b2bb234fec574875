#!/usr/bin/env node
/**
 * `fastmlp train | predict | eval | export | import | serve`. Flags are checked here, at the edge, into a typed recipe; errors name the
 * flag and exit with code 2. The service, the cluster worker, sweeps, training runs and plots are imported by the
 * commands that use them, so that a quick command (`info`, `predict`, `--help`) does not load them all.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { SingleBar, MultiBar, Presets } from 'cli-progress';
import { readFileSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { writeFileAtomic } from './atomic-write.js';
import { z } from 'zod';
import { defaultCacheDir } from './cluster/datasets.js';
import { readCsvImages } from './data/csv.js';
import { previewImages, summarizeImages } from './data/inspect.js';
import { archiveKind, extractArchive } from './data/archive.js';
import { datasetLayout, fileFormat, idxKind, loadDataset, loadImageSet, loadLabelledPart, mnistPaths, type DatasetSource } from './data/dataset.js';
import { augmentationPreview } from './train/augment-preview.js';
import { DEFAULT_IMAGE_SIZE, decodeImage, type ImageOptions } from './data/images.js';
import { readIdxImages } from './data/idx.js';
import { native, type Precision } from './native.js';
import { Classifier } from './model/classifier.js';
import { onnxCheckpoint } from './model/import.js';
import type { TrainEvent } from './train/kfold.js';
import { recipes, recipeWith, validateRecipe, type RecipeName } from './train/recipe.js';
import { saveCheckpoint } from './train/checkpoint.js';
import { MAX_TRIALS, SweepSpaceError, sweepSpaceSchema, sweepStrategySchema, type SweepPlan } from './sweep/space.js';
import { TrainingCancelled } from './train/trainer.js';
import { DEFAULT_MODEL_BODY_LIMIT } from './server/limits.js';
import type { AugmentSpec, HiddenLayerSpec, OptimizerSpec, ScheduleSpec, TrainRecipe } from './train/types.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

class UsageError extends Error {}

const number = (flag: string) => (value: string) => {
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x)) throw new InvalidArgumentError(`${flag} takes a number, not '${value}'.`);
  return x;
};

/**
 * --dropout: the rate of every layer of the recipe's (0 takes dropout away), or, with --hidden, of each layer
 * that --hidden gives no rate of its own.
 */
function withDropout(hidden: HiddenLayerSpec[], rate: number, fromFlag: boolean): HiddenLayerSpec[] {
  return hidden.map(({ dropout, ...layer }) => {
    const p = fromFlag && dropout !== undefined ? dropout : rate;
    return p > 0 ? { ...layer, dropout: p } : layer;
  });
}

/** "256:sigmoid,128:relu" → hidden layers. */
export function parseHidden(value: string): HiddenLayerSpec[] {
  if (value.trim() === '' || value === 'none') return [];
  return value.split(',').map((part) => {
    const [width, activation = 'sigmoid', dropout, ...rest] = part.split(':');
    const w = Number(width);
    const p = dropout === undefined ? undefined : Number(dropout);
    if (!Number.isInteger(w) || (activation !== 'sigmoid' && activation !== 'relu') || rest.length > 0 || (p !== undefined && !(dropout!.trim() !== '' && p >= 0 && p <= 0.9))) {
      throw new InvalidArgumentError(`--hidden takes WIDTH[:sigmoid|relu[:DROPOUT]] separated by commas (DROPOUT from 0 to 0.9), not '${part}'.`);
    }
    return { width: w, activation, ...(p !== undefined && p > 0 ? { dropout: p } : {}) };
  });
}

/** The limit flags of --augment (--shift, --rotate, --scale, --shear, --elastic-alpha, --elastic-sigma) are the recipe's AugmentSpec fields. */
interface TrainFlags extends AugmentSpec {
  recipe: RecipeName;
  hidden?: HiddenLayerSpec[];
  dropout?: number;
  augment?: ('affine' | 'elastic')[];
  labelSmoothing?: number;
  maxNorm?: number;
  precision?: Precision;
  inputDropout?: number;
  init?: TrainRecipe['init'];
  optimizer?: OptimizerSpec['kind'];
  momentum?: number;
  nesterov?: boolean;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  lr?: number;
  schedule?: ScheduleSpec['kind'];
  stepEvery?: number;
  gamma?: number;
  minLr?: number;
  weightDecay?: number;
  batch?: number;
  epochs?: number;
  folds?: number;
  holdout?: number;
  seed?: number;
  normalization?: TrainRecipe['normalization'];
  ensemble?: boolean;
  testEveryEpoch?: boolean;
  threads?: number;
  trainImages?: string;
  trainLabels?: string;
  testImages?: string;
  testLabels?: string;
  trainData?: string;
  testData?: string;
  data?: string;
  imageSize?: number;
  centre?: boolean;
  invert?: boolean;
  out?: string;
  json?: boolean;
}

/** The limits each kind of --augment starts from: affine maps of MNIST-sized digits, and Simard's elastic distortion. */
export const AUGMENT_DEFAULTS = {
  affine: { shift: 2, rotate: 10, scale: 0.1, shear: 10 },
  elastic: { elasticAlpha: 34, elasticSigma: 4 },
} as const satisfies Record<string, AugmentSpec>;

/** The fields of an AugmentSpec, each a flag of its own. */
const AUGMENT_LIMITS = ['shift', 'rotate', 'scale', 'shear', 'elasticAlpha', 'elasticSigma'] as const satisfies readonly (keyof AugmentSpec)[];

/** --augment's kinds with their defaults (replacing the recipe's), then each limit flag over them; none: off. */
function augmentFromFlags(flags: AugmentSpec & Pick<TrainFlags, 'augment'>, base: AugmentSpec | undefined): AugmentSpec | undefined {
  let spec: AugmentSpec = flags.augment === undefined ? { ...base } : Object.assign({}, ...flags.augment.map((kind) => AUGMENT_DEFAULTS[kind]));
  for (const key of AUGMENT_LIMITS) if (flags[key] !== undefined) spec = { ...spec, [key]: flags[key] };
  return Object.values(spec).some((v) => v !== undefined && v > 0) ? spec : undefined;
}

function parseAugment(value: string): ('affine' | 'elastic')[] {
  if (value === 'none') return [];
  const kinds = value.split(',').map((k) => k.trim());
  for (const kind of kinds) if (kind !== 'affine' && kind !== 'elastic') throw new InvalidArgumentError(`--augment takes affine, elastic (comma-separated) or none, not '${kind}'.`);
  return kinds as ('affine' | 'elastic')[];
}

/** The recipe named by --recipe with every given flag laid over it, then validated. */
export function recipeFromFlags(flags: TrainFlags): TrainRecipe {
  const base = recipes[flags.recipe];
  let optimizer: OptimizerSpec = base.optimizer;
  const kind = flags.optimizer ?? base.optimizer.kind;
  if (kind === 'sgd') optimizer = { kind };
  if (kind === 'momentum') {
    const prev = base.optimizer.kind === 'momentum' ? base.optimizer : { momentum: 0.9, nesterov: false };
    optimizer = { kind, momentum: flags.momentum ?? prev.momentum, nesterov: flags.nesterov ?? prev.nesterov };
  }
  if (kind === 'adam') {
    const prev = base.optimizer.kind === 'adam' ? base.optimizer : { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
    optimizer = { kind, beta1: flags.beta1 ?? prev.beta1, beta2: flags.beta2 ?? prev.beta2, epsilon: flags.epsilon ?? prev.epsilon };
  }
  let schedule: ScheduleSpec = base.schedule;
  const scheduleKind = flags.schedule ?? base.schedule.kind;
  if (scheduleKind === 'constant') schedule = { kind: 'constant' };
  if (scheduleKind === 'step') {
    const prev = base.schedule.kind === 'step' ? base.schedule : { everyEpochs: 10, gamma: 0.5 };
    schedule = { kind: 'step', everyEpochs: flags.stepEvery ?? prev.everyEpochs, gamma: flags.gamma ?? prev.gamma };
  }
  if (scheduleKind === 'cosine') {
    schedule = { kind: 'cosine', minLr: flags.minLr ?? (base.schedule.kind === 'cosine' ? base.schedule.minLr : 0) };
  }
  const hidden = flags.hidden ?? base.hidden;
  const augment = augmentFromFlags(flags, base.augment);
  const recipe: TrainRecipe = {
    hidden: flags.dropout === undefined ? hidden : withDropout(hidden, flags.dropout, flags.hidden !== undefined),
    init: flags.init ?? base.init,
    optimizer,
    lr: flags.lr ?? base.lr,
    schedule,
    weightDecay: flags.weightDecay ?? base.weightDecay,
    batchSize: flags.batch ?? base.batchSize,
    epochs: flags.epochs ?? base.epochs,
    folds: flags.folds ?? base.folds,
    ...(flags.holdout !== undefined ? { holdout: flags.holdout } : {}),
    ...(augment ? { augment } : {}),
    ...((flags.labelSmoothing ?? base.labelSmoothing) ? { labelSmoothing: flags.labelSmoothing ?? base.labelSmoothing } : {}),
    ...((flags.maxNorm ?? base.maxNorm) !== undefined ? { maxNorm: flags.maxNorm ?? base.maxNorm } : {}),
    ...((flags.inputDropout ?? base.inputDropout) ? { inputDropout: flags.inputDropout ?? base.inputDropout } : {}),
    ...((flags.precision ?? base.precision) !== undefined ? { precision: flags.precision ?? base.precision } : {}),
    seed: flags.seed ?? base.seed,
    normalization: flags.normalization ?? base.normalization,
  };
  try {
    return validateRecipe(recipe);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

type DataFlags = Pick<TrainFlags, 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels' | 'trainData' | 'testData' | 'data' | 'imageSize' | 'centre' | 'invert'>;

/** How image files become input, from --image-size, --centre and --invert; undefined when none is given. */
function imageOptions(flags: Pick<DataFlags, 'imageSize' | 'centre' | 'invert'>): ImageOptions | undefined {
  const options: ImageOptions = {
    ...(flags.imageSize !== undefined ? { size: flags.imageSize } : {}),
    ...(flags.centre ? { centre: true } : {}),
    ...(flags.invert ? { invert: true } : {}),
  };
  if (options.size !== undefined && (!Number.isInteger(options.size) || options.size < 4 || options.size > 256)) throw new UsageError('--image-size: expected an integer from 4 to 256');
  return Object.keys(options).length > 0 ? options : undefined;
}

/**
 * The dataset the flags name (undefined: MNIST), and what to do once it has been read: an archive given
 * to --data is unpacked into a temporary folder, removed by `done`.
 */
async function datasetFiles(flags: DataFlags): Promise<{ source?: DatasetSource; done: () => Promise<void> }> {
  const given = [flags.trainImages, flags.trainLabels, flags.testImages, flags.testLabels].filter((f) => f !== undefined);
  const pair = [flags.trainData, flags.testData].filter((f) => f !== undefined);
  const kinds = [given.length > 0, pair.length > 0, flags.data !== undefined].filter(Boolean).length;
  if (kinds > 1) throw new UsageError('--data, --train-data with --test-data, and the four idx flags each name a whole dataset: give one of them.');
  const images = imageOptions(flags);
  const done = async () => {};
  if (flags.data !== undefined) {
    const info = await stat(flags.data).catch(() => {
      throw new UsageError(`--data: ${flags.data} does not exist`);
    });
    if (info.isDirectory()) return { source: await datasetLayout(flags.data, images), done };
    const unpacked = await mkdtemp(join(tmpdir(), 'fastmlp-data-'));
    const remove = () => rm(unpacked, { recursive: true, force: true });
    try {
      await extractArchive(flags.data, unpacked);
      return { source: await datasetLayout(unpacked, images), done: remove };
    } catch (error) {
      await remove();
      if (error instanceof Error) error.message = error.message.replaceAll(unpacked, flags.data);
      throw error;
    }
  }
  if (pair.length > 0) {
    if (pair.length !== 2) throw new UsageError('--train-data and --test-data go together.');
    return { source: { train: flags.trainData!, test: flags.testData!, ...(images ? { images } : {}) }, done };
  }
  if (given.length === 0) return { done };
  if (given.length !== 4) throw new UsageError('--train-images, --train-labels, --test-images and --test-labels go together.');
  return { source: { trainImages: flags.trainImages!, trainLabels: flags.trainLabels!, testImages: flags.testImages!, testLabels: flags.testLabels! }, done };
}

function defaultRunFolder(): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
  return join('runs', stamp);
}

/** One bar per fold on a terminal: epoch, loss, accuracy, samples/s and ETA. */
function progressReporter(): { onEvent: (e: TrainEvent) => void; stop: () => void } {
  const bars = new MultiBar(
    {
      format: ' fold {fold} |{bar}| epoch {epoch}/{epochs} · loss {loss} · train {trainAcc} · valid {validAcc} · {rate} samples/s · ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  );
  let bar: SingleBar | undefined;
  let batchesPerEpoch = 1;
  let epochs = 1;
  const pct = (x: number) => (Number.isNaN(x) ? '  —  ' : `${(100 * x).toFixed(2)}%`);
  return {
    onEvent(e) {
      if (e.type === 'fold-start') {
        epochs = e.epochs;
        bar = bars.create(e.epochs, 0, { fold: `${e.fold}/${e.folds}`, epoch: 0, epochs: e.epochs, loss: '  —  ', trainAcc: '  —  ', validAcc: '  —  ', rate: '—' });
      } else if (e.type === 'batch') {
        batchesPerEpoch = e.batches;
        bar?.update(e.epoch - 1 + e.batch / batchesPerEpoch);
      } else if (e.type === 'epoch') {
        const m = e.metrics;
        bar?.update(m.epoch, {
          epoch: m.epoch,
          epochs,
          loss: m.trainLoss.toFixed(4),
          trainAcc: pct(m.trainAccuracy),
          validAcc: pct(m.testAccuracy !== undefined && Number.isNaN(m.validAccuracy) ? m.testAccuracy : m.validAccuracy),
          rate: Math.round(e.samplesPerSecond).toLocaleString('en-US'),
        });
      }
    },
    stop: () => bars.stop(),
  };
}

async function train(flags: TrainFlags): Promise<void> {
  const recipe = recipeFromFlags(flags);
  const { source: files, done } = await datasetFiles(flags);
  const outDir = flags.out ?? defaultRunFolder();
  const interactive = !flags.json && process.stderr.isTTY === true;
  const progress = interactive ? progressReporter() : undefined;
  const plain = (e: TrainEvent) => {
    if (flags.json || e.type !== 'epoch') return;
    const m = e.metrics;
    const valid = Number.isNaN(m.validAccuracy) ? '' : ` valid ${(100 * m.validAccuracy).toFixed(2)}%`;
    const test = m.testAccuracy === undefined ? '' : ` test ${(100 * m.testAccuracy).toFixed(2)}%`;
    process.stderr.write(`fold ${e.fold} epoch ${m.epoch}: loss ${m.trainLoss.toFixed(4)} train ${(100 * m.trainAccuracy).toFixed(2)}%${valid}${test} (${Math.round(e.samplesPerSecond)} samples/s)\n`);
  };
  await untilCtrlC(async (signal) => {
    const { runTraining } = await import('./train/run.js');
    const outcome = await runTraining({
      recipe,
      ...(files ? { files } : {}),
      outDir,
      ensemble: flags.ensemble ?? false,
      testEveryEpoch: flags.testEveryEpoch ?? false,
      ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
      signal,
      onEvent: progress ? progress.onEvent : plain,
    });
    progress?.stop();
    const summary = {
      folds: outcome.folds.map((f) => ({ fold: f.fold, bestEpoch: f.bestEpoch, trainAccuracy: f.trainAccuracy, validAccuracy: Number.isNaN(f.validAccuracy) ? null : f.validAccuracy })),
      selectedFold: outcome.selectedFold,
      test: outcome.test,
      ...(outcome.ensembleTest ? { ensembleTest: outcome.ensembleTest } : {}),
      seconds: outcome.seconds,
      checkpoint: outcome.checkpointPath,
      artifacts: outcome.artifacts,
      recipe,
    };
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      console.log('fold  best epoch  train acc  valid acc');
      for (const f of summary.folds) {
        const mark = f.fold === summary.selectedFold ? ' *' : '';
        console.log(`${String(f.fold).padStart(4)}  ${String(f.bestEpoch).padStart(10)}  ${(100 * f.trainAccuracy).toFixed(2).padStart(8)}%  ${f.validAccuracy === null ? '       —' : `${(100 * f.validAccuracy).toFixed(2).padStart(8)}%`}${mark}`);
      }
      console.log(`test accuracy of fold ${summary.selectedFold}: ${(100 * outcome.test.accuracy).toFixed(2)}% (loss ${outcome.test.loss.toFixed(4)})`);
      if (outcome.ensembleTest) console.log(`test accuracy of the ensemble: ${(100 * outcome.ensembleTest.accuracy).toFixed(2)}%`);
      console.log(`${outcome.seconds.toFixed(1)} s · checkpoint ${outcome.checkpointPath} · report ${outcome.artifacts.reportMd}`);
    }
  }, () => progress?.stop()).finally(done);
}

/**
 * Runs `work` with a signal that Ctrl-C aborts: a run it stops (TrainingCancelled) prints "cancelled" and
 * ends with exit code 130; any other error is thrown on. `stopped` runs first on any error (a progress bar).
 */
async function untilCtrlC(work: (signal: AbortSignal) => Promise<void>, stopped: () => void = () => {}): Promise<void> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    await work(controller.signal);
  } catch (error) {
    stopped();
    if (!(error instanceof TrainingCancelled)) throw error;
    console.error('cancelled');
    process.exitCode = 130;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

interface ServeFlags {
  host: string;
  port: number;
  dataDir: string;
  bootstrap: boolean;
  concurrency: number;
  maxQueued: number;
  threads?: number;
  bodyLimit: number;
  maxUpload: number;
  precision?: Precision;
  modelBodyLimit: number;
  redis?: string;
  localWorker: boolean;
  lockDuration?: number;
  publicUrl?: string;
}

function checkInteger(flag: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`${flag} takes an integer from ${min} to ${max}, not ${value}.`);
}

/** A redis:// URL, or a UsageError naming the flag. */
function checkRedisUrl(flag: string, url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  if (parsed?.protocol !== 'redis:' && parsed?.protocol !== 'rediss:') throw new UsageError(`${flag} takes a URL such as redis://127.0.0.1:6379, not ${JSON.stringify(url)}.`);
}

async function serve(flags: ServeFlags): Promise<void> {
  const integer = checkInteger;
  integer('--port', flags.port, 0, 65535);
  integer('--concurrency', flags.concurrency, 1, 64);
  integer('--max-queued', flags.maxQueued, 1, 100_000);
  integer('--body-limit', flags.bodyLimit, 1024, 1024 ** 3);
  integer('--max-upload', flags.maxUpload, 1024, 64 * 1024 ** 3);
  integer('--model-body-limit', flags.modelBodyLimit, 1024, 4 * 1024 ** 3);
  if (flags.threads !== undefined) integer('--threads', flags.threads, 1, 256);
  if (flags.lockDuration !== undefined) integer('--lock-duration', flags.lockDuration, 1000, 3_600_000);
  if (flags.redis !== undefined) checkRedisUrl('--redis', flags.redis);
  const token = process.env.FASTMLP_TOKEN;
  const { startServer } = await import('./server/server.js');
  await startServer(
    {
      host: flags.host,
      port: flags.port,
      dataDir: flags.dataDir,
      bootstrap: flags.bootstrap,
      concurrency: flags.concurrency,
      maxQueuedJobs: flags.maxQueued,
      bodyLimit: flags.bodyLimit,
      maxUploadBytes: flags.maxUpload,
      ...(flags.precision !== undefined ? { predictPrecision: flags.precision } : {}),
      modelBodyLimit: flags.modelBodyLimit,
      ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
      ...(token ? { token } : {}),
      ...(flags.redis !== undefined ? { redis: flags.redis, localWorker: flags.localWorker } : {}),
      ...(flags.lockDuration !== undefined ? { lockMs: flags.lockDuration } : {}),
      ...(flags.publicUrl !== undefined ? { publicUrl: flags.publicUrl } : {}),
    },
    true,
  );
}

interface SweepFlags extends DataFlags, Pick<TrainFlags, 'seed' | 'threads' | 'out' | 'json'> {
  space: string;
  trials?: number;
  strategy?: 'grid' | 'random';
  redis?: string;
}

/** A sweep file: a whole sweep ({ base, space, strategy, trials, seed }) or a space alone. */
const sweepFileSchema = z
  .object({
    base: z.object({ recipe: z.enum(['reference', 'accurate', 'best']).default('reference') }).catchall(z.unknown()).prefault({}),
    space: sweepSpaceSchema,
    strategy: sweepStrategySchema.default('grid'),
    trials: z.number().int().min(1).max(MAX_TRIALS).optional(),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
  })
  .strict();

function readSweepFile(path: string): z.infer<typeof sweepFileSchema> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`--space ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const whole = typeof json === 'object' && json !== null && 'space' in json ? json : { space: json };
  const parsed = sweepFileSchema.safeParse(whole);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`--space ${path}: ${issue.path.join('.') || 'the file'}: ${issue.message}`);
  }
  return parsed.data;
}

/** The trial's fields, short: `lr=0.01 hidden=256:relu`. */
function describeParams(params: Record<string, unknown>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${k === 'hidden' && Array.isArray(v) ? (v as { width: number; activation: string }[]).map((h) => `${h.width}:${h.activation}`).join(',') : typeof v === 'number' ? Number(v.toPrecision(4)) : JSON.stringify(v)}`)
    .join(' ');
}

async function sweep(flags: SweepFlags): Promise<void> {
  const file = readSweepFile(flags.space);
  if (flags.redis !== undefined) checkRedisUrl('--redis', flags.redis);
  if (flags.threads !== undefined) checkInteger('--threads', flags.threads, 1, 256);
  const { recipe: name, ...fields } = file.base;
  let base: TrainRecipe;
  try {
    base = recipeWith(name, fields as Partial<TrainRecipe>);
  } catch (error) {
    throw new UsageError(`--space ${flags.space}: base: ${(error as Error).message}`);
  }
  const { source: files, done } = await datasetFiles(flags);
  if (files && flags.redis !== undefined) throw new UsageError('A sweep on a cluster (--redis) trains on MNIST only: drop the dataset flags.');
  const plan: SweepPlan = {
    space: file.space,
    strategy: flags.strategy ?? file.strategy,
    seed: flags.seed ?? file.seed,
    ...((flags.trials ?? file.trials) !== undefined ? { trials: flags.trials ?? file.trials } : {}),
  };
  const outDir = flags.out ?? join('runs', `sweep-${defaultRunFolder().slice('runs/'.length)}`);
  await untilCtrlC(async (signal) => {
    const { runSweep } = await import('./sweep/run.js');
    const result = await runSweep({
      base,
      plan,
      ...(files ? { files } : {}),
      ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
      ...(flags.redis !== undefined ? { redis: flags.redis } : {}),
      signal,
      onTrial: (t, done, total) => {
        if (flags.json) return;
        process.stderr.write(`trial ${t.index + 1} (${done}/${total}) ${describeParams(t.params)} · valid ${(100 * t.validAccuracy).toFixed(2)}% · test ${(100 * t.test.accuracy).toFixed(2)}% · ${t.seconds.toFixed(1)} s\n`);
      },
    });
    const best = result.trials[result.best];
    await mkdir(outDir, { recursive: true });
    const checkpoint = best ? join(outDir, 'best.fmlp') : null;
    if (best) await saveCheckpoint(checkpoint!, best.checkpoint);
    const summary = {
      trials: result.trials.map((t) => ({ index: t.index, params: t.params, validAccuracy: t.validAccuracy, testAccuracy: t.test.accuracy, seconds: t.seconds })),
      best: best ? { index: best.index, params: best.params, validAccuracy: best.validAccuracy, testAccuracy: best.test.accuracy, recipe: best.recipe, checkpoint } : null,
      seconds: result.seconds,
    };
    await writeFileAtomic(join(outDir, 'sweep.json'), `${JSON.stringify(summary, null, 2)}\n`);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else if (best) {
      console.log(`best: trial ${best.index + 1} ${describeParams(best.params)} · valid ${(100 * best.validAccuracy).toFixed(2)}% · test ${(100 * best.test.accuracy).toFixed(2)}%`);
      console.log(`${result.seconds.toFixed(1)} s · checkpoint ${checkpoint} · trials ${join(outDir, 'sweep.json')}`);
    }
  }).catch((error: unknown) => {
    throw error instanceof SweepSpaceError ? new UsageError(`--space ${flags.space}: ${error.message}`) : error;
  }).finally(done);
}

interface WorkerFlags {
  redis: string;
  concurrency: number;
  threads?: number;
  lockDuration?: number;
  snapshotInterval?: number;
  service?: string;
  cacheDir?: string;
}

/** A fold worker until SIGTERM or SIGINT, which put its folds back in the queue for another worker. */
async function worker(flags: WorkerFlags): Promise<void> {
  checkRedisUrl('--redis', flags.redis);
  checkInteger('--concurrency', flags.concurrency, 1, 64);
  if (flags.threads !== undefined) checkInteger('--threads', flags.threads, 1, 256);
  if (flags.lockDuration !== undefined) checkInteger('--lock-duration', flags.lockDuration, 1000, 3_600_000);
  if (flags.snapshotInterval !== undefined) checkInteger('--snapshot-interval', flags.snapshotInterval, 0, 3_600_000);
  const log = pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const { FoldWorker } = await import('./cluster/fold-worker.js');
  const running = await FoldWorker.start({
    redis: flags.redis,
    concurrency: flags.concurrency,
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    ...(flags.lockDuration !== undefined ? { lockMs: flags.lockDuration } : {}),
    ...(flags.snapshotInterval !== undefined ? { snapshotIntervalMs: flags.snapshotInterval } : {}),
    ...(flags.service !== undefined ? { service: flags.service } : {}),
    ...(flags.cacheDir !== undefined ? { cacheDir: flags.cacheDir } : {}),
    ...(process.env.FASTMLP_TOKEN ? { token: process.env.FASTMLP_TOKEN } : {}),
    log,
  });
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'stopping: folds under way go back to the queue');
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

interface PredictFlags {
  model: string;
  precision?: Precision;
  images: string;
  labels?: string;
  json?: boolean;
  confusion?: boolean;
  limit?: number;
}

/** Images read from a path of any form, with labels when the form has them. */
interface ImagesAt {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
  labels?: Uint8Array;
  classNames?: string[];
}

/**
 * What a path holds, by its content: idx images (labels from `labels`), a CSV (its label column, if it has
 * one), a folder of class folders or a zip or tar of one (labelled by folder), or one image file.
 * `classNames` are the classes a model knows: a folder's classes are matched to them by name.
 */
async function imagesAt(path: string, flags: { labels?: string } & Pick<DataFlags, 'imageSize' | 'centre' | 'invert'>, classNames?: string[]): Promise<ImagesAt> {
  const options = imageOptions(flags);
  const info = await stat(path).catch(() => {
    throw new UsageError(`${path} does not exist`);
  });
  const format = info.isDirectory() || (await archiveKind(path)) !== undefined ? 'folder' : await fileFormat(path);
  if (flags.labels && format !== 'idx') throw new UsageError(`--labels: ${path} is not idx images; its labels come with it`);
  if (format === 'folder') return loadLabelledPart(path, options, classNames);
  if (format === 'csv') return readCsvImages(path);
  if ((await idxKind(path)) !== undefined || flags.labels) return flags.labels ? loadImageSet({ images: path, labels: flags.labels }) : readIdxImages(path);
  const size = options?.size ?? DEFAULT_IMAGE_SIZE;
  const pixels = await decodeImage(path, options).catch(() => {
    throw new UsageError(`${path}: neither idx images, a CSV, a folder of class folders, a zip or tar, nor an image file`);
  });
  return { count: 1, rows: size, cols: size, pixels };
}

/**
 * predict and eval: the images at --images; with labels, the accuracy (and for eval the confusion matrix),
 * else one prediction per image, with its class name when the model names its classes.
 */
async function predict(flags: PredictFlags & Pick<DataFlags, 'imageSize' | 'centre' | 'invert'> & { needLabels?: boolean }): Promise<void> {
  const classifier = await Classifier.load(flags.model, flags.precision === undefined ? {} : { precision: flags.precision });
  // A model without names has the classes 0, 1, …: folders named so are matched to them.
  const classNames = classifier.classNames ? [...classifier.classNames] : Array.from({ length: classifier.classes }, (_, i) => String(i));
  const images = await imagesAt(flags.images, flags, classNames);
  if (images.rows * images.cols !== classifier.features) throw new UsageError(`${flags.images}: images of ${images.rows}×${images.cols} pixels; the model takes ${classifier.features}`);
  if (flags.needLabels && images.labels === undefined) throw new UsageError(`${flags.images} has no labels to evaluate against (idx images take --labels; a CSV needs a label column)`);
  if (images.labels) {
    const e = classifier.evaluate({ ...images, features: images.rows * images.cols, labels: images.labels, classes: classifier.classes });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ count: e.count, accuracy: e.accuracy, loss: e.loss, confusion: e.confusion })}\n`);
      return;
    }
    console.log(`${e.count} images · accuracy ${(100 * e.accuracy).toFixed(2)}% · loss ${e.loss.toFixed(4)}`);
    if (flags.confusion) printConfusion(e.confusion);
    return;
  }
  const p = classifier.predict(images.pixels);
  const limit = Math.min(flags.limit ?? images.count, images.count);
  const name = (label: number) => classifier.classNames?.[label];
  if (flags.json) {
    const labels = Array.from(p.labels.subarray(0, limit));
    process.stdout.write(`${JSON.stringify({ count: images.count, predictions: labels, ...(classifier.classNames ? { classNames: labels.map(name) } : {}) })}\n`);
    return;
  }
  for (let i = 0; i < limit; i++) {
    const label = p.labels[i]!;
    console.log(`${i}\t${label}${classifier.classNames ? `\t${name(label)}` : ''}\t${p.probabilities[i * p.classes + label]!.toFixed(4)}`);
  }
}

type AugmentPreviewFlags = DataFlags & AugmentSpec & Pick<TrainFlags, 'augment'> & { out: string; seed?: number; draws: number };

/** augment-preview: the training set's first digit of each class and its transforms, as a PNG grid. */
async function augmentPreview(flags: AugmentPreviewFlags): Promise<void> {
  const spec = augmentFromFlags(flags, undefined);
  if (spec === undefined) throw new UsageError('Give the transforms to show: --augment affine,elastic and/or --shift, --rotate, --scale, --shear, --elastic-alpha with --elastic-sigma.');
  const checked = validateRecipe({ ...recipes.accurate, augment: spec, ...(flags.seed !== undefined ? { seed: flags.seed } : {}) });
  checkInteger('--draws', flags.draws, 1, 20);
  const { source, done } = await datasetFiles(flags);
  try {
    const { train } = await loadDataset(source ?? mnistPaths());
    const preview = augmentationPreview(train, checked.augment!, checked.seed, flags.draws);
    const { renderDigits } = await import('./train/plots.js');
    const grid = await renderDigits(preview.images, preview.labels, train.rows, train.cols, preview.labels.length, preview.columns);
    await writeFileAtomic(flags.out, grid.png);
    console.log(`${flags.out}: ${preview.labels.length / preview.columns} digits, each as it is and in ${flags.draws} draws of ${JSON.stringify(checked.augment)}`);
  } finally {
    await done();
  }
}

async function inspectDataset(path: string, flags: { labels?: string; preview?: string; json?: boolean } & Pick<DataFlags, 'imageSize' | 'centre' | 'invert'>): Promise<void> {
  const set = await imagesAt(path, flags);
  const summary = summarizeImages(set);
  if (flags.preview) {
    const { images, labels } = previewImages(set);
    // Five classes to a row of the grid, three examples each.
    const { renderDigits } = await import('./train/plots.js');
    const plot = await renderDigits(images, labels, set.rows, set.cols, labels.length, set.labels ? 3 * Math.min(5, summary.perClass.length) : 10);
    await writeFileAtomic(flags.preview, plot.png);
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ file: path, ...summary, labelled: set.labels !== undefined, ...(set.classNames ? { classNames: set.classNames } : {}), ...(flags.preview ? { preview: flags.preview } : {}) })}\n`);
    return;
  }
  console.log(`${path}: ${summary.count} images of ${summary.rows}×${summary.cols} pixels, ${set.labels ? `${summary.perClass.length} classes` : 'no labels'}`);
  const width = Math.max(3, ...(set.classNames ?? []).map((n) => n.length));
  summary.perClass.forEach((n, label) => console.log(`  class ${(set.classNames?.[label] ?? String(label)).padStart(width)}: ${String(n).padStart(7)}  ${'█'.repeat(Math.round((40 * n) / Math.max(...summary.perClass)))}`));
  console.log(`  mean pixel ${summary.meanPixel.toFixed(1)}, ${(100 * summary.zeroShare).toFixed(1)}% of pixels 0${flags.preview ? ` · preview ${flags.preview}` : ''}`);
}

interface ImportFlags {
  out: string;
  inputScale?: string;
  mean?: number;
  std?: number;
}

/** The input convention of `fastmlp import`, checked once. */
const importFlagsSchema = z.object({
  inputScale: z.enum(['byte', 'unit']).default('byte'),
  mean: z.number().default(0),
  std: z.number().positive('takes a positive number').default(1),
});

/** An ONNX model as a checkpoint: what was read, then the checkpoint written atomically. */
async function importModel(file: string, flags: ImportFlags): Promise<void> {
  const parsed = importFlagsSchema.safeParse({ inputScale: flags.inputScale, mean: flags.mean, std: flags.std });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const flag = `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new UsageError(`${flag} ${issue.message}, not ${String(flags[issue.path[0] as keyof ImportFlags])}.`);
  }
  const convention = parsed.data;
  // A graph fastmlp does not import (OnnxImportError) ends like any other failure: its message, code 1.
  const { checkpoint, network } = onnxCheckpoint(await readFile(file), convention, file);
  await saveCheckpoint(flags.out, checkpoint);
  const from = [network.producerName || 'an unnamed producer', network.producerVersion].filter(Boolean).join(' ');
  console.log(`${file}: ONNX IR ${network.irVersion}, opset ${network.opset}, from ${from}, graph ${JSON.stringify(network.graphName)}`);
  console.log(`  input ${JSON.stringify(network.input.name)} FLOAT [${network.input.dims.join(', ')}]${network.input.flattened ? ', flattened to 784' : ''}`);
  const last = checkpoint.architecture.layers.length - 1;
  checkpoint.architecture.layers.forEach((layer, l) => {
    const output = { softmax: 'Softmax', 'log-softmax': 'LogSoftmax, read as its Softmax', logits: 'logits, softmax added' }[network.output];
    console.log(`  layer ${l + 1}: ${layer.inputs} → ${layer.outputs} ${l === last ? `softmax (the graph's ${output})` : layer.activation}`);
  });
  const { mean, std } = checkpoint.normalization;
  console.log(`  pixels ${convention.inputScale === 'unit' ? '0–1' : '0–255'}, mean ${convention.mean}, std ${convention.std}: standardized inside as (x − ${Number(mean[0]!.toPrecision(6))}) / ${Number(std[0]!.toPrecision(6))} of pixels 0–255`);
  console.log(`${flags.out}: a checkpoint that predict, eval, export and serve take as any other`);
}

function printConfusion(confusion: number[][]): void {
  const width = Math.max(5, ...confusion.flat().map((c) => String(c).length + 1));
  console.log(`actual\\predicted ${confusion.map((_, j) => String(j).padStart(width)).join('')}`);
  confusion.forEach((row, i) => console.log(`${String(i).padStart(16)} ${row.map((c) => String(c).padStart(width)).join('')}`));
}

/** The dataset flags of train and sweep: four idx files, or a CSV pair. */
function dataOptions(command: Command): Command {
  command
    .option('--train-images <path>', 'idx file (plain or .gz); default MNIST')
    .option('--train-labels <path>', 'idx file')
    .option('--test-images <path>', 'idx file')
    .option('--test-labels <path>', 'idx file')
    .option('--train-data <path>', 'the training set, instead of the idx flags: a CSV (label,pixel0,…, plain or .gz), a folder of class folders of images (train/3/img001.png), or a zip or tar of either')
    .option('--test-data <path>', 'the test set, with --train-data, in any of those forms')
    .option('--data <path>', 'a folder, zip or tar holding both: train and test (folders, CSVs) or the four MNIST idx files');
  return imageFlags(command);
}

/** The augmentation flags of train and augment-preview. */
function augmentFlags(command: Command): Command {
  return command
    .option('--augment <kinds>', 'random transforms of the training images each epoch: affine, elastic (comma-separated), or none', parseAugment)
    .option('--shift <pixels>', 'augmentation: largest shift along each axis', number('--shift'))
    .option('--rotate <degrees>', 'augmentation: largest rotation either way', number('--rotate'))
    .option('--scale <share>', 'augmentation: largest change of size either way (0.1: 90–110 %)', number('--scale'))
    .option('--shear <degrees>', 'augmentation: largest shear either way', number('--shear'))
    .option('--elastic-alpha <pixels>', 'elastic distortion: scale of the smoothed displacement field', number('--elastic-alpha'))
    .option('--elastic-sigma <pixels>', 'elastic distortion: σ of the Gaussian that smooths it', number('--elastic-sigma'));
}

/** How image files become the model's input. */
function imageFlags(command: Command): Command {
  return command
    .option('--image-size <n>', 'image files are made n×n pixels (default 28)', number('--image-size'))
    .option('--centre', 'image files are centred as MNIST digits: the ink fitted into 20×20, its centre of mass at the centre')
    .option('--invert', 'image files hold dark ink on a light background');
}

/** --precision of predict and eval. */
function precisionOption(): Option {
  return new Option('--precision <p>', 'of the products (default: the one the model was trained in)').choices(['fp32', 'bf16']);
}

/** The command-line program; `main` parses process.argv with it. */
export function program(): Command {
  // exitOverride: commander throws instead of exiting, so main() gives every usage error the same code 2.
  const cli = new Command('fastmlp').exitOverride().version(version).description('Train and run multilayer perceptrons for image classification.');
  dataOptions(cli.command('train'))
    .description('Train with K-fold cross-validation; writes the selected checkpoint and a report.')
    .addOption(new Option('--recipe <name>', 'starting settings; other flags override them').choices(Object.keys(recipes)).default('reference'))
    .option('--hidden <layers>', 'hidden layers, WIDTH[:sigmoid|relu[:DROPOUT]] separated by commas, e.g. 1024:relu:0.3,256:sigmoid', parseHidden)
    .option('--dropout <rate>', 'share of every hidden layer’s outputs dropped in training (0–0.9; 0: none, even where the recipe has it), unless --hidden gives the layer its own', number('--dropout'))
    .option('--input-dropout <rate>', 'share of each training image’s pixels dropped to background (0–0.9), the rest scaled up', number('--input-dropout'))
    .option('--label-smoothing <e>', 'training targets (1 − e)·onehot + e/classes (0–0.5)', number('--label-smoothing'))
    .option('--max-norm <c>', 'after every step, scale each unit’s incoming weights down to norm c where longer', number('--max-norm'))
    .addOption(new Option('--precision <p>', 'of the products: bf16 (operands rounded to bfloat16, sums in fp32) or fp32').choices(['fp32', 'bf16']));
  augmentFlags(cli.commands.at(-1)!)
    .addOption(new Option('--init <name>', 'weight initializer').choices(['normal-fan-in', 'he', 'glorot-uniform']))
    .addOption(new Option('--optimizer <name>', 'parameter update').choices(['sgd', 'momentum', 'adam']))
    .option('--momentum <m>', 'momentum coefficient (momentum)', number('--momentum'))
    .option('--nesterov', 'Nesterov momentum')
    .option('--beta1 <b>', 'Adam β1', number('--beta1'))
    .option('--beta2 <b>', 'Adam β2', number('--beta2'))
    .option('--epsilon <e>', 'Adam ε', number('--epsilon'))
    .option('--lr <rate>', 'learning rate', number('--lr'))
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices(['constant', 'step', 'cosine']))
    .option('--step-every <epochs>', 'step schedule: epochs between decays', number('--step-every'))
    .option('--gamma <g>', 'step schedule: decay factor', number('--gamma'))
    .option('--min-lr <rate>', 'cosine schedule: final learning rate', number('--min-lr'))
    .option('--weight-decay <l>', 'L2 weight decay on the weights', number('--weight-decay'))
    .option('--batch <size>', 'mini-batch size', number('--batch'))
    .option('--epochs <n>', 'epochs per fold', number('--epochs'))
    .option('--folds <k>', 'K of K-fold cross-validation (2–10), or 1 to train on everything', number('--folds'))
    .option('--holdout <share>', 'with --folds 1: hold this share of the training set out to pick the best epoch', number('--holdout'))
    .option('--seed <n>', 'seed of every random choice', number('--seed'))
    .addOption(new Option('--normalization <mode>', 'standardization statistics').choices(['global', 'per-pixel']))
    .option('--ensemble', 'also test the ensemble of all fold checkpoints')
    .option('--test-every-epoch', 'report test accuracy after every epoch (never used to choose)')
    .option('--threads <n>', 'native threads (default: all cores)', number('--threads'))
    .option('--out <dir>', 'output folder (default: a new folder under ./runs/)')
    .option('--json', 'print one JSON object at the end, nothing else on stdout')
    .action((flags: TrainFlags) => train(flags));
  cli
    .command('predict')
    .description('Predict the class of every image; with --labels, the accuracy instead.')
    .requiredOption('--model <checkpoint>', 'a checkpoint written by train or import (model.fmlp)')
    .requiredOption('--images <path>', 'idx images, a CSV (plain or .gz), a folder of class folders of images, a zip or tar of one, or one image file; labelled images report accuracy')
    .option('--labels <idx>', 'idx labels: report accuracy and loss')
    .option('--confusion', 'with --labels, also print the confusion matrix')
    .option('--limit <n>', 'print at most n predictions', number('--limit'))
    .option('--json', 'print one JSON object')
    .addOption(precisionOption())
    .action((flags: PredictFlags) => predict(flags));
  imageFlags(cli.commands.at(-1)!);
  cli
    .command('eval')
    .description('Accuracy, loss and confusion matrix of a checkpoint on labelled images.')
    .requiredOption('--model <checkpoint>', 'a checkpoint written by train or import (model.fmlp)')
    .requiredOption('--images <path>', 'idx images, a CSV with a label column (plain or .gz), or a folder of class folders of images (or a zip or tar of one)')
    .option('--labels <idx>', 'idx labels (for idx images)')
    .option('--json', 'print one JSON object')
    .addOption(precisionOption())
    .action((flags: PredictFlags) => predict({ ...flags, confusion: true, needLabels: true }));
  imageFlags(cli.commands.at(-1)!);
  const dataset = cli.command('dataset').description('Datasets: what a file holds.');
  dataset
    .command('inspect')
    .description('Counts per class, the image size, and a PNG grid of examples of each class.')
    .argument('<path>', 'a CSV (with or without a label column), idx images (plain or .gz), a folder of class folders of images, a zip or tar of one, or an image file')
    .option('--labels <idx>', 'idx labels of idx images')
    .option('--preview <png>', 'write a grid of examples (three of each class) to this PNG file')
    .option('--json', 'print one JSON object')
    .action((file: string, flags: { labels?: string; preview?: string; json?: boolean }) => inspectDataset(file, flags));
  imageFlags(dataset.commands.at(-1)!);
  augmentFlags(dataOptions(cli.command('augment-preview')))
    .description('A PNG grid of training digits as augmentation transforms them: each class’s first digit, then its draws of epochs 1, 2, …')
    .requiredOption('--out <png>', 'the PNG file to write')
    .option('--seed <n>', 'the run’s seed, which draws the transforms (default 1, as the recipes)', number('--seed'))
    .option('--draws <n>', 'transformed copies of each digit (1–20)', number('--draws'), 7)
    .action((flags: AugmentPreviewFlags) => augmentPreview(flags));
  cli
    .command('export')
    .description('A checkpoint as an ONNX model (opset 13) for ONNX Runtime and other runtimes.')
    .requiredOption('--model <checkpoint>', 'a checkpoint written by train or import (model.fmlp)')
    .requiredOption('--out <file>', 'the ONNX file to write (e.g. model.onnx)')
    .action(async (flags: { model: string; out: string }) => {
      const classifier = await Classifier.load(flags.model);
      await writeFileAtomic(flags.out, classifier.toOnnx(version));
      console.log(`${flags.out}: pixels FLOAT [N, ${classifier.features}] 0–255 → probabilities FLOAT [N, ${classifier.classes}], label INT64 [N]`);
    });
  cli
    .command('import')
    .description('An ONNX model (e.g. from torch.onnx.export) of Gemm or MatMul + Add, Relu or Sigmoid and Softmax layers as a checkpoint.')
    .argument('<model.onnx>', 'the ONNX file: a 784-input MLP, weights inside the file')
    .requiredOption('--out <file>', 'the checkpoint to write (e.g. model.fmlp)')
    .addOption(new Option('--input-scale <scale>', 'the pixels the model was trained on: byte (0–255) or unit (0–1, as ToTensor gives them)').choices(['byte', 'unit']).default('byte'))
    .option('--mean <m>', 'the mean subtracted from those pixels, as Normalize((mean,), (std,)) (default 0)', number('--mean'))
    .option('--std <s>', 'the std they are divided by after (default 1)', number('--std'))
    .action((file: string, flags: ImportFlags) => importModel(file, flags));
  cli
    .command('serve')
    .description('The HTTP service: training jobs, predictions, Prometheus metrics (see the README).')
    .addOption(new Option('--host <host>', 'address to listen on').env('HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'port to listen on (0: any free port)').env('PORT').default(3000).argParser(number('--port')))
    .addOption(new Option('--data-dir <dir>', 'job store, checkpoints and reports').env('FASTMLP_DATA_DIR').default('.fastmlp'))
    .option('--no-bootstrap', 'do not queue the high-accuracy job on an empty store')
    .addOption(new Option('--concurrency <n>', 'jobs trained at once').env('FASTMLP_CONCURRENCY').default(1).argParser(number('--concurrency')))
    .addOption(new Option('--max-queued <n>', 'queued jobs beyond which POST /jobs answers 503').default(32).argParser(number('--max-queued')))
    .option('--threads <n>', 'native threads per training job (default: all cores)', number('--threads'))
    .addOption(new Option('--body-limit <bytes>', 'largest request body; larger ones get 413').default(8 * 1024 * 1024).argParser(number('--body-limit')))
    .addOption(new Option('--precision <p>', 'of every model’s predictions (default: the one it was trained in)').choices(['fp32', 'bf16']))
    .addOption(new Option('--max-upload <bytes>', 'largest dataset upload (POST /datasets); larger ones get 413').default(512 * 1024 * 1024).argParser(number('--max-upload')))
    .addOption(new Option('--model-body-limit <bytes>', 'largest POST /models body (an ONNX model or a checkpoint); larger ones get 413').default(DEFAULT_MODEL_BODY_LIMIT).argParser(number('--model-body-limit')))
    .addOption(new Option('--redis <url>', 'train on the fold workers of this Redis (see "Scaling out" in the README)').env('FASTMLP_REDIS_URL'))
    .option('--no-local-worker', 'with --redis: train no folds in this process, only on `fastmlp worker`s')
    .addOption(new Option('--lock-duration <ms>', 'with --redis: how long a silent worker keeps its fold').argParser(number('--lock-duration')))
    .addOption(new Option('--public-url <url>', 'with --redis: where workers reach this service for datasets of their own (default http://host:port)').env('FASTMLP_PUBLIC_URL'))
    .action((flags: ServeFlags) => serve(flags));
  dataOptions(cli.command('sweep'))
    .description('A hyperparameter sweep: every trial trained, compared on validation accuracy, the best saved.')
    .requiredOption('--space <file>', 'JSON: a space ({"lr": [0.01, 0.05], …}) or a whole sweep ({ "base", "space", "strategy", "trials", "seed" })')
    .option('--trials <n>', 'random: trials to draw; grid: at most this many', number('--trials'))
    .addOption(new Option('--strategy <s>', 'grid (every combination) or random').choices(['grid', 'random']))
    .option('--seed <n>', 'seeds the random draws', number('--seed'))
    .addOption(new Option('--redis <url>', 'train the trials on the fold workers of this Redis, all at once').env('FASTMLP_REDIS_URL'))
    .option('--threads <n>', 'native threads per trial (default: all cores)', number('--threads'))
    .option('--out <dir>', 'folder for best.fmlp and sweep.json (default: a new folder under ./runs/)')
    .option('--json', 'print one JSON object at the end, nothing else on stdout')
    .action((flags: SweepFlags) => sweep(flags));
  cli
    .command('worker')
    .description('A fold worker: trains the folds of the jobs a `fastmlp serve --redis` puts on the queue.')
    .addOption(new Option('--redis <url>', 'the Redis of the service').env('FASTMLP_REDIS_URL').makeOptionMandatory())
    .addOption(new Option('--concurrency <n>', 'folds trained at once').default(1).argParser(number('--concurrency')))
    .option('--threads <n>', 'native threads per fold (default: all cores); equal on every worker for equal bits', number('--threads'))
    .addOption(new Option('--lock-duration <ms>', 'how long this worker keeps a fold without renewing its lock before another takes it').argParser(number('--lock-duration')))
    .addOption(new Option('--snapshot-interval <ms>', 'least time between two snapshots of a fold to Redis').default(1000).argParser(number('--snapshot-interval')))
    .option('--service <url>', "the service's URL for datasets of their own (default: the one it advertises in Redis)")
    .addOption(new Option('--cache-dir <dir>', 'where dataset files fetched from the service are kept by hash').default(defaultCacheDir(), '~/.cache/fastmlp/datasets'))
    .action((flags: WorkerFlags) => worker(flags));
  cli
    .command('info')
    .description('The native core: instruction set, threads, GEMM blocking.')
    .action(() => console.log(JSON.stringify({ version, ...native.gemmConfig(), threads: native.getThreads(), supported: native.supportedIsas() })));
  return cli;
}

export async function main(): Promise<void> {
  try {
    await program().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its message; help and --version end with code 0.
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    if (error instanceof UsageError) {
      console.error(`fastmlp: ${error.message}`);
      process.exitCode = 2;
      return;
    }
    console.error(`fastmlp: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}

// Run when executed (directly or through the npm bin link), not when imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
