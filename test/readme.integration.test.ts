/** The README's library example must run as written (against this checkout instead of the npm package). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

function codeBlockAfter(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(heading));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error(`no ts code block after ${heading}`);
  return match[1]!;
}

describe('README', () => {
  it('runs the library example', () => {
    const folder = mkdtempSync(join(tmpdir(), 'fastmlp-readme-'));
    try {
      const code = codeBlockAfter('## Library').replaceAll("from 'fastmlp'", `from '${join(root, 'src', 'index.ts')}'`);
      const file = join(folder, 'example.mts');
      writeFileSync(file, code);
      const run = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), file], { cwd: folder, encoding: 'utf8', timeout: 120_000 });
      expect(run.stderr).not.toMatch(/Error/);
      expect(run.status).toBe(0);
      const lines = run.stdout.trim().split('\n');
      // The last line prints the fold best epochs, the selected fold and the test results.
      expect(lines.length).toBeGreaterThan(10);
      expect(readFileSync(join(folder, 'runs', 'library', 'report.md'), 'utf8')).toContain('| Fold |');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
