/**
 * Checkpoints: a network (architecture and inner product parameters), the input standardization, and where
 * it came from: the recipe and the metrics of the epoch it was taken at for a trained network, the file for
 * an imported one; as a protobuf Checkpoint (proto/fastmlp.proto) inside a CheckpointFile envelope: magic
 * number, format version, CRC-32 of the payload.
 */
import { readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { IConversionOptions, Type } from 'protobufjs';
import type { Standardization } from '../data/normalize.js';
import type { PixelScale } from '../nn/inference.js';
import type { Precision } from '../nn/spec.js';
import { bytesToFloats, floatsToBytes, schemaType } from '../proto/schema.js';
import { writeFileAtomic } from '../atomic-write.js';
import type {
  Activation,
  AugmentSpec,
  Initializer,
  NormalizationMode,
  OptimizerSpec,
  ScheduleSpec,
  TrainRecipe,
} from './types.js';

/** The first field of every checkpoint file: "FMLP" in little-endian byte order. */
export const CHECKPOINT_MAGIC = 0x504c4d46;

/** The envelope version this code writes, and the newest it reads. */
export const CHECKPOINT_FORMAT_VERSION = 1;

/** A layer's activation: hidden layers use the recipe's, the output layer is softmax. */
export type LayerActivation = Activation | 'softmax';

/** One inner product and its activation, as the architecture lists them. */
export interface LayerSpec {
  inputs: number;
  outputs: number;
  activation: LayerActivation;
}

/** The network's shape, from the input image to the class probabilities. */
export interface Architecture {
  inputRows: number;
  inputCols: number;
  classes: number;
  /** From the input layer to the output layer; each layer's inputs are the previous layer's outputs. */
  layers: LayerSpec[];
}

/** Parameters of one inner product Y = X·W + B. */
export interface InnerProductParameters {
  inputs: number;
  outputs: number;
  /** inputs × outputs, row-major: W[i][j] at i·outputs + j. */
  weights: Float32Array;
  /** outputs. */
  bias: Float32Array;
}

/** Where a checkpoint was taken: the fold's epoch and its measurements. */
export interface CheckpointMetrics {
  /** 1-based; 0 when trained on the whole training set. */
  fold: number;
  /** 1-based. */
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  validLoss: number;
  validAccuracy: number;
  /** Set once the model has met the test set. */
  testLoss?: number;
  testAccuracy?: number;
}

/** What an imported network takes: pixels on `scale`, standardized as (x − mean) / std on that scale. */
export interface InputConvention {
  scale: PixelScale;
  mean: number;
  std: number;
}

/** The file an imported network came from, and the input convention stated on import. */
export interface ImportedFrom {
  format: 'onnx';
  /** The file's producer, e.g. 'pytorch' and '2.13.0'; empty when it names none. */
  producerName: string;
  producerVersion: string;
  graphName: string;
  /** Of the imported file, lower-case hex. */
  sha256: string;
  input: InputConvention;
}

/** Everything needed to run a network and to tell where it came from. */
export interface Checkpoint {
  architecture: Architecture;
  /** One per architecture layer, in the same order. */
  layers: InnerProductParameters[];
  /** In byte units (pixels 0–255), whatever the input convention of an imported network. */
  normalization: Standardization;
  /** How it was trained; absent for an imported network. */
  recipe?: TrainRecipe;
  /** Where training took it; absent for an imported network. */
  metrics?: CheckpointMetrics;
  /** The file an imported network came from; absent for a trained one. */
  importedFrom?: ImportedFrom;
  /** One per class, when the training data named them (an image folder's subfolders). */
  classNames?: string[];
}

/** A checkpoint training wrote: it always has its recipe and metrics. */
export type TrainedCheckpoint = Checkpoint & Required<Pick<Checkpoint, 'recipe' | 'metrics'>>;

/** A checkpoint that cannot be written or read; the message names the file and the problem. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';

  /**
   * @param source - the file (or 'checkpoint' for bytes in memory)
   * @param problem - what is wrong, in a sentence without the source
   */
  constructor(
    readonly source: string,
    readonly problem: string,
  ) {
    super(`${source}: ${problem}`);
  }
}

type Fail = (problem: string) => never;

// Enum names of the schema for each TypeScript literal.
const HIDDEN_ACTIVATION_NAMES = {
  sigmoid: 'ACTIVATION_SIGMOID',
  relu: 'ACTIVATION_RELU',
} as const satisfies Record<Activation, string>;
const LAYER_ACTIVATION_NAMES = {
  ...HIDDEN_ACTIVATION_NAMES,
  softmax: 'ACTIVATION_SOFTMAX',
} as const satisfies Record<LayerActivation, string>;
const INITIALIZER_NAMES = {
  'normal-fan-in': 'INITIALIZER_NORMAL_FAN_IN',
  he: 'INITIALIZER_HE',
  'glorot-uniform': 'INITIALIZER_GLOROT_UNIFORM',
} as const satisfies Record<Initializer, string>;
const NORMALIZATION_NAMES = {
  global: 'NORMALIZATION_MODE_GLOBAL',
  'per-pixel': 'NORMALIZATION_MODE_PER_PIXEL',
} as const satisfies Record<NormalizationMode, string>;
const PRECISION_NAMES = {
  fp32: 'PRECISION_FP32',
  bf16: 'PRECISION_BF16',
} as const satisfies Record<Precision, string>;
const INPUT_SCALE_NAMES = {
  byte: 'INPUT_SCALE_BYTE',
  unit: 'INPUT_SCALE_UNIT',
} as const satisfies Record<PixelScale, string>;

function literalOf<T extends string>(names: Record<T, string>, name: unknown): T | undefined {
  for (const literal of Object.keys(names) as T[]) if (names[literal] === name) return literal;
  return undefined;
}

// Plain objects as the codec schema's fromObject takes them and toObject(OBJECT_OPTIONS) gives them back.
interface LayerSpecObject {
  inputs: number;
  outputs: number;
  activation: string;
}
interface ArchitectureObject {
  inputRows: number;
  inputCols: number;
  classes: number;
  layers: LayerSpecObject[];
}
interface InnerProductObject {
  inputs: number;
  outputs: number;
  weights: Uint8Array;
  bias: Uint8Array;
}
interface NormalizationObject {
  mode: string;
  mean: Uint8Array;
  std: Uint8Array;
}
interface RecipeObject {
  hidden: { width: number; activation: string; dropout?: number | null }[];
  init: string;
  sgd?: Record<string, never> | null;
  momentum?: { momentum: number; nesterov: boolean } | null;
  adam?: { beta1: number; beta2: number; epsilon: number } | null;
  lr: number;
  constant?: Record<string, never> | null;
  step?: { everyEpochs: number; gamma: number } | null;
  cosine?: { minLr: number } | null;
  weightDecay: number;
  batchSize: number;
  epochs: number;
  folds: number;
  holdout?: number | null;
  augment?: Partial<Record<keyof AugmentSpec, number | null>> | null;
  labelSmoothing?: number | null;
  maxNorm?: number | null;
  precision?: string | null;
  inputDropout?: number | null;
  seed: number;
  normalization: string;
}
interface ImportedFromObject {
  format: string;
  producerName: string;
  producerVersion: string;
  graphName: string;
  sha256: string;
  inputScale: string;
  inputMean: number;
  inputStd: number;
}
interface CheckpointObject {
  architecture: ArchitectureObject | null;
  layers: InnerProductObject[];
  normalization: NormalizationObject | null;
  recipe: RecipeObject | null;
  metrics: CheckpointMetrics | null;
  importedFrom?: ImportedFromObject | null;
  /** One per class, when the training data named them (an image folder's subfolders). */
  classNames?: string[];
}
interface CheckpointFileObject {
  magic: number;
  formatVersion: number;
  crc32: number;
  payload: Uint8Array;
}

const OBJECT_OPTIONS: IConversionOptions = { longs: Number, enums: String, defaults: true, arrays: true, oneofs: true };

function toObject<T>(type: Type, bytes: Uint8Array): T {
  return type.toObject(type.decode(bytes), OBJECT_OPTIONS) as T;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function hex32(value: number): string {
  return `0x${value.toString(16).toUpperCase().padStart(8, '0')}`;
}

// ----------------------------------------------------------------------------------------------------
// Checkpoint ⇄ plain objects of the schema

function optimizerObject(optimizer: OptimizerSpec): Partial<RecipeObject> {
  switch (optimizer.kind) {
    case 'sgd':
      return { sgd: {} };
    case 'momentum':
      return { momentum: { momentum: optimizer.momentum, nesterov: optimizer.nesterov } };
    case 'adam':
      return { adam: { beta1: optimizer.beta1, beta2: optimizer.beta2, epsilon: optimizer.epsilon } };
  }
}

function scheduleObject(schedule: ScheduleSpec): Partial<RecipeObject> {
  switch (schedule.kind) {
    case 'constant':
      return { constant: {} };
    case 'step':
      return { step: { everyEpochs: schedule.everyEpochs, gamma: schedule.gamma } };
    case 'cosine':
      return { cosine: { minLr: schedule.minLr } };
  }
}

function recipeObject(recipe: TrainRecipe): RecipeObject {
  return {
    hidden: recipe.hidden.map((layer) => ({ width: layer.width, activation: HIDDEN_ACTIVATION_NAMES[layer.activation], ...(layer.dropout !== undefined ? { dropout: layer.dropout } : {}) })),
    init: INITIALIZER_NAMES[recipe.init],
    ...optimizerObject(recipe.optimizer),
    lr: recipe.lr,
    ...scheduleObject(recipe.schedule),
    weightDecay: recipe.weightDecay,
    batchSize: recipe.batchSize,
    epochs: recipe.epochs,
    folds: recipe.folds,
    ...(recipe.holdout !== undefined ? { holdout: recipe.holdout } : {}),
    ...(recipe.augment !== undefined ? { augment: recipe.augment } : {}),
    ...(recipe.labelSmoothing !== undefined ? { labelSmoothing: recipe.labelSmoothing } : {}),
    ...(recipe.maxNorm !== undefined ? { maxNorm: recipe.maxNorm } : {}),
    ...(recipe.precision !== undefined ? { precision: PRECISION_NAMES[recipe.precision] } : {}),
    ...(recipe.inputDropout !== undefined ? { inputDropout: recipe.inputDropout } : {}),
    seed: recipe.seed,
    normalization: NORMALIZATION_NAMES[recipe.normalization],
  };
}

function importedFromObject(from: ImportedFrom): ImportedFromObject {
  const { input, ...file } = from;
  return { ...file, inputScale: INPUT_SCALE_NAMES[input.scale], inputMean: input.mean, inputStd: input.std };
}

function checkpointObject(c: Checkpoint): CheckpointObject {
  return {
    architecture: {
      inputRows: c.architecture.inputRows,
      inputCols: c.architecture.inputCols,
      classes: c.architecture.classes,
      layers: c.architecture.layers.map((layer) => ({
        inputs: layer.inputs,
        outputs: layer.outputs,
        activation: LAYER_ACTIVATION_NAMES[layer.activation],
      })),
    },
    layers: c.layers.map((layer) => ({
      inputs: layer.inputs,
      outputs: layer.outputs,
      weights: floatsToBytes(layer.weights),
      bias: floatsToBytes(layer.bias),
    })),
    normalization: {
      mode: NORMALIZATION_NAMES[c.normalization.mode],
      mean: floatsToBytes(c.normalization.mean),
      std: floatsToBytes(c.normalization.std),
    },
    // A trained checkpoint's bytes are those it had before imported networks existed: field 6 stays unwritten.
    recipe: c.recipe === undefined ? null : recipeObject(c.recipe),
    metrics: c.metrics ?? null,
    ...(c.importedFrom === undefined ? {} : { importedFrom: importedFromObject(c.importedFrom) }),
    classNames: c.classNames ?? [],
  };
}

function floats(bytes: Uint8Array, what: string, fail: Fail): Float32Array {
  if (bytes.length % 4 !== 0) fail(`${what} has ${bytes.length} bytes, not a whole number of floats`);
  return bytesToFloats(bytes);
}

function optimizerSpec(recipe: RecipeObject, fail: Fail): OptimizerSpec {
  if (recipe.sgd) return { kind: 'sgd' };
  if (recipe.momentum) return { kind: 'momentum', ...recipe.momentum };
  if (recipe.adam) return { kind: 'adam', ...recipe.adam };
  return fail('the recipe names no optimizer');
}

/** The recipe's precision: absent when unspecified (fp32, as files from before the field). */
function precisionOf(name: unknown, fail: Fail): { precision?: Precision } {
  if (name === undefined || name === null || name === 'PRECISION_UNSPECIFIED') return {};
  return { precision: literalOf(PRECISION_NAMES, name) ?? fail(`the recipe's precision ${String(name)} is unknown`) };
}

function scheduleSpec(recipe: RecipeObject, fail: Fail): ScheduleSpec {
  if (recipe.constant) return { kind: 'constant' };
  if (recipe.step) return { kind: 'step', ...recipe.step };
  if (recipe.cosine) return { kind: 'cosine', ...recipe.cosine };
  return fail('the recipe names no learning-rate schedule');
}

/** The set limits of an Augmentation message (unset optional fields read back as null). */
function augmentSpec(o: NonNullable<RecipeObject['augment']>): AugmentSpec {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number')) as AugmentSpec;
}

function trainRecipe(recipe: RecipeObject, fail: Fail): TrainRecipe {
  return {
    hidden: recipe.hidden.map((layer, i) => ({
      width: layer.width,
      activation:
        literalOf(HIDDEN_ACTIVATION_NAMES, layer.activation) ??
        fail(`recipe hidden layer ${i + 1} has activation ${layer.activation}, not sigmoid or relu`),
      ...(layer.dropout !== undefined && layer.dropout !== null ? { dropout: layer.dropout } : {}),
    })),
    init: literalOf(INITIALIZER_NAMES, recipe.init) ?? fail(`the recipe's initializer ${recipe.init} is unknown`),
    optimizer: optimizerSpec(recipe, fail),
    lr: recipe.lr,
    schedule: scheduleSpec(recipe, fail),
    weightDecay: recipe.weightDecay,
    batchSize: recipe.batchSize,
    epochs: recipe.epochs,
    folds: recipe.folds,
    ...(recipe.holdout !== undefined && recipe.holdout !== null ? { holdout: recipe.holdout } : {}),
    ...(recipe.augment ? { augment: augmentSpec(recipe.augment) } : {}),
    ...(typeof recipe.labelSmoothing === 'number' ? { labelSmoothing: recipe.labelSmoothing } : {}),
    ...(typeof recipe.maxNorm === 'number' ? { maxNorm: recipe.maxNorm } : {}),
    ...precisionOf(recipe.precision, fail),
    ...(typeof recipe.inputDropout === 'number' ? { inputDropout: recipe.inputDropout } : {}),
    seed: recipe.seed,
    normalization:
      literalOf(NORMALIZATION_NAMES, recipe.normalization) ??
      fail(`the recipe's normalization ${recipe.normalization} is unknown`),
  };
}

function importedFrom(o: ImportedFromObject, fail: Fail): ImportedFrom {
  if (o.format !== 'onnx') fail(`imported from ${JSON.stringify(o.format)}, a format this fastmlp does not know`);
  return {
    format: o.format,
    producerName: o.producerName,
    producerVersion: o.producerVersion,
    graphName: o.graphName,
    sha256: o.sha256,
    input: {
      scale: literalOf(INPUT_SCALE_NAMES, o.inputScale) ?? fail(`the input scale ${o.inputScale} is unknown`),
      mean: o.inputMean,
      std: o.inputStd,
    },
  };
}

function checkpointMetrics(metrics: CheckpointMetrics): CheckpointMetrics {
  return {
    fold: metrics.fold,
    epoch: metrics.epoch,
    trainLoss: metrics.trainLoss,
    trainAccuracy: metrics.trainAccuracy,
    validLoss: metrics.validLoss,
    validAccuracy: metrics.validAccuracy,
    ...(metrics.testLoss === undefined ? {} : { testLoss: metrics.testLoss }),
    ...(metrics.testAccuracy === undefined ? {} : { testAccuracy: metrics.testAccuracy }),
  };
}

function checkpointFromObject(o: CheckpointObject, fail: Fail): Checkpoint {
  const architecture = o.architecture ?? fail('no architecture');
  const normalization = o.normalization ?? fail('no normalization');
  const imported = o.importedFrom ? importedFrom(o.importedFrom, fail) : undefined;
  // An imported network has no recipe or metrics; a trained one needs both.
  const metrics = o.metrics ?? (imported ? undefined : fail('no metrics'));
  const recipe = o.recipe ?? (imported ? undefined : fail('no recipe'));
  return {
    architecture: {
      inputRows: architecture.inputRows,
      inputCols: architecture.inputCols,
      classes: architecture.classes,
      layers: architecture.layers.map((layer, i) => ({
        inputs: layer.inputs,
        outputs: layer.outputs,
        activation:
          literalOf(LAYER_ACTIVATION_NAMES, layer.activation) ??
          fail(`architecture layer ${i + 1} has an unknown activation ${layer.activation}`),
      })),
    },
    layers: o.layers.map((layer, i) => ({
      inputs: layer.inputs,
      outputs: layer.outputs,
      weights: floats(layer.weights, `layer ${i + 1} weights`, fail),
      bias: floats(layer.bias, `layer ${i + 1} bias`, fail),
    })),
    normalization: {
      mode:
        literalOf(NORMALIZATION_NAMES, normalization.mode) ??
        fail(`the normalization mode ${normalization.mode} is unknown`),
      mean: floats(normalization.mean, 'normalization mean', fail),
      std: floats(normalization.std, 'normalization std', fail),
    },
    ...(recipe ? { recipe: trainRecipe(recipe, fail) } : {}),
    ...(metrics ? { metrics: checkpointMetrics(metrics) } : {}),
    ...(imported ? { importedFrom: imported } : {}),
    ...(o.classNames?.length ? { classNames: o.classNames } : {}),
  };
}

// ----------------------------------------------------------------------------------------------------
// Shapes

function isCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) > 0 && (value as number) <= 0xffffffff;
}

function checkValues(values: unknown, length: number, what: string, fail: Fail): void {
  if (!(values instanceof Float32Array)) fail(`${what} is not a Float32Array`);
  const array = values as Float32Array;
  if (array.length !== length) fail(`${what} has ${array.length} values, expected ${length}`);
  for (let i = 0; i < array.length; i++) {
    if (!Number.isFinite(array[i])) fail(`${what}[${i}] is ${array[i]}, not a finite number`);
  }
}

/** Every shape agrees with the architecture and every parameter is finite; otherwise `fail` is called. */
function checkShapes(c: Checkpoint, fail: Fail): void {
  const { inputRows, inputCols, classes, layers } = c.architecture;
  if (!isCount(inputRows) || !isCount(inputCols) || !isCount(classes)) {
    fail(`the architecture needs positive input rows, cols and classes, not ${inputRows}, ${inputCols}, ${classes}`);
  }
  if (layers.length === 0) fail('the architecture has no layers');
  let width = inputRows * inputCols;
  layers.forEach((layer, i) => {
    const name = `architecture layer ${i + 1}`;
    if (!isCount(layer.inputs) || !isCount(layer.outputs)) {
      fail(`${name} needs positive inputs and outputs, not ${layer.inputs} and ${layer.outputs}`);
    }
    if (layer.inputs !== width) {
      fail(`${name} takes ${layer.inputs} inputs but ${i === 0 ? 'the image has' : `layer ${i} gives`} ${width}`);
    }
    const isOutput = i === layers.length - 1;
    if (isOutput !== (layer.activation === 'softmax')) {
      fail(`${name} has activation ${layer.activation}: softmax belongs to the output layer and only there`);
    }
    width = layer.outputs;
  });
  if (width !== classes) fail(`the output layer gives ${width} outputs for ${classes} classes`);
  if (c.classNames !== undefined) {
    if (c.classNames.length !== classes) fail(`${c.classNames.length} class names for ${classes} classes`);
    c.classNames.forEach((name, i) => {
      if (typeof name !== 'string' || name.length === 0 || name.length > 200) fail(`class name ${i + 1} is not a name of 1 to 200 characters`);
    });
  }

  if (c.layers.length !== layers.length) {
    fail(`${c.layers.length} inner products for ${layers.length} architecture layers`);
  }
  c.layers.forEach((layer, i) => {
    const spec = layers[i]!;
    const name = `layer ${i + 1}`;
    if (layer.inputs !== spec.inputs || layer.outputs !== spec.outputs) {
      fail(`${name} is ${layer.inputs}×${layer.outputs} but the architecture says ${spec.inputs}×${spec.outputs}`);
    }
    checkValues(layer.weights, spec.inputs * spec.outputs, `${name} weights`, fail);
    checkValues(layer.bias, spec.outputs, `${name} bias`, fail);
  });

  const { mode, mean, std } = c.normalization;
  const statistics = mode === 'global' ? 1 : inputRows * inputCols;
  checkValues(mean, statistics, `normalization mean (${mode})`, fail);
  checkValues(std, statistics, `normalization std (${mode})`, fail);
  const zero = std.findIndex((s) => !(s > 0));
  if (zero >= 0) fail(`normalization std[${zero}] is ${std[zero]}, not positive`);

  if (c.importedFrom === undefined && (c.recipe === undefined || c.metrics === undefined)) {
    fail('a trained network needs its recipe and metrics (only an imported one goes without)');
  }
  if (c.metrics !== undefined) {
    const { fold, epoch } = c.metrics;
    if (!Number.isInteger(fold) || fold < 0 || !Number.isInteger(epoch) || epoch < 0) {
      fail(`the metrics need a whole fold and epoch, not ${fold} and ${epoch}`);
    }
  }
  if (c.importedFrom !== undefined) {
    const { mean, std } = c.importedFrom.input;
    if (!Number.isFinite(mean) || !(std > 0) || !Number.isFinite(std)) fail(`the input convention needs a finite mean and a positive std, not ${mean} and ${std}`);
  }
}

// ----------------------------------------------------------------------------------------------------
// Bytes and files

function encode(c: Checkpoint, source: string): Uint8Array {
  checkShapes(c, (problem) => {
    throw new CheckpointError(source, problem);
  });
  const checkpointType = schemaType('Checkpoint');
  const fileType = schemaType('CheckpointFile');
  // A view of the writer's buffer: the large bytes are copied once, into the file's bytes below.
  const payload = checkpointType.encode(checkpointType.fromObject(checkpointObject(c))).finish(true);
  const envelope: Omit<CheckpointFileObject, 'payload'> = {
    magic: CHECKPOINT_MAGIC,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    crc32: crc32(payload),
  };
  // Fields 1-3, then the payload field's key and length; payload is the last field, so appending its
  // bytes gives exactly what encoding the whole CheckpointFile would.
  const head = fileType
    .encode(fileType.fromObject(envelope))
    .uint32(((fileType.fields['payload']!.id << 3) | 2) >>> 0)
    .uint32(payload.length)
    .finish();
  const file = new Uint8Array(head.length + payload.length);
  file.set(head);
  file.set(payload, head.length);
  return file;
}

/**
 * Serializes a checkpoint into the bytes of a checkpoint file. Same checkpoint, same bytes.
 *
 * @throws CheckpointError if a shape disagrees with the architecture or a parameter is not finite
 */
export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  return encode(c, 'checkpoint');
}

/** Starts with the bytes every checkpoint file starts with, 0D 46 4D 4C 50: an ONNX file never does. */
export function isCheckpointFile(bytes: Uint8Array): boolean {
  return bytes.length >= 5 && startsLikeCheckpoint(bytes);
}

/** Starts like a checkpoint file, field 1 (fixed32) holding the magic, as far as there are bytes. */
function startsLikeCheckpoint(bytes: Uint8Array): boolean {
  const start = [0x0d, 0x46, 0x4d, 0x4c, 0x50];
  return start.every((byte, i) => i >= bytes.length || bytes[i] === byte);
}

function openEnvelope(bytes: Uint8Array, fail: Fail): Uint8Array {
  if (bytes.length === 0) fail('the file is empty');
  let file: CheckpointFileObject | undefined;
  try {
    file = toObject<CheckpointFileObject>(schemaType('CheckpointFile'), bytes);
  } catch (error) {
    if (!startsLikeCheckpoint(bytes)) fail('not a fastmlp checkpoint: it does not start with the FMLP magic');
    fail(`truncated or damaged (${describeError(error)})`);
  }
  if (file.magic !== CHECKPOINT_MAGIC) {
    fail(`not a fastmlp checkpoint: magic ${hex32(file.magic)} instead of ${hex32(CHECKPOINT_MAGIC)} ("FMLP")`);
  }
  if (file.formatVersion > CHECKPOINT_FORMAT_VERSION) {
    fail(
      `format version ${file.formatVersion} is newer than this fastmlp reads (${CHECKPOINT_FORMAT_VERSION}); ` +
        'load it with a newer fastmlp',
    );
  }
  if (file.formatVersion !== CHECKPOINT_FORMAT_VERSION) fail(`format version ${file.formatVersion} is unknown`);
  const actual = crc32(file.payload);
  if (actual !== file.crc32) {
    fail(`checksum mismatch: the payload's CRC-32 is ${hex32(actual)}, the file records ${hex32(file.crc32)}`);
  }
  return file.payload;
}

/**
 * Reads the bytes of a checkpoint file, checking the magic, the format version, the CRC-32, and every
 * shape against the architecture.
 *
 * @param source - the file the bytes came from, named in errors
 * @throws CheckpointError naming `source` and the problem
 */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  const fail: Fail = (problem) => {
    throw new CheckpointError(source, problem);
  };
  const payload = openEnvelope(bytes, fail);
  let object: CheckpointObject | undefined;
  try {
    object = toObject<CheckpointObject>(schemaType('Checkpoint'), payload);
  } catch (error) {
    fail(`the payload is not a valid Checkpoint message (${describeError(error)})`);
  }
  const checkpoint = checkpointFromObject(object, fail);
  checkShapes(checkpoint, fail);
  return checkpoint;
}

/**
 * Writes a checkpoint file atomically: a temporary file in the same folder, fsync, rename. `path` holds
 * either its previous content or the whole new checkpoint, never part of one.
 *
 * @throws CheckpointError if the checkpoint's shapes are inconsistent (nothing is written)
 */
export async function saveCheckpoint(path: string, c: Checkpoint): Promise<void> {
  await writeFileAtomic(path, encode(c, path));
}

/**
 * Reads and checks a checkpoint file.
 *
 * @throws CheckpointError naming the file and the problem; file-system errors (ENOENT, …) pass through
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  return decodeCheckpoint(await readFile(path), path);
}
