/** The PyTorch baselines' interpreters and scripts (shared/baselines), for the benchmarks that run them. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** shared/baselines (or FASTMLP_BASELINES), where it holds the baseline scripts. */
export function baselinesFolder(): string | undefined {
  const folder = process.env.FASTMLP_BASELINES ?? join(root, '..', 'shared', 'baselines');
  return existsSync(join(folder, 'torch_reference_kfold.py')) ? folder : undefined;
}

/** An interpreter with PyTorch 2.x: FASTMLP_TORCH_PYTHON, or the one setup-torch2.sh makes; undefined if neither. */
export function torch2Python(): string | undefined {
  if (process.env.FASTMLP_TORCH_PYTHON) return process.env.FASTMLP_TORCH_PYTHON;
  const folder = baselinesFolder();
  if (!folder || !existsSync(join(folder, 'setup-torch2.sh'))) return undefined;
  const setup = spawnSync('bash', [join(folder, 'setup-torch2.sh')], { encoding: 'utf8' });
  return setup.status === 0 ? setup.stdout.trim().split('\n').pop() : undefined;
}

/** Runs a script and returns the last JSON object it prints; undefined (with its error shown) if it fails. */
export function runPython(python: string, script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Record<string, unknown> | undefined {
  const run = spawnSync(python, [script, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (run.status !== 0) {
    console.error(`${script} failed: ${run.stderr.slice(-500)}`);
    return undefined;
  }
  const line = run.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  return line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
}
