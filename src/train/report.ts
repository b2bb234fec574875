/**
 * A run's report: the fold table, the recipe, the test results and the two figures, written as
 * report.md (for people), report.json (for programs), curves.svg, curves.png and digits.png.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import type { AugmentationPreview } from './augment-preview.js';
import { renderCurves, renderDigits } from './plots.js';
import type { AugmentSpec, FoldSummary, OptimizerSpec, ScheduleSpec, TestResult, TrainRecipe } from './types.js';

/** Everything a finished run reports. */
export interface RunReport {
  folds: FoldSummary[];
  /** The fold whose best-epoch model was kept and met the test set. */
  selectedFold: number;
  /** The selected fold's model on the test set. */
  test: TestResult;
  /** The folds' averaged predictions on the test set, when the run built an ensemble. */
  ensembleTest?: TestResult;
  recipe: TrainRecipe;
  /** Wall time of the whole run. */
  seconds: number;
  /** The training images after preprocessing (the first ten are shown), row-major, image after image. */
  digits: ReportDigits;
}

/** The digits a report shows: after preprocessing, and for an augmented run as augmentation makes them. */
export interface ReportDigits {
  images: Float32Array;
  labels: ArrayLike<number>;
  rows: number;
  cols: number;
  augmented?: AugmentationPreview;
}

/** Absolute paths of the files writeRunArtifacts wrote. */
export interface RunArtifacts {
  curvesSvg: string;
  curvesPng: string;
  digitsPng: string;
  /** Written for an augmented run only. */
  augmentedPng?: string;
  reportMd: string;
  reportJson: string;
}

/** File names inside the output folder; report.md links the figures by these names. */
const FILES = {
  curvesSvg: 'curves.svg',
  curvesPng: 'curves.png',
  digitsPng: 'digits.png',
  augmentedPng: 'augmented.png',
  reportMd: 'report.md',
  reportJson: 'report.json',
} as const satisfies RunArtifacts;

const DASH = '–';

function percent(accuracy: number): string {
  return Number.isFinite(accuracy) ? `${(100 * accuracy).toFixed(2)}%` : DASH;
}

function loss(value: number): string {
  return Number.isFinite(value) ? value.toFixed(4) : DASH;
}

function tableRow(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/**
 * The fold table: one row per fold with its best epoch and the accuracies there, the selected fold in
 * bold; then the test results of the selected fold's model and, if given, of the ensemble.
 *
 * @throws RangeError if `selectedFold` is not one of the folds
 */
export function foldTableMarkdown(
  folds: FoldSummary[],
  selectedFold: number,
  test: TestResult,
  ensembleTest?: TestResult,
): string {
  const selected = folds.find((f) => f.fold === selectedFold);
  if (selected === undefined) {
    throw new RangeError(`Expected selectedFold to be one of ${folds.map((f) => f.fold).join(', ')} but received ${selectedFold}`);
  }
  const lines = [
    tableRow(['Fold', 'Best epoch', 'Train accuracy', 'Validation accuracy', 'Validation loss']),
    tableRow(['---:', '---:', '---:', '---:', '---:']),
  ];
  for (const f of folds) {
    const best = f.history.find((m) => m.epoch === f.bestEpoch);
    const name = f.fold === selectedFold ? `**${f.fold}** (selected)` : String(f.fold);
    lines.push(tableRow([name, String(f.bestEpoch), percent(f.trainAccuracy), percent(f.validAccuracy), loss(best?.validLoss ?? NaN)]));
  }
  lines.push('', tableRow(['Model', 'Test accuracy', 'Test loss']), tableRow(['---', '---:', '---:']));
  lines.push(tableRow([`Fold ${selectedFold}, epoch ${selected.bestEpoch}`, percent(test.accuracy), loss(test.loss)]));
  if (ensembleTest !== undefined) {
    lines.push(tableRow([`Ensemble of ${folds.length} folds`, percent(ensembleTest.accuracy), loss(ensembleTest.loss)]));
  }
  return `${lines.join('\n')}\n`;
}

function optimizerText(optimizer: OptimizerSpec): string {
  switch (optimizer.kind) {
    case 'sgd':
      return 'gradient descent';
    case 'momentum':
      return `${optimizer.nesterov ? 'Nesterov momentum' : 'momentum'} ${optimizer.momentum}`;
    case 'adam':
      return `Adam (β1 ${optimizer.beta1}, β2 ${optimizer.beta2}, ε ${optimizer.epsilon})`;
  }
}

function scheduleText(schedule: ScheduleSpec): string {
  switch (schedule.kind) {
    case 'constant':
      return 'constant';
    case 'step':
      return `× ${schedule.gamma} every ${schedule.everyEpochs} epochs`;
    case 'cosine':
      return `cosine down to ${schedule.minLr}`;
  }
}

/** An augmentation's limits in words. */
function augmentText(a: AugmentSpec): string {
  const parts = [
    a.shift ? `shift ±${a.shift} px` : '',
    a.rotate ? `rotate ±${a.rotate}°` : '',
    a.scale ? `scale ±${Math.round(a.scale * 100)} %` : '',
    a.shear ? `shear ±${a.shear}°` : '',
    a.elasticAlpha && a.elasticSigma ? `elastic α ${a.elasticAlpha}, σ ${a.elasticSigma}` : '',
  ];
  return parts.filter((p) => p !== '').join(', ');
}

/** The recipe as a two-column Markdown table. */
export function recipeMarkdown(recipe: TrainRecipe): string {
  const hidden = recipe.hidden.map((h) => `${h.width} ${h.activation}${h.dropout ? ` (dropout ${h.dropout})` : ''}`).join(' → ') || 'none';
  const rows: [string, string][] = [
    ['Hidden layers', hidden],
    ['Initializer', recipe.init],
    ['Optimizer', optimizerText(recipe.optimizer)],
    ['Learning rate', `${recipe.lr}, ${scheduleText(recipe.schedule)}`],
    ['Weight decay', String(recipe.weightDecay)],
    ['Batch size', String(recipe.batchSize)],
    ['Epochs', String(recipe.epochs)],
    ['Folds', String(recipe.folds)],
    ['Seed', String(recipe.seed)],
    ['Normalization', recipe.normalization],
    ...(recipe.augment && Object.values(recipe.augment).some((v) => v !== undefined && v > 0) ? [['Augmentation', augmentText(recipe.augment)] as [string, string]] : []),
    ...(recipe.labelSmoothing ? [['Label smoothing', String(recipe.labelSmoothing)] as [string, string]] : []),
    ...(recipe.inputDropout ? [['Input dropout', String(recipe.inputDropout)] as [string, string]] : []),
    ...(recipe.maxNorm !== undefined ? [['Max-norm', String(recipe.maxNorm)] as [string, string]] : []),
    ...(recipe.precision !== undefined ? [['Precision', recipe.precision === 'bf16' ? 'bf16 products (fp32 sums, weights and optimizer state)' : 'fp32'] as [string, string]] : []),
  ];
  return `${[tableRow(['Setting', 'Value']), tableRow(['---', '---']), ...rows.map((r) => tableRow(r))].join('\n')}\n`;
}

/** The whole report.md; figures are linked by their file names in the same folder. */
export function reportMarkdown(report: RunReport): string {
  return [
    '# Training report',
    '',
    `${report.folds.length} fold${report.folds.length === 1 ? '' : 's'} trained in ${report.seconds.toFixed(1)} s.`,
    '',
    '## Recipe',
    '',
    recipeMarkdown(report.recipe),
    '## Folds and test set',
    '',
    foldTableMarkdown(report.folds, report.selectedFold, report.test, report.ensembleTest),
    '## Figure 1: the first training digits after preprocessing',
    '',
    `![The first training digits after preprocessing, with their labels](${FILES.digitsPng})`,
    '',
    '## Figure 2: accuracy and loss per epoch',
    '',
    `![Accuracy and cross-entropy loss per epoch, every fold, training and validation part](${FILES.curvesPng})`,
    '',
    ...(report.digits.augmented
      ? ['## Figure 3: what augmentation makes of the training digits', '', `Each row: a digit as it is, then as epochs 1–${report.digits.augmented.columns - 1} transform it.`, '', `![Training digits and their augmented versions](${FILES.augmentedPng})`, '']
      : []),
  ].join('\n');
}

/**
 * Renders the figures and writes report.md, report.json, curves.svg, curves.png and digits.png into
 * `outDir` (created if missing), each file atomically.
 *
 * @returns the absolute paths written
 */
export async function writeRunArtifacts(outDir: string, report: RunReport): Promise<RunArtifacts> {
  const folder = resolve(outDir);
  await mkdir(folder, { recursive: true });
  const paths: RunArtifacts = {
    curvesSvg: resolve(folder, FILES.curvesSvg),
    curvesPng: resolve(folder, FILES.curvesPng),
    digitsPng: resolve(folder, FILES.digitsPng),
    reportMd: resolve(folder, FILES.reportMd),
    reportJson: resolve(folder, FILES.reportJson),
  };
  const { images, labels, rows, cols } = report.digits;
  const curves = await renderCurves(report.folds);
  const digits = await renderDigits(images, labels, rows, cols);
  const { augmented } = report.digits;
  if (augmented) {
    const grid = await renderDigits(augmented.images, augmented.labels, rows, cols, augmented.labels.length, augmented.columns);
    paths.augmentedPng = resolve(folder, FILES.augmentedPng);
    await writeFileAtomic(paths.augmentedPng, grid.png);
  }
  const json = {
    recipe: report.recipe,
    seconds: report.seconds,
    selectedFold: report.selectedFold,
    test: report.test,
    ...(report.ensembleTest === undefined ? {} : { ensembleTest: report.ensembleTest }),
    folds: report.folds,
    figures: { curves: FILES.curvesPng, digits: FILES.digitsPng, ...(augmented ? { augmented: FILES.augmentedPng } : {}) },
  };
  await writeFileAtomic(paths.curvesSvg, curves.svg);
  await writeFileAtomic(paths.curvesPng, curves.png);
  await writeFileAtomic(paths.digitsPng, digits.png);
  await writeFileAtomic(paths.reportJson, `${JSON.stringify(json, null, 2)}\n`);
  // Last: report.md links the others, so it never points at a figure that is not there yet.
  await writeFileAtomic(paths.reportMd, reportMarkdown(report));
  return paths;
}
