/**
 * End-to-end training against the PyTorch baselines of shared/baselines, run in the same benchmark:
 * - the reference recipe (3 folds × 50 epochs; per epoch: train, then loss and accuracy on the fold's
 *   training part and validation part, as the baseline does): seconds, samples/s, peak RSS, test accuracy;
 * - the accurate recipe on all 60k with the test set after every epoch: the wall time, data loading and
 *   evaluation included, at which 97%, 98% and 98.5% test accuracy were first reached;
 * - the reference recipe again with bf16 products, against PyTorch 2.x with bfloat16 autocast
 *   (shared/baselines torch_reference_kfold.py --bf16), and the accurate recipe in bf16 against its fp32 run;
 * - the best recipe the same way, in fp32 and bf16, at 98.5%, 99.0%, 99.2% and 99.3%, against the same recipe in PyTorch 2.x
 *   (bench/torch_best.py: the same layers, dropout, optimizer, schedule and affine augmentation).
 * The baselines run where Debian's python3 with torch is installed (and for the best recipe the PyTorch 2.x
 * interpreter of shared/baselines/setup-torch2.sh, or FASTMLP_TORCH_PYTHON); otherwise their fields are null.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadMnist, mnistPaths } from '../src/data/dataset.js';
import { native, type Precision } from '../src/native.js';
import { trainKFold, type TrainEvent } from '../src/train/kfold.js';
import { accurateRecipe, bestRecipe, referenceRecipe } from '../src/train/recipe.js';
import type { TrainRecipe } from '../src/train/types.js';
import { round } from './stats.js';
import { baselinesFolder, root, runPython, torch2Python } from './torch.js';

const THRESHOLDS = [0.97, 0.98, 0.985];
const BEST_THRESHOLDS = [0.985, 0.99, 0.992, 0.993];
const threadArgs = () => ['--threads', String(native.getThreads())];

/** Runs a baseline script with Debian's python3 (the one that sees Debian's torch); undefined if it cannot. */
function torch(script: string, args: string[]): Record<string, unknown> | undefined {
  const folder = baselinesFolder();
  if (!folder || !existsSync('/usr/bin/python3')) return undefined;
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return undefined;
  // OpenBLAS must be told its kernel family on this AVX-512 CPU, or it runs its AVX2 kernels.
  const env = { ...process.env, OPENBLAS_CORETYPE: native.supportedIsas().includes('avx512') ? 'SkylakeX' : 'Haswell' };
  return runPython('/usr/bin/python3', join(folder, script), [dirname(mnistPaths().trainImages), ...args, ...threadArgs()], env);
}

/** The reference recipe in PyTorch 2.x, fp32 (MKL) or with bfloat16 autocast; undefined where no PyTorch 2.x runs. */
function torch2Reference(precision: Precision): Record<string, unknown> | undefined {
  const python = torch2Python(), folder = baselinesFolder();
  if (!python || !folder) return undefined;
  const args = [dirname(mnistPaths().trainImages), '--json', ...(precision === 'bf16' ? ['--bf16'] : []), ...threadArgs()];
  return runPython(python, join(folder, 'torch_reference_kfold.py'), args);
}

async function reference(precision: Precision = 'fp32'): Promise<Record<string, unknown>> {
  const started = performance.now();
  const dataset = await loadMnist();
  const recipe: TrainRecipe = precision === 'fp32' ? referenceRecipe : { ...referenceRecipe, precision };
  const result = trainKFold({ recipe, dataset });
  const seconds = (performance.now() - started) / 1000;
  const samples = result.folds.length * recipe.epochs * (dataset.train.count - Math.floor(dataset.train.count / recipe.folds));
  return {
    seconds: round(seconds, 2),
    // Samples of the training parts passed through training per second of the whole run.
    samplesPerSecond: Math.round(samples / seconds),
    peakRssMB: round(process.resourceUsage().maxRSS / 1024, 1),
    folds: result.folds.map((f) => ({ fold: f.fold, bestEpoch: f.bestEpoch, trainAccuracy: f.trainAccuracy, validAccuracy: f.validAccuracy })),
    selectedFold: result.selectedFold,
    test: result.test,
  };
}

/**
 * The best recipe in PyTorch (bench/torch_best.py), fp32 or with bf16 autocast, given the recipe's layers, dropout,
 * epochs, batch, learning rate and augmentation limits; undefined where no PyTorch 2.x runs.
 */
function torchBest(precision: Precision): Record<string, unknown> | undefined {
  const python = torch2Python();
  const { hidden, epochs, batchSize, lr, seed } = bestRecipe;
  const augment = bestRecipe.augment ?? {};
  const dropouts = new Set(hidden.map((layer) => layer.dropout ?? 0));
  if (dropouts.size !== 1 || hidden.some((layer) => layer.activation !== 'relu') || augment.elasticAlpha) {
    throw new Error('torch_best.py takes ReLU layers with one dropout rate and affine augmentation');
  }
  const args = [
    dirname(mnistPaths().trainImages),
    ...['--hidden', hidden.map((layer) => layer.width).join(','), '--dropout', String([...dropouts][0])],
    ...['--epochs', String(epochs), '--batch', String(batchSize), '--lr', String(lr), '--seed', String(seed)],
    ...['--shift', String(augment.shift ?? 0), '--rotate', String(augment.rotate ?? 0), '--scale', String(augment.scale ?? 0), '--shear', String(augment.shear ?? 0)],
    ...threadArgs(),
    ...(precision === 'bf16' ? ['--bf16'] : []),
  ];
  return python ? runPython(python, join(root, 'bench', 'torch_best.py'), args) : undefined;
}

/** A one-fold recipe on all 60k with the test set after every epoch: when each threshold was first reached. */
async function timeToAccuracy(recipe: TrainRecipe, thresholds: number[]): Promise<Record<string, unknown>> {
  const started = performance.now();
  const dataset = await loadMnist();
  const reached: Record<string, number> = {};
  const history: Array<[number, number, number]> = [];
  const result = trainKFold({
    recipe,
    dataset,
    testEveryEpoch: true,
    onEvent: (e: TrainEvent) => {
      if (e.type !== 'epoch' || e.metrics.testAccuracy === undefined) return;
      const elapsed = (performance.now() - started) / 1000;
      history.push([e.metrics.epoch, round(e.metrics.testAccuracy, 4), round(elapsed, 2)]);
      for (const t of thresholds) if (e.metrics.testAccuracy >= t && reached[t] === undefined) reached[t] = round(elapsed, 2);
    },
  });
  return { recipe, history, reached, best: Math.max(...history.map((h) => h[1])), finalTest: result.test, seconds: round((performance.now() - started) / 1000, 2) };
}

function accurate(): Promise<Record<string, unknown>> {
  return timeToAccuracy(accurateRecipe, THRESHOLDS);
}

export async function benchTrain(): Promise<Record<string, unknown>> {
  const ours = await reference();
  const torchReference = torch('torch_reference_kfold.py', ['--json']);
  const torch2Fp32 = torch2Reference('fp32');
  const oursBf16 = await reference('bf16');
  const torchBf16 = torch2Reference('bf16');
  const oursAccurate = await accurate();
  const oursAccurateBf16 = await timeToAccuracy({ ...accurateRecipe, precision: 'bf16' }, THRESHOLDS);
  const torchAccurate = torch('torch_time_to_accuracy.py', ['--epochs', '15']);
  const ratio = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? round(a / b, 3) : null);
  const torchReached = (torchAccurate?.reached ?? {}) as Record<string, number>;
  const oursReached = oursAccurate.reached as Record<string, number>;
  const bf16Reached = oursAccurateBf16.reached as Record<string, number>;
  const oursBest = await timeToAccuracy(bestRecipe, BEST_THRESHOLDS);
  const oursBestBf16 = await timeToAccuracy({ ...bestRecipe, precision: 'bf16' }, BEST_THRESHOLDS);
  const torchBestRun = torchBest('fp32');
  const torchBestBf16 = torchBest('bf16');
  const bestReached = oursBest.reached as Record<string, number>;
  const torchBestReached = (torchBestRun?.reached ?? {}) as Record<string, number>;
  const torchBestBf16Reached = (torchBestBf16?.reached ?? {}) as Record<string, number>;
  return {
    isa: native.getIsa(),
    threads: native.getThreads(),
    reference: {
      ours,
      torch: torchReference ?? null,
      secondsRatio: ratio(ours.seconds, torchReference?.seconds),
      torch2: torch2Fp32 ?? null,
      // Over PyTorch 2.x fp32 (MKL), and over the faster of the two PyTorch fp32 runs.
      torch2SecondsRatio: ratio(ours.seconds, torch2Fp32?.seconds),
      bestTorchSecondsRatio: ratio(ours.seconds, Math.min(Number(torchReference?.seconds ?? Infinity), Number(torch2Fp32?.seconds ?? Infinity))),
    },
    referenceBf16: {
      ours: oursBf16,
      torch: torchBf16 ?? null,
      // Ours in bf16 over PyTorch 2.x with bf16 autocast, and over our own fp32 run.
      secondsRatio: ratio(oursBf16.seconds, torchBf16?.seconds),
      overFp32: ratio(oursBf16.seconds, ours.seconds),
    },
    accurate: {
      ours: oursAccurate,
      torch: torchAccurate ?? null,
      // Time to 98% test accuracy, ours over PyTorch's.
      timeTo98Ratio: ratio(oursReached['0.98'], torchReached['0.98']),
      bf16: oursAccurateBf16,
      // Time to 98% in bf16 over fp32, both ours.
      bf16TimeTo98OverFp32: ratio(bf16Reached['0.98'], oursReached['0.98']),
    },
    best: {
      ours: oursBest,
      torch: torchBestRun ?? null,
      // Time to 99% test accuracy, ours over PyTorch's (target ≤ 0.3).
      timeTo99Ratio: ratio(bestReached['0.99'], torchBestReached['0.99']),
      bf16: oursBestBf16,
      torchBf16: torchBestBf16 ?? null,
      // Ours in bf16 over PyTorch fp32, and over PyTorch with bf16 autocast.
      bf16TimeTo99Ratio: ratio((oursBestBf16.reached as Record<string, number>)['0.99'], torchBestReached['0.99']),
      bf16TimeTo99OverTorchBf16: ratio((oursBestBf16.reached as Record<string, number>)['0.99'], torchBestBf16Reached['0.99']),
    },
  };
}

export function printTrain(result: Record<string, unknown>): void {
  const r = result as {
    reference: { ours: Record<string, unknown>; torch: Record<string, unknown> | null; secondsRatio: number | null; torch2: Record<string, unknown> | null; torch2SecondsRatio: number | null };
    referenceBf16: { ours: Record<string, unknown>; torch: Record<string, unknown> | null; secondsRatio: number | null; overFp32: number | null };
    accurate: { ours: Record<string, unknown>; torch: Record<string, unknown> | null; timeTo98Ratio: number | null; bf16: Record<string, unknown>; bf16TimeTo98OverFp32: number | null };
    best: { ours: Record<string, unknown>; torch: Record<string, unknown> | null; timeTo99Ratio: number | null; bf16: Record<string, unknown>; bf16TimeTo99Ratio: number | null };
  };
  const test = (x: Record<string, unknown> | null) => ((x?.test as { accuracy: number } | undefined)?.accuracy ?? Number.NaN).toFixed(4);
  console.log(`reference recipe (3 folds × 50 epochs), ${String(result.isa)}, ${String(result.threads)} threads`);
  console.log(`  fastmlp  ${String(r.reference.ours.seconds)} s  test ${test(r.reference.ours)}  peak RSS ${String(r.reference.ours.peakRssMB)} MB`);
  console.log(`  PyTorch  ${String(r.reference.torch?.seconds ?? '—')} s  test ${test(r.reference.torch)}`);
  console.log(`  PyTorch 2.x fp32  ${String(r.reference.torch2?.seconds ?? '—')} s  test ${test(r.reference.torch2)}`);
  console.log(`  seconds ratio fastmlp/PyTorch: ${String(r.reference.secondsRatio ?? '—')}, fastmlp/PyTorch 2.x: ${String(r.reference.torch2SecondsRatio ?? '—')}`);
  console.log('reference recipe with bf16 products');
  console.log(`  fastmlp  ${String(r.referenceBf16.ours.seconds)} s  test ${test(r.referenceBf16.ours)}  (${String(r.referenceBf16.overFp32 ?? '—')} of its fp32 time)`);
  console.log(`  PyTorch 2.x bf16 autocast  ${String(r.referenceBf16.torch?.seconds ?? '—')} s  test ${test(r.referenceBf16.torch)}`);
  console.log(`  seconds ratio fastmlp/PyTorch: ${String(r.referenceBf16.secondsRatio ?? '—')}`);
  console.log('accurate recipe, time to test accuracy (s), data loading and evaluation included');
  console.log(`  fastmlp  ${JSON.stringify(r.accurate.ours.reached)} best ${String(r.accurate.ours.best)}`);
  console.log(`  PyTorch  ${JSON.stringify(r.accurate.torch?.reached ?? null)} best ${String(r.accurate.torch?.best ?? '—')}`);
  console.log(`  time-to-98% ratio fastmlp/PyTorch: ${String(r.accurate.timeTo98Ratio ?? '—')}`);
  console.log(`  fastmlp bf16  ${JSON.stringify(r.accurate.bf16.reached)} best ${String(r.accurate.bf16.best)}: time to 98% ${String(r.accurate.bf16TimeTo98OverFp32 ?? '—')} of fp32's`);
  console.log('best recipe, time to test accuracy (s), data loading and evaluation included');
  console.log(`  fastmlp  ${JSON.stringify(r.best.ours.reached)} best ${String(r.best.ours.best)} in ${String(r.best.ours.seconds)} s`);
  console.log(`  PyTorch  ${JSON.stringify(r.best.torch?.reached ?? null)} best ${String(r.best.torch?.best ?? '—')} in ${String(r.best.torch?.seconds ?? '—')} s`);
  console.log(`  time-to-99% ratio fastmlp/PyTorch: ${String(r.best.timeTo99Ratio ?? '—')}`);
  console.log(`  fastmlp bf16  ${JSON.stringify(r.best.bf16.reached)} best ${String(r.best.bf16.best)} in ${String(r.best.bf16.seconds)} s: time to 99% ${String(r.best.bf16TimeTo99Ratio ?? '—')} of PyTorch's`);
}
