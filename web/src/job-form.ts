/**
 * The training form: turns the fields into a POST /jobs body (empty fields are left to the recipe), and shows
 * the API's 400 message beside the field it names.
 */
import { ApiError, api, type DatasetView, type JobRequest } from './api.js';
import { AUGMENT_LIMITS, RECIPE_DEFAULTS, optimizerOf, type Activation, type AugmentChoice, type OptimizerKind, type RecipeName } from './recipes.js';

/** The form's inputs by the name of the API field they set. */
const FIELDS = ['recipe', 'hidden', 'activation', 'optimizer', 'lr', 'batchSize', 'epochs', 'folds', 'dropout', 'augment', 'precision', 'dataset', 'token'] as const;
type FieldName = (typeof FIELDS)[number];

/** The input an API error's field (body.hidden.0.width, body.epochs, …) belongs to; null if none. */
export function inputForField(field: string | undefined): FieldName | null {
  if (field === undefined) return null;
  const parts = field.split('.');
  if (parts[0] !== 'body') return null;
  const [name] = parts.slice(1);
  if (name === 'hidden') return parts.at(-1) === 'activation' ? 'activation' : parts.at(-1) === 'dropout' ? 'dropout' : 'hidden';
  return (FIELDS as readonly string[]).includes(name ?? '') ? (name as FieldName) : null;
}

/** A number as typed, or null when the field is empty; what is not a number goes as it is for the API to judge. */
function numberOrNull(text: string): number | null {
  const trimmed = text.trim();
  return trimmed === '' ? null : Number(trimmed);
}

/** A dataset as its choice reads: its name, its size and classes. */
export function describeDataset(d: Pick<DatasetView, 'id' | 'name' | 'train' | 'classes'>): string {
  return `${d.name ?? d.id.slice(0, 12)} · ${d.train.count} images, ${d.classes} classes`;
}

export class JobForm {
  private readonly inputs: Record<FieldName, HTMLInputElement | HTMLSelectElement>;
  private readonly formError: HTMLElement;
  private readonly submit: HTMLButtonElement;

  constructor(
    private readonly form: HTMLFormElement,
    private readonly onCreated: (id: string) => void,
  ) {
    this.inputs = Object.fromEntries(FIELDS.map((name) => [name, form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement])) as JobForm['inputs'];
    this.formError = form.querySelector<HTMLElement>('#form-error')!;
    this.submit = form.querySelector<HTMLButtonElement>('button[type=submit]')!;
    this.inputs.recipe.addEventListener('change', () => this.showRecipe());
    form.querySelector<HTMLButtonElement>('#dataset-upload')!.addEventListener('click', () => void this.upload());
    for (const name of FIELDS) this.inputs[name].addEventListener('input', () => this.clearError(name));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
    this.showRecipe();
  }

  private get recipe(): RecipeName {
    return this.inputs.recipe.value as RecipeName;
  }

  /** The recipe's values as placeholders and as the "recipe's" choice of the selects. */
  private showRecipe(): void {
    const d = RECIPE_DEFAULTS[this.recipe];
    const placeholders: Partial<Record<FieldName, string>> = { hidden: d.widths.join(', '), lr: String(d.lr), batchSize: String(d.batchSize), epochs: String(d.epochs), folds: String(d.folds), dropout: String(d.dropout) };
    for (const [name, text] of Object.entries(placeholders)) (this.inputs[name as FieldName] as HTMLInputElement).placeholder = text;
    this.inputs.activation.querySelector('option[value=""]')!.textContent = `recipe's (${d.activation})`;
    this.inputs.optimizer.querySelector('option[value=""]')!.textContent = `recipe's (${d.optimizer})`;
    this.inputs.augment.querySelector('option[value=""]')!.textContent = `recipe's (${d.augment})`;
  }

  /** The request body: the recipe plus every field the user filled in. */
  body(): JobRequest {
    const d = RECIPE_DEFAULTS[this.recipe];
    const body: JobRequest = { recipe: this.recipe };
    const widthsText = this.inputs.hidden.value.trim();
    const activation = this.inputs.activation.value as Activation | '';
    const dropout = numberOrNull(this.inputs.dropout.value);
    if (widthsText !== '' || activation !== '' || dropout !== null) {
      const widths = widthsText === '' ? d.widths : widthsText.split(/[\s,]+/).filter((w) => w !== '').map(Number);
      const rate = dropout ?? d.dropout;
      body.hidden = widths.map((width) => ({ width, activation: activation || d.activation, ...(rate !== 0 ? { dropout: rate } : {}) }));
    }
    const augment = this.inputs.augment.value as AugmentChoice | '';
    if (augment !== '') body.augment = AUGMENT_LIMITS[augment];
    const precision = this.inputs.precision.value;
    if (precision === 'fp32' || precision === 'bf16') body.precision = precision;
    const optimizer = this.inputs.optimizer.value as OptimizerKind | '';
    if (optimizer !== '') body.optimizer = optimizerOf(optimizer);
    for (const name of ['lr', 'batchSize', 'epochs', 'folds'] as const) {
      const value = numberOrNull(this.inputs[name].value);
      if (value !== null) body[name] = value;
    }
    if (this.inputs.dataset.value !== '') body.dataset = { id: this.inputs.dataset.value };
    return body;
  }

  /** The uploaded datasets as choices after MNIST, keeping the one chosen (or choosing `select`). */
  async loadDatasets(select?: string): Promise<void> {
    const { datasets } = await api.datasets();
    const picker = this.inputs.dataset as HTMLSelectElement;
    const chosen = select ?? picker.value;
    picker.replaceChildren(new Option('MNIST (built in)', ''), ...datasets.map((d) => new Option(describeDataset(d), d.id)));
    picker.value = datasets.some((d) => d.id === chosen) ? chosen : '';
    picker.dataset.count = String(datasets.length);
  }

  /** Sends the chosen file to POST /datasets; the stored dataset becomes the choice. */
  private async upload(): Promise<void> {
    const input = this.form.querySelector<HTMLInputElement>('#dataset-file')!;
    const status = this.form.querySelector<HTMLElement>('#dataset-status')!;
    const file = input.files?.[0];
    this.clearError('dataset');
    if (file === undefined) {
      this.showError(new ApiError(400, 'Choose a zip or tar file first', 'body.dataset'));
      return;
    }
    const button = this.form.querySelector<HTMLButtonElement>('#dataset-upload')!;
    button.disabled = true;
    status.textContent = `Uploading ${file.name}…`;
    try {
      const dataset = await api.uploadDataset(file, file.name, this.inputs.token.value.trim());
      await this.loadDatasets(dataset.id);
      status.textContent = `Stored: ${dataset.train.count} training and ${dataset.test.count} test images of ${dataset.rows}×${dataset.cols}, ${dataset.classes} classes`;
      status.dataset.dataset = dataset.id;
    } catch (error) {
      status.textContent = '';
      // The upload's own reasons (413, a bad file) belong beside the dataset field.
      this.showError(error instanceof ApiError && error.status !== 401 ? new ApiError(error.status, error.message, 'body.dataset') : error);
    } finally {
      button.disabled = false;
    }
  }

  private async send(): Promise<void> {
    this.clearErrors();
    this.submit.disabled = true;
    try {
      const { id } = await api.createJob(this.body(), this.inputs.token.value.trim());
      this.onCreated(id);
    } catch (error) {
      this.showError(error);
    } finally {
      this.submit.disabled = false;
    }
  }

  private showError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const name = error instanceof ApiError ? (error.status === 401 ? 'token' : inputForField(error.field)) : null;
    if (name === null) {
      this.formError.textContent = message;
      this.formError.hidden = false;
      return;
    }
    const input = this.inputs[name];
    const slot = this.form.querySelector<HTMLElement>(`#${name}-error`)!;
    slot.textContent = message;
    slot.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }

  private clearError(name: FieldName): void {
    const slot = this.form.querySelector<HTMLElement>(`#${name}-error`)!;
    slot.textContent = '';
    slot.hidden = true;
    this.inputs[name].removeAttribute('aria-invalid');
  }

  private clearErrors(): void {
    for (const name of FIELDS) this.clearError(name);
    this.formError.textContent = '';
    this.formError.hidden = true;
  }
}
