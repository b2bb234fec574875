/**
 * The service under load (autocannon, 64 connections): /predict for one image as JSON and as protobuf and
 * for a batch of 100, against a bare Fastify route that parses the same JSON body and answers a constant,
 * measured in the same run; then /predict's p99 while a job trains, against its p99 when idle.
 * Both servers run as child processes, so the load generator does not share their event loop. The bare
 * route and single-image JSON /predict alternate for ROUNDS rounds and their medians are compared: on a
 * shared machine one window of a few seconds can be a fifth slower than the next.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { loadMnist } from '../src/data/dataset.js';
import { round } from './stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CONNECTIONS = 64;
const SECONDS = Number(process.env.FASTMLP_BENCH_SECONDS ?? 4);
const ROUNDS = 5;

interface Load {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, body: string | Buffer, contentType: string, seconds = SECONDS): Promise<Load> {
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': contentType },
    body,
  });
  return {
    requestsPerSecond: round(result.requests.average, 0),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

/** The round with the median requests/s (its latencies with it). */
function medianLoad(rounds: Load[]): Load {
  const sorted = [...rounds].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Starts a child process and resolves with the port it prints ("listening on …:PORT"). */
function startChild(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"port":(\d+)|listening on [^\s]*:(\d+)|Server listening at http:\/\/[^:]+:(\d+)/.exec(output);
      if (match) {
        child.stdout?.off('data', onData);
        resolve({ child, port: Number(match[1] ?? match[2] ?? match[3]) });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output.slice(-800)}`)));
  });
}

// A bare Fastify app: parses the same JSON body (default JSON parser, same body limit) and answers a constant.
const BARE_SERVER = `
const fastify = require('fastify')({ logger: false, bodyLimit: 8 * 1024 * 1024 });
fastify.post('/predict', async (request) => ({ label: 7, n: request.body.pixels.length }));
fastify.listen({ host: '127.0.0.1', port: 0 }).then(() => console.log(JSON.stringify({ port: fastify.server.address().port })));
`;

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function waitForJob(base: string, id: string): Promise<void> {
  for (;;) {
    const job = await json<{ status: string }>(`${base}/jobs/${id}`);
    if (job.status === 'succeeded') return;
    if (['failed', 'cancelled'].includes(job.status)) throw new Error(`job ${id} ${job.status}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function benchServe(): Promise<Record<string, unknown>> {
  const { test } = await loadMnist();
  const pixels = Array.from(test.pixels.subarray(0, 784));
  const single = JSON.stringify({ pixels });
  const batch = JSON.stringify({ images: Array.from({ length: 100 }, (_, i) => Array.from(test.pixels.subarray(i * 784, (i + 1) * 784))) });
  const schema = await protobuf.load(join(root, 'proto', 'fastmlp.proto'));
  const PredictRequest = schema.lookupType('fastmlp.v1.PredictRequest');
  const singleProto = Buffer.from(PredictRequest.encode(PredictRequest.fromObject({ pixels, count: 1 })).finish());

  const dataDir = mkdtempSync(join(tmpdir(), 'fastmlp-bench-serve-'));
  const children: ChildProcess[] = [];
  try {
    const bare = await startChild(['-e', BARE_SERVER]);
    children.push(bare.child);
    const service = await startChild([join(root, 'dist', 'cli.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--no-bootstrap'], { LOG_LEVEL: 'info' });
    children.push(service.child);
    const base = `http://127.0.0.1:${service.port}`;
    // A model to serve: the accurate recipe, shortened.
    const created = await json<{ id: string }>(`${base}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipe: 'accurate', epochs: 2 }),
    });
    await waitForJob(base, created.id);

    const bareRounds: Load[] = [];
    const jsonRounds: Load[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      bareRounds.push(await load(`http://127.0.0.1:${bare.port}/predict`, single, 'application/json'));
      jsonRounds.push(await load(`${base}/predict`, single, 'application/json'));
    }
    const bareLoad = medianLoad(bareRounds);
    const predictJson = medianLoad(jsonRounds);
    const predictProto = await load(`${base}/predict`, singleProto, 'application/x-protobuf');
    const predictBatch = await load(`${base}/predict`, batch, 'application/json');

    // p99 while a long job trains.
    const training = await json<{ id: string }>(`${base}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipe: 'reference' }),
    });
    await new Promise((r) => setTimeout(r, 1500));
    const duringTraining = await load(`${base}/predict`, single, 'application/json');
    await fetch(`${base}/jobs/${training.id}/cancel`, { method: 'POST' });

    return {
      connections: CONNECTIONS,
      seconds: SECONDS,
      rounds: ROUNDS,
      bareRounds: bareRounds.map((l) => l.requestsPerSecond),
      jsonRounds: jsonRounds.map((l) => l.requestsPerSecond),
      bare: bareLoad,
      predict: { json: predictJson, protobuf: predictProto, batch100: predictBatch },
      duringTraining,
      // Targets: ≥ 0.8 and ≤ 2.
      jsonOverBare: round(predictJson.requestsPerSecond / bareLoad.requestsPerSecond, 3),
      p99TrainingOverIdle: round(duringTraining.p99 / Math.max(predictJson.p99, 1), 2),
    };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function printServe(result: Record<string, unknown>): void {
  const r = result as {
    bare: Load;
    predict: { json: Load; protobuf: Load; batch100: Load };
    duringTraining: Load;
    jsonOverBare: number;
    p99TrainingOverIdle: number;
  };
  const row = (name: string, l: Load) =>
    console.log(`${name.padEnd(28)} ${String(l.requestsPerSecond).padStart(8)} req/s  p50 ${String(l.p50).padStart(4)} ms  p99 ${String(l.p99).padStart(4)} ms  errors ${l.errors + l.non2xx}`);
  console.log(`${CONNECTIONS} connections, ${SECONDS} s each; bare route and JSON /predict: median of ${ROUNDS} alternating rounds`);
  row('bare Fastify route', r.bare);
  row('/predict one image (JSON)', r.predict.json);
  row('/predict one image (proto)', r.predict.protobuf);
  row('/predict 100 images (JSON)', r.predict.batch100);
  row('/predict while training', r.duringTraining);
  console.log(`JSON /predict over bare route: ${r.jsonOverBare}; p99 training over idle: ${r.p99TrainingOverIdle}`);
}
