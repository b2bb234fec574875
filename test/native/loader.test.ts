import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const nativeModule = new URL('../../src/native.ts', import.meta.url).href;

// A fresh Node that imports src/native.ts with FASTMLP_ADDON set, printing what the import threw.
function importWith(addon: string): { message: string; cause: string | undefined } {
  const script = `
    try {
      await import(${JSON.stringify(nativeModule)});
      console.log(JSON.stringify({ message: 'loaded' }));
    } catch (error) {
      console.log(JSON.stringify({ message: error.message, cause: error.cause?.message }));
    }`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, FASTMLP_ADDON: addon },
    encoding: 'utf8',
  });
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout) as { message: string; cause: string | undefined };
}

describe('loading the addon', () => {
  it('explains a file that does not load: its path, the reason, and what to do', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastmlp-loader-'));
    try {
      const path = join(dir, 'x.node');
      // Longer than an ELF header, so the system reads it and rejects what it finds.
      writeFileSync(path, 'not an addon\n'.repeat(20));
      const { message, cause } = importWith(path);
      expect(message).toContain(`the native addon at ${path} could not be loaded`);
      // The system's reason is kept, in the message and as the cause.
      expect(cause).toContain(path);
      if (process.platform === 'linux') expect(cause).toMatch(/invalid ELF header/);
      expect(message).toContain(`could not be loaded: ${cause}\n`);
      expect(message).toContain('Possible solutions:');
      expect(message).toContain('`npm rebuild fastmlp`');
      expect(message).toContain('`npm run build:native`');
      expect(message).toContain(`Node.js ${process.version}`);
      expect(message).toMatch(/unset FASTMLP_ADDON, which points here/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('explains a missing file', () => {
    const path = join(tmpdir(), 'fastmlp-loader-missing', 'fastmlp.node');
    const { message, cause } = importWith(path);
    expect(message).toContain(`the native addon is not built: run npm install (looked for ${path})`);
    expect(message).toContain('Possible solutions:');
    expect(message).toMatch(/unset FASTMLP_ADDON, which points here/);
    expect(cause).toBeUndefined();
  });
});
