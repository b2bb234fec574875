/**
 * Server-Sent Events on a hijacked reply: the headers, `event:`/`data:` frames, a heartbeat comment every
 * 15 s (proxies drop silent connections), and every open stream ended when the app closes (or closing
 * would wait for them forever).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';

export interface EventStream {
  send(event: string, data: unknown): void;
  /** Ends the stream; its stop function runs once. */
  end(): void;
}

export const HEARTBEAT_MS = 15_000;

export class EventStreams {
  private readonly open = new Set<ServerResponse>();

  constructor(app: FastifyInstance) {
    app.addHook('preClose', async () => {
      for (const stream of this.open) stream.end();
    });
  }

  /** Opens a stream on the reply; `stop` runs once when it ends, whoever ends it (the route, the client, the app). */
  start(reply: FastifyReply, stop: () => void): EventStream {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.open.add(raw);
    let stopped = false;
    const close = () => {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeat);
      this.open.delete(raw);
      stop();
    };
    raw.on('close', close);
    return {
      send: (event, data) => void raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
      end: () => {
        close();
        raw.end();
      },
    };
  }
}
