import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob, finished, makeDataDir, testApp, tinyJob, waitForJob, type DataDir, type TestApp } from './helpers.js';

const havePromtool = spawnSync('promtool', ['--version']).error === undefined;
if (!havePromtool && !process.env.CI) console.warn('promtool check skipped: no promtool (apt-get install -y prometheus)');

describe('/metrics', () => {
  let data: DataDir;
  let app: TestApp;
  let text: string;
  let jobId: string;
  let modelId: string;

  beforeAll(async () => {
    data = await makeDataDir();
    app = testApp(data, { defaultMetrics: true });
    jobId = await createJob(app, tinyJob(data));
    modelId = (await waitForJob(app, jobId, finished)).modelId!;
    await app.inject({ method: 'POST', url: '/predict', payload: { images: [new Array(784).fill(0), new Array(784).fill(255)] } });
    await app.inject({ url: `/jobs/${jobId}` });
    await app.inject({ url: '/nowhere/at/all' });
    const response = await app.inject({ url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    text = response.body;
  });
  afterAll(async () => {
    await app.close();
    await data.remove();
  });

  // promtool comes with Debian's prometheus package; CI installs it and insists on it, elsewhere it may be absent.
  it.skipIf(!havePromtool && !process.env.CI)('passes promtool check metrics', () => {
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.error, 'promtool is missing: apt-get install prometheus').toBeUndefined();
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });

  it('has the build, job, training, prediction and HTTP series', () => {
    expect(text).toMatch(/^fastmlp_build_info\{version="0\.1\.0",isa="(amx|avx512bf16|avx512|avx2|generic)",threads="\d+"\} 1$/m);
    expect(text).toMatch(/^fastmlp_jobs\{status="succeeded"\} 1$/m);
    expect(text).toMatch(/^fastmlp_jobs\{status="running"\} 0$/m);
    expect(text).toMatch(/^fastmlp_epochs_trained_total 2$/m);
    expect(text).toMatch(/^fastmlp_samples_trained_total 4000$/m);
    expect(text).toMatch(/^fastmlp_training_samples_per_second 0$/m);
    expect(text).toContain(`fastmlp_predicted_samples_total{model="${modelId}"} 2`);
    expect(text).toContain(`fastmlp_prediction_duration_seconds_count{model="${modelId}"} 1`);
    expect(text).toMatch(new RegExp(`^fastmlp_model_test_accuracy_ratio\\{model="${modelId}"\\} 0\\.\\d+$`, 'm'));
    expect(text).toContain('fastmlp_http_request_duration_seconds_count{method="POST",route="/predict",status_code="200"} 1');
    expect(text).toContain('fastmlp_http_request_duration_seconds_count{method="GET",route="/jobs/:id",status_code="200"}');
    expect(text).toContain('route="unmatched",status_code="404"');
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('never labels by raw URL or job id', () => {
    expect(text).not.toContain(jobId);
    expect(text).not.toContain('/nowhere');
    expect(text).not.toMatch(/^nodejs_active_\w+_total/m);
  });
});
