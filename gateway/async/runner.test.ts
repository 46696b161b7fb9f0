import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.js';
import { AsyncRunner, type RunnablePipeline, type RunnerConnection, type RunnerTenants } from './runner.js';

const log = createLogger({ component: 'test', level: 'silent' });

/** Everything the runner did, in order. */
type Events = string[];

class FakeConnection implements RunnerConnection {
  closed = false;
  constructor(private readonly events: Events) {}
  isClosed(): boolean {
    return this.closed;
  }
  drain(): Promise<void> {
    this.events.push('drain');
    this.closed = true;
    return Promise.resolve();
  }
}

class FakeTenants implements RunnerTenants {
  constructor(private readonly events: Events) {}
  close(): Promise<void> {
    this.events.push('tenants closed');
    return Promise.resolve();
  }
}

class FakePipeline implements RunnablePipeline {
  constructor(
    private readonly events: Events,
    readonly n: number,
    private readonly startFails: boolean,
    private readonly onStart: () => void = () => undefined,
  ) {}
  start(): Promise<void> {
    this.events.push(`start ${this.n}`);
    this.onStart();
    return this.startFails ? Promise.reject(new Error('stream create failed')) : Promise.resolve();
  }
  stop(timeoutMs?: number): Promise<void> {
    this.events.push(`stop ${this.n} (${timeoutMs})`);
    return Promise.resolve();
  }
}

interface Script {
  /** Per try: whether connect, tenants, create and start fail. */
  connectFails?: number;
  tenantsFail?: number;
  createFails?: number;
  startFails?: number;
}

type Runner = AsyncRunner<FakeConnection, FakeTenants, FakePipeline, string>;

/** `onSleep` runs in each pause between tries (shutdown arriving then, say). */
function harness(
  script: Script,
  onSleep: (runner: Runner, pause: number) => Promise<void> = () => Promise.resolve(),
) {
  const events: Events = [];
  const left = { ...script };
  let pipelines = 0;
  let pauses = 0;
  const runner: Runner = new AsyncRunner({
    log,
    retryMs: 250,
    sleep: (ms) => {
      events.push(`sleep ${ms}`);
      return onSleep(runner, ++pauses);
    },
    connect: () => {
      events.push('connect');
      if ((left.connectFails ?? 0) > 0 && left.connectFails!--) return Promise.reject(new Error('no NATS'));
      return Promise.resolve(new FakeConnection(events));
    },
    tenants: () => {
      events.push('tenants');
      if ((left.tenantsFail ?? 0) > 0 && left.tenantsFail!--) return Promise.reject(new Error('no accounts'));
      return Promise.resolve(new FakeTenants(events));
    },
    create: (_nc, _tenants, context) => {
      events.push(`create for ${context}`);
      if ((left.createFails ?? 0) > 0 && left.createFails!--)
        return Promise.reject(new Error('no JetStream'));
      const fails = (left.startFails ?? 0) > 0 && left.startFails!-- > 0;
      return Promise.resolve(new FakePipeline(events, ++pipelines, fails));
    },
    release: () => {
      events.push('released');
      return Promise.resolve();
    },
  });
  return { runner, events };
}

describe('AsyncRunner: starts the async pipeline in the background and keeps trying', () => {
  it.each([
    {
      name: 'first try',
      script: {},
      want: ['connect', 'tenants', 'create for gw', 'start 1'],
    },
    {
      name: 'NATS unreachable twice: reconnects after each pause',
      script: { connectFails: 2 },
      want: [
        'connect',
        'sleep 250',
        'connect',
        'sleep 250',
        'connect',
        'tenants',
        'create for gw',
        'start 1',
      ],
    },
    {
      name: 'the accounts not ready: keeps the connection, asks again',
      script: { tenantsFail: 1 },
      want: ['connect', 'tenants', 'sleep 250', 'tenants', 'create for gw', 'start 1'],
    },
    {
      name: 'the streams cannot be made: keeps both connections, creates again',
      script: { createFails: 1 },
      want: ['connect', 'tenants', 'create for gw', 'sleep 250', 'create for gw', 'start 1'],
    },
    {
      name: 'a pipeline that fails to start is stopped before the next try',
      script: { startFails: 1 },
      want: [
        'connect',
        'tenants',
        'create for gw',
        'start 1',
        'stop 1 (1000)',
        'sleep 250',
        'create for gw',
        'start 2',
      ],
    },
  ])('$name', async ({ script, want }) => {
    const { runner, events } = harness(script);
    expect(runner.pipeline).toBeUndefined();
    await runner.run('gw');
    expect(events).toEqual(want);
    expect(runner.pipeline?.n).toBe(want.at(-1) === 'start 2' ? 2 : 1);
  });

  it('gives up when stopped while retrying, with no pipeline', async () => {
    // Shutdown arrives during the second pause.
    const { runner, events } = harness({ connectFails: 100 }, (r, pause) =>
      pause === 2 ? r.stopDispatch(1000) : Promise.resolve(),
    );
    await runner.run('gw');
    expect(events.filter((e) => e === 'connect')).toHaveLength(2);
    expect(runner.pipeline).toBeUndefined();
  });

  it('stops a pipeline that finished starting after shutdown began, and never publishes it', async () => {
    const events: Events = [];
    const runner: Runner = new AsyncRunner({
      log,
      connect: () => Promise.resolve(new FakeConnection(events)),
      tenants: () => Promise.resolve(new FakeTenants(events)),
      create: () =>
        Promise.resolve(
          new FakePipeline(events, 1, false, () => {
            void runner.stopDispatch(5000);
          }),
        ),
    });
    await runner.run('gw');
    expect(events).toEqual(['start 1', 'stop 1 (1000)']);
    expect(runner.pipeline).toBeUndefined();
  });

  it('stops dispatching with the budget, then closes the tenants, what the factories opened and NATS', async () => {
    const { runner, events } = harness({});
    await runner.run('gw');
    events.length = 0;
    await runner.stopDispatch(7000);
    await runner.closeNats();
    expect(events).toEqual(['stop 1 (7000)', 'tenants closed', 'released', 'drain']);
  });

  it('closes only what was opened when NATS never answered', async () => {
    const { runner, events } = harness({ connectFails: 1 }, (r) => r.closeNats());
    await runner.run('gw');
    expect(events).toEqual(['connect', 'sleep 250', 'released']);
  });
});
