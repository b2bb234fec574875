/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The web page end to end in headless Chromium against a real listening service: draw a test digit stroke by
 * stroke and read the prediction, train from the form and watch the curves grow, cancel a job, see the API's
 * validation message beside its field, use it from the keyboard and on a phone-sized screen.
 * Needs Debian's chromium (/usr/bin/chromium); playwright-core downloads nothing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeIdx } from '../../src/data/idx.js';
import { buildApp } from '../../src/server/app.js';
import { subset } from '../../src/data/dataset.js';
import { firstIndices, smallMnist, writeImageFolder, writeZip } from '../helpers/datasets.js';
import { torchFixture } from '../helpers/onnx-graphs.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = join(import.meta.dirname, '..', '..');
const SCREENSHOTS = join(ROOT, 'test-output', 'web');
/** Test digits drawn on the page: the first three of MNIST's test set (a 7, a 2 and a 1). */
const DRAWN = [0, 1, 2];

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !process.env.CI) console.warn(`web page tests skipped: no ${CHROMIUM} (apt-get install -y chromium)`);

type App = ReturnType<typeof buildApp>;

interface JobState {
  status: string;
  modelId: string | null;
}

async function waitForJob(app: App, id: string, done: (job: JobState) => boolean, timeoutMs = 40_000): Promise<JobState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await app.inject({ url: `/jobs/${id}` })).json<JobState>();
    if (done(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Traces a 28×28 digit on the pad as the strokes a pen would make: each run of bright pixels in a row is one
 * stroke from its first to its last pixel, scaled to the pad's size on screen.
 */
async function drawDigit(page: Page, digit: Uint8Array): Promise<number> {
  await page.locator('#pad').scrollIntoViewIfNeeded();
  const box = (await page.locator('#pad').boundingBox())!;
  const scale = box.width / 28;
  const at = (x: number, y: number) => [box.x + (x + 0.5) * scale, box.y + (y + 0.5) * scale] as const;
  let strokes = 0;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      if (digit[y * 28 + x]! <= 100) continue;
      let end = x;
      while (end + 1 < 28 && digit[y * 28 + end + 1]! > 100) end++;
      await page.mouse.move(...at(x, y));
      await page.mouse.down();
      await page.mouse.move(...at(end, y), { steps: Math.max(1, end - x) });
      await page.mouse.up();
      strokes++;
      x = end;
    }
  }
  return strokes;
}

/** The label the page shows once it has answered the latest drawing. */
async function predictedLabel(page: Page): Promise<number> {
  try {
    await page.waitForFunction(
      () => {
        const verdict = document.querySelector<HTMLElement>('#prediction')!;
        return verdict.dataset.version === document.querySelector<HTMLElement>('#pad')!.dataset.version && verdict.dataset.label !== '';
      },
      undefined,
      { timeout: 10_000 },
    );
  } catch (error) {
    const state = await page.evaluate(() => ({
      status: document.querySelector('#predict-status')!.textContent,
      verdict: document.querySelector<HTMLElement>('#prediction')!.dataset,
      pad: document.querySelector<HTMLElement>('#pad')!.dataset,
    }));
    throw new Error(`no prediction of the latest drawing: ${JSON.stringify(state)}`, { cause: error });
  }
  return Number(await page.locator('#prediction').getAttribute('data-label'));
}

const points = async (page: Page, chart: string) => Number(await page.locator(chart).getAttribute('data-points'));

describe.skipIf(!haveChromium && !process.env.CI)('the web page in Chromium', () => {
  let dataDir: string;
  let profile: string;
  let app: App;
  let url: string;
  let context: BrowserContext;
  let page: Page;
  let test: Awaited<ReturnType<typeof smallMnist>>['test'];
  let modelId: string;
  let dataset: { trainImages: string; trainLabels: string; testImages: string; testLabels: string };
  const offsite: string[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    // The page as `npm install` builds it, from the current sources.
    execFileSync(process.execPath, [join(ROOT, 'web', 'build.mjs')], { stdio: 'pipe' });
    await mkdir(SCREENSHOTS, { recursive: true });
    dataDir = await mkdtemp(join(tmpdir(), 'fastmlp-web-'));
    profile = await mkdtemp(join(tmpdir(), 'fastmlp-chromium-'));
    const mnist = await smallMnist(10_000, 1000);
    test = mnist.test;
    await mkdir(join(dataDir, 'digits'));
    dataset = { trainImages: 'digits/train-images', trainLabels: 'digits/train-labels', testImages: 'digits/test-images', testLabels: 'digits/test-labels' };
    await writeIdx(join(dataDir, dataset.trainImages), [mnist.train.count, 28, 28], mnist.train.pixels);
    await writeIdx(join(dataDir, dataset.trainLabels), [mnist.train.count], mnist.train.labels);
    await writeIdx(join(dataDir, dataset.testImages), [test.count, 28, 28], test.pixels);
    await writeIdx(join(dataDir, dataset.testLabels), [test.count], test.labels);

    app = buildApp({ dataDir, bootstrap: false, defaultMetrics: false, docs: false, threads: 2 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`;

    // A small but decent model (about 95 % on 10,000 training digits), trained while the browser starts.
    const created = await app.inject({ method: 'POST', url: '/jobs', payload: { recipe: 'accurate', hidden: [{ width: 128, activation: 'relu' }], epochs: 4, batchSize: 128, dataset } });
    const jobId = created.json<{ id: string }>().id;
    const browser = chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    });
    const job = await waitForJob(app, jobId, (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status));
    expect(job.status).toBe('succeeded');
    modelId = job.modelId!;
    context = await browser;
    page = context.pages()[0] ?? (await context.newPage());
    page.on('request', (request) => {
      if (!request.url().startsWith(url) && !request.url().startsWith('data:')) offsite.push(request.url());
    });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    await page.goto(url);
    await page.waitForSelector('html[data-ready="true"]');
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await app?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(profile, { recursive: true, force: true });
  });

  it('offers the service’s models with their test accuracy, the default chosen', async () => {
    await page.waitForSelector('#model[data-count="1"]');
    expect(await page.locator('#model').inputValue()).toBe(modelId);
    expect(await page.locator('#model option').first().textContent()).toMatch(new RegExp(`^${modelId} · \\d+\\.\\d\\d % test · 128 relu \\(default\\)$`));
  });

  it('reads digits traced stroke by stroke on the canvas', async () => {
    for (const index of DRAWN) {
      await page.getByRole('button', { name: 'Clear' }).click();
      const digit = test.pixels.subarray(index * 784, (index + 1) * 784);
      const strokes = await drawDigit(page, digit);
      expect(strokes).toBeGreaterThan(5);
      expect(await page.locator('#pad').getAttribute('data-strokes')).toBe(String(strokes));
      expect(await predictedLabel(page)).toBe(test.labels[index]);
      // The ten probabilities are drawn and the predicted one is the largest.
      const probabilities = (await page.locator('#probability-chart').getAttribute('data-probabilities'))!.split(',').map(Number);
      expect(probabilities).toHaveLength(10);
      expect(probabilities.indexOf(Math.max(...probabilities))).toBe(test.labels[index]);
      expect(await page.locator('#predicted-label').textContent()).toBe(String(test.labels[index]));
      await page.screenshot({ path: join(SCREENSHOTS, `draw-${index}-digit-${test.labels[index]}.png`) });
    }
    // The 28×28 input the model received is shown: white strokes on black.
    const lit = await page.locator('#input-preview').evaluate((canvas: HTMLCanvasElement) => {
      const data = canvas.getContext('2d')!.getImageData(0, 0, 28, 28).data;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i]! > 128) n++;
      return { n, corner: data[0] };
    });
    expect(lit.n).toBeGreaterThan(30);
    expect(lit.corner).toBe(0);
  });

  it('clears the pad and the prediction', async () => {
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#prediction')!.dataset.label === '');
    expect(await page.locator('#predicted-label').textContent()).toBe('–');
    expect(await page.locator('#pad').getAttribute('data-strokes')).toBe('0');
  });

  it('shows the API’s validation message beside the field it names', async () => {
    await page.locator('#epochs').fill('0');
    await page.getByRole('button', { name: 'Start training' }).click();
    const error = page.locator('#epochs-error');
    await error.waitFor({ state: 'visible' });
    expect(await error.textContent()).toMatch(/^body\.epochs: /);
    expect(await page.locator('#epochs').getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('epochs');
    await page.screenshot({ path: join(SCREENSHOTS, 'validation-error.png'), fullPage: true });

    // A hidden width of 0 is the hidden widths' field; editing a field clears its message.
    await page.locator('#epochs').fill('');
    expect(await error.isHidden()).toBe(true);
    await page.locator('#hidden').fill('64, 0');
    await page.getByRole('button', { name: 'Start training' }).click();
    await page.locator('#hidden-error').waitFor({ state: 'visible' });
    expect(await page.locator('#hidden-error').textContent()).toMatch(/^body\.hidden\.1\.width: /);
    expect(await page.locator('#job-list tr').count()).toBe(1); // nothing was queued
    await page.locator('#hidden').fill('');
  });

  it('starts a small job from the form and draws its curves live, then its fold table and test result', async () => {
    await page.locator('#recipe').selectOption('accurate');
    await page.locator('#hidden').fill('32');
    await page.locator('#batchSize').fill('500');
    await page.locator('#epochs').fill('4');
    await page.locator('#folds').fill('2');
    await page.getByRole('button', { name: 'Start training' }).click();
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#job-detail')!.dataset.job !== undefined);
    const id = (await page.locator('#job-detail').getAttribute('data-job'))!;
    await page.waitForSelector(`#job-list tr[data-job="${id}"]`);

    // The curves gain points as epochs finish: two folds, training and validation each.
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#accuracy-chart')!.dataset.points) >= 2);
    const early = await points(page, '#accuracy-chart');
    await page.waitForFunction((n) => Number(document.querySelector<HTMLElement>('#accuracy-chart')!.dataset.points) > n, early);
    expect(await points(page, '#accuracy-chart')).toBeGreaterThan(early);

    await page.waitForSelector('#detail-status[data-status="succeeded"]', { timeout: 40_000 });
    await page.waitForSelector('#result:not([hidden])');
    // 2 folds × 4 epochs × (training, validation).
    expect(await points(page, '#accuracy-chart')).toBe(16);
    expect(await points(page, '#loss-chart')).toBe(16);
    expect(await page.locator('#accuracy-chart').getAttribute('data-series')).toBe('4');
    expect(await page.locator('#fold-table tbody tr').count()).toBe(2);
    expect(await page.locator('#fold-table tr.chosen').count()).toBe(1);
    expect(await page.locator('#test-result').textContent()).toMatch(/^Test accuracy \d+\.\d\d %, loss \d+\.\d{4} · model model-/);
    await page.waitForSelector(`#job-list tr[data-job="${id}"] .badge[data-status="succeeded"]`);
    // Its model joins the picker.
    await page.waitForSelector('#model[data-count="2"]');
    // The whole page at work, as the README shows it (docs/web.png is this picture).
    await drawDigit(page, test.pixels.subarray(784, 2 * 784));
    expect(await predictedLabel(page)).toBe(test.labels[1]);
    await page.screenshot({ path: join(SCREENSHOTS, 'overview.png'), fullPage: true });
    await page.getByRole('button', { name: 'Clear' }).click();
  });

  it('cancels a job from its button', async () => {
    await page.locator('#hidden').fill('256');
    await page.locator('#batchSize').fill('10');
    await page.locator('#epochs').fill('1000');
    await page.locator('#folds').fill('1');
    const before = await page.locator('#job-detail').getAttribute('data-job');
    await page.getByRole('button', { name: 'Start training' }).click();
    await page.waitForFunction((old) => document.querySelector<HTMLElement>('#job-detail')!.dataset.job !== old, before);
    const id = (await page.locator('#job-detail').getAttribute('data-job'))!;
    await page.waitForSelector('#detail-status[data-status="running"]', { timeout: 20_000 });
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.waitForSelector('#detail-status[data-status="cancelled"]', { timeout: 20_000 });
    await page.waitForSelector(`#job-list tr[data-job="${id}"] .badge[data-status="cancelled"]`);
    expect(await page.getByRole('button', { name: 'Cancel job' }).isHidden()).toBe(true);
  });

  it('can be used from the keyboard: every control is labelled and reached in reading order', async () => {
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, button')].filter((e) => {
        const el = e as HTMLInputElement;
        return !(el.labels?.length || el.getAttribute('aria-label') || el.textContent?.trim());
      }).map((e) => e.outerHTML),
    );
    expect(unlabelled).toEqual([]);
    await page.goto(url);
    await page.waitForSelector('html[data-ready="true"]');
    const order: string[] = [];
    for (let i = 0; i < 17; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent?.trim() || ''));
    }
    expect(order).toEqual(['Skip to training', 'model', 'clear', 'recipe', 'hidden', 'activation', 'optimizer', 'lr', 'batchSize', 'epochs', 'folds', 'Advanced: dropout, augmentation and precision', 'dataset', 'dataset-file', 'dataset-upload', 'token', 'Start training']);
    // The skip link moves focus to the training panel; the jobs' buttons follow the form.
    await page.goto(url);
    await page.waitForSelector('html[data-ready="true"]');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('train');
    await page.waitForSelector('#job-list tr');
    // Ten settings, the advanced fold (closed), the upload's file and button, and the submit button, then the newest job.
    for (let i = 0; i < 15; i++) await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.closest('tr')?.dataset.job)).toMatch(/^job-/);
    // Enter on a job's button shows that job.
    await page.keyboard.press('Enter');
    await page.waitForSelector('#job-detail:not([hidden])');
  });

  it('fits a phone-sized screen without sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(url);
    await page.waitForSelector('html[data-ready="true"]');
    const digit = test.pixels.subarray(0, 784);
    await drawDigit(page, digit);
    expect(await predictedLabel(page)).toBe(test.labels[0]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SCREENSHOTS, 'phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('shows a sweep: its trials sortable by any column, the best marked, validation accuracy against a parameter', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    const created = await app.inject({ method: 'POST', url: '/sweeps', payload: { base: { recipe: 'accurate', epochs: 1, hidden: [{ width: 16, activation: 'relu' }], dataset }, space: { lr: [1e-4, 1e-3, 1e-2] } } });
    expect(created.statusCode).toBe(202);
    const id = created.json<{ id: string }>().id;
    const deadline = Date.now() + 60_000;
    let sweep: { status: string; best: { index: number } | null };
    for (;;) {
      sweep = (await app.inject({ url: `/sweeps/${id}` })).json();
      if (sweep.status === 'succeeded') break;
      if (Date.now() > deadline) throw new Error(`sweep ${id} still ${sweep.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.waitForSelector('#sweeps:not([hidden]) #sweep-status[data-status="succeeded"]', { timeout: 20_000 });
    const rows = page.locator('#trial-table tbody tr');
    expect(await rows.count()).toBe(3);
    const best = String(sweep.best!.index);
    expect(await page.locator('#trial-table tbody tr.best').getAttribute('data-index')).toBe(best);
    const header = page.locator('#trial-table thead button', { hasText: 'Validation accuracy' });
    await header.click();
    expect(await page.locator('#trial-table thead th').filter({ hasText: 'Validation accuracy' }).getAttribute('aria-sort')).toBe('descending');
    expect(await rows.first().getAttribute('data-index')).toBe(best);
    await header.click();
    expect(await rows.last().getAttribute('data-index')).toBe(best);
    await page.locator('#trial-table thead button', { hasText: 'lr' }).click();
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.children[1]!.textContent))).toEqual(['0.0001', '0.001', '0.01']);
    // lr spans two decades: a log axis, one point per trial.
    await page.waitForSelector('#sweep-chart[data-points="3"][data-axis="log"]');
    expect(await page.locator('#sweep-best').textContent()).toMatch(new RegExp(`^Best so far: trial ${sweep.best!.index + 1} \\(lr `));
    await page.locator('#sweeps').screenshot({ path: join(SCREENSHOTS, 'sweep.png') });
  });

  it('uploads a dataset from the form, chooses it, and trains a job on it; a file that is no dataset gets its reason', async () => {
    await page.goto(url);
    await page.waitForSelector('html[data-ready="true"]');
    const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    const folder = join(dataDir, 'scratch', 'upload');
    await writeImageFolder(join(folder, 'train'), subset(test, firstIndices(200)), { classNames: names });
    await writeImageFolder(join(folder, 'test'), subset(test, Int32Array.from({ length: 50 }, (_, i) => 200 + i)), { classNames: names });
    const zip = await writeZip(join(dataDir, 'scratch', 'digits.zip'), { folder });
    await page.locator('#dataset-file').setInputFiles(zip);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.waitForSelector('#dataset-status[data-dataset]');
    expect(await page.locator('#dataset-status').textContent()).toBe('Stored: 200 training and 50 test images of 28×28, 10 classes');
    const id = (await page.locator('#dataset-status').getAttribute('data-dataset'))!;
    expect(await page.locator('#dataset').inputValue()).toBe(id);
    expect(await page.locator('#dataset option:checked').textContent()).toBe('digits.zip · 200 images, 10 classes');

    await page.locator('#hidden').fill('16');
    await page.locator('#batchSize').fill('50');
    await page.locator('#epochs').fill('1');
    await page.locator('#folds').fill('1');
    await page.getByRole('button', { name: 'Start training' }).click();
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#job-detail')!.dataset.job !== undefined);
    const job = (await page.locator('#job-detail').getAttribute('data-job'))!;
    await page.waitForSelector('#detail-status[data-status="succeeded"]', { timeout: 40_000 });
    expect((await app.inject({ url: `/jobs/${job}` })).json<{ dataset: unknown }>().dataset).toEqual({ id });

    // A file that is not a dataset: the service's reason, beside the field.
    const notes = join(dataDir, 'scratch', 'notes.txt');
    await writeFile(notes, 'not an archive');
    await page.locator('#dataset-file').setInputFiles(notes);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.locator('#dataset-error').waitFor({ state: 'visible' });
    expect(await page.locator('#dataset-error').textContent()).toMatch(/^body: not a zip or tar/);
    for (const field of ['#hidden', '#batchSize', '#epochs', '#folds']) await page.locator(field).fill('');
    await page.locator('#dataset').selectOption('');
  });

  it('sends dropout, augmentation and precision from the advanced fold', async () => {
    await page.goto(url);
    await page.waitForSelector('html[data-ready="true"]');
    await page.locator('#recipe').selectOption('best');
    expect(await page.locator('#hidden').getAttribute('placeholder')).toBe('512, 512');
    await page.locator('#advanced summary').click();
    expect(await page.locator('#dropout').getAttribute('placeholder')).toBe('0.2');
    expect(await page.locator('#augment option[value=""]').textContent()).toBe("recipe's (affine)");
    await page.locator('#recipe').selectOption('accurate');
    await page.locator('#hidden').fill('16');
    await page.locator('#batchSize').fill('500');
    await page.locator('#epochs').fill('1');
    await page.locator('#dropout').fill('0.3');
    await page.locator('#augment').selectOption('affine,elastic');
    await page.locator('#precision').selectOption('bf16');
    await page.locator('#dataset').selectOption('');
    await page.getByRole('button', { name: 'Start training' }).click();
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#job-detail')!.dataset.job !== undefined);
    const job = (await page.locator('#job-detail').getAttribute('data-job'))!;
    const { recipe } = (await app.inject({ url: `/jobs/${job}` })).json<{ recipe: { hidden: unknown; augment: unknown; precision?: string } }>();
    expect(recipe.precision).toBe('bf16');
    expect(recipe.hidden).toEqual([{ width: 16, activation: 'relu', dropout: 0.3 }]);
    expect(recipe.augment).toEqual({ shift: 2, rotate: 10, scale: 0.1, shear: 10, elasticAlpha: 34, elasticSigma: 4 });
    await page.waitForSelector('#detail-status[data-status="succeeded"]', { timeout: 60_000 });
    for (const field of ['#hidden', '#batchSize', '#epochs', '#dropout']) await page.locator(field).fill('');
    await page.locator('#augment').selectOption('');
    await page.locator('#precision').selectOption('');
  });

  it('lists an imported model with where it came from instead of a test accuracy, and predicts with it', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/models?inputScale=unit&mean=0.1307&std=0.3081',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.from(torchFixture('torch-gemm').bytes),
    });
    expect(created.statusCode).toBe(201);
    const imported = created.json<{ id: string }>().id;
    await page.reload();
    await page.waitForSelector('html[data-ready="true"]');
    const option = page.locator(`#model option[value="${imported}"]`);
    await option.waitFor({ state: 'attached' });
    expect(await option.textContent()).toMatch(new RegExp(`^${imported} · imported from pytorch [\\d.]+ · 32 relu → 16 sigmoid$`));
    await page.locator('#model').selectOption(imported);
    await page.getByRole('button', { name: 'Clear' }).click();
    await drawDigit(page, test.pixels.subarray(0, 784));
    expect(await predictedLabel(page)).toBeGreaterThanOrEqual(0);
  });

  it('fetched nothing from anywhere else and logged no error', () => {
    expect(offsite).toEqual([]);
    // Chromium logs every 4xx answer; the validation test asked for two of them, the upload test for one.
    const unexpected = consoleErrors.filter((e) => !/status of 400 \(Bad Request\)/.test(e));
    expect(unexpected).toEqual([]);
    expect(consoleErrors.length).toBe(3);
  });
});
