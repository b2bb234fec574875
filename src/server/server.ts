/**
 * The listening service: builds the app, listens, and on SIGTERM or SIGINT stops accepting, finishes the
 * requests in flight, records a running job as interrupted and exits.
 */
import { hostname } from 'node:os';
import type { FastifyServerOptions } from 'fastify';
import { buildApp, type AppOptions } from './app.js';

export interface ServeOptions extends AppOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** With redis: the URL fold workers reach this service at, for datasets of their own. Default http://host:port as it listens. */
  publicUrl?: string;
}

export interface RunningServer {
  app: ReturnType<typeof buildApp>;
  /** http://host:port */
  url: string;
  /** Stops as SIGTERM does, without exiting. */
  close(): Promise<void>;
}

export const DEFAULT_LOGGER: FastifyServerOptions['logger'] = { level: process.env.LOG_LEVEL ?? 'info' };

/** Listens; with `handleSignals`, SIGTERM and SIGINT close the app and exit the process. */
export async function startServer(options: ServeOptions, handleSignals = false): Promise<RunningServer> {
  const app = buildApp({ ...options, logger: options.logger ?? DEFAULT_LOGGER });
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  // A service listening on every address is reached by its name.
  const reachable = options.host === '0.0.0.0' || options.host === '::' ? hostname() : host;
  await app.fastmlp.cluster?.advertise(options.publicUrl ?? `http://${reachable}:${port}`);
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= app.close());
  if (handleSignals) {
    const onSignal = (signal: NodeJS.Signals) => {
      app.log.info({ signal }, 'stopping: finishing requests in flight');
      close().then(
        () => process.exit(0),
        (error: unknown) => {
          app.log.error({ err: error }, 'stopping failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { app, url: `http://${host}:${port}`, close };
}
