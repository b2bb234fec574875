/**
 * The job list (polled) and the selected job: its curves drawn live from GET /jobs/:id/events, its fold table
 * and test result once it succeeds, and its cancel button.
 */
import { api, FINISHED, type EndEvent, type EpochEvent, type JobStatus, type JobSummary, type JobView, type Recipe } from './api.js';
import { CurveChart } from './charts.js';

const POLL_MS = 1500;

/** "512 relu · adam · lr 0.002 · batch 256 · 6 epochs · 1 fold" */
export function describeRecipe(r: Recipe): string {
  const widths = r.hidden.length ? r.hidden.map((h) => `${h.width} ${h.activation}${h.dropout ? ` (dropout ${h.dropout})` : ''}`).join(' → ') : 'no hidden layer';
  return `${widths} · ${r.optimizer.kind} · lr ${r.lr} · batch ${r.batchSize} · ${r.epochs} epoch${r.epochs === 1 ? '' : 's'} · ${r.folds} fold${r.folds === 1 ? '' : 's'}`;
}

const percent = (x: number | null | undefined, digits = 2) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(digits)} %`);

function element<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

function statusBadge(target: HTMLElement, status: JobStatus): void {
  target.textContent = status;
  target.className = `badge status-${status}`;
  target.dataset.status = status;
}

export interface JobsOptions {
  /** Called when a job succeeds while it is shown, so the model picker can take its model. */
  onSucceeded: (job: EndEvent) => void;
  token: () => string;
}

export class JobsPanel {
  private readonly rows = new Map<string, HTMLTableRowElement>();
  private readonly accuracy: CurveChart;
  private readonly loss: CurveChart;
  private selected: string | null = null;
  private events: EventSource | null = null;
  private status: JobStatus | null = null;
  private timer: number | undefined;

  constructor(
    private readonly list: HTMLTableSectionElement,
    private readonly detail: HTMLElement,
    private readonly options: JobsOptions,
  ) {
    this.accuracy = new CurveChart(detail.querySelector<HTMLCanvasElement>('#accuracy-chart')!, 'accuracy');
    this.loss = new CurveChart(detail.querySelector<HTMLCanvasElement>('#loss-chart')!, 'loss');
    this.$('#cancel').addEventListener('click', () => void this.cancel());
  }

  private $<T extends HTMLElement = HTMLElement>(selector: string): T {
    return this.detail.querySelector<T>(selector)!;
  }

  /** Refreshes the list now and every POLL_MS after. */
  start(): void {
    const tick = async () => {
      try {
        await this.refresh();
        this.list.closest('section')!.querySelector<HTMLElement>('.load-error')!.hidden = true;
      } catch (error) {
        const slot = this.list.closest('section')!.querySelector<HTMLElement>('.load-error')!;
        slot.textContent = `Could not load the jobs: ${(error as Error).message}`;
        slot.hidden = false;
      }
      this.timer = window.setTimeout(() => void tick(), POLL_MS);
    };
    window.clearTimeout(this.timer);
    void tick();
  }

  async refresh(): Promise<void> {
    const { jobs, total } = await api.jobs();
    const seen = new Set<string>();
    jobs.forEach((job, i) => {
      seen.add(job.id);
      const row = this.row(job);
      if (this.list.children[i] !== row) this.list.insertBefore(row, this.list.children[i] ?? null);
    });
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.remove();
        this.rows.delete(id);
      }
    }
    this.list.closest('section')!.querySelector<HTMLElement>('.empty')!.hidden = total > 0;
    const shown = this.selected === null ? undefined : jobs.find((j) => j.id === this.selected);
    if (shown !== undefined) this.showSummary(shown);
  }

  /** The job's row, created once and updated in place so focus stays on its button across refreshes. */
  private row(job: JobSummary): HTMLTableRowElement {
    let row = this.rows.get(job.id);
    if (row === undefined) {
      row = element('tr');
      row.dataset.job = job.id;
      const open = element('button', job.id, 'link');
      open.type = 'button';
      open.addEventListener('click', () => this.select(job.id));
      const first = element('td');
      first.append(open);
      row.append(first, element('td'), element('td'), element('td', undefined, 'num'));
      row.cells[1]!.append(element('span'));
      this.rows.set(job.id, row);
    }
    const running = job.status === 'running' && job.progress ? ` ${Math.round(job.progress.fraction * 100)} %` : '';
    statusBadge(row.cells[1]!.firstElementChild as HTMLElement, job.status);
    (row.cells[1]!.firstElementChild as HTMLElement).textContent = job.status + running;
    row.cells[2]!.textContent = describeRecipe(job.recipe);
    row.cells[3]!.textContent = percent(job.test?.accuracy);
    row.classList.toggle('selected', job.id === this.selected);
    row.querySelector('button')!.setAttribute('aria-pressed', String(job.id === this.selected));
    return row;
  }

  /** Shows a job: its settings now, its curves as the event stream replays and extends them. */
  select(id: string): void {
    this.events?.close();
    this.selected = id;
    this.status = null;
    for (const [rowId, row] of this.rows) {
      row.classList.toggle('selected', rowId === id);
      row.querySelector('button')!.setAttribute('aria-pressed', String(rowId === id));
    }
    this.detail.hidden = false;
    this.detail.dataset.job = id;
    this.$('#detail-id').textContent = id;
    this.$('#detail-error').hidden = true;
    this.$('#result').hidden = true;
    this.accuracy.reset();
    this.loss.reset();
    void api.job(id).then(
      (job) => {
        if (this.selected !== id) return;
        this.showSummary(job);
        if (FINISHED.has(job.status)) this.showResult(job);
      },
      (error: Error) => this.showDetailError(error.message),
    );
    const events = new EventSource(api.eventsUrl(id));
    this.events = events;
    events.addEventListener('epoch', (e) => {
      const epoch = JSON.parse((e as MessageEvent<string>).data) as EpochEvent;
      this.accuracy.add(epoch.fold, 'training', epoch.epoch, epoch.trainAccuracy);
      this.accuracy.add(epoch.fold, 'validation', epoch.epoch, epoch.validAccuracy);
      this.loss.add(epoch.fold, 'training', epoch.epoch, epoch.trainLoss);
      this.loss.add(epoch.fold, 'validation', epoch.epoch, epoch.validLoss);
      if (epoch.progress) this.showProgress(epoch.progress.fraction, `fold ${epoch.progress.fold} of ${epoch.progress.folds}, epoch ${epoch.progress.epoch} of ${epoch.progress.epochs}`);
    });
    events.addEventListener('end', (e) => {
      // The stream is over: closing keeps EventSource from reconnecting and replaying it.
      events.close();
      const end = JSON.parse((e as MessageEvent<string>).data) as EndEvent;
      void this.refresh().catch(() => undefined);
      if (this.selected !== id) return;
      this.setStatus(end.status);
      void api.job(id).then((job) => {
        if (this.selected !== id) return;
        this.showSummary(job);
        this.showResult(job);
      });
      if (end.status === 'succeeded') this.options.onSucceeded(end);
    });
    this.detail.scrollIntoView({ block: 'nearest' });
  }

  private setStatus(status: JobStatus): void {
    this.status = status;
    statusBadge(this.$('#detail-status'), status);
    const cancel = this.$<HTMLButtonElement>('#cancel');
    cancel.hidden = FINISHED.has(status);
    cancel.disabled = status === 'cancelling';
  }

  private showSummary(job: JobSummary): void {
    // An `end` already seen wins over a list fetched before it.
    if (this.status !== null && FINISHED.has(this.status) && !FINISHED.has(job.status)) return;
    this.setStatus(job.status);
    this.$('#detail-recipe').textContent = describeRecipe(job.recipe);
    if (job.progress) {
      const p = job.progress;
      const eta = p.etaSeconds !== null && !FINISHED.has(job.status) ? `, about ${Math.ceil(p.etaSeconds)} s left` : '';
      this.showProgress(p.fraction, `fold ${p.fold} of ${p.folds}, epoch ${p.epoch} of ${p.epochs}${eta}`);
    } else {
      this.showProgress(0, job.status === 'queued' ? 'waiting for its turn' : '');
    }
    if (job.error) this.showDetailError(job.error.message);
  }

  private showProgress(fraction: number, text: string): void {
    const bar = this.$<HTMLProgressElement>('#detail-progress');
    bar.value = fraction;
    bar.textContent = `${Math.round(fraction * 100)} %`;
    this.$('#detail-progress-text').textContent = `${Math.round(fraction * 100)} %${text ? ` · ${text}` : ''}`;
  }

  private showDetailError(message: string): void {
    const slot = this.$('#detail-error');
    slot.textContent = message;
    slot.hidden = false;
  }

  /** The fold table (the selected fold marked) and the test result. */
  private showResult(job: JobView): void {
    if (job.status !== 'succeeded' || job.folds === null || job.test === null) return;
    const body = this.$<HTMLTableSectionElement>('#fold-table tbody');
    body.replaceChildren(
      ...job.folds.map((f) => {
        const row = element('tr');
        if (f.fold === job.selectedFold) row.className = 'chosen';
        row.append(
          element('th', f.fold === job.selectedFold ? `${f.fold} (selected)` : String(f.fold)),
          element('td', String(f.bestEpoch), 'num'),
          element('td', percent(f.trainAccuracy), 'num'),
          element('td', percent(f.validAccuracy), 'num'),
        );
        row.firstElementChild!.setAttribute('scope', 'row');
        return row;
      }),
    );
    this.$('#test-result').textContent = `Test accuracy ${percent(job.test.accuracy)}, loss ${job.test.loss.toFixed(4)} · model ${job.modelId ?? '–'}`;
    this.$('#result').hidden = false;
  }

  private async cancel(): Promise<void> {
    const id = this.selected;
    if (id === null) return;
    const button = this.$<HTMLButtonElement>('#cancel');
    button.disabled = true;
    try {
      const { status } = await api.cancelJob(id, this.options.token());
      if (this.selected === id && !(this.status !== null && FINISHED.has(this.status))) this.setStatus(status);
      await this.refresh();
    } catch (error) {
      this.showDetailError((error as Error).message);
      button.disabled = false;
    }
  }
}
