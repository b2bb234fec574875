import { describe, expect, it } from 'vitest';
import type { SweepView } from '../../src/server/schemas.js';
import { trialScore } from '../../src/sweep/space.js';
import { appPerTest, getJob, parseSse, testApp, tinyJob, waitFor, type TestApp } from './helpers.js';

async function createSweep(app: TestApp, body: Record<string, unknown>): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/sweeps', payload: body });
  if (response.statusCode !== 202) throw new Error(`POST /sweeps answered ${response.statusCode}: ${response.body}`);
  return response.json<{ id: string }>().id;
}

async function getSweep(app: TestApp, id: string): Promise<SweepView> {
  const response = await app.inject({ url: `/sweeps/${id}` });
  expect(response.statusCode).toBe(200);
  return response.json<SweepView>();
}

const done = (s: SweepView) => ['succeeded', 'failed', 'cancelled'].includes(s.status);

async function waitForSweep(app: TestApp, id: string, deadlineMs = 60_000): Promise<SweepView> {
  let last: SweepView | undefined;
  return waitFor(async () => ((last = await getSweep(app, id)), done(last) && last), deadlineMs, () => `sweep ${id} (still ${last?.status})`);
}

describe('sweeps', () => {
  const ctx = appPerTest();

  it('runs a grid of 4 trials as jobs, each scored on validation, and names the best', async () => {
    const base = tinyJob(ctx.data, { epochs: 2, hidden: [{ width: 16, activation: 'relu' }] });
    const id = await createSweep(ctx.app, { base, space: { lr: [1e-4, 3e-3], batchSize: [50, 200] } });
    const sweep = await waitForSweep(ctx.app, id);
    expect(sweep.status).toBe('succeeded');
    expect(sweep.trials.map((t) => t.params)).toEqual([
      { lr: 1e-4, batchSize: 50 },
      { lr: 1e-4, batchSize: 200 },
      { lr: 3e-3, batchSize: 50 },
      { lr: 3e-3, batchSize: 200 },
    ]);
    for (const trial of sweep.trials) {
      expect(trial.status).toBe('succeeded');
      const job = await getJob(ctx.app, trial.jobId);
      // The base with the trial's fields, and a validation part held out of its one fold.
      expect(job.recipe).toMatchObject({ lr: trial.params.lr, batchSize: trial.params.batchSize, folds: 1, holdout: 0.1, epochs: 2 });
      expect(trial.validAccuracy).toBe(trialScore(job.folds as { validAccuracy: number }[]));
      expect(trial.testAccuracy).toBe(job.test!.accuracy);
      expect(trial.modelId).toBe(job.modelId);
    }
    const scores = sweep.trials.map((t) => t.validAccuracy!);
    const best = scores.indexOf(Math.max(...scores));
    expect(sweep.best).toEqual({ index: best, jobId: sweep.trials[best]!.jobId, modelId: sweep.trials[best]!.modelId, params: sweep.trials[best]!.params, validAccuracy: scores[best] });
    // 1e-4 learns far less in two epochs than 3e-3.
    expect(Math.max(scores[2]!, scores[3]!)).toBeGreaterThan(Math.max(scores[0]!, scores[1]!));

    const listed = (await ctx.app.inject({ url: '/sweeps' })).json<{ sweeps: SweepView[]; total: number }>();
    expect(listed.total).toBe(1);
    expect(listed.sweeps[0]).toEqual(sweep);
    // A trial's job stays with its sweep.
    expect((await ctx.app.inject({ method: 'DELETE', url: `/jobs/${sweep.trials[0]!.jobId}` })).statusCode).toBe(409);

    // The event stream of a finished sweep: every trial, then the end.
    const events = parseSse((await ctx.app.inject({ url: `/sweeps/${id}/events` })).body);
    expect(events.map((e) => e.event)).toEqual(['trial', 'trial', 'trial', 'trial', 'end']);
    expect(events.at(-1)!.data).toEqual({ id, status: 'succeeded', best: sweep.best });
  });

  it('draws random trials from its seed, within the ranges', async () => {
    const body = { base: tinyJob(ctx.data, { epochs: 1 }), space: { lr: { min: 1e-4, max: 1e-2, log: true }, hidden: [[{ width: 8, activation: 'relu' }], [{ width: 16, activation: 'sigmoid' }]] }, strategy: 'random', trials: 3, seed: 4 };
    const a = await waitForSweep(ctx.app, await createSweep(ctx.app, body));
    const b = await getSweep(ctx.app, await createSweep(ctx.app, body));
    expect(b.trials.map((t) => t.params)).toEqual(a.trials.map((t) => t.params));
    expect(a.trials).toHaveLength(3);
    for (const t of a.trials) {
      expect(t.params.lr).toBeGreaterThanOrEqual(1e-4);
      expect(t.params.lr).toBeLessThanOrEqual(1e-2);
    }
    await waitForSweep(ctx.app, b.id);
  });

  it('cancels every trial not finished', async () => {
    const id = await createSweep(ctx.app, { base: tinyJob(ctx.data, { epochs: 1000, batchSize: 10 }), space: { lr: [1e-3, 2e-3] } });
    await waitFor(async () => (await getSweep(ctx.app, id)).status === 'running', 30_000, 'the first trial to run');
    const cancel = await ctx.app.inject({ method: 'POST', url: `/sweeps/${id}/cancel` });
    expect(cancel.statusCode).toBe(202);
    const sweep = await waitForSweep(ctx.app, id);
    expect(sweep.status).toBe('cancelled');
    expect(sweep.trials.map((t) => t.status)).toEqual(['cancelled', 'cancelled']);
    expect(sweep.best).toBeNull();
    expect((await ctx.app.inject({ method: 'POST', url: `/sweeps/${id}/cancel` })).statusCode).toBe(409);
  });

  it('answers 400 naming the field for spaces that do not fit', async () => {
    const refused = async (body: Record<string, unknown>, field: string, message?: RegExp) => {
      const response = await ctx.app.inject({ method: 'POST', url: '/sweeps', payload: body });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ field, ...(message ? { error: expect.stringMatching(message) } : {}) });
    };
    await refused({ space: { lr: [0.1, -1] } }, 'body.space.lr.1');
    await refused({ space: { lr: { min: 0.001, max: 0.1 } } }, 'body.space.lr');
    await refused({ space: { colour: ['red'] } }, 'body.space', /Unrecognized key: "colour"/);
    await refused({ space: {} }, 'body.space');
    await refused({ space: { lr: [0.01] }, strategy: 'random' }, 'body.trials');
    await refused({ space: { lr: [0.01] }, trials: 65 }, 'body.trials');
    await refused({ space: { lr: Array.from({ length: 9 }, (_, i) => 0.01 * (i + 1)), epochs: [1, 2, 3, 4, 5, 6, 7, 8] } }, 'body.space');
    // A base of three folds with a holdout, or a combination that is no recipe.
    await refused({ base: { folds: 3, holdout: 0.1 }, space: { lr: [0.01] } }, 'body.base.holdout');
    await refused({ base: { recipe: 'accurate' }, space: { folds: [1, 3], holdout: [0.2] } }, 'body.space');
    await refused({ base: { dataset: { ...ctx.data.dataset, trainImages: '../outside' } }, space: { lr: [0.01] } }, 'body.base.dataset.trainImages');
    expect((await ctx.app.inject({ url: '/sweeps' })).json()).toMatchObject({ total: 0 });
    expect((await ctx.app.inject({ url: '/sweeps/sweep-none' })).statusCode).toBe(404);
  });

  it('keeps a sweep across a restart of the service', async () => {
    const id = await createSweep(ctx.app, { base: tinyJob(ctx.data, { epochs: 1 }), space: { seed: [1, 2] } });
    const sweep = await waitForSweep(ctx.app, id);
    await ctx.app.close();
    ctx.app = testApp(ctx.data);
    await ctx.app.ready();
    expect(await getSweep(ctx.app, id)).toEqual(sweep);
  });
});
