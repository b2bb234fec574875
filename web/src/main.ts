/** The page: draw a digit and see what the model thinks; start a job and watch it learn; follow sweeps. */
import { ApiError, api, type ModelView } from './api.js';
import { ProbabilityChart } from './charts.js';
import { DrawingPad } from './drawing.js';
import { JobForm } from './job-form.js';
import { JobsPanel } from './jobs.js';
import { SweepsPanel } from './sweeps.js';
import { SIDE, preprocessRgba } from '../../src/data/centring.js';

/** While drawing, predictions are asked at most this often; a finished stroke asks at once. */
const THROTTLE_MS = 120;

const $ = <T extends HTMLElement = HTMLElement>(selector: string): T => {
  const found = document.querySelector<T>(selector);
  if (found === null) throw new Error(`The page lacks ${selector}`);
  return found;
};

// ------------------------------------------------------------------------------------------------
// Models

const picker = $<HTMLSelectElement>('#model');
/** True once the user chose a model: new models then no longer move the choice to the default. */
let chosen = false;
/** The models shown, so a refresh that finds nothing new leaves an open list alone. */
let shown = '';

function modelLabel(m: ModelView, isDefault: boolean): string {
  const widths = m.architecture.layers.slice(0, -1).map((l) => `${l.outputs} ${l.activation}`).join(' → ') || 'linear';
  // An imported model met no test set here: where it came from instead.
  const origin = m.testAccuracy === null ? `imported from ${[m.importedFrom?.producerName || 'ONNX', m.importedFrom?.producerVersion].filter(Boolean).join(' ')}` : `${(m.testAccuracy * 100).toFixed(2)} % test`;
  return `${m.id} · ${origin} · ${widths}${isDefault ? ' (default)' : ''}`;
}

async function loadModels(): Promise<void> {
  const { models, defaultModel } = await api.models();
  const signature = JSON.stringify([defaultModel, models.map((m) => m.id)]);
  if (signature === shown) return;
  shown = signature;
  const keep = chosen ? picker.value : defaultModel;
  picker.replaceChildren(
    ...models.map((m) => {
      const option = document.createElement('option');
      option.value = m.id;
      option.textContent = modelLabel(m, m.id === defaultModel);
      if (m.testAccuracy !== null) option.dataset.testAccuracy = String(m.testAccuracy);
      return option;
    }),
  );
  if (models.length === 0) {
    const option = document.createElement('option');
    option.value = '';
    option.textContent = 'no model yet: train one below';
    picker.append(option);
  }
  picker.value = models.some((m) => m.id === keep) ? keep! : (defaultModel ?? '');
  picker.disabled = models.length === 0;
  picker.dataset.count = String(models.length);
}

picker.addEventListener('change', () => {
  chosen = true;
  void predictNow();
});

// ------------------------------------------------------------------------------------------------
// Drawing and prediction

const preview = $<HTMLCanvasElement>('#input-preview');
const previewContext = preview.getContext('2d')!;
const verdict = $('#prediction');
const predictedLabel = $('#predicted-label');
const confidence = $('#confidence');
const predictStatus = $('#predict-status');
const probabilities = new ProbabilityChart($<HTMLCanvasElement>('#probability-chart'));
let timer: number | undefined;
/** Only the answer to the newest drawing is shown; slower answers to older ones are dropped. */
let asked = 0;

function showInput(input: Uint8Array | null): void {
  const image = previewContext.createImageData(SIDE, SIDE);
  for (let i = 0; i < SIDE * SIDE; i++) {
    const v = input?.[i] ?? 0;
    image.data.set([v, v, v, 255], 4 * i);
  }
  previewContext.putImageData(image, 0, 0);
}

function showVerdict(label: number | null, probs: number[] | null, version: number, className?: string): void {
  predictedLabel.textContent = label === null ? '–' : (className ?? String(label));
  confidence.textContent = label === null || probs === null ? 'draw a digit' : `${((probs[label] ?? 0) * 100).toFixed(1)} % sure`;
  verdict.dataset.label = label === null ? '' : String(label);
  verdict.dataset.version = String(version);
  probabilities.show(probs, label);
}

async function predictNow(): Promise<void> {
  window.clearTimeout(timer);
  timer = undefined;
  const version = pad.version;
  const ticket = ++asked;
  const rgba = pad.pixels();
  const input = preprocessRgba(rgba.data, rgba.width, rgba.height);
  showInput(input);
  if (input === null) {
    predictStatus.textContent = '';
    showVerdict(null, null, version);
    return;
  }
  try {
    const answer = await api.predict(input, picker.value || undefined);
    if (ticket !== asked) return;
    predictStatus.textContent = `answered by ${answer.model}`;
    showVerdict(answer.label, answer.probabilities, version, answer.className);
  } catch (error) {
    if (ticket !== asked) return;
    predictStatus.textContent = error instanceof ApiError && error.status === 503 ? `${error.message}` : `Could not predict: ${(error as Error).message}`;
    showVerdict(null, null, version);
  }
}

const pad = new DrawingPad($<HTMLCanvasElement>('#pad'), (_pad, final) => {
  if (final) {
    void predictNow();
  } else if (timer === undefined) {
    // While the pen moves: at most one request per interval, not one per pointer event.
    timer = window.setTimeout(() => void predictNow(), THROTTLE_MS);
  }
});
$('#clear').addEventListener('click', () => pad.clear());

// ------------------------------------------------------------------------------------------------
// Training

const token = $<HTMLInputElement>('#token');
const jobs = new JobsPanel($<HTMLTableSectionElement>('#job-list'), $('#job-detail'), {
  token: () => token.value.trim(),
  onSucceeded: () => void loadModels().then(() => predictNow()),
});
const form = new JobForm($<HTMLFormElement>('#job-form'), (id) => {
  void jobs.refresh().then(() => jobs.select(id));
});
// Without the list the form still offers MNIST.
void form.loadDatasets().catch(() => undefined);
jobs.start();
new SweepsPanel($('#sweeps')).start();

loadModels().then(
  () => predictNow(),
  (error: Error) => {
    predictStatus.textContent = `Could not load the models: ${error.message}`;
  },
);
// Models trained elsewhere (the CLI, another page) appear too.
window.setInterval(() => void loadModels().catch(() => undefined), 10_000);
document.documentElement.dataset.ready = 'true';
