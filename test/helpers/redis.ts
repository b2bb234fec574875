/**
 * A redis-server of a test's own, on a free loopback port, with its data in a temporary folder (append-only
 * file on, so that a restart keeps the queues as a production Redis would). Needs Debian's redis-server;
 * tests skip with a warning without it, except under CI, where .ci/run installs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const haveRedis = existsSync(REDIS_SERVER) || Boolean(process.env.CI);
if (!existsSync(REDIS_SERVER) && !process.env.CI) console.warn(`cluster tests skipped: no ${REDIS_SERVER} (apt-get install -y redis-server)`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves once something accepts connections on the port, or rejects at the deadline. */
async function accepting(port: number, deadlineMs: number, exited: () => boolean): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (exited()) throw new Error(`redis-server on port ${port} exited before it accepted connections`);
    if (Date.now() > until) throw new Error(`redis-server on port ${port} did not accept connections within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class TestRedis {
  private process: ChildProcess | undefined;
  private exited = true;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestRedis> {
    const dir = await mkdtemp(join(tmpdir(), 'fastmlp-redis-'));
    // A port another process takes between freePort and the listen makes redis-server exit: try another.
    for (let attempt = 1; ; attempt++) {
      const redis = new TestRedis(await freePort(), dir);
      try {
        await redis.restart();
        return redis;
      } catch (error) {
        if (attempt === 5) throw error;
      }
    }
  }

  /** Starts the server again on the same port and data folder. */
  async restart(): Promise<void> {
    const child = spawn(REDIS_SERVER, ['--bind', '127.0.0.1', '--port', String(this.port), '--dir', this.dir, '--appendonly', 'yes', '--save', '', '--daemonize', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    this.process = child;
    this.exited = false;
    child.once('exit', () => (this.exited = true));
    await accepting(this.port, 20_000, () => this.exited);
  }

  /** Stops the server (SIGTERM: it writes its data and exits) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child || this.exited) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  async close(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
