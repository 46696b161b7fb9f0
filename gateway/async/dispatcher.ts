import { propagation, ROOT_CONTEXT, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import {
  JetStreamApiError,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { describeError, inSpan, type Logger } from '../../lib/index.js';
import type { DeadLetterQueue, DeadLetterReason } from './dlq.js';
import type { Destinations } from './destinations.js';
import { eventHeaders, eventOf, type AsyncEvent, type LastError } from './event.js';
import type { AsyncFunction } from './function-config.js';
import { invocationOutcomeOf, type InvokeOutcome } from '../../api/outcomes.js';
import type { FunctionInvoker } from './invoker.js';
import type { AsyncMetrics } from './metrics.js';
import { consumerName, hashOf, type Subjects } from '../../api/nats-naming.js';
import { afterOutcome, beforeInvoke, DEFAULT_BACKOFF, type BackoffPolicy, type Decision } from './policy.js';
import { encodeRecord, type Condition, type EncodedRecord, type RecordResponse } from '../../api/records.js';
import { SettleLedger, type SettleRecord, type SettleTarget } from './settle.js';
import { ackWaitMs } from './streams.js';

export interface DispatcherSettings {
  /** Region in ARNs of records. */
  region: string;
  streamName: string;
  subjects: Subjects;
  /** Events one replica dispatches at once for one function (the cluster-wide cap is the consumer's max_ack_pending). */
  perReplicaConcurrency: number;
  /** Must equal the streams' ackMarginSeconds: heartbeats are sent at a third of the ack wait. */
  ackMarginSeconds: number;
  /** Time the invoker gets beyond the function's timeout (cold start). */
  invokeAllowanceMs: number;
  /** How long one pull request waits for events. */
  fetchExpiresMs: number;
  backoff: BackoffPolicy;
  /** Records are kept under this size (the NATS server's max_payload, less room for headers). */
  maxRecordBytes: number;
  /** Completed messages remembered per replica, so a redelivery after a lost ack is not run again. */
  completedCacheSize: number;
  /** When an outcome could not be made durable, the event comes back after this long to settle again. */
  settleRetryDelayMs: number;
  /**
   * A consumer missing this long is recreated. The wait lets this replica's watch catch up when
   * another replica deleted it because the function was deleted.
   */
  consumerRecreateAfterMs: number;
}

export const DEFAULT_DISPATCHER_SETTINGS: Omit<DispatcherSettings, 'region' | 'streamName' | 'subjects'> = {
  perReplicaConcurrency: 64,
  ackMarginSeconds: 60,
  invokeAllowanceMs: 30_000,
  fetchExpiresMs: 5000,
  backoff: DEFAULT_BACKOFF,
  maxRecordBytes: 8 * 1024 * 1024 - 64 * 1024,
  completedCacheSize: 20_000,
  settleRetryDelayMs: 5000,
  consumerRecreateAfterMs: 5000,
};

/** Makes a function's consumer again (the same configuration as the watcher's). */
export interface ConsumerMaker {
  ensureConsumer(fn: AsyncFunction): Promise<unknown>;
}

export interface DispatcherDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  invoker: FunctionInvoker;
  destinations: Destinations;
  dlq: DeadLetterQueue;
  metrics: AsyncMetrics;
  log: Logger;
  tracer?: Tracer;
  settings: DispatcherSettings;
  /** Recreates a consumer found missing (deleted or lost); without it the loop only retries. */
  consumers?: ConsumerMaker;
  /** "Invoked, outcome X" of events whose settle failed (default: this replica's memory only). */
  settles?: SettleLedger;
  now?: () => number;
  random?: () => number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The last error, kept on a scheduled retry for a later EventAgeExceeded record (body ≤ 4 KB). */
function lastErrorOf(o: Extract<InvokeOutcome, { kind: 'function_error' }>): LastError {
  const e: LastError = { executedVersion: o.executedVersion, errorType: o.errorType };
  if (o.payload.length <= 4096) e.payload = o.payload.toString('base64');
  return e;
}

/** What the record's responseContext/responsePayload say, from the last outcome (or the remembered error). */
function responseOf(
  outcome: InvokeOutcome | undefined,
  ev: AsyncEvent,
  d: Decision,
): RecordResponse | undefined {
  const version = ev.qualifier && /^\d+$/.test(ev.qualifier) ? ev.qualifier : '$LATEST';
  const errorBody = (errorType: string, errorMessage: string): Buffer =>
    Buffer.from(JSON.stringify({ errorType, errorMessage }));
  switch (outcome?.kind) {
    case 'success':
      return { statusCode: 200, executedVersion: outcome.executedVersion, payload: outcome.payload };
    case 'function_error':
      return {
        statusCode: 200,
        executedVersion: outcome.executedVersion,
        functionError: 'Unhandled',
        payload: outcome.payload,
      };
    case 'not_found':
      return {
        statusCode: 404,
        executedVersion: version,
        payload: errorBody('ResourceNotFoundException', outcome.message),
      };
    case 'rejected':
      return {
        statusCode: outcome.statusCode,
        executedVersion: version,
        payload: errorBody(outcome.errorType, outcome.message),
      };
    default:
      break;
  }
  if (d.kind === 'fail' && d.condition === 'EventAgeExceeded' && ev.lastError) {
    const r: RecordResponse = {
      statusCode: 200,
      executedVersion: ev.lastError.executedVersion,
      functionError: 'Unhandled',
    };
    if (ev.lastError.payload) r.payload = Buffer.from(ev.lastError.payload, 'base64');
    return r;
  }
  return undefined;
}

/** A small insertion-ordered set with a size bound. */
class BoundedSet {
  private readonly items = new Set<number>();
  constructor(private readonly max: number) {}
  has(v: number): boolean {
    return this.items.has(v);
  }
  add(v: number): void {
    this.items.add(v);
    if (this.items.size > this.max) this.items.delete(this.items.values().next().value as number);
  }
  delete(v: number): void {
    this.items.delete(v);
  }
}

/**
 * Dispatches async events: one pull loop per function on that function's durable consumer
 * (shared with the other gateway replicas), each with its own concurrency budget, so a burst
 * for one function never waits behind another's. Every event ends acknowledged only after its
 * outcome is durable: a scheduled retry, a record at its destination, or a dead letter.
 */
export class AsyncDispatcher {
  private readonly workers = new Map<string, FunctionWorker>();
  readonly now: () => number;
  readonly random: () => number;
  readonly tracer: Tracer;
  /** Stream sequences finished by this replica (ack may have been lost). */
  readonly completed: BoundedSet;
  /** Stream sequences this replica re-queued (their next delivery is not a duplicate). */
  readonly requeued: BoundedSet;
  readonly settles: SettleLedger;
  private stopped = false;

  constructor(readonly deps: DispatcherDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.tracer = deps.tracer ?? trace.getTracer('sluice-gateway');
    this.completed = new BoundedSet(deps.settings.completedCacheSize);
    this.requeued = new BoundedSet(deps.settings.completedCacheSize);
    this.settles = deps.settles ?? new SettleLedger();
  }

  private static key(namespace: string, name: string): string {
    return `${namespace}/${name}`;
  }

  /** Starts (or reconfigures) the function's pull loop. */
  upsertFunction(fn: AsyncFunction): void {
    if (this.stopped) return;
    const key = AsyncDispatcher.key(fn.namespace, fn.name);
    const w = this.workers.get(key);
    if (w) {
      w.fn = fn;
      w.wake();
      return;
    }
    const worker = new FunctionWorker(this, fn);
    this.workers.set(key, worker);
    worker.start();
  }

  /** Stops the function's pull loop; events in flight finish (or are redelivered elsewhere). */
  async removeFunction(namespace: string, name: string, timeoutMs = 30_000): Promise<void> {
    const key = AsyncDispatcher.key(namespace, name);
    const w = this.workers.get(key);
    if (!w) return;
    this.workers.delete(key);
    await w.stop(timeoutMs);
  }

  hasFunction(namespace: string, name: string): boolean {
    return this.workers.has(AsyncDispatcher.key(namespace, name));
  }

  functions(): AsyncFunction[] {
    return [...this.workers.values()].map((w) => w.fn);
  }

  /** Events this replica is dispatching for the function. */
  inFlight(namespace: string, name: string): number {
    return this.workers.get(AsyncDispatcher.key(namespace, name))?.active ?? 0;
  }

  /** Stops every loop and waits (bounded) for events in flight; unfinished ones are redelivered. */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.stopped = true;
    const all = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(all.map((w) => w.stop(timeoutMs)));
  }
}

/** The pull loop and the event handling of one function. */
class FunctionWorker {
  active = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private fetch: ConsumerMessages | undefined;
  private consumer: Consumer | undefined;
  private wakeUp: (() => void) | undefined;
  private idle: (() => void) | undefined;
  private lastWarn = 0;
  /** Since when the consumer has been found missing. */
  private missingSince: number | undefined;

  constructor(
    private readonly d: AsyncDispatcher,
    public fn: AsyncFunction,
  ) {}

  private get log(): Logger {
    return this.d.deps.log;
  }

  start(): void {
    // The function's series at 0 from the start, so an alert on them tells "none" from "not scraped".
    const ids = { namespace: this.fn.namespace, function: this.fn.name };
    this.d.deps.metrics.consumersRecreated.inc(ids, 0);
    this.d.deps.metrics.consumerMissing.set(ids, 0);
    this.d.deps.metrics.settleFailures.inc(ids, 0);
    this.loop = this.run();
  }

  wake(): void {
    this.wakeUp?.();
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.fetch?.stop();
    this.wake();
    await this.loop;
    this.d.deps.metrics.consumerMissing.remove({ namespace: this.fn.namespace, function: this.fn.name });
    if (this.active > 0) {
      await Promise.race([new Promise<void>((r) => (this.idle = r)), sleep(timeoutMs)]);
    }
  }

  private cap(): number {
    return Math.max(1, Math.min(this.fn.maxConcurrency || 1, this.d.deps.settings.perReplicaConcurrency));
  }

  private waitForSlot(): Promise<void> {
    return new Promise((r) => (this.wakeUp = r));
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped && !this.d.deps.nc.isClosed()) {
      const free = this.cap() - this.active;
      if (free <= 0) {
        await this.waitForSlot();
        continue;
      }
      try {
        this.consumer ??= await this.d.deps.js.consumers.get(
          this.d.deps.settings.streamName,
          consumerName(this.fn.namespace, this.fn.name),
        );
        const msgs = await this.consumer.fetch({
          max_messages: free,
          expires: this.d.deps.settings.fetchExpiresMs,
        });
        this.fetch = msgs;
        for await (const m of msgs) this.begin(m);
        failures = 0;
        this.missingSince = undefined;
      } catch (err) {
        if (this.stopped || this.d.deps.nc.isClosed()) break;
        failures++;
        this.consumer = undefined;
        if (!isConsumerMissing(err)) this.missingSince = undefined;
        else if (await this.recreateWhenDue()) {
          failures = 0;
          continue;
        }
        if (this.d.now() - this.lastWarn > 10_000) {
          this.lastWarn = this.d.now();
          this.log.warn(
            { namespace: this.fn.namespace, function: this.fn.name, err: describeError(err) },
            'pulling async events failed; retrying',
          );
        }
        // A missing consumer is looked at every second or so, to recreate it soon after its grace.
        const capMs = this.missingSince === undefined ? 5000 : 1000;
        await Promise.race([sleep(Math.min(capMs, 100 * 2 ** Math.min(failures, 6))), this.waitForSlot()]);
      } finally {
        this.fetch = undefined;
      }
    }
  }

  /**
   * The consumer is gone (deleted by hand, lost with the server's state) while the function still
   * exists: Event calls are still answered 202, so make it again with the same configuration.
   */
  private async recreateWhenDue(): Promise<boolean> {
    const maker = this.d.deps.consumers;
    this.missingSince ??= this.d.now();
    if (!maker || this.stopped) return false;
    if (this.d.now() - this.missingSince < this.d.deps.settings.consumerRecreateAfterMs) return false;
    const ids = { namespace: this.fn.namespace, function: this.fn.name };
    try {
      await maker.ensureConsumer(this.fn);
    } catch (err) {
      this.d.deps.metrics.consumerMissing.set(ids, 1);
      if (this.d.now() - this.lastWarn > 10_000) {
        this.lastWarn = this.d.now();
        this.log.error(
          { ...ids, err: describeError(err) },
          'async consumer missing and could not be recreated',
        );
      }
      return false;
    }
    this.missingSince = undefined;
    this.d.deps.metrics.consumerMissing.set(ids, 0);
    this.d.deps.metrics.consumersRecreated.inc(ids);
    this.log.warn(ids, 'async consumer was missing; recreated it');
    return true;
  }

  private begin(m: JsMsg): void {
    this.active++;
    this.d.deps.metrics.inFlight.inc({ namespace: this.fn.namespace, function: this.fn.name });
    void this.handle(m).finally(() => {
      this.active--;
      this.d.deps.metrics.inFlight.dec({ namespace: this.fn.namespace, function: this.fn.name });
      this.wake();
      if (this.active === 0) this.idle?.();
    });
  }

  private async handle(m: JsMsg): Promise<void> {
    const fn = this.fn;
    const settings = this.d.deps.settings;
    const metrics = this.d.deps.metrics;
    const ev = eventOf(m.headers, m.data, { seq: m.seq, timestampMs: Number(m.timestampNanos / 1_000_000n) });
    const labels = { namespace: fn.namespace, function: fn.name, version: ev.qualifier ?? '$LATEST' };
    const target: SettleTarget = {
      namespace: fn.namespace,
      function: fn.name,
      eventId: ev.eventId,
      seq: m.seq,
    };
    let earlier: SettleRecord | undefined;
    if (m.info.deliveryCount > 1) {
      if (this.d.completed.has(m.seq)) {
        // Finished here before; only the ack was lost (a reconnect, a server restart).
        safe(() => m.ack());
        return;
      }
      const requeuedHere = this.d.requeued.has(m.seq);
      try {
        // Re-queued by this replica (a throttle): nothing ran to completion, no record to read.
        earlier = await this.d.settles.lookup(target, !requeuedHere);
      } catch (err) {
        // Whether the function already ran cannot be told now: ask again later rather than run it twice.
        this.log.warn(
          { ...target, requestId: ev.requestId, err: describeError(err) },
          'reading the settle record of a redelivered async event failed; it will be delivered again',
        );
        safe(() => m.nak(settings.settleRetryDelayMs));
        return;
      }
      if (!requeuedHere && !earlier) metrics.redeliveries.inc(labels);
    }
    this.d.requeued.delete(m.seq);
    const heartbeat = setInterval(
      () => safe(() => m.working()),
      Math.max(250, Math.floor(ackWaitMs(fn, settings.ackMarginSeconds) / 3)),
    );
    try {
      let step: { decision: Decision; outcome?: InvokeOutcome };
      try {
        step = earlier ?? (await this.decide(m, fn, ev, labels));
      } catch (err) {
        this.log.error(
          { ...target, requestId: ev.requestId, err: describeError(err) },
          'async event not dispatched',
        );
        safe(() => m.nak(settings.settleRetryDelayMs));
        return;
      }
      const { decision, outcome } = step;
      try {
        await this.carryOut(m, fn, ev, decision, outcome);
      } catch (err) {
        await this.settleFailed(m, target, ev, decision, outcome, labels, err);
        return;
      }
      if (earlier) await this.d.settles.forget(target);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Invokes the event (unless the policy fails it first) and decides what follows. */
  private async decide(
    m: JsMsg,
    fn: AsyncFunction,
    ev: AsyncEvent,
    labels: { namespace: string; function: string; version: string },
  ): Promise<{ decision: Decision; outcome?: InvokeOutcome }> {
    const metrics = this.d.deps.metrics;
    const now = this.d.now();
    metrics.eventAge.observe(labels, Math.max(0, now - ev.enqueuedAt) / 1000);
    const state = { attempt: ev.attempt, enqueuedAt: ev.enqueuedAt, deliveryCount: m.info.deliveryCount };
    const before = beforeInvoke(fn, state, now);
    if (before.kind !== 'invoke') return { decision: before };
    const outcome = await this.invoke(fn, ev);
    if (!this.d.deps.invoker.countsInvocations) {
      metrics.invocations.inc({
        ...labels,
        version: 'executedVersion' in outcome ? outcome.executedVersion : labels.version,
        type: 'async',
        outcome: invocationOutcomeOf(outcome),
      });
    }
    const decision = afterOutcome(
      fn,
      state,
      outcome.kind,
      this.d.now(),
      this.d.deps.settings.backoff,
      this.d.random,
    );
    return { decision, outcome };
  }

  /**
   * The outcome could not be made durable (the retry publish, the destination and the dead letter
   * all failed: NATS unreachable, a full store). Remember "invoked, outcome X" and leave the event
   * to come back: then only the settle step is tried again, never the function.
   */
  private async settleFailed(
    m: JsMsg,
    target: SettleTarget,
    ev: AsyncEvent,
    decision: Decision,
    outcome: InvokeOutcome | undefined,
    labels: { namespace: string; function: string; version: string },
    err: unknown,
  ): Promise<void> {
    let durable = false;
    if (decision.kind === 'retry' || decision.kind === 'succeed' || decision.kind === 'fail') {
      durable = await this.d.settles.remember({ ...target, decision, ...(outcome ? { outcome } : {}) });
    }
    this.d.deps.metrics.settleFailures.inc({ namespace: labels.namespace, function: labels.function });
    this.log.error(
      { ...target, requestId: ev.requestId, durable, err: describeError(err) },
      'async event not settled; it will be delivered again to settle (the function is not run again)',
    );
    safe(() => m.nak(this.d.deps.settings.settleRetryDelayMs));
  }

  private async invoke(fn: AsyncFunction, ev: AsyncEvent): Promise<InvokeOutcome> {
    const carrier: Record<string, string> = {};
    if (ev.traceparent) carrier.traceparent = ev.traceparent;
    if (ev.tracestate) carrier.tracestate = ev.tracestate;
    const parent = propagation.extract(ROOT_CONTEXT, carrier);
    const span = this.d.tracer.startSpan(
      'async invoke',
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'faas.invoked_name': fn.name,
          'faas.invoked_provider': 'sluice',
          'faas.trigger': 'pubsub',
          'sluice.namespace': fn.namespace,
          'sluice.request_id': ev.requestId,
          'sluice.attempt': ev.attempt,
        },
      },
      parent,
    );
    const out: Record<string, string> = {};
    propagation.inject(trace.setSpan(parent, span), out);
    const traceparent = out.traceparent ?? ev.traceparent;
    const tracestate = out.tracestate ?? ev.tracestate;
    try {
      return await inSpan(
        span,
        async () => {
          const outcome = await this.d.deps.invoker.invoke({
            namespace: fn.namespace,
            function: fn.name,
            ...(ev.qualifier ? { qualifier: ev.qualifier } : {}),
            payload: ev.payload,
            requestId: ev.requestId,
            approximateInvokeCount: ev.attempt,
            ...(traceparent ? { traceparent } : {}),
            ...(tracestate ? { tracestate } : {}),
            deadlineMs: this.d.now() + fn.timeoutSeconds * 1000 + this.d.deps.settings.invokeAllowanceMs,
          });
          span.setAttribute('sluice.outcome', outcome.kind);
          return outcome;
        },
        (o: InvokeOutcome) => (o.kind === 'success' ? undefined : o.kind),
      );
    } catch (err) {
      return { kind: 'system_error', message: describeError(err) };
    }
  }

  private async carryOut(
    m: JsMsg,
    fn: AsyncFunction,
    ev: AsyncEvent,
    d: Decision,
    outcome: InvokeOutcome | undefined,
  ): Promise<void> {
    switch (d.kind) {
      case 'requeue':
        this.d.requeued.add(m.seq);
        m.nak(d.delayMs);
        return;
      case 'retry':
        await this.scheduleRetry(m, fn, ev, d.attempt, d.delayMs, outcome);
        break;
      case 'succeed':
      case 'fail':
        await this.settle(m, fn, ev, d, outcome);
        break;
      case 'invoke':
        throw new Error('unreachable: invoke decision after the invocation');
    }
    this.d.completed.add(m.seq);
    m.ack();
  }

  /** Publishes the next attempt as a message the server delivers at its time (durable across restarts). */
  private async scheduleRetry(
    m: JsMsg,
    fn: AsyncFunction,
    ev: AsyncEvent,
    attempt: number,
    delayMs: number,
    outcome: InvokeOutcome | undefined,
  ): Promise<void> {
    const { payload, ...rest } = ev;
    const next: Omit<AsyncEvent, 'payload'> = { ...rest, attempt };
    if (outcome?.kind === 'function_error') next.lastError = lastErrorOf(outcome);
    const subjects = this.d.deps.settings.subjects;
    const token = `${hashOf(`${ev.eventId}@${m.seq}`)}-${attempt}`;
    await this.d.deps.js.publish(subjects.retry(fn.namespace, fn.name, token), payload, {
      msgID: `retry:${ev.eventId}@${m.seq}`,
      headers: eventHeaders(next),
      schedule: {
        specification: new Date(this.d.now() + Math.max(1, delayMs)),
        target: subjects.async(fn.namespace, fn.name),
      },
      timeout: 5000,
    });
  }

  private record(
    fn: AsyncFunction,
    ev: AsyncEvent,
    d: Extract<Decision, { kind: 'succeed' | 'fail' }>,
    outcome: InvokeOutcome | undefined,
  ): { enc: EncodedRecord; version: string } {
    const response = responseOf(outcome, ev, d);
    const enc = encodeRecord(
      {
        timestamp: new Date(this.d.now()),
        region: this.d.deps.settings.region,
        namespace: fn.namespace,
        function: fn.name,
        ...(ev.qualifier ? { qualifier: ev.qualifier } : {}),
        requestId: ev.requestId,
        condition: d.kind === 'succeed' ? 'Success' : d.condition,
        approximateInvokeCount: d.kind === 'succeed' ? ev.attempt : d.invokeCount,
        requestPayload: ev.payload,
        ...(response ? { response } : {}),
      },
      this.d.deps.settings.maxRecordBytes,
    );
    return { enc, version: response?.executedVersion ?? ev.qualifier ?? '$LATEST' };
  }

  /** Sends the record to its destination; with none (failures) or when that fails, to the dead-letter stream. */
  private async settle(
    m: JsMsg,
    fn: AsyncFunction,
    ev: AsyncEvent,
    d: Extract<Decision, { kind: 'succeed' | 'fail' }>,
    outcome: InvokeOutcome | undefined,
  ): Promise<void> {
    const { enc, version } = this.record(fn, ev, d, outcome);
    const labels = { namespace: fn.namespace, function: fn.name, version };
    await this.deliverRecord(m, fn, ev, d, outcome, enc, labels);
    // Counted once the record is durable: a settle that failed and is tried again is one drop.
    if (d.kind === 'fail') {
      this.d.deps.metrics.dropped.inc({ ...labels, reason: d.reason });
      this.log.info(
        { namespace: fn.namespace, function: fn.name, requestId: ev.requestId, reason: d.reason },
        'async event failed',
      );
    }
  }

  private async deliverRecord(
    m: JsMsg,
    fn: AsyncFunction,
    ev: AsyncEvent,
    d: Extract<Decision, { kind: 'succeed' | 'fail' }>,
    outcome: InvokeOutcome | undefined,
    enc: EncodedRecord,
    labels: { namespace: string; function: string; version: string },
  ): Promise<void> {
    const condition: Condition = d.kind === 'succeed' ? 'Success' : d.condition;
    const version = labels.version;
    const destination = d.kind === 'succeed' ? fn.onSuccess : fn.onFailure;
    let reason: DeadLetterReason = d.kind === 'fail' ? d.reason : 'Success';
    let error: string | undefined;
    if (destination) {
      try {
        await this.d.deps.destinations.deliver(destination, enc.body, {
          namespace: fn.namespace,
          function: fn.name,
          requestId: ev.requestId,
          condition,
          deliveryId: `${ev.eventId}@${m.seq}`,
          ...(ev.traceparent ? { traceparent: ev.traceparent } : {}),
        });
        return;
      } catch (err) {
        this.d.deps.metrics.destinationFailures.inc(labels);
        reason = 'DestinationDeliveryFailed';
        error = (err as Error).message;
      }
    } else if (d.kind === 'succeed') {
      return;
    }
    if (!error && outcome && outcome.kind !== 'success') error = errorText(outcome);
    await this.d.deps.dlq.write({
      namespace: fn.namespace,
      function: fn.name,
      eventHeaders: m.headers,
      record: enc.body,
      payloadStart: enc.payloadStart,
      payloadLength: enc.payloadLength,
      payloadFormat: enc.payloadFormat,
      reason,
      condition,
      ...(error ? { error } : {}),
      ...(destination && reason === 'DestinationDeliveryFailed' ? { destination } : {}),
      msgId: `dlq:${ev.eventId}@${m.seq}`,
      version,
    });
  }
}

function errorText(o: InvokeOutcome): string {
  switch (o.kind) {
    case 'function_error':
      return `${o.errorType}: ${o.payload.toString('utf8').slice(0, 900)}`;
    case 'not_found':
    case 'system_error':
      return o.message;
    case 'rejected':
      return `${o.errorType}: ${o.message}`;
    case 'throttled':
      return `throttled: ${o.reason}`;
    default:
      return '';
  }
}

/** The consumer does not exist (consumer info, or a pull answered that it was deleted or not found). */
export function isConsumerMissing(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === 10014;
  // a pull's 409 "consumer deleted" status, or its "consumer not found" answer
  return err instanceof Error && /consumer (not found|deleted)/i.test(err.message);
}

function safe(f: () => void): void {
  try {
    f();
  } catch {
    // the connection is gone: the server redelivers what was not acknowledged
  }
}
