/**
 * Charts drawn with Chart.js (bundled, only the parts used): the ten probabilities as bars, a job's
 * accuracy or loss per epoch with one line per fold and part (training, validation), and a sweep's trials
 * as points of a parameter against validation accuracy. Animation is off: the curves grow live and the
 * bars follow the pen.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  LogarithmicScale,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartDataset,
} from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, LineController, LineElement, PointElement, ScatterController, Legend, Tooltip);
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.color = '#475569';
Chart.defaults.animation = false;

const ACCENT = '#2563eb';
const MUTED = '#cbd5e1';
/** One colour per fold (up to 10 folds; the API allows no more). */
const FOLD_COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];

export class ProbabilityChart {
  private readonly chart: Chart<'bar', number[], string>;

  constructor(private readonly canvas: HTMLCanvasElement) {
    this.chart = new Chart(canvas, {
      type: 'bar',
      data: { labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], datasets: [{ label: 'probability', data: new Array<number>(10).fill(0), backgroundColor: MUTED, borderRadius: 3 }] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (item) => `${(item.parsed.y! * 100).toFixed(1)} %` } } },
        scales: {
          x: { grid: { display: false }, title: { display: true, text: 'digit' } },
          y: { min: 0, max: 1, ticks: { stepSize: 0.25, callback: (v) => `${Math.round(Number(v) * 100)} %` } },
        },
      },
    });
  }

  /** The probabilities, the predicted digit's bar in the accent colour; null empties the chart. */
  show(probabilities: readonly number[] | null, label: number | null): void {
    const data = probabilities ? [...probabilities] : new Array<number>(10).fill(0);
    const dataset = this.chart.data.datasets[0]!;
    dataset.data = data;
    dataset.backgroundColor = data.map((_, i) => (i === label ? ACCENT : MUTED));
    this.chart.update();
    const top = data
      .map((p, digit) => ({ p, digit }))
      .sort((a, b) => b.p - a.p)
      .slice(0, 3)
      .filter((d) => d.p > 0);
    this.canvas.setAttribute(
      'aria-label',
      top.length ? `Probabilities of the ten digits; highest: ${top.map((d) => `${d.digit} ${(d.p * 100).toFixed(1)} %`).join(', ')}` : 'Probabilities of the ten digits: nothing drawn yet',
    );
    this.canvas.dataset.probabilities = data.map((p) => p.toFixed(4)).join(',');
  }
}

export type Metric = 'accuracy' | 'loss';

/** One line per fold and part; `data-points` and `data-series` on the canvas count what is drawn. */
export class CurveChart {
  private readonly chart: Chart<'line', { x: number; y: number }[], number>;
  private readonly series = new Map<string, ChartDataset<'line', { x: number; y: number }[]>>();

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly metric: Metric,
  ) {
    this.chart = new Chart(canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        interaction: { mode: 'nearest', intersect: false },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 14, boxHeight: 2 } },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${this.format(item.parsed.y!)}` } },
        },
        scales: {
          x: { type: 'linear', title: { display: true, text: 'epoch' }, ticks: { precision: 0 }, min: 1, suggestedMax: 2 },
          y: {
            title: { display: true, text: metric },
            ...(metric === 'accuracy' ? { suggestedMax: 1, ticks: { callback: (v: number | string) => `${Math.round(Number(v) * 100)} %` } } : { beginAtZero: true }),
          },
        },
      },
    });
    this.count();
  }

  private format(y: number): string {
    return this.metric === 'accuracy' ? `${(y * 100).toFixed(2)} %` : y.toFixed(4);
  }

  reset(): void {
    this.series.clear();
    this.chart.data.datasets = [];
    this.chart.update();
    this.count();
  }

  /** Adds one epoch's value of a fold's training or validation part; null (no validation part) is skipped. */
  add(fold: number, part: 'training' | 'validation', epoch: number, value: number | null): void {
    if (value === null) return;
    const key = `${fold}/${part}`;
    let dataset = this.series.get(key);
    if (dataset === undefined) {
      const colour = FOLD_COLOURS[(fold - 1) % FOLD_COLOURS.length]!;
      dataset = {
        label: `fold ${fold} ${part}`,
        data: [],
        borderColor: colour,
        backgroundColor: colour,
        borderWidth: 2,
        pointRadius: 2,
        // Validation solid, training dashed: the figure the report draws.
        ...(part === 'training' ? { borderDash: [5, 4] } : {}),
      };
      this.series.set(key, dataset);
      this.chart.data.datasets.push(dataset);
    }
    dataset.data.push({ x: epoch, y: value });
    this.chart.update();
    this.count();
  }

  private count(): void {
    let points = 0;
    for (const dataset of this.series.values()) points += dataset.data.length;
    this.canvas.dataset.series = String(this.series.size);
    this.canvas.dataset.points = String(points);
  }
}

/** A log axis's label: 1, 2 and 5 of each decade, nothing between. */
function logTick(v: number): string {
  const mantissa = v / 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6) ? String(Number(v.toPrecision(1))) : '';
}

/** A trial as the scatter chart draws it. */
export interface TrialPoint {
  index: number;
  /** The parameter's value; numbers go on a numeric axis, anything else on one tick per distinct value. */
  value: unknown;
  label: string;
  validAccuracy: number;
  best: boolean;
}

/**
 * Validation accuracy of each finished trial against one parameter: a log axis for positive numbers
 * spread over more than a decade, a linear one for other numbers, one tick per value otherwise. The best
 * trial in the accent colour. `data-points` and `data-axis` on the canvas say what is drawn.
 */
export class TrialChart {
  private readonly chart: Chart<'scatter', { x: number; y: number }[]>;
  private labels: string[] = [];

  constructor(private readonly canvas: HTMLCanvasElement) {
    this.chart = new Chart(canvas, {
      type: 'scatter',
      data: { datasets: [{ label: 'trials', data: [], pointRadius: 5, pointHoverRadius: 7 }] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => `${this.tips[item.dataIndex] ?? ''}: ${(item.parsed.y! * 100).toFixed(2)} % validation` } },
        },
        scales: {
          x: { type: 'linear', title: { display: true, text: 'parameter' } },
          y: { title: { display: true, text: 'validation accuracy' }, ticks: { callback: (v: number | string) => `${(Number(v) * 100).toFixed(1)} %` } },
        },
      },
    });
  }

  private tips: string[] = [];

  show(parameter: string, points: TrialPoint[]): void {
    const numeric = points.length > 0 && points.every((p) => typeof p.value === 'number');
    const values = numeric ? points.map((p) => p.value as number) : [];
    const log = numeric && values.every((v) => v > 0) && Math.max(...values) / Math.min(...values) >= 20;
    this.labels = numeric ? [] : [...new Set(points.map((p) => p.label))];
    const x = (p: TrialPoint) => (numeric ? (p.value as number) : this.labels.indexOf(p.label));
    const dataset = this.chart.data.datasets[0]!;
    dataset.data = points.map((p) => ({ x: x(p), y: p.validAccuracy }));
    dataset.backgroundColor = points.map((p) => (p.best ? ACCENT : '#94a3b8'));
    dataset.borderColor = dataset.backgroundColor;
    this.tips = points.map((p) => `trial ${p.index + 1}, ${parameter} ${p.label}`);
    const labels = this.labels;
    const [low, high] = numeric ? [Math.min(...values), Math.max(...values)] : [0, 0];
    this.chart.options.scales!.x = log
      ? {
          type: 'logarithmic',
          title: { display: true, text: `${parameter} (log scale)` },
          // Half a step of room at both ends; labels at 1, 2 and 5 of each decade only.
          min: low / 1.5,
          max: high * 1.5,
          ticks: { callback: (v: number | string) => logTick(Number(v)) },
        }
      : numeric
        ? { type: 'linear', title: { display: true, text: parameter }, ...(low === high ? { min: low - 1, max: high + 1 } : { grace: '5%' }) }
        : { type: 'linear', title: { display: true, text: parameter }, min: -0.5, max: labels.length - 0.5, ticks: { stepSize: 1, callback: (v: number | string) => labels[Number(v)] ?? '' } };
    this.chart.update();
    this.canvas.dataset.points = String(points.length);
    this.canvas.dataset.axis = numeric ? (log ? 'log' : 'linear') : 'category';
    const best = points.find((p) => p.best);
    this.canvas.setAttribute(
      'aria-label',
      points.length ? `Validation accuracy of ${points.length} trials against ${parameter}${best ? `; best: trial ${best.index + 1}, ${parameter} ${best.label}, ${(best.validAccuracy * 100).toFixed(2)} %` : ''}` : 'No finished trial yet',
    );
  }
}
