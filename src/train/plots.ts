/**
 * The report's figures as Vega-Lite specs, rendered headlessly: Vega draws SVG (no canvas), resvg turns
 * the SVG into PNG with the DejaVu fonts shipped by the dejavu-fonts-ttf package, so the text looks the
 * same on every machine whatever fonts it has.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { renderAsync } from '@resvg/resvg-js';
import { View, parse } from 'vega';
import { compile, type Config, type TopLevelSpec } from 'vega-lite';
import type { FoldSummary } from './types.js';

/** The figure font; named first in the SVG, and the only family resvg is given for the PNG. */
export const PLOT_FONT = 'DejaVu Sans';

/** PNG pixels per SVG unit: 2 keeps text and thin lines sharp. */
export const PNG_SCALE = 2;

/** A figure as SVG text and as PNG bytes. */
export interface RenderedPlot {
  svg: string;
  png: Uint8Array;
}

let fontFiles: string[] | undefined;

function plotFontFiles(): string[] {
  if (fontFiles === undefined) {
    const fonts = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
    fontFiles = [join(fonts, 'DejaVuSans.ttf'), join(fonts, 'DejaVuSans-Bold.ttf')];
  }
  return fontFiles;
}

const baseConfig: Config = {
  font: `${PLOT_FONT}, sans-serif`,
  background: 'white',
  view: { stroke: null },
};

/** Renders a Vega-Lite spec to SVG with Vega, then to PNG with resvg. */
export async function renderSpec(spec: TopLevelSpec): Promise<RenderedPlot> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const image = await renderAsync(svg, {
      fitTo: { mode: 'zoom', value: PNG_SCALE },
      // No system fonts: the same PNG on every machine.
      font: { loadSystemFonts: false, fontFiles: plotFontFiles(), defaultFontFamily: PLOT_FONT, sansSerifFamily: PLOT_FONT },
    });
    return { svg, png: new Uint8Array(image.asPng()) };
  } finally {
    view.finalize();
  }
}

// ----------------------------------------------------------------------------------------------------
// Figure 2: accuracy and loss per epoch, every fold, training and validation part

/** One point of a learning curve, as the curves spec reads its data. */
export interface CurvePoint {
  fold: number;
  epoch: number;
  metric: 'accuracy' | 'loss';
  split: 'train' | 'validation';
  value: number;
}

/** The folds' histories as curve points; a fold without a validation part (NaN) has no validation curve. */
export function curvePoints(folds: FoldSummary[]): CurvePoint[] {
  const points: CurvePoint[] = [];
  const add = (fold: number, epoch: number, metric: CurvePoint['metric'], split: CurvePoint['split'], value: number) => {
    if (Number.isFinite(value)) points.push({ fold, epoch, metric, split, value });
  };
  for (const { fold, history } of folds) {
    for (const m of history) {
      add(fold, m.epoch, 'accuracy', 'train', m.trainAccuracy);
      add(fold, m.epoch, 'accuracy', 'validation', m.validAccuracy);
      add(fold, m.epoch, 'loss', 'train', m.trainLoss);
      add(fold, m.epoch, 'loss', 'validation', m.validLoss);
    }
  }
  return points;
}

/** One panel of a horizontal concatenation. */
type ConcatPanel = Extract<TopLevelSpec, { hconcat: unknown }>['hconcat'][number];

function curvesPanel(metric: CurvePoint['metric'], title: string, epochs: number): ConcatPanel {
  return {
    transform: [{ filter: { field: 'metric', equal: metric } }],
    mark: { type: 'line', strokeWidth: 1.5 },
    width: 340,
    height: 240,
    encoding: {
      x: {
        field: 'epoch',
        type: 'quantitative',
        title: 'Epoch',
        scale: { domain: [1, Math.max(epochs, 2)], nice: false },
        axis: { tickMinStep: 1 },
      },
      y: { field: 'value', type: 'quantitative', title, scale: { zero: false } },
      color: { field: 'fold', type: 'nominal', title: 'Fold' },
      strokeDash: {
        field: 'split',
        type: 'nominal',
        title: 'Part',
        scale: { domain: ['train', 'validation'], range: [[1, 0], [5, 3]] },
      },
    },
  };
}

/**
 * The learning curves of every fold (the report's figure 2): two panels side by side, accuracy and
 * cross-entropy loss against the epoch; color is the fold, a solid line the training part, a dashed line
 * the validation part.
 */
export function curvesSpec(folds: FoldSummary[]): TopLevelSpec {
  const epochs = Math.max(1, ...folds.map((f) => f.history.length));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values: curvePoints(folds) },
    hconcat: [curvesPanel('accuracy', 'Accuracy', epochs), curvesPanel('loss', 'Cross-entropy loss', epochs)],
    spacing: 24,
    config: baseConfig,
  };
}

/** The learning curves of every fold as SVG and PNG. */
export async function renderCurves(folds: FoldSummary[]): Promise<RenderedPlot> {
  return renderSpec(curvesSpec(folds));
}

// ----------------------------------------------------------------------------------------------------
// Figure 1: the first training digits after preprocessing

/** SVG units per image pixel in the digits figure. */
const DIGIT_PIXEL = 3;

/**
 * The first `count` images in a row, each titled with its label (the report's figure 1), in grayscale
 * from the smallest shown value (black) to the largest (white).
 *
 * @param images - count × rows × cols values or more, row-major, image after image (preprocessed)
 * @param labels - at least count labels
 */
export function digitsSpec(
  images: Float32Array,
  labels: ArrayLike<number>,
  rows: number,
  cols: number,
  count = 10,
  /** Images per row of the figure; default all in one row. */
  columns = count,
): TopLevelSpec {
  const pixels = rows * cols;
  if (!Number.isInteger(count) || count < 1 || images.length < count * pixels || labels.length < count) {
    throw new RangeError(
      `Expected ${count} images of ${rows}×${cols} and ${count} labels but received ${images.length} values and ${labels.length} labels`,
    );
  }
  const values: { image: number; row: number; col: number; value: number }[] = [];
  let low = Infinity;
  let high = -Infinity;
  for (let image = 0; image < count; image++) {
    for (let p = 0; p < pixels; p++) {
      const value = images[image * pixels + p]!;
      values.push({ image, row: Math.floor(p / cols), col: p % cols, value });
      low = Math.min(low, value);
      high = Math.max(high, value);
    }
  }
  // A blank selection still needs a non-empty domain.
  if (!(high > low)) high = low + 1;
  const titles = Array.from({ length: count }, (_, i) => `Label ${labels[i]}`);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    facet: {
      field: 'image',
      type: 'ordinal',
      title: null,
      header: { labelExpr: `${JSON.stringify(titles)}[datum.value]`, labelFontSize: 13, labelPadding: 6 },
    },
    columns,
    spacing: 10,
    spec: {
      width: { step: DIGIT_PIXEL },
      height: { step: DIGIT_PIXEL },
      mark: { type: 'rect', strokeWidth: 0 },
      encoding: {
        x: { field: 'col', type: 'ordinal', axis: null },
        y: { field: 'row', type: 'ordinal', axis: null },
        color: {
          field: 'value',
          type: 'quantitative',
          scale: { domain: [low, high], range: ['black', 'white'], clamp: true },
          legend: null,
        },
      },
    },
    config: { ...baseConfig, scale: { bandPaddingInner: 0, bandPaddingOuter: 0 } },
  };
}

/** The first `count` preprocessed training digits with their labels as SVG and PNG. */
export async function renderDigits(
  images: Float32Array,
  labels: ArrayLike<number>,
  rows: number,
  cols: number,
  count = 10,
  columns = count,
): Promise<RenderedPlot> {
  return renderSpec(digitsSpec(images, labels, rows, cols, count, columns));
}
