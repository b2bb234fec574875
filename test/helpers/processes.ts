/**
 * The fastmlp CLI in child processes, as a deployment runs it: `serve` and `worker` from the TypeScript
 * source through tsx. Every child a test starts is killed after it (killAll) if it is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

const children = new Set<ChildProcess>();

export interface CliProcess {
  child: ChildProcess;
  /** The match of the line that said it is ready. */
  ready: RegExpExecArray;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
}

/** `fastmlp ...args` in a child; resolves once its output matches `ready`, rejects if it exits first. */
export async function startCli(args: string[], ready: RegExp, timeoutMs = 30_000, env: Record<string, string> = {}): Promise<CliProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
  });
  children.add(child);
  let output = '';
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`waited ${timeoutMs} ms for \`fastmlp ${args[0]}\` to be ready: ${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = ready.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`\`fastmlp ${args[0]}\` exited with ${code}: ${output}`));
    });
  });
  return { child, ready: match, output: () => output };
}

/** `fastmlp ...args` to its end: its exit code and output. */
export async function runCli(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await exitOf(child, timeoutMs);
  return { code, stdout, stderr };
}

/** `fastmlp serve` on a free loopback port over the data directory; resolves with its URL once it listens. */
export async function serveInChild(dataDir: string, extra: string[] = [], env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; output(): string }> {
  const args = ['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--no-bootstrap', '--threads', '1', ...extra];
  const started = await startCli(args, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, 30_000, env);
  return { child: started.child, url: started.ready[1]!, output: started.output };
}

/** The child's exit code once it has exited, within a deadline. */
export async function exitOf(child: ChildProcess, timeoutMs = 30_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const timer = AbortSignal.timeout(timeoutMs);
  try {
    const [code] = (await once(child, 'exit', { signal: timer })) as [number | null];
    return code;
  } catch (error) {
    throw timer.aborted ? new Error(`waited ${timeoutMs} ms for pid ${child.pid} to exit`) : error;
  }
}

/** Kills (SIGKILL) every child still running and waits for each to exit. */
export async function killAll(): Promise<void> {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exitOf(child);
    }
  }
  children.clear();
}
