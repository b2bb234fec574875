import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PNG_SCALE, curvePoints, curvesSpec, renderCurves, renderDigits } from '../../src/train/plots.js';
import { referenceRecipe } from '../../src/train/recipe.js';
import { foldTableMarkdown, writeRunArtifacts } from '../../src/train/report.js';
import type { FoldSummary } from '../../src/train/types.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

interface DecodedPng {
  width: number;
  height: number;
  /** RGBA, row after row. */
  rgba: Uint8Array;
}

/** Decodes the 8-bit RGBA, non-interlaced PNGs resvg writes: chunks, IDAT inflate, scanline filters. */
function decodePng(png: Uint8Array): DecodedPng {
  expect(Array.from(png.subarray(0, 8))).toEqual(PNG_SIGNATURE);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let width = 0;
  let height = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at < png.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      expect([data[8], data[9], data[12]]).toEqual([8, 6, 0]); // bit depth 8, RGBA, no interlace
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const filtered = inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  const rgba = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = filtered[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const raw = filtered[y * (stride + 1) + 1 + x]!;
      const a = x >= 4 ? rgba[y * stride + x - 4]! : 0;
      const b = y > 0 ? rgba[(y - 1) * stride + x]! : 0;
      const c = x >= 4 && y > 0 ? rgba[(y - 1) * stride + x - 4]! : 0;
      const p = a + b - c;
      const paeth =
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!;
      rgba[y * stride + x] = (raw + predictor) & 0xff;
    }
  }
  return { width, height, rgba };
}

function svgSize(svg: string): { width: number; height: number } {
  const match = /<svg[^>]*\swidth="(\d+(?:\.\d+)?)"[^>]*\sheight="(\d+(?:\.\d+)?)"/.exec(svg);
  expect(match).not.toBeNull();
  return { width: Number(match![1]), height: Number(match![2]) };
}

function expectPngOfSvg(png: Uint8Array, svg: string): DecodedPng {
  const decoded = decodePng(png);
  const size = svgSize(svg);
  expect(decoded.width).toBe(Math.ceil(size.width * PNG_SCALE));
  expect(decoded.height).toBe(Math.ceil(size.height * PNG_SCALE));
  return decoded;
}

/** Three folds of `epochs` epochs with smooth, distinct curves. */
function foldSummaries(count = 3, epochs = 12): FoldSummary[] {
  return Array.from({ length: count }, (_, f) => {
    const history = Array.from({ length: epochs }, (_, e) => ({
      epoch: e + 1,
      trainLoss: 1 / (e + 1) + 0.01 * f,
      trainAccuracy: 1 - 0.3 / (e + 1) - 0.002 * f,
      validLoss: 1.1 / (e + 1) + 0.02 * f,
      validAccuracy: 1 - 0.35 / (e + 1) - 0.004 * f,
      seconds: 0.5,
    }));
    const bestEpoch = epochs - f;
    return {
      fold: f + 1,
      history,
      bestEpoch,
      trainAccuracy: history[bestEpoch - 1]!.trainAccuracy,
      validAccuracy: history[bestEpoch - 1]!.validAccuracy,
    };
  });
}

/** Ten 6×5 "digits": a bar whose column is the label, on a background of −0.5; values 2.5 on the bar. */
function digitImages(count = 10, rows = 6, cols = 5): { images: Float32Array; labels: Uint8Array; rows: number; cols: number } {
  const images = new Float32Array((count + 2) * rows * cols).fill(-0.5);
  const labels = Uint8Array.from({ length: count + 2 }, (_, i) => i % cols);
  for (let i = 0; i < count; i++) {
    for (let r = 0; r < rows; r++) images[i * rows * cols + r * cols + labels[i]!] = 2.5;
  }
  return { images, labels, rows, cols };
}

describe('curves', () => {
  it('has one line per fold, part and metric, with a point per epoch', async () => {
    const folds = foldSummaries(3, 12);
    const { svg } = await renderCurves(folds);
    const lines = svg.match(/<g class="mark-line role-mark[^>]*>.*?<\/g>/g) ?? [];
    expect(lines).toHaveLength(3 * 2 * 2);
    for (const line of lines) {
      const d = /<path[^>]*\sd="([^"]+)"/.exec(line)?.[1] ?? '';
      expect(d.match(/[ML]/g)).toHaveLength(12);
    }
  });

  it('titles the axes and the legends', async () => {
    const { svg } = await renderCurves(foldSummaries());
    for (const title of ['Epoch', 'Accuracy', 'Cross-entropy loss', 'Fold', 'Part', 'train', 'validation']) {
      expect(svg).toContain(`>${title}</text>`);
    }
    expect(svg.match(/>Epoch<\/text>/g)).toHaveLength(2);
    expect(svg).toContain('font-family="DejaVu Sans, sans-serif"');
  });

  it('puts accuracy left and loss right, sharing the epoch axis range', () => {
    const spec = curvesSpec(foldSummaries(2, 5)) as { hconcat: { encoding: { y: { title: string } } }[] };
    expect(spec.hconcat.map((panel) => panel.encoding.y.title)).toEqual(['Accuracy', 'Cross-entropy loss']);
  });

  it('draws no validation curve for a fold without a validation part', () => {
    const [fold] = foldSummaries(1, 4);
    for (const m of fold!.history) {
      m.validLoss = Number.NaN;
      m.validAccuracy = Number.NaN;
    }
    const points = curvePoints([fold!]);
    expect(points).toHaveLength(4 * 2);
    expect(points.every((p) => p.split === 'train')).toBe(true);
  });

  it('renders a PNG of the SVG size times PNG_SCALE', async () => {
    const { svg, png } = await renderCurves(foldSummaries());
    const image = expectPngOfSvg(png, svg);
    expect(image.width).toBeGreaterThan(600);
  });
});

describe('digits', () => {
  it('renders ten digits titled with their labels, in grayscale over the shown range', async () => {
    const { images, labels, rows, cols } = digitImages();
    images[11 * rows * cols] = 100; // beyond the tenth image: must not stretch the range
    const { svg, png } = await renderDigits(images, labels, rows, cols);
    expect(svg.match(/<path|<rect/g)!.length).toBeGreaterThanOrEqual(10 * rows * cols);
    for (let i = 0; i < 10; i++) expect(svg).toContain(`>Label ${labels[i]}</text>`);
    const { rgba } = expectPngOfSvg(png, svg);
    let black = 0;
    let white = 0;
    for (let p = 0; p < rgba.length; p += 4) {
      const [r, g, b] = [rgba[p]!, rgba[p + 1]!, rgba[p + 2]!];
      expect(r === g && g === b).toBe(true);
      if (r === 0) black++;
      if (r === 255) white++;
    }
    // Background −0.5 is the range's low end (black), the bars 2.5 its high end (white).
    const scaledPixel = 3 * 3 * PNG_SCALE * PNG_SCALE;
    expect(black).toBeGreaterThanOrEqual(0.9 * 10 * rows * (cols - 1) * scaledPixel);
    expect(white).toBeGreaterThan(10 * rows * scaledPixel);
  });

  it('refuses fewer images or labels than asked for', async () => {
    const { images, labels, rows, cols } = digitImages(3);
    await expect(renderDigits(images, labels, rows, cols, 6)).rejects.toThrow(RangeError);
  });
});

describe('foldTableMarkdown', () => {
  it('has one row per fold with its best epoch and accuracies, then the test results', () => {
    const folds = foldSummaries(3, 12);
    const table = foldTableMarkdown(folds, 2, { accuracy: 0.97312, loss: 0.09123 }, { accuracy: 0.976, loss: 0.085 });
    const rows = table.split('\n').filter((line) => line.startsWith('|'));
    expect(rows[0]).toBe('| Fold | Best epoch | Train accuracy | Validation accuracy | Validation loss |');
    expect(rows.slice(2, 5)).toEqual([
      '| 1 | 12 | 97.50% | 97.08% | 0.0917 |',
      '| **2** (selected) | 11 | 97.07% | 96.42% | 0.1200 |',
      '| 3 | 10 | 96.60% | 95.70% | 0.1500 |',
    ]);
    expect(rows[5]).toBe('| Model | Test accuracy | Test loss |');
    expect(table).toContain('| Fold 2, epoch 11 | 97.31% | 0.0912 |');
    expect(table).toContain('| Ensemble of 3 folds | 97.60% | 0.0850 |');
  });

  it('leaves out the ensemble row when there is none, and marks missing values', () => {
    const folds = foldSummaries(1, 3);
    folds[0]!.validAccuracy = Number.NaN;
    const table = foldTableMarkdown(folds, 1, { accuracy: 0.9, loss: 0.3 });
    expect(table).not.toContain('Ensemble');
    expect(table).toContain('| **1** (selected) | 3 | 90.00% | – |');
  });

  it('refuses a selected fold that is not there', () => {
    expect(() => foldTableMarkdown(foldSummaries(3), 4, { accuracy: 1, loss: 0 })).toThrow(RangeError);
  });
});

describe('writeRunArtifacts', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fastmlp-report-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('writes the five files, and only them, at absolute paths', async () => {
    const out = join(folder, 'run', 'artifacts');
    const folds = foldSummaries();
    const paths = await writeRunArtifacts(out, {
      folds,
      selectedFold: 1,
      test: { accuracy: 0.97, loss: 0.1 },
      ensembleTest: { accuracy: 0.98, loss: 0.08 },
      recipe: referenceRecipe,
      seconds: 12.345,
      digits: digitImages(),
    });
    expect(Object.values(paths).every((p) => isAbsolute(p))).toBe(true);
    expect((await readdir(out)).sort()).toEqual(['curves.png', 'curves.svg', 'digits.png', 'report.json', 'report.md']);

    const curvesSvg = await readFile(paths.curvesSvg, 'utf8');
    expectPngOfSvg(new Uint8Array(await readFile(paths.curvesPng)), curvesSvg);
    expect(decodePng(new Uint8Array(await readFile(paths.digitsPng))).width).toBeGreaterThan(0);

    const md = await readFile(paths.reportMd, 'utf8');
    expect(md).toContain(foldTableMarkdown(folds, 1, { accuracy: 0.97, loss: 0.1 }, { accuracy: 0.98, loss: 0.08 }));
    expect(md).toContain('](digits.png)');
    expect(md).toContain('](curves.png)');
    expect(md).toContain('12.3 s');
    expect(md).toContain('| Hidden layers | 256 sigmoid |');

    const json = JSON.parse(await readFile(paths.reportJson, 'utf8'));
    expect(json.recipe).toEqual(referenceRecipe);
    expect(json.selectedFold).toBe(1);
    expect(json.folds).toHaveLength(3);
    expect(json.ensembleTest).toEqual({ accuracy: 0.98, loss: 0.08 });
  });
});
