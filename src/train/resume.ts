/**
 * The state of a K-fold run between two epochs, enough to resume it bit for bit, and its file form; the
 * same for one fold trained alone (a fold snapshot), and the bytes of a finished fold, as they travel
 * between a worker and the service.
 *
 * All three are little-endian, and differ in their magic and their JSON part only:
 *
 *     u32 magic ("FMRS", "FMFS", "FMFR") | u32 format version | u32 n | n bytes of JSON (the small fields and the array table)
 *     | zero padding to a multiple of 4 | the arrays, one after another, as the table lists them
 *     | u32 CRC-32 of every byte before it
 *
 * The arrays (parameters, optimizer buffers, the shuffled order) travel as raw bytes: one copy in, one out.
 */
import { endianness } from 'node:os';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import type { OptimizerState } from '../nn/optimizers.js';
import type { RngState } from '../nn/rng.js';
import { recipeSchema } from './recipe.js';
import type { EpochMetrics, FoldSummary, TrainRecipe } from './types.js';

/** A fold that has finished: its summary and the parameters of its best epoch. */
export interface FinishedFold {
  summary: FoldSummary;
  bestParams: Float32Array;
}

/**
 * A K-fold run after a finished epoch. The folds are not stored: they follow from the recipe's seed and the
 * number of training samples. As trainKFold hands it to onSnapshot, the arrays are views of the live
 * buffers, valid until the next epoch starts; encode the state (or copy them) to keep it.
 */
export interface TrainingState {
  /** The recipe of the run; it resumes under the same recipe only. */
  recipe: TrainRecipe;
  /** Images in the training set; it resumes on a training set of the same size only. */
  trainSamples: number;
  /** Wall time of the run so far. */
  seconds: number;
  /** Every fold before the current one, in order. */
  completed: FinishedFold[];
  /** The current fold (1-based) and its last finished epoch (1-based; may be the fold's last). */
  fold: number;
  epoch: number;
  /** The network's parameter block after that epoch. */
  params: Float32Array;
  optimizer: OptimizerState;
  /** The fold's generator, after that epoch's shuffle. */
  rng: RngState;
  /** The fold's training samples in the order of that epoch; the next epoch shuffles them again. */
  order: Int32Array;
  /** The fold's best parameters so far and the index of their epoch in `history`. */
  bestParams: Float32Array;
  bestIndex: number;
  /** The fold's finished epochs. */
  history: EpochMetrics[];
}

/**
 * One fold between two epochs, alone: what a worker that trains only that fold saves to resume it. The
 * folds before it are not its concern.
 */
export type FoldSnapshot = Omit<TrainingState, 'seconds' | 'completed'>;

/** The first four bytes of every resume file: "FMRS". */
export const RESUME_MAGIC = 0x53524d46;

/** The format version this code writes, and the only one it reads. */
export const RESUME_FORMAT_VERSION = 1;

/** The first four bytes of a fold snapshot (encodeFoldSnapshot): "FMFS". Same layout and version. */
export const FOLD_SNAPSHOT_MAGIC = 0x53464d46;

/** The first four bytes of a finished fold (encodeFinishedFold): "FMFR". Same layout and version. */
export const FINISHED_FOLD_MAGIC = 0x52464d46;

/** A resume state that cannot be read, or does not belong to the run it would resume. */
export class ResumeStateError extends Error {
  override readonly name = 'ResumeStateError';

  constructor(
    readonly source: string,
    readonly problem: string,
  ) {
    super(`${source}: ${problem}`);
  }
}

const HEADER_BYTES = 12;
const hostIsLittleEndian = endianness() === 'LE';

// ----------------------------------------------------------------------------------------------------
// The JSON part

/** NaN and ±Infinity (the validation figures without folds) as {$number}, as the job store keeps them. */
function stringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v));
}

function parse(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && '$number' in v ? Number((v as { $number: unknown }).$number) : v,
  );
}

const count = z.number().int().min(0);
const word = z.number().int().min(0).max(0xffff_ffff);
/** Any number, NaN and ±Infinity included (z.number refuses them). */
const figure = z.custom<number>((v) => typeof v === 'number', 'Expected a number');
const epochSchema = z
  .object({
    epoch: z.number().int().min(1),
    trainLoss: figure,
    trainAccuracy: figure,
    validLoss: figure,
    validAccuracy: figure,
    seconds: figure,
    testLoss: figure.optional(),
    testAccuracy: figure.optional(),
  })
  .strict();

const arrayEntry = z.object({ name: z.string(), type: z.enum(['f32', 'i32']), length: count }).strict();

const summarySchema = z
  .object({
    fold: z.number().int().min(1),
    history: z.array(epochSchema),
    bestEpoch: z.number().int().min(1),
    trainAccuracy: figure,
    validAccuracy: figure,
  })
  .strict();

const foldMetaSchema = z
  .object({
    recipe: recipeSchema,
    trainSamples: count,
    fold: z.number().int().min(1),
    epoch: z.number().int().min(1),
    bestIndex: count,
    history: z.array(epochSchema),
    rng: z.object({ words: z.tuple([word, word, word, word]), spareNormal: figure.nullable() }).strict(),
    optimizer: z.object({ kind: z.enum(['sgd', 'momentum', 'adam']), step: count }).strict(),
    arrays: z.array(arrayEntry),
  })
  .strict();
const metaSchema = foldMetaSchema.extend({ seconds: z.number().min(0), completed: z.array(summarySchema) }).strict();
const finishedMetaSchema = z.object({ recipe: recipeSchema, summary: summarySchema, arrays: z.array(arrayEntry) }).strict();
type ArrayEntry = z.infer<typeof arrayEntry>;

/** The optimizer buffers each kind keeps once it has stepped. */
const OPTIMIZER_BUFFERS = { sgd: 0, momentum: 1, adam: 2 } as const;

// ----------------------------------------------------------------------------------------------------
// Checks shared by both directions

/**
 * Checks that a state agrees with itself and its recipe (decodeTrainingState does this already).
 *
 * @throws ResumeStateError naming `source` and the first disagreement
 */
export function checkTrainingState(s: TrainingState, source = 'training state'): void {
  checkConsistent(s, (problem) => {
    throw new ResumeStateError(source, problem);
  });
}

type Fail = (problem: string) => never;

function checkConsistent(s: TrainingState, fail: Fail): void {
  const { recipe } = s;
  if (s.completed.length !== s.fold - 1) fail(`fold ${s.fold} is current but ${s.completed.length} folds are finished`);
  checkFold(s, fail);
  s.completed.forEach((c, i) => {
    if (c.summary.fold !== i + 1) fail(`finished fold ${i + 1} is numbered ${c.summary.fold}`);
    checkFinished(c, recipe, s.params.length, `finished fold ${i + 1}`, fail);
  });
}

function checkFinished(c: FinishedFold, recipe: TrainRecipe, n: number, name: string, fail: Fail): void {
  if (c.summary.history.length !== recipe.epochs) fail(`${name} has ${c.summary.history.length} epochs, not ${recipe.epochs}`);
  c.summary.history.forEach((m, i) => m.epoch !== i + 1 && fail(`${name}'s history entry ${i} is epoch ${m.epoch}, not ${i + 1}`));
  if (c.summary.bestEpoch > recipe.epochs) fail(`${name}'s best epoch ${c.summary.bestEpoch} is beyond ${recipe.epochs}`);
  if (c.bestParams.length !== n) fail(`${name}'s best parameters hold ${c.bestParams.length} floats, not ${n}`);
}

function checkFold(s: FoldSnapshot, fail: Fail): void {
  const { recipe } = s;
  if (s.fold > recipe.folds) fail(`fold ${s.fold} is beyond the recipe's ${recipe.folds} folds`);
  if (s.epoch > recipe.epochs) fail(`epoch ${s.epoch} is beyond the recipe's ${recipe.epochs} epochs`);
  if (s.history.length !== s.epoch) fail(`epoch ${s.epoch} is finished but the history holds ${s.history.length} epochs`);
  s.history.forEach((m, i) => m.epoch !== i + 1 && fail(`history entry ${i} is epoch ${m.epoch}, not ${i + 1}`));
  if (s.bestIndex >= s.epoch) fail(`the best epoch's index ${s.bestIndex} is not among the ${s.epoch} finished epochs`);
  const n = s.params.length;
  if (n === 0) fail('the parameter block is empty');
  if (s.bestParams.length !== n) fail(`the best parameters hold ${s.bestParams.length} floats, the parameters ${n}`);
  const { kind, buffers } = s.optimizer;
  if (kind !== recipe.optimizer.kind) fail(`a ${kind} optimizer state for a ${recipe.optimizer.kind} recipe`);
  if (buffers.length !== 0 && buffers.length !== OPTIMIZER_BUFFERS[kind]) fail(`${buffers.length} buffers for a ${kind} optimizer`);
  buffers.forEach((b, i) => b.length !== n && fail(`optimizer buffer ${i} holds ${b.length} floats, not ${n}`));
  if (s.order.length === 0 || s.order.length > s.trainSamples) fail(`the order holds ${s.order.length} samples of ${s.trainSamples}`);
  for (const i of s.order) if (!(i >= 0 && i < s.trainSamples)) fail(`the order holds sample ${i}, outside 0..${s.trainSamples - 1}`);
}

// ----------------------------------------------------------------------------------------------------
// Encoding

type Numbers = Float32Array | Int32Array;

function foldArrays(s: FoldSnapshot): [string, Numbers][] {
  return [
    ['params', s.params],
    ['bestParams', s.bestParams],
    ['order', s.order],
    ...s.optimizer.buffers.map((b, i): [string, Numbers] => [`optimizer.${i}`, b]),
  ];
}

function foldMeta(s: FoldSnapshot) {
  return {
    recipe: s.recipe,
    trainSamples: s.trainSamples,
    fold: s.fold,
    epoch: s.epoch,
    bestIndex: s.bestIndex,
    history: s.history,
    rng: s.rng,
    optimizer: { kind: s.optimizer.kind, step: s.optimizer.step },
  };
}

function writeNumbers(view: DataView, bytes: Uint8Array, offset: number, array: Numbers): void {
  if (hostIsLittleEndian) {
    bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), offset);
    return;
  }
  const float = array instanceof Float32Array;
  for (let i = 0; i < array.length; i++) {
    if (float) view.setFloat32(offset + 4 * i, array[i]!, true);
    else view.setInt32(offset + 4 * i, array[i]!, true);
  }
}

/** The file form: header, the JSON part with the array table added, the arrays, the CRC-32. */
function frame(magic: number, meta: object, arrays: [string, Numbers][]): Uint8Array<ArrayBuffer> {
  const table = arrays.map(([name, a]) => ({ name, type: a instanceof Float32Array ? 'f32' : 'i32', length: a.length }));
  const json = new TextEncoder().encode(stringify({ ...meta, arrays: table }));
  const start = HEADER_BYTES + Math.ceil(json.length / 4) * 4;
  const total = start + arrays.reduce((sum, [, a]) => sum + a.byteLength, 0) + 4;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic, true);
  view.setUint32(4, RESUME_FORMAT_VERSION, true);
  view.setUint32(8, json.length, true);
  bytes.set(json, HEADER_BYTES);
  let offset = start;
  for (const [, a] of arrays) {
    writeNumbers(view, bytes, offset, a);
    offset += a.byteLength;
  }
  view.setUint32(offset, crc32(bytes.subarray(0, offset)), true);
  return bytes;
}

/**
 * The bytes of a resume file for the state: one fresh ArrayBuffer of exactly their size (so it can be
 * transferred to another thread). Same state, same bytes.
 *
 * @throws ResumeStateError if the state disagrees with itself or its recipe
 */
export function encodeTrainingState(s: TrainingState): Uint8Array<ArrayBuffer> {
  checkTrainingState(s);
  const arrays = [...foldArrays(s), ...s.completed.map((c, i): [string, Numbers] => [`completed.${i}.bestParams`, c.bestParams])];
  return frame(RESUME_MAGIC, { ...foldMeta(s), seconds: s.seconds, completed: s.completed.map((c) => c.summary) }, arrays);
}

/** The bytes of one fold's state, as encodeTrainingState makes them of a run's. */
export function encodeFoldSnapshot(s: FoldSnapshot): Uint8Array<ArrayBuffer> {
  checkFold(s, (problem) => {
    throw new ResumeStateError('fold snapshot', problem);
  });
  return frame(FOLD_SNAPSHOT_MAGIC, foldMeta(s), foldArrays(s));
}

/** The bytes of a finished fold of a run under `recipe`: its summary and its best parameters. */
export function encodeFinishedFold(fold: FinishedFold, recipe: TrainRecipe): Uint8Array<ArrayBuffer> {
  checkFinished(fold, recipe, fold.bestParams.length, `fold ${fold.summary.fold}`, (problem) => {
    throw new ResumeStateError('finished fold', problem);
  });
  return frame(FINISHED_FOLD_MAGIC, { recipe, summary: fold.summary }, [['bestParams', fold.bestParams]]);
}

// ----------------------------------------------------------------------------------------------------
// Decoding

function readNumbers(bytes: Uint8Array, offset: number, entry: ArrayEntry): Numbers {
  const { length, type } = entry;
  // A copy through the constructor: Buffer's slice() would be a view into the file's whole buffer.
  const copy = new Uint8Array(bytes.subarray(offset, offset + 4 * length));
  const array = type === 'f32' ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
  if (!hostIsLittleEndian) {
    const view = new DataView(copy.buffer);
    for (let i = 0; i < length; i++) array[i] = type === 'f32' ? view.getFloat32(4 * i, true) : view.getInt32(4 * i, true);
  }
  return array;
}

const MAGIC_NAMES = new Map([
  [RESUME_MAGIC, 'FMRS'],
  [FOLD_SNAPSHOT_MAGIC, 'FMFS'],
  [FINISHED_FOLD_MAGIC, 'FMFR'],
]);

/** What the three forms share to read: a JSON part checked by `schema`, and its arrays, taken by name. */
interface Unframed<T> {
  meta: T;
  take<A extends Numbers>(name: string, kind: new (n: number) => A): A;
  /** Fails if an array was not taken. */
  done(): void;
}

function unframe<T extends { arrays: ArrayEntry[] }>(bytes: Uint8Array, magic: number, what: string, schema: z.ZodType<T>, fail: Fail): Unframed<T> {
  const name = MAGIC_NAMES.get(magic)!;
  if (bytes.length < HEADER_BYTES + 4) fail(`${bytes.length} bytes are too few for a ${what}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0, true);
  if (found !== magic) fail(`not a fastmlp ${what}: magic 0x${found.toString(16).padStart(8, '0')} instead of "${name}"`);
  const version = view.getUint32(4, true);
  if (version !== RESUME_FORMAT_VERSION) fail(`format version ${version} is not the one this fastmlp reads (${RESUME_FORMAT_VERSION})`);
  const end = bytes.length - 4;
  const recorded = view.getUint32(end, true);
  const actual = crc32(bytes.subarray(0, end));
  if (actual !== recorded) fail(`checksum mismatch: the content's CRC-32 is ${actual}, the file records ${recorded}`);
  const jsonLength = view.getUint32(8, true);
  const start = HEADER_BYTES + Math.ceil(jsonLength / 4) * 4;
  if (start > end) fail(`the JSON part of ${jsonLength} bytes runs past the end`);

  let meta: T | undefined;
  try {
    const parsed = schema.safeParse(parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_BYTES, HEADER_BYTES + jsonLength))));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      fail(`field ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    meta = parsed.data;
  } catch (error) {
    if (error instanceof ResumeStateError) throw error;
    fail(`the JSON part is damaged (${error instanceof Error ? error.message : String(error)})`);
  }
  const m = meta!;

  const arrays = new Map<string, Numbers>();
  let offset = start;
  for (const entry of m.arrays) {
    if (offset + 4 * entry.length > end) fail(`array ${entry.name} of ${entry.length} values runs past the end`);
    if (arrays.has(entry.name)) fail(`array ${entry.name} appears twice`);
    arrays.set(entry.name, readNumbers(bytes, offset, entry));
    offset += 4 * entry.length;
  }
  if (offset !== end) fail(`${end - offset} bytes follow the last array`);
  return {
    meta: m,
    take: <A extends Numbers>(key: string, kind: new (n: number) => A): A => {
      const a = arrays.get(key);
      if (!(a instanceof kind)) return fail(`array ${key} is missing or of the wrong type`);
      arrays.delete(key);
      return a;
    },
    done: () => {
      if (arrays.size > 0) fail(`unknown arrays: ${[...arrays.keys()].join(', ')}`);
    },
  };
}

function failing(source: string): Fail {
  return (problem) => {
    throw new ResumeStateError(source, problem);
  };
}

/** A fold's state from its JSON part and arrays. */
function readFold(u: Unframed<z.infer<typeof foldMetaSchema>>): FoldSnapshot {
  const m = u.meta;
  const bufferCount = m.arrays.filter((a) => a.name.startsWith('optimizer.')).length;
  return {
    recipe: m.recipe as TrainRecipe,
    trainSamples: m.trainSamples,
    fold: m.fold,
    epoch: m.epoch,
    params: u.take('params', Float32Array),
    optimizer: {
      kind: m.optimizer.kind,
      step: m.optimizer.step,
      buffers: Array.from({ length: bufferCount }, (_, i) => u.take(`optimizer.${i}`, Float32Array)),
    },
    rng: { words: m.rng.words, spareNormal: m.rng.spareNormal },
    order: u.take('order', Int32Array),
    bestParams: u.take('bestParams', Float32Array),
    bestIndex: m.bestIndex,
    history: m.history,
  };
}

/**
 * Reads the bytes of a resume file, checking the magic, the format version, every length, the CRC-32 and
 * that the state agrees with itself and its recipe. The arrays are copies; the bytes stay untouched.
 *
 * @param source - where the bytes came from, named in errors
 * @throws ResumeStateError naming `source` and the problem
 */
export function decodeTrainingState(bytes: Uint8Array, source = 'training state'): TrainingState {
  const fail = failing(source);
  const u = unframe(bytes, RESUME_MAGIC, 'resume file', metaSchema, fail);
  const { seconds, completed } = u.meta;
  const state: TrainingState = {
    ...readFold(u),
    seconds,
    completed: completed.map((summary, i) => ({ summary, bestParams: u.take(`completed.${i}.bestParams`, Float32Array) })),
  };
  u.done();
  checkConsistent(state, fail);
  return state;
}

/** Reads encodeFoldSnapshot's bytes, with every check decodeTrainingState makes. */
export function decodeFoldSnapshot(bytes: Uint8Array, source = 'fold snapshot'): FoldSnapshot {
  const fail = failing(source);
  const u = unframe(bytes, FOLD_SNAPSHOT_MAGIC, 'fold snapshot', foldMetaSchema, fail);
  const state = readFold(u);
  u.done();
  checkFold(state, fail);
  return state;
}

/** Reads encodeFinishedFold's bytes: the fold, and the recipe it was trained under. */
export function decodeFinishedFold(bytes: Uint8Array, source = 'finished fold'): { fold: FinishedFold; recipe: TrainRecipe } {
  const fail = failing(source);
  const u = unframe(bytes, FINISHED_FOLD_MAGIC, 'finished fold', finishedMetaSchema, fail);
  const recipe = u.meta.recipe as TrainRecipe;
  const fold = { summary: u.meta.summary, bestParams: u.take('bestParams', Float32Array) };
  u.done();
  checkFinished(fold, recipe, fold.bestParams.length, `fold ${fold.summary.fold}`, fail);
  if (fold.summary.fold > recipe.folds) fail(`fold ${fold.summary.fold} is beyond the recipe's ${recipe.folds} folds`);
  return { fold, recipe };
}
