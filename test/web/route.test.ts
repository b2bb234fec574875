import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('the page served by the service', () => {
  let dataDir: string;
  let app: ReturnType<typeof buildApp>;

  beforeAll(async () => {
    execFileSync(process.execPath, [join(ROOT, 'web', 'build.mjs')], { stdio: 'pipe' });
    dataDir = await mkdtemp(join(tmpdir(), 'fastmlp-web-route-'));
    app = buildApp({ dataDir, bootstrap: false, defaultMetrics: false, docs: false });
  });
  afterAll(async () => {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers / with the page, allowed to load from its own origin only', async () => {
    const response = await app.inject({ url: '/' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    expect(response.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(response.body).toContain('<script type="module" src="web/app.js">');
    // Nothing on the page names another host.
    expect(response.body).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('serves the bundle and the styles, and the 404 of the API for anything else', async () => {
    const script = await app.inject({ url: '/web/app.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/^(application|text)\/javascript/);
    expect(script.body).not.toMatch(/\bhttps?:\/\/(?!www\.w3\.org|github\.com|chartjs\.org)/);
    const styles = await app.inject({ url: '/web/app.css' });
    expect(styles.statusCode).toBe(200);
    expect(styles.headers['content-type']).toMatch(/^text\/css/);
    const missing = await app.inject({ url: '/web/missing.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ statusCode: 404 });
  });
});
