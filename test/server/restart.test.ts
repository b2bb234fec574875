import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/server.js';
import { createJob, finished, getJob, longJob, makeDataDir, parseSse, testApp, tinyJob, waitForJob, type DataDir, type JobBody } from './helpers.js';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** `fastmlp serve` in a child process on a free port; resolves with its URL once it listens. */
async function serveInChild(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--no-bootstrap', '--threads', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start: ${output}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`the service exited with ${code}: ${output}`)));
  });
  return { child, url };
}

async function startLongJob(url: string, data: DataDir): Promise<string> {
  const created = await fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(longJob(data)) });
  expect(created.status).toBe(202);
  const { id } = (await created.json()) as { id: string };
  for (;;) {
    const job = (await (await fetch(`${url}/jobs/${id}`)).json()) as JobBody;
    if (job.status === 'running' && (job.history[0]?.epochs.length ?? 0) >= 1) return id;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('persistence across restarts', () => {
  let data: DataDir;

  beforeAll(async () => {
    data = await makeDataDir();
  });
  afterAll(async () => {
    await data.remove();
  });

  it('a new process over the same data directory sees the jobs and models and predicts', async () => {
    const first = testApp(data);
    const id = await createJob(first, tinyJob(data));
    const trained = await waitForJob(first, id, finished);
    const prediction = (await first.inject({ method: 'POST', url: '/predict', payload: { pixels: Array.from(data.test.pixels.subarray(0, 784)) } })).json<{ label: number }>();
    await first.close();

    const second = testApp(data);
    try {
      const job = await getJob(second, id);
      expect(job).toEqual(trained);
      const models = (await second.inject({ url: '/models' })).json<{ defaultModel: string }>();
      expect(models.defaultModel).toBe(trained.modelId);
      const again = await second.inject({ method: 'POST', url: '/predict', payload: { pixels: Array.from(data.test.pixels.subarray(0, 784)) } });
      expect(again.json()).toEqual(prediction);
      expect((await second.inject({ url: `/jobs/${id}/report` })).statusCode).toBe(200);
    } finally {
      await second.close();
    }
  });

  it('a job running when the process is killed comes back failed with reason "interrupted"', async () => {
    const { child, url } = await serveInChild(data.dir);
    const id = await startLongJob(url, data);
    child.kill('SIGKILL');
    await once(child, 'exit');

    const app = testApp(data);
    try {
      const job = await getJob(app, id);
      expect(job.status).toBe('failed');
      expect(job.error).toMatchObject({ reason: 'interrupted' });
      expect(job.history[0]!.epochs.length).toBeGreaterThanOrEqual(1);
      expect(job.finishedAt).not.toBeNull();
    } finally {
      await app.close();
    }
  });

  it('SIGTERM stops the running job, records it as interrupted and exits 0', async () => {
    const { child, url } = await serveInChild(data.dir);
    const id = await startLongJob(url, data);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);

    const app = testApp(data);
    try {
      const job = await getJob(app, id);
      expect(job.status).toBe('failed');
      expect(job.error).toMatchObject({ reason: 'interrupted' });
    } finally {
      await app.close();
    }
  });
});

describe('a real listening server', () => {
  let data: DataDir;

  beforeAll(async () => {
    data = await makeDataDir();
  });
  afterAll(async () => {
    await data.remove();
  });

  it('streams each epoch live over Server-Sent Events, then the end', async () => {
    const server = await startServer({ host: '127.0.0.1', port: 0, dataDir: data.dir, bootstrap: false, logger: false, defaultMetrics: false, threads: 1 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const created = await fetch(`${server.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(tinyJob(data, { epochs: 4 })) });
      const { id } = (await created.json()) as { id: string };
      const stream = await fetch(`${server.url}/jobs/${id}/events`);
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events = parseSse(await stream.text());
      expect(events.map((e) => e.event)).toEqual(['epoch', 'epoch', 'epoch', 'epoch', 'end']);
      expect(events.slice(0, 4).map((e) => e.data.epoch)).toEqual([1, 2, 3, 4]);
      expect(events[4]!.data).toMatchObject({ id, status: 'succeeded' });
      const docs = await fetch(`${server.url}/docs/json`);
      const openapi = (await docs.json()) as { paths: Record<string, unknown> };
      expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/jobs', '/jobs/{id}', '/predict', '/models', '/metrics', '/v2/models/{name}/infer']));
    } finally {
      await server.close();
    }
  });
});
