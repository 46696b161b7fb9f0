import { JetStreamApiError, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { InvokeOutcome } from '../../api/outcomes.js';
import { Subjects } from '../../api/nats-naming.js';
import { createLogger } from '../../lib/index.js';
import { AsyncDispatcher, DEFAULT_DISPATCHER_SETTINGS, isConsumerMissing } from './dispatcher.js';
import type { DeadLetterQueue, DeadLetterWrite } from './dlq.js';
import type { Destinations } from './destinations.js';
import { eventHeaders } from './event.js';
import { asyncFunction } from './function-config.js';
import type { FunctionInvoker, InvokeRequest } from './invoker.js';
import { AsyncMetrics } from './metrics.js';
import { SettleLedger, type SettleStore } from './settle.js';

const apiError = (err_code: number, description: string): JetStreamApiError =>
  new JetStreamApiError({ code: 404, err_code, description });

describe('isConsumerMissing (the pull loop recreates the consumer)', () => {
  it.each([
    {
      name: 'consumer info: consumer not found (10014)',
      err: apiError(10014, 'consumer not found'),
      want: true,
    },
    { name: 'a pull answered "consumer not found"', err: new Error('consumer not found'), want: true },
    { name: 'a pull answered 409 "consumer deleted"', err: new Error('consumer deleted'), want: true },
    {
      name: 'stream not found (10059): not the consumer',
      err: apiError(10059, 'stream not found'),
      want: false,
    },
    { name: 'a timeout', err: new Error('TIMEOUT'), want: false },
    { name: 'not an error', err: 'consumer not found', want: false },
  ])('$name', ({ err, want }) => expect(isConsumerMissing(err)).toBe(want));
});

/** One work-queue consumer in memory: fetch hands out what is queued; nak puts a message back. */
class FakeQueue {
  readonly queue: JsMsg[] = [];
  acked: number[] = [];
  /** consumers.get throws "consumer not found" while this is false. */
  exists = true;

  add(seq: number, requestId: string): void {
    this.queue.push(this.msg(seq, requestId, 1));
  }

  private msg(seq: number, requestId: string, deliveryCount: number): JsMsg {
    const headers = eventHeaders({ eventId: `ev-${seq}`, requestId, enqueuedAt: Date.now(), attempt: 1 });
    const m = {
      seq,
      headers,
      data: Buffer.from('{"n":1}'),
      timestampNanos: BigInt(Date.now()) * 1_000_000n,
      info: { deliveryCount },
      ack: () => this.acked.push(seq),
      nak: () => this.queue.push(this.msg(seq, requestId, deliveryCount + 1)),
      working: () => undefined,
    };
    return m as unknown as JsMsg;
  }

  js(): JetStreamClient {
    const consumer = {
      fetch: async ({ max_messages }: { max_messages: number }) => {
        if (!this.exists) throw new Error('consumer not found');
        if (this.queue.length === 0) await new Promise((r) => setTimeout(r, 5));
        const batch = this.queue.splice(0, max_messages);
        return Object.assign(batch, { stop: () => undefined }); // the loop reads it with for await
      },
    };
    return {
      consumers: {
        get: () =>
          this.exists ? Promise.resolve(consumer) : Promise.reject(apiError(10014, 'consumer not found')),
      },
    } as unknown as JetStreamClient;
  }
}

class CountingInvoker implements FunctionInvoker {
  readonly calls: InvokeRequest[] = [];
  invoke(req: InvokeRequest): Promise<InvokeOutcome> {
    this.calls.push(req);
    return Promise.resolve({
      kind: 'function_error',
      errorType: 'Bad',
      payload: Buffer.from('{"errorType":"Bad","errorMessage":"no"}'),
      executedVersion: '$LATEST',
    });
  }
}

/** A dead-letter stream that refuses the next `failing` writes (a full store). */
class FullDlq {
  readonly written: DeadLetterWrite[] = [];
  constructor(public failing: number) {}
  write(w: DeadLetterWrite): Promise<number> {
    if (this.failing-- > 0) return Promise.reject(new Error('insufficient storage resources available'));
    this.written.push(w);
    return Promise.resolve(this.written.length);
  }
}

class MapStore implements SettleStore {
  readonly values = new Map<string, Uint8Array>();
  get(key: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.values.get(key));
  }
  put(key: string, value: Uint8Array): Promise<void> {
    this.values.set(key, value);
    return Promise.resolve();
  }
  remove(key: string): Promise<void> {
    this.values.delete(key);
    return Promise.resolve();
  }
}

function dispatcher(o: {
  queue: FakeQueue;
  invoker: FunctionInvoker;
  dlq: FullDlq;
  registry: Registry;
  settles?: SettleLedger;
  consumers?: { ensureConsumer(): Promise<unknown> };
  recreateAfterMs?: number;
}): AsyncDispatcher {
  return new AsyncDispatcher({
    nc: { isClosed: () => false } as unknown as NatsConnection,
    js: o.queue.js(),
    invoker: o.invoker,
    destinations: {} as Destinations,
    dlq: o.dlq as unknown as DeadLetterQueue,
    metrics: new AsyncMetrics(o.registry),
    log: createLogger({ level: 'silent', component: 'test' }),
    ...(o.settles ? { settles: o.settles } : {}),
    ...(o.consumers ? { consumers: o.consumers } : {}),
    settings: {
      ...DEFAULT_DISPATCHER_SETTINGS,
      region: 'sluice',
      streamName: 'SLUICE_ASYNC',
      subjects: new Subjects('sluice'),
      settleRetryDelayMs: 1,
      consumerRecreateAfterMs: o.recreateAfterMs ?? 0,
    },
  });
}

const fn = asyncFunction({ namespace: 'ns', name: 'fn', maxRetryAttempts: 0 });
const value = async (registry: Registry, name: string): Promise<number> =>
  ((await registry.getSingleMetric(name)?.get())?.values ?? []).reduce((n, v) => n + v.value, 0);

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe('AsyncDispatcher settling', () => {
  it.each([
    { name: 'settled at the first try', failing: 0 },
    { name: 'the dead-letter write fails once', failing: 1 },
    { name: 'the dead-letter write fails 5 times', failing: 5 },
  ])(
    '$name: the function runs once, the event ends in the dead-letter stream and is acked',
    async ({ failing }) => {
      const queue = new FakeQueue();
      const invoker = new CountingInvoker();
      const dlq = new FullDlq(failing);
      const registry = new Registry();
      const d = dispatcher({ queue, invoker, dlq, registry });
      queue.add(1, 'r1');
      d.upsertFunction(fn);
      await until(() => queue.acked.length === 1);
      await d.stop(100);
      expect(invoker.calls).toHaveLength(1);
      expect(dlq.written).toHaveLength(1);
      expect(dlq.written[0]?.reason).toBe('RetriesExhausted');
      expect(await value(registry, 'sluice_async_settle_failures_total')).toBe(failing);
      expect(await value(registry, 'sluice_async_events_dropped_total')).toBe(1);
      expect(await value(registry, 'sluice_async_redeliveries_total')).toBe(0);
    },
  );

  it('another dispatcher settles an event from the durable record, without running the function', async () => {
    const queue = new FakeQueue();
    const store = new MapStore();
    const first = new CountingInvoker();
    const a = dispatcher({
      queue,
      invoker: first,
      dlq: new FullDlq(Infinity),
      registry: new Registry(),
      settles: new SettleLedger({ store }),
    });
    queue.add(7, 'r7');
    a.upsertFunction(fn);
    await until(() => store.values.size === 1);
    await a.stop(100);
    const second = new CountingInvoker();
    const dlq = new FullDlq(0);
    const b = dispatcher({
      queue,
      invoker: second,
      dlq,
      registry: new Registry(),
      settles: new SettleLedger({ store }),
    });
    b.upsertFunction(fn);
    await until(() => queue.acked.includes(7));
    await b.stop(100);
    expect(first.calls).toHaveLength(1);
    expect(second.calls).toHaveLength(0);
    expect(dlq.written).toHaveLength(1);
    expect(store.values.size).toBe(0); // forgotten once settled
  });
});

describe('AsyncDispatcher consumer', () => {
  it('recreates a consumer missing for a while, counts it, and dispatches', async () => {
    const queue = new FakeQueue();
    queue.exists = false;
    let made = 0;
    const registry = new Registry();
    const invoker = new CountingInvoker();
    const started = Date.now();
    const d = dispatcher({
      queue,
      invoker,
      dlq: new FullDlq(0),
      registry,
      recreateAfterMs: 200,
      consumers: {
        ensureConsumer: () => {
          made++;
          queue.exists = true;
          return Promise.resolve();
        },
      },
    });
    queue.add(1, 'r1');
    d.upsertFunction(fn);
    await until(() => queue.acked.length === 1);
    await d.stop(100);
    expect(made).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200); // not before it was missing that long
    expect(await value(registry, 'sluice_async_consumer_recreated_total')).toBe(1);
    expect(invoker.calls).toHaveLength(1);
  });

  it('a consumer that cannot be recreated is reported missing, and recreated once it can be', async () => {
    const queue = new FakeQueue();
    queue.exists = false;
    let refuse = true;
    const registry = new Registry();
    const d = dispatcher({
      queue,
      invoker: new CountingInvoker(),
      dlq: new FullDlq(0),
      registry,
      consumers: {
        ensureConsumer: () => {
          if (refuse) return Promise.reject(new Error('permissions violation'));
          queue.exists = true;
          return Promise.resolve();
        },
      },
    });
    d.upsertFunction(fn);
    await new Promise((r) => setTimeout(r, 300));
    expect(await value(registry, 'sluice_async_consumer_missing')).toBe(1);
    refuse = false;
    queue.add(1, 'r1');
    await until(() => queue.acked.length === 1);
    expect(await value(registry, 'sluice_async_consumer_missing')).toBe(0);
    await d.stop(100);
  });
});
