import { describe, expect, it } from 'vitest';
import { appPerTest, createJob, finished, tinyJob, waitForJob } from './helpers.js';

interface ModelList {
  models: { id: string; name: string | null; version: number | null; aliases: string[] }[];
  names: { name: string; versions: { version: number; id: string }[]; aliases: Record<string, number>; resolves: number }[];
}

describe('named models, versions and aliases', () => {
  const ctx = appPerTest();

  /** Trains a tiny job named `name`; its model's id. */
  const train = async (name: string | undefined, seed: number) => {
    const job = await waitForJob(ctx.app, await createJob(ctx.app, tinyJob(ctx.data, { ...(name ? { name } : {}), epochs: 1, seed })), finished);
    expect(job.status).toBe('succeeded');
    return job.modelId!;
  };
  const predictWith = async (model: string) => {
    const response = await ctx.app.inject({ method: 'POST', url: '/predict', payload: { pixels: Array.from(ctx.data.test.pixels.subarray(0, 784)), model } });
    return { status: response.statusCode, model: response.json<{ model: string }>().model };
  };

  it('numbers the models of a name 1, 2, …; the bare name predicts with production if set, else the latest', async () => {
    const v1 = await train('digits', 1);
    const v2 = await train('digits', 2);
    const other = await train(undefined, 3);
    const list = (await ctx.app.inject({ url: '/models' })).json<ModelList>();
    expect(list.names).toEqual([{ name: 'digits', versions: [expect.objectContaining({ version: 1, id: v1 }), expect.objectContaining({ version: 2, id: v2 })], aliases: {}, resolves: 2 }]);
    expect(list.models.find((m) => m.id === other)).toMatchObject({ name: null, version: null });
    expect((await ctx.app.inject({ url: `/models/${v2}` })).json()).toMatchObject({ name: 'digits', version: 2, aliases: [] });
    expect((await ctx.app.inject({ url: '/jobs?limit=3' })).json<{ jobs: { name: string | null }[] }>().jobs.map((j) => j.name)).toEqual([null, 'digits', 'digits']);

    expect(await predictWith('digits')).toEqual({ status: 200, model: v2 });
    expect(await predictWith('digits@1')).toEqual({ status: 200, model: v1 });
    expect(await predictWith(other)).toEqual({ status: 200, model: other });

    const put = await ctx.app.inject({ method: 'PUT', url: '/models/digits/aliases/production', payload: { version: 1 } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ name: 'digits', alias: 'production', version: 1 });
    expect(await predictWith('digits')).toEqual({ status: 200, model: v1 });
    expect(await predictWith('digits@production')).toEqual({ status: 200, model: v1 });
    expect((await ctx.app.inject({ url: '/models/digits' })).json()).toMatchObject({ id: v1, aliases: ['production'] });

    // A version an alias points at stays until the alias moves.
    expect((await ctx.app.inject({ method: 'DELETE', url: `/models/${v1}` })).statusCode).toBe(409);
    await ctx.app.inject({ method: 'PUT', url: '/models/digits/aliases/production', payload: { version: 2 } });
    expect(await predictWith('digits')).toEqual({ status: 200, model: v2 });
    expect((await ctx.app.inject({ method: 'DELETE', url: `/models/${v1}` })).statusCode).toBe(204);
    expect((await ctx.app.inject({ method: 'DELETE', url: '/models/digits/aliases/production' })).statusCode).toBe(204);
    expect((await ctx.app.inject({ method: 'DELETE', url: '/models/digits/aliases/production' })).statusCode).toBe(404);

    // The next version is 3, not a reused 1.
    const v3 = await train('digits', 4);
    expect((await ctx.app.inject({ url: `/models/${v3}` })).json()).toMatchObject({ version: 3 });
  });

  it('serves the versions through KServe v2 as the protocol names them', async () => {
    const v1 = await train('digits', 1);
    await train('digits', 2);
    const metadata = (await ctx.app.inject({ url: '/v2/models/digits' })).json<{ versions: string[] }>();
    expect(metadata.versions).toEqual(['1', '2']);
    const infer = (url: string) =>
      ctx.app.inject({ method: 'POST', url, payload: { inputs: [{ name: 'images', shape: [1, 784], datatype: 'UINT8', data: Array.from(ctx.data.test.pixels.subarray(0, 784)) }] } });
    expect((await infer('/v2/models/digits/versions/1/infer')).json()).toMatchObject({ model_name: 'digits', model_version: '1' });
    expect((await infer('/v2/models/digits/infer')).json()).toMatchObject({ model_name: 'digits', model_version: '2' });
    expect((await ctx.app.inject({ url: '/v2/models/digits/versions/1/ready' })).json()).toEqual({ name: 'digits', ready: true });
    expect((await infer('/v2/models/digits/versions/9/infer')).statusCode).toBe(404);
    expect((await infer(`/v2/models/${v1}/infer`)).json()).toMatchObject({ model_version: '1' });
  });

  it('refuses names that could be ids and versions that do not exist, naming the field', async () => {
    const refused = async (method: 'POST' | 'PUT', url: string, payload: unknown, status: number, field: string) => {
      const response = await ctx.app.inject({ method, url, payload: payload as Record<string, unknown> });
      expect(response.statusCode, response.body).toBe(status);
      expect(response.json()).toMatchObject({ field });
    };
    await refused('POST', '/jobs', tinyJob(ctx.data, { name: 'model-abc' }), 400, 'body.name');
    await refused('POST', '/jobs', tinyJob(ctx.data, { name: 'Digits' }), 400, 'body.name');
    await refused('PUT', '/models/digits/aliases/production', { version: 1 }, 404, 'body.version');
    await refused('PUT', '/models/digits/aliases/Prod', { version: 1 }, 400, 'params.alias');
    await refused('PUT', '/models/digits/aliases/production', { version: 0 }, 400, 'body.version');
    expect((await predictWith('nothing@2')).status).toBe(404);
  });
});
