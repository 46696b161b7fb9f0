import { afterEach, describe, expect, it, vi } from 'vitest';
import { Writable } from 'node:stream';
import { InFlight, Shutdown } from './shutdown.js';
import { createLogger } from './log.js';
import { ConfigError, ShuttingDownError, describeError } from './errors.js';
import { until } from '../test/support/time.js';

afterEach(() => {
  vi.useRealTimers();
});

function memoryLogger(): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const log = createLogger({ component: 'test', level: 'info', destination });
  return {
    log,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('InFlight', () => {
  it('drain waits for in-flight work and then refuses new work', async () => {
    vi.useFakeTimers();
    const inflight = new InFlight();
    const end = inflight.begin();
    let drained = false;
    const p = inflight.drain(5000).then((ok) => {
      drained = ok;
    });
    await vi.advanceTimersByTimeAsync(4999); // (fake) time passes, the work goes on: still draining
    expect(drained).toBe(false);
    expect(() => inflight.begin()).toThrow(ShuttingDownError);
    end();
    await p;
    expect(drained).toBe(true);
    expect(inflight.size).toBe(0);
  });

  it('drain reports false when work outlives the timeout', async () => {
    const inflight = new InFlight();
    inflight.begin();
    expect(await inflight.drain(20)).toBe(false);
  });
});

describe('Shutdown', () => {
  it('runs hooks in reverse order, once, and logs each', async () => {
    const { log, lines } = memoryLogger();
    const order: string[] = [];
    const s = new Shutdown(log, 1000);
    s.register('first', () => {
      order.push('first');
    });
    s.register('second', async () => {
      await new Promise((r) => setTimeout(r, 5));
      order.push('second');
    });
    await Promise.all([s.run(), s.run()]);
    expect(order).toEqual(['second', 'first']);
    log.flush();
    const stopped = (): Record<string, unknown>[] => lines().filter((l) => l.msg === 'stopped');
    await until(() => stopped().length >= 2, 'two "stopped" lines');
    expect(stopped().map((l) => l.hook)).toEqual(['second', 'first']);
  });

  it('bounds a hanging hook by the grace period and goes on', async () => {
    vi.useFakeTimers();
    const { log } = memoryLogger();
    const ran: string[] = [];
    const s = new Shutdown(log, 50);
    s.register('later', () => {
      ran.push('later');
    });
    s.register('hangs', () => new Promise<void>(() => undefined));
    let done = false;
    const run = s.run().then(() => {
      done = true;
    });
    // The hanging hook gets the grace period (50 ms of fake time), not a moment longer.
    await vi.advanceTimersByTimeAsync(49);
    expect(done).toBe(false);
    expect(ran).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    await run;
    expect(ran).toEqual(['later']);
  });
});

describe('errors', () => {
  it('carry name and cause, and describeError walks the chain', () => {
    const root = new Error('connection refused');
    const err = new ConfigError('cannot read --nats-creds', { cause: root });
    expect(err.name).toBe('ConfigError');
    expect(err.cause).toBe(root);
    expect(describeError(err)).toBe(
      'ConfigError: cannot read --nats-creds <- caused by Error: connection refused',
    );
  });
});
