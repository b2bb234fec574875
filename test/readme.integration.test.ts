/** The README's library example must run as written (against this checkout instead of the npm package). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

/** The ts code blocks of a README section, from its heading to the next one of the same level. */
function codeBlocksOf(heading: string): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(heading);
  const end = readme.indexOf('\n## ', start + heading.length);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  if (blocks.length === 0) throw new Error(`no ts code block after ${heading}`);
  return blocks;
}

/** Runs a README example against this checkout instead of the npm package, in its own folder. */
function runExample(code: string, check: (stdout: string, folder: string) => void): void {
  const folder = mkdtempSync(join(tmpdir(), 'fastmlp-readme-'));
  try {
    const file = join(folder, 'example.mts');
    writeFileSync(file, code.replaceAll("from 'fastmlp'", `from '${join(root, 'src', 'index.ts')}'`));
    const run = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), file], { cwd: folder, encoding: 'utf8', timeout: 120_000 });
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.status).toBe(0);
    check(run.stdout, folder);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

describe('README', () => {
  const [library, steps] = codeBlocksOf('## Library');

  it('runs the library example', () => {
    runExample(library!, (stdout, folder) => {
      const lines = stdout.trim().split('\n');
      // The last line prints the fold best epochs, the selected fold and the test results.
      expect(lines.length).toBeGreaterThan(10);
      expect(readFileSync(join(folder, 'runs', 'library', 'report.md'), 'utf8')).toContain('| Fold |');
    });
  });

  it('runs the example of the three steps of K-fold, folds in another order', () => {
    runExample(steps!, (stdout) => {
      // Two epochs of the reference recipe: far above chance (0.1), well short of its 91%.
      const accuracy = Number(/accuracy: ([\d.]+)/.exec(stdout)?.[1]);
      expect(accuracy).toBeGreaterThan(0.5);
    });
  });
});
