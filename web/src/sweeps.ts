/**
 * Sweeps (polled): a picker of the recent ones, the chosen sweep's trials as a table sortable by any column
 * (a click on a header; again to reverse), and its finished trials as points of one parameter against
 * validation accuracy. Hidden until a sweep exists.
 */
import { api, FINISHED, type SweepView, type TrialView } from './api.js';
import { TrialChart, type TrialPoint } from './charts.js';

const POLL_MS = 2000;

/** How a parameter's value reads: `256 relu → 128 relu`, `adam`, `0.003`. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(Number(value.toPrecision(4)));
  if (Array.isArray(value)) return value.length ? value.map((h: { width?: number; activation?: string }) => `${h.width} ${h.activation}`).join(' → ') : 'no hidden layer';
  if (value !== null && typeof value === 'object' && 'kind' in value) return String((value as { kind: unknown }).kind);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const percent = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(2)} %`);

type Column = { key: string; label: string; numeric: boolean; value: (t: TrialView) => number | string | null; text: (t: TrialView) => string };

function columns(sweep: SweepView): Column[] {
  const params = Object.keys(sweep.space);
  return [
    { key: 'index', label: 'Trial', numeric: true, value: (t) => t.index, text: (t) => String(t.index + 1) },
    ...params.map((p) => ({
      key: `param:${p}`,
      label: p,
      numeric: sweep.trials.every((t) => typeof t.params[p] === 'number'),
      value: (t: TrialView) => (typeof t.params[p] === 'number' ? (t.params[p] as number) : describeValue(t.params[p])),
      text: (t: TrialView) => describeValue(t.params[p]),
    })),
    { key: 'status', label: 'Status', numeric: false, value: (t) => t.status, text: (t) => t.status },
    { key: 'validAccuracy', label: 'Validation accuracy', numeric: true, value: (t) => t.validAccuracy, text: (t) => percent(t.validAccuracy) },
    { key: 'testAccuracy', label: 'Test accuracy', numeric: true, value: (t) => t.testAccuracy, text: (t) => percent(t.testAccuracy) },
    { key: 'seconds', label: 'Seconds', numeric: true, value: (t) => t.seconds, text: (t) => (t.seconds === null ? '–' : t.seconds.toFixed(1)) },
  ];
}

export class SweepsPanel {
  private sweeps: SweepView[] = [];
  private chosen: string | null = null;
  private sort = { key: 'index', descending: false };
  private axis: string | null = null;
  private readonly chart: TrialChart;
  private timer: number | undefined;

  constructor(private readonly panel: HTMLElement) {
    this.chart = new TrialChart(this.$<HTMLCanvasElement>('#sweep-chart'));
    this.$<HTMLSelectElement>('#sweep-picker').addEventListener('change', (e) => {
      this.chosen = (e.target as HTMLSelectElement).value;
      this.render();
    });
    this.$<HTMLSelectElement>('#sweep-axis').addEventListener('change', (e) => {
      this.axis = (e.target as HTMLSelectElement).value;
      this.render();
    });
  }

  private $<T extends HTMLElement = HTMLElement>(selector: string): T {
    return this.panel.querySelector<T>(selector)!;
  }

  /** Refreshes now and every POLL_MS after. */
  start(): void {
    const tick = async () => {
      try {
        await this.refresh();
      } catch {
        // The next poll tries again.
      }
      this.timer = window.setTimeout(() => void tick(), POLL_MS);
    };
    window.clearTimeout(this.timer);
    void tick();
  }

  async refresh(): Promise<void> {
    const { sweeps } = await api.sweeps();
    this.sweeps = sweeps;
    this.panel.hidden = sweeps.length === 0;
    if (sweeps.length === 0) return;
    if (!sweeps.some((s) => s.id === this.chosen)) this.chosen = sweeps[0]!.id;
    const picker = this.$<HTMLSelectElement>('#sweep-picker');
    const signature = sweeps.map((s) => `${s.id}/${s.status}`).join(',');
    if (picker.dataset.signature !== signature) {
      picker.dataset.signature = signature;
      picker.replaceChildren(
        ...sweeps.map((s) => {
          const option = document.createElement('option');
          option.value = s.id;
          option.textContent = `${s.id} · ${s.status} · ${s.trials.length} trials · ${s.strategy}`;
          return option;
        }),
      );
    }
    picker.value = this.chosen!;
    this.render();
  }

  private render(): void {
    const sweep = this.sweeps.find((s) => s.id === this.chosen);
    if (!sweep) return;
    const status = this.$('#sweep-status');
    status.textContent = sweep.status;
    status.className = `badge status-${sweep.status}`;
    status.dataset.status = sweep.status;
    const best = sweep.best;
    this.$('#sweep-best').textContent = best
      ? `Best so far: trial ${best.index + 1} (${Object.entries(best.params).map(([k, v]) => `${k} ${describeValue(v)}`).join(', ')}), ${percent(best.validAccuracy)} validation accuracy${best.modelId ? `, model ${best.modelId}` : ''}.`
      : sweep.trials.every((t) => FINISHED.has(t.status))
        ? 'No trial succeeded.'
        : 'No trial has finished yet.';
    this.renderTable(sweep);
    this.renderChart(sweep);
  }

  private renderTable(sweep: SweepView): void {
    const cols = columns(sweep);
    if (!cols.some((c) => c.key === this.sort.key)) this.sort = { key: 'index', descending: false };
    const head = this.$('#trial-table thead tr');
    head.replaceChildren(
      ...cols.map((c) => {
        const th = document.createElement('th');
        th.scope = 'col';
        if (c.numeric) th.className = 'num';
        th.setAttribute('aria-sort', c.key === this.sort.key ? (this.sort.descending ? 'descending' : 'ascending') : 'none');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'sort';
        button.textContent = c.label;
        button.dataset.key = c.key;
        button.addEventListener('click', () => {
          // A new column: accuracies best first, anything else in increasing order.
          this.sort = { key: c.key, descending: this.sort.key === c.key ? !this.sort.descending : c.key.endsWith('Accuracy') };
          this.render();
        });
        th.append(button);
        return th;
      }),
    );
    const column = cols.find((c) => c.key === this.sort.key)!;
    // Missing values last, whichever the direction; ties in trial order.
    const rows = [...sweep.trials].sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      if (x === null || y === null) return x === y ? a.index - b.index : x === null ? 1 : -1;
      const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return (this.sort.descending ? -order : order) || a.index - b.index;
    });
    this.$('#trial-table tbody').replaceChildren(
      ...rows.map((t) => {
        const tr = document.createElement('tr');
        tr.dataset.index = String(t.index);
        if (best(sweep, t)) tr.className = 'best';
        for (const c of cols) {
          const td = document.createElement('td');
          td.textContent = c.text(t);
          if (c.numeric) td.className = 'num';
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  private renderChart(sweep: SweepView): void {
    const params = Object.keys(sweep.space);
    if (this.axis === null || !params.includes(this.axis)) this.axis = params[0] ?? null;
    const select = this.$<HTMLSelectElement>('#sweep-axis');
    if (select.dataset.params !== params.join(',')) {
      select.dataset.params = params.join(',');
      select.replaceChildren(
        ...params.map((p) => {
          const option = document.createElement('option');
          option.value = p;
          option.textContent = p;
          return option;
        }),
      );
    }
    if (this.axis === null) return;
    select.value = this.axis;
    const axis = this.axis;
    const points: TrialPoint[] = sweep.trials
      .filter((t) => t.validAccuracy !== null)
      .map((t) => ({ index: t.index, value: t.params[axis], label: describeValue(t.params[axis]), validAccuracy: t.validAccuracy!, best: best(sweep, t) }));
    this.chart.show(axis, points);
  }
}

function best(sweep: SweepView, trial: TrialView): boolean {
  return sweep.best?.index === trial.index;
}
