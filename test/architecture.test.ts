/**
 * The direction of dependencies of docs/architecture.md, read from the import lines of src/: each folder
 * imports only from the folders below it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** What each part of src/ may import, besides itself and packages. */
const allowed: Record<string, string[]> = {
  proto: [],
  'atomic-write': [],
  native: [],
  data: ['atomic-write'],
  nn: ['native'],
  train: ['nn', 'data', 'native', 'proto', 'atomic-write'],
  onnx: ['nn'],
  model: ['nn', 'data', 'train', 'onnx'],
  cluster: ['train', 'data'],
  sweep: ['cluster', 'train', 'nn', 'data'],
  server: ['sweep', 'cluster', 'model', 'onnx', 'nn', 'train', 'data', 'proto', 'atomic-write'],
};

/** Files that may reach past the rule, and why. */
const exceptions: Record<string, string[]> = {
  // The /predict JSON body is read by the addon's reader, which is the service's alone.
  'server/predict-body.ts': ['native'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The part of src/ a file belongs to: its top folder, or its name without .ts at the top. */
function part(path: string): string {
  const [first] = relative(src, path).split('/');
  return first!.replace(/\.ts$/, '');
}

function imports(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const found = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+'(\.[^']+)'/gms)].map((m) => m[1]!);
  return found.map((specifier) => resolve(dirname(path), specifier.replace(/\.js$/, '.ts')));
}

describe('the folders of src/', () => {
  const files = sources(src);

  it('import only from the folders below them', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = part(file);
      const rules = allowed[from];
      if (rules === undefined) continue; // cli.ts and index.ts sit above everything
      const own = relative(src, file);
      for (const target of imports(file)) {
        const to = part(target);
        if (to === from || rules.includes(to) || exceptions[own]?.includes(to)) continue;
        wrong.push(`${own} imports ${relative(src, target)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('are all covered by the rule', () => {
    const parts = new Set(files.map(part));
    for (const p of parts) expect(p in allowed || p === 'cli' || p === 'index', p).toBe(true);
  });
});
