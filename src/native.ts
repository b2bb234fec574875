/**
 * Loads the C++ addon and declares the exact types of everything it exports.
 *
 * Matrices are row-major Float32Arrays with explicit shapes. Every function validates its arguments in the
 * addon and throws a TypeError (wrong type) or RangeError (wrong size or value) naming the argument, so no
 * call from JavaScript can touch memory outside the arrays it was given.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Instruction sets the kernels are compiled for, best first; avx512bf16 is avx512 with VDPBF16PS for bf16, amx is avx512bf16 with AMX tiles for it. */
export type Isa = 'amx' | 'avx512bf16' | 'avx512' | 'avx2' | 'generic';

/**
 * Precision of a product's operands. bf16: both rounded to bfloat16 (to nearest even) and multiplied in
 * pairs, products accumulated in fp32, with the same bits on every instruction set; pixel bytes are exact in
 * bf16 and their standardization stays fp32. Shapes the fp32 kernels run faster (a few rows, n ≤ skinnyNr)
 * stay fp32.
 */
export type Precision = 'fp32' | 'bf16';

/** Activation applied to each element of the GEMM result after the bias (fused into the write-back). */
export type EpilogueActivation = 'none' | 'sigmoid' | 'relu';

/** Derivative of an activation, given its cached output y, multiplied into the GEMM result. */
export type EpilogueDerivative = 'sigmoid' | 'relu';

/**
 * A batch of samples kept as bytes, standardized while the GEMM packs it: sample i of the batch is
 * bytes[rows[i]·rowLength …], and each pixel becomes (byte − mean) · invStd.
 */
export interface StandardizedRows {
  bytes: Uint8Array;
  rowLength: number;
  rows: Int32Array;
  /** Length 1 or rowLength. */
  mean: Float32Array;
  /** 1/std, the length of mean. */
  invStd: Float32Array;
}

/** Largest random transform of augmentRows; every field 0 or absent is that transform off. */
export interface AugmentLimits {
  /** Pixels, along each axis. */
  shift?: number;
  /** Degrees, either way. */
  rotate?: number;
  /** Relative change of size, either way (0.1: 90–110 %). */
  scale?: number;
  /** Degrees, either way. */
  shear?: number;
  /** Elastic distortion: scale of the smoothed random displacement field, pixels (Simard: 34 for MNIST). */
  elasticAlpha?: number;
  /** σ of the Gaussian that smooths it, pixels (Simard: 4). */
  elasticSigma?: number;
}

export interface GemmArgs {
  /** op(A) = Aᵀ when true. Default false. */
  transA?: boolean;
  /** op(B) = Bᵀ when true. Default false. */
  transB?: boolean;
  /** Rows of op(A) and of C. */
  m: number;
  /** Columns of op(B) and of C. */
  n: number;
  /** Columns of op(A) = rows of op(B). */
  k: number;
  /** Default 1. */
  alpha?: number;
  /**
   * A is (m×k), or (k×m) when transA. Or a batch of byte rows: then A is the batch (m samples × k pixels),
   * or with transA, Aᵀ (m pixels × k samples), and lda is not used.
   */
  a: Float32Array | StandardizedRows;
  /** Row stride of A in elements. Default: its width (k, or m when transA). */
  lda?: number;
  /** B is (k×n), or (n×k) when transB. */
  b: Float32Array;
  /** Row stride of B. Default: its width (n, or k when transB). */
  ldb?: number;
  /** Default 0; with 0, C is never read (it may hold NaN). */
  beta?: number;
  /** C is (m×n). */
  c: Float32Array;
  /** Row stride of C. Default n. */
  ldc?: number;
  /** Fused epilogue: C[i][j] += bias[j] (length n), applied once after alpha·op(A)·op(B) + beta·C. */
  bias?: Float32Array;
  /** Fused epilogue: activation after the bias. Default 'none'. */
  activation?: EpilogueActivation;
  /** Fused epilogue: C[i][j] *= f'(y[i][j]) where y is the activation's cached output (m×n, stride ldc). */
  derivative?: EpilogueDerivative;
  /** The cached output for `derivative`. */
  derivativeOf?: Float32Array;
  /**
   * Fused inverted dropout of the activation's output (with `activation`), or of its gradient given that
   * masked output (with `derivative`): element (i, j) is kept when a hash of (key, i·n + j) clears the rate,
   * and then scaled by 1/(1 − rate); otherwise 0. The same key gives the same mask at any thread count.
   */
  dropout?: { rate: number; key: number };
  /** Default 'fp32'. */
  precision?: Precision;
  /**
   * A second product of the result, the next layer's: next.c (m × next.n) = C·next.b + next.bias, with next.b
   * (n × next.n). With a few columns (an output layer's classes, at most gemmConfig().skinnyNr) it is taken
   * from each block of C's rows while they are still in cache, where the first product's blocking allows;
   * otherwise after it. Either way it has the bits of a gemm call of its own, in the same precision.
   */
  next?: NextProduct;
}

/** The second product of a gemm call (GemmArgs.next). */
export interface NextProduct {
  /** Columns of next.b and next.c. */
  n: number;
  /** (the first product's n) × next.n. */
  b: Float32Array;
  /** Row stride of next.b. Default next.n. */
  ldb?: number;
  /** Added to every row (length next.n). */
  bias?: Float32Array;
  /** m × next.n. */
  c: Float32Array;
  /** Row stride of next.c. Default next.n. */
  ldc?: number;
}

export interface SoftmaxCrossEntropyArgs {
  /** Scores (m×n). */
  logits: Float32Array;
  /** Class index per row (length m), or target distributions such as one-hot rows (m×n). */
  targets: Int32Array | Float32Array;
  m: number;
  n: number;
  /** When given, receives softmax(logits) (m×n). May be `logits` itself. */
  probabilities?: Float32Array;
  /** When given, receives d(mean loss)/d(logits) = (softmax − target) / m. May be `logits` itself. */
  gradient?: Float32Array;
  /** Label smoothing ε (class-index targets only): each row's target is (1 − ε)·onehot + ε/n. Default 0. */
  smoothing?: number;
}

export interface SoftmaxCrossEntropyResult {
  /** Mean cross-entropy over the m rows. */
  loss: number;
  /** Rows whose argmax equals the target class (argmax of the target row for distributions). */
  correct: number;
}

export interface StandardizeArgs {
  /** Samples as bytes, one row of `rowLength` per sample. */
  pixels: Uint8Array;
  rowLength: number;
  /** Which samples to convert, in order. */
  indices: Int32Array;
  /** Length 1 (one mean for every pixel) or rowLength (per pixel). */
  mean: Float32Array;
  /** 1/std, same length as mean. */
  invStd: Float32Array;
  /** Receives (indices.length × rowLength) floats, (pixel − mean) · invStd. */
  out: Float32Array;
}

export interface AdamArgs {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** 1-based step number, for bias correction. */
  step: number;
  /** Decoupled weight decay (AdamW); 0 for plain Adam. */
  weightDecay: number;
}

export interface PixelsJson {
  /** images × imagePixels values, image after image. */
  pixels: Float32Array;
  images: number;
  /** The body had "images" (a batch), not "pixels". */
  batch: boolean;
  scale?: string;
  model?: string;
  min: number;
  max: number;
}

/** A pool's worker thread, as the worker itself recorded it once it applied the pool's priority. */
export interface PoolWorker {
  /** Kernel thread id (Linux; 0 elsewhere). */
  tid: number;
  /** Nice value the worker runs at, read back from the system. */
  nice: number;
  /** The worker runs as SCHED_IDLE. */
  idle: boolean;
}

export interface PoolInfo {
  /** Threads of the pool; the calling thread counts as one, so there are threads − 1 workers. */
  threads: number;
  /** The pool of the threads that lowered their priority (lowerPriority), not the foreground pool. */
  background: boolean;
  /** The priority the pool's workers are asked to run at: 0 and false for the foreground pool. */
  nice: number;
  idle: boolean;
  workers: PoolWorker[];
}

export interface NativeAddon {
  /** C = alpha·op(A)·op(B) + beta·C, then the optional fused epilogue. Runs on the thread pool. */
  gemm(args: GemmArgs): void;
  /** gemm off the calling thread; the arrays must not be changed until the promise settles. */
  gemmAsync(args: GemmArgs): Promise<void>;

  /** y[i][j] = x[i][j] + bias[j] for an (m×n) x; y may be x. */
  biasAdd(x: Float32Array, bias: Float32Array, m: number, n: number, y: Float32Array): void;
  /** y = 1 / (1 + e^(−x)); y may be x. */
  sigmoidForward(x: Float32Array, y: Float32Array): void;
  /** dx = dy · y · (1 − y), from the forward output y; dx may be dy. */
  sigmoidBackward(y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** y = max(0, x); y may be x. */
  reluForward(x: Float32Array, y: Float32Array): void;
  /** dx = dy where y > 0, else 0, from the forward output y; dx may be dy. */
  reluBackward(y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** Softmax and cross-entropy in one pass over the rows. */
  softmaxCrossEntropy(args: SoftmaxCrossEntropyArgs): SoftmaxCrossEntropyResult;
  /** out[i] = index of the largest x[i][j] (the first one on ties). */
  argmax(x: Float32Array, m: number, n: number, out: Int32Array): void;
  /** Rows of an (m×n) score matrix whose argmax equals labels[i]. */
  countCorrect(x: Float32Array, m: number, n: number, labels: Int32Array): number;
  /** out[j] = alpha · Σ_i x[i][j] + beta · out[j] (the bias gradient). */
  columnSums(x: Float32Array, m: number, n: number, out: Float32Array, alpha?: number, beta?: number): void;
  /** Bytes of the chosen samples → standardized floats. */
  standardize(args: StandardizeArgs): void;
  /**
   * out row r = row indices[r] of bytes (rowLength bytes each): samples gathered into contiguous memory. With
   * dropout, byte (r, p) of out is 0 where a hash of (key, r·rowLength + p) falls below the rate, as the
   * GEMM's dropout masks are drawn: input dropout, the dropped pixels made background.
   */
  gatherRows(args: { bytes: Uint8Array; rowLength: number; indices: Int32Array; out: Uint8Array; dropout?: { rate: number; key: number } }): void;
  /**
   * out image r = image indices[r] of bytes (rows × cols each), randomly transformed: an affine map within
   * the spec's limits and, with elasticAlpha and elasticSigma, an elastic distortion; bilinear, back to
   * bytes. Each image's draw follows from (seed, epoch, indices[r]) alone.
   */
  augmentRows(args: { bytes: Uint8Array; rows: number; cols: number; indices: Int32Array; out: Uint8Array; spec: AugmentLimits; seed: number; epoch: number }): void;
  /** out image r samples image indices[r] at M·(p + d(p)) + o, affine[6r…] = M00 M01 M10 M11 o_x o_y; d per image: x-field, then y-field. */
  transformRows(args: { bytes: Uint8Array; rows: number; cols: number; indices: Int32Array; out: Uint8Array; affine: Float64Array; displacement?: Float64Array }): void;

  /** w −= lr · (g + weightDecay · w). */
  sgdUpdate(w: Float32Array, g: Float32Array, lr: number, weightDecay: number): void;
  /** v = momentum · v + g + weightDecay · w; w −= lr · v (or lr · (g + momentum · v) when nesterov). */
  momentumUpdate(
    w: Float32Array,
    g: Float32Array,
    velocity: Float32Array,
    lr: number,
    momentum: number,
    weightDecay: number,
    nesterov: boolean,
  ): void;
  /** Adam with bias correction; m and v are the first and second moment buffers. */
  adamUpdate(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, args: AdamArgs): void;
  /** Max-norm: each column of w (rows×cols; a unit's incoming weights) longer than limit is scaled down to it. */
  maxNorm(w: Float32Array, rows: number, cols: number, limit: number): void;

  /**
   * Reads a prediction body, {"pixels": [imagePixels numbers]} or {"images": [[…], …]} (1 to maxImages)
   * with optional "scale" and "model" strings, straight into floats. Undefined for any other JSON (other
   * keys, repeated keys, escaped or non-ASCII strings, numbers beyond a double) and for invalid JSON: read
   * those with JSON.parse. min and max are the values' extremes before rounding to float. With `into`, the
   * values go to its start when they fit (pixels is then a view of it), else into a new array.
   */
  readPixelsJson(body: Uint8Array, imagePixels: number, maxImages: number, into?: Float32Array): PixelsJson | undefined;

  /**
   * Lowers the CPU priority (Linux nice, 0 to 19) of the calling thread, for background work such as a
   * training job in a process that also answers requests; with `idle`, the thread also gets a core only
   * when no other thread wants it (Linux SCHED_IDLE). From then on its parallel work runs on the background
   * pool: one for the whole process, shared by every thread that lowered its priority, whose workers run at
   * the lowest priority any of them asked for. The foreground pool, which every other thread of the process
   * shares, is left as it was (async calls run on it, at their own priority). Returns once every worker of
   * the background pool runs at that priority. Priority cannot be raised again without privileges. False
   * where it could not be set (other systems).
   */
  lowerPriority(nice: number, idle?: boolean): boolean;
  /**
   * The pool the calling thread's parallel work runs on, between regions and resizes. Every worker listed
   * runs and runs at the pool's priority: setThreads and lowerPriority return only once each has applied it.
   */
  poolInfo(): PoolInfo;

  /**
   * Threads of the pool the calling thread's parallel work runs on (the calling thread counts as one): the
   * foreground pool, shared by every thread of the process that has not lowered its priority, or, after
   * lowerPriority, the background pool shared by the threads that have.
   */
  getThreads(): number;
  /**
   * Resizes that pool, from 1 to 256, for every thread that shares it: called from a thread that has not
   * lowered its priority, it resizes the foreground pool of the whole process. Default: the number of cores.
   * Results do not depend on it.
   */
  setThreads(threads: number): void;
  /** The limit set by setCallerThreads for the calling JavaScript thread; 0 when there is none. */
  getCallerThreads(): number;
  /**
   * Limits the threads that native calls made from the calling JavaScript thread use, 1 to 256, or 0 for
   * no limit (the default). Results do not depend on it. Async calls run elsewhere and are not limited.
   */
  setCallerThreads(threads: number): void;
  /** The instruction set the kernels use now, in every thread of the process. */
  getIsa(): Isa;
  /**
   * Forces an instruction set this CPU supports for the whole process: every thread, worker threads and
   * async calls included (also FASTMLP_ISA at load time).
   */
  setIsa(isa: Isa): void;
  /** Instruction sets this CPU supports, best first. */
  supportedIsas(): Isa[];
  /**
   * Register tile and cache blocks of the current instruction set's GEMM, the tile of its bf16 products, and
   * the size of a core's L2 they block for (the system's figure, 1 MiB where it gives none).
   */
  gemmConfig(): { isa: Isa; mr: number; nr: number; kc: number; nc: number; skinnyNr: number; bf16Mr: number; bf16Nr: number; l2Bytes: number };
}

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

/** Where a build puts the addon: cmake-js and node-gyp both write build/Release. */
export function addonPath(): string {
  return process.env.FASTMLP_ADDON ?? join(root, 'build', 'Release', 'fastmlp.node');
}

function load(): NativeAddon {
  const path = addonPath();
  const chosen = process.env.FASTMLP_ADDON !== undefined;
  if (!existsSync(path)) {
    throw new Error(
      `the native addon is not built: run npm install (looked for ${path}).\n` +
        'Possible solutions:\n' +
        '- run `npm install` (or `npm run build:native`) in the fastmlp folder, with cmake and a C++17 compiler\n' +
        '- or build with node-gyp: `npm run build:gyp`\n' +
        (chosen ? '- or unset FASTMLP_ADDON, which points here' : '- or point FASTMLP_ADDON at a built fastmlp.node'),
    );
  }
  const require = createRequire(import.meta.url);
  try {
    return require(path) as NativeAddon;
  } catch (error) {
    // The file is there but does not load: built for another Node, system or CPU, or not an addon at all.
    const reason = error instanceof Error ? error.message : String(error);
    const runtime = `Node.js ${process.version} (Node-API ${process.versions.napi}) on ${process.platform}-${process.arch}`;
    throw new Error(
      `the native addon at ${path} could not be loaded: ${reason}\n` +
        'Possible solutions:\n' +
        `- rebuild it for this ${runtime}:\n` +
        '  `npm rebuild fastmlp`, or `npm run build:native` in the fastmlp folder\n' +
        '- or run it with the Node.js it was built for, on its system and CPU (fastmlp needs Node.js 20 or later)\n' +
        (chosen
          ? '- unset FASTMLP_ADDON, which points here, or point it at a fastmlp.node built on this machine'
          : '- or point FASTMLP_ADDON at a fastmlp.node built on this machine'),
      { cause: error },
    );
  }
}

/** The addon, loaded once per thread (it is context-aware, so every worker thread may load it). */
export const native: NativeAddon = load();

/** The addon as the library offers it: every function but the service's /predict body reader. */
export type LibraryNative = Omit<NativeAddon, 'readPixelsJson'>;

/** Runs fn with the native calls it makes from this thread limited to `threads` threads (setCallerThreads). */
export function withCallerThreads<T>(threads: number, fn: () => T): T {
  const before = native.getCallerThreads();
  native.setCallerThreads(threads);
  try {
    return fn();
  } finally {
    native.setCallerThreads(before);
  }
}
