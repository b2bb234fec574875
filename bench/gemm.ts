/**
 * GEMM throughput on the shapes of one training step of the reference network (batch 2000) and a square,
 * ours at 1 thread and at all threads, against numpy's matmul on the same shapes and threads in the same run.
 * The two alternate (ours, numpy, ours, numpy) and each figure is the median over both passes' rounds.
 * The "from pixels" shapes are the first layer's products as training runs them: A is a batch of MNIST
 * training images given as bytes, together in packing order as the trainer arranges an epoch's batches
 * (standardized while packed; zero pixels skipped, but for AMX tiles, which take every pixel), numpy
 * multiplies the same shape in floats; their GFLOP/s count the dense product's 2·m·n·k. The "augmented" rows take the
 * same images through the best recipe's affine augmentation (and elastic distortion too), as an augmented
 * run's batches are: how much of the zero-skipping gain transformed digits keep.
 * Every shape also runs with bf16 operands (native.ts, Precision), against PyTorch 2.x's bfloat16 matmul
 * (bench/baseline_gemm.py torch-bf16: oneDNN, AMX or AVX512-BF16 where the CPU has them) in the same passes, where the
 * interpreter of shared/baselines/setup-torch2.sh (or FASTMLP_TORCH_PYTHON) runs.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadMnist } from '../src/data/dataset.js';
import { computeStandardization, inverseStd } from '../src/data/normalize.js';
import { native, type Precision, type StandardizedRows } from '../src/native.js';
import { BatchLoader } from '../src/train/trainer.js';
import { torch2Python } from './torch.js';
import { median, round, timeCalls } from './stats.js';

interface Shape {
  name: string;
  m: number;
  n: number;
  k: number;
  op: 'NN' | 'TN' | 'NT';
  /** A is a batch of MNIST images as bytes: as they are, or augmented. */
  pixels?: PixelKind;
}

type PixelKind = 'plain' | 'affine' | 'elastic';

const AUGMENTATIONS = {
  affine: { shift: 2, rotate: 10, scale: 0.1, shear: 10 },
  elastic: { shift: 2, rotate: 10, scale: 0.1, shear: 10, elasticAlpha: 34, elasticSigma: 4 },
} as const;

const shapes: Shape[] = [
  { name: 'forward X·W1', m: 2000, n: 256, k: 784, op: 'NN' },
  { name: 'gradient Xᵀ·dZ1', m: 784, n: 256, k: 2000, op: 'TN' },
  { name: 'backward dZ2·W2ᵀ', m: 2000, n: 256, k: 10, op: 'NT' },
  { name: 'forward A·W2', m: 2000, n: 10, k: 256, op: 'NN' },
  { name: 'square 1024³', m: 1024, n: 1024, k: 1024, op: 'NN' },
  { name: 'X·W1 from pixels', m: 2000, n: 256, k: 784, op: 'NN', pixels: 'plain' },
  { name: 'Xᵀ·dZ1 from pixels', m: 784, n: 256, k: 2000, op: 'TN', pixels: 'plain' },
  { name: 'X·W1 from affine-augmented pixels', m: 2000, n: 256, k: 784, op: 'NN', pixels: 'affine' },
  { name: 'X·W1 from affine+elastic pixels', m: 2000, n: 256, k: 784, op: 'NN', pixels: 'elastic' },
];

/** 2000 training images drawn by a fixed stride, in the order the trainer packs a batch; as they are and augmented. */
async function pixelBatches(): Promise<Record<PixelKind, StandardizedRows>> {
  const { train } = await loadMnist();
  const normalization = computeStandardization(train, 'global');
  const mean = normalization.mean, invStd = inverseStd(normalization);
  const labels = Int32Array.from(train.labels);
  const loader = new BatchLoader({ pixels: train.pixels, rows: train.rows, cols: train.cols, features: train.features, labels, mean, invStd });
  const drawn = Int32Array.from({ length: 2000 }, (_, i) => (i * 7919) % train.count);
  const order = loader.packingOrder(drawn);
  const identity = Int32Array.from({ length: order.length }, (_, i) => i);
  const augmented = (spec: (typeof AUGMENTATIONS)[keyof typeof AUGMENTATIONS]): StandardizedRows => {
    const out = new Uint8Array(order.length * train.features);
    native.augmentRows({ bytes: train.pixels, rows: train.rows, cols: train.cols, indices: order, out, spec, seed: 1, epoch: 1 });
    return { bytes: out, rowLength: train.features, rows: identity, mean, invStd };
  };
  // As the trainer arranges an epoch: the batch's images copied together, in packing order.
  const arranged = new Uint8Array(order.length * train.features);
  native.gatherRows({ bytes: train.pixels, rowLength: train.features, indices: order, out: arranged });
  const plain = { bytes: arranged, rowLength: train.features, rows: identity, mean, invStd };
  return { plain, affine: augmented(AUGMENTATIONS.affine), elastic: augmented(AUGMENTATIONS.elastic) };
}

const ROUNDS = 7;

function repsFor(s: Shape): number {
  // About 20 ms of work per round at 200 GFLOP/s.
  return Math.max(3, Math.round(4e9 / (2 * s.m * s.n * s.k)));
}

function ours(s: Shape, threads: number, batches: Record<PixelKind, StandardizedRows>, precision: Precision = 'fp32'): number[] {
  native.setThreads(threads);
  const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
  const a = s.pixels ? batches[s.pixels] : fill(s.m * s.k), b = fill(s.k * s.n), c = new Float32Array(s.m * s.n);
  const args = { transA: s.op[0] === 'T', transB: s.op[1] === 'T', m: s.m, n: s.n, k: s.k, a, b, c, precision };
  const seconds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) seconds.push(timeCalls(() => native.gemm(args), 1, repsFor(s), r === 0 ? 3 : 0));
  return seconds.map((t) => (2 * s.m * s.n * s.k) / t / 1e9);
}

/** A baseline's matmul on the shapes (bench/baseline_gemm.py), one process per shape; undefined where it does not run. */
function baseline(lib: 'numpy' | 'torch-bf16', python: string, threads: number, env: NodeJS.ProcessEnv = process.env): { kernel: string; gflops: Record<string, number> } | undefined {
  const script = fileURLToPath(new URL('./baseline_gemm.py', import.meta.url));
  const results: Array<{ kernel: string; gflops: Record<string, number> }> = [];
  for (const s of shapes) {
    const run = spawnSync(python, [script, lib, String(threads), String(ROUNDS), String(repsFor(s))], { env, input: JSON.stringify([s]), encoding: 'utf8' });
    if (run.status !== 0) return undefined;
    results.push(JSON.parse(run.stdout));
  }
  return { kernel: results[0]!.kernel, gflops: Object.assign({}, ...results.map((r) => r.gflops)) };
}

/** numpy's figures, or undefined where python3 with numpy is not importable. */
function numpy(threads: number): { kernel: string; gflops: Record<string, number> } | undefined {
  const env = { ...process.env };
  // OpenBLAS picks its AVX-512 kernels only with both unset; for this child process alone.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return baseline('numpy', 'python3', threads, env);
}

/** PyTorch's bfloat16 matmul on the shapes, or undefined where no PyTorch 2.x runs. */
function torchBf16(python: string | undefined, threads: number): Record<string, number> | undefined {
  return python ? baseline('torch-bf16', python, threads)?.gflops : undefined;
}

export interface GemmBenchRow {
  name: string;
  m: number;
  n: number;
  k: number;
  op: string;
  threads: number;
  gflops: number;
  numpyGflops: number | null;
  ratio: number | null;
  /** The same product with bf16 operands (fp32 sums). */
  bf16Gflops: number;
  /** bf16 over our own fp32. */
  bf16Speedup: number;
  torchBf16Gflops: number | null;
  /** Our bf16 over PyTorch's. */
  bf16Ratio: number | null;
}

export async function benchGemm(): Promise<Record<string, unknown>> {
  const allThreads = native.getThreads();
  const pixels = await pixelBatches();
  const threadCounts = allThreads > 1 ? [1, allThreads] : [1];
  const rows: GemmBenchRow[] = [];
  let numpyKernel: string | null = null;
  const python = torch2Python();
  for (const threads of threadCounts) {
    const samples = new Map<string, number[]>(shapes.map((s) => [s.name, []]));
    const numpySamples = new Map<string, number[]>(shapes.map((s) => [s.name, []]));
    const bf16Samples = new Map<string, number[]>(shapes.map((s) => [s.name, []]));
    const torchSamples = new Map<string, number[]>(shapes.map((s) => [s.name, []]));
    for (let pass = 0; pass < 2; pass++) {
      for (const s of shapes) samples.get(s.name)!.push(...ours(s, threads, pixels));
      for (const s of shapes) bf16Samples.get(s.name)!.push(...ours(s, threads, pixels, 'bf16'));
      const bf = torchBf16(python, threads);
      if (bf) for (const s of shapes) torchSamples.get(s.name)!.push(bf[s.name]!);
      const np = numpy(threads);
      if (np) {
        numpyKernel = np.kernel;
        for (const s of shapes) numpySamples.get(s.name)!.push(np.gflops[s.name]!);
      }
    }
    for (const s of shapes) {
      const gflops = median(samples.get(s.name)!);
      const npValues = numpySamples.get(s.name)!;
      const numpyGflops = npValues.length ? median(npValues) : null;
      const bf16Gflops = median(bf16Samples.get(s.name)!);
      const torchValues = torchSamples.get(s.name)!;
      const torchBf16Gflops = torchValues.length ? median(torchValues) : null;
      rows.push({
        name: s.name,
        m: s.m,
        n: s.n,
        k: s.k,
        op: s.op,
        threads,
        gflops: round(gflops),
        numpyGflops: numpyGflops === null ? null : round(numpyGflops),
        ratio: numpyGflops === null ? null : round(gflops / numpyGflops, 2),
        bf16Gflops: round(bf16Gflops),
        bf16Speedup: round(bf16Gflops / gflops, 2),
        torchBf16Gflops: torchBf16Gflops === null ? null : round(torchBf16Gflops),
        bf16Ratio: torchBf16Gflops === null ? null : round(bf16Gflops / torchBf16Gflops, 2),
      });
    }
  }
  native.setThreads(allThreads);
  return { isa: native.getIsa(), threads: allThreads, numpyKernel, shapes: rows };
}

export function printGemm(result: Record<string, unknown>): void {
  const rows = result.shapes as GemmBenchRow[];
  console.log(`isa ${String(result.isa)}, numpy kernel ${String(result.numpyKernel ?? 'n/a')}`);
  console.log('shape                  op   m×n×k            threads  GFLOP/s  numpy  ours/numpy   bf16  bf16/fp32  torch bf16  ours/torch');
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(22)} ${r.op}   ${`${r.m}×${r.n}×${r.k}`.padEnd(16)} ${String(r.threads).padStart(7)}  ${r.gflops
        .toFixed(1)
        .padStart(7)}  ${(r.numpyGflops?.toFixed(1) ?? '-').padStart(5)}  ${(r.ratio?.toFixed(2) ?? '-').padStart(10)}  ${r.bf16Gflops.toFixed(1).padStart(5)}  ${r.bf16Speedup
        .toFixed(2)
        .padStart(9)}  ${(r.torchBf16Gflops?.toFixed(1) ?? '-').padStart(10)}  ${(r.bf16Ratio?.toFixed(2) ?? '-').padStart(10)}`,
    );
  }
}
