import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { lazyChildLoggerFactory } from '../../src/server/lazy-logger.js';

describe('lazyChildLoggerFactory', () => {
  it('writes what pino child would write, at or above its level, with the bindings', () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const parent = pino({ level: 'info' }, sink);
    let children = 0;
    const counting = new Proxy(parent, {
      get: (target, key) => (key === 'child' ? (...args: Parameters<typeof parent.child>) => (children++, target.child(...args)) : Reflect.get(target, key)),
    });
    const log = lazyChildLoggerFactory(counting, { reqId: 'req-1' }, { level: 'warn' });
    expect(log.level).toBe('warn');
    log.info({ req: 1 }, 'incoming request');
    log.debug('detail');
    expect(children).toBe(0);
    log.error({ code: 7 }, 'failed');
    log.warn('twice');
    expect(children).toBe(1);
    expect(lines.map((l) => [l.level, l.reqId, l.msg])).toEqual([
      [50, 'req-1', 'failed'],
      [40, 'req-1', 'twice'],
    ]);
    expect(lines[0]!.code).toBe(7);
  });
});
