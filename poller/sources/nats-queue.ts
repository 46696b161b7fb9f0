import { setMaxListeners } from 'node:events';
import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { LATEST } from '../../api/naming.js';
import { describeError } from '../../lib/errors.js';
import type { TenantJetStream } from '../../lib/nats/tenants.js';
import { Batcher, MAX_PAYLOAD_BYTES } from '../batching.js';
import type { MappingConfig } from '../mapping.js';
import { filterView } from '../records.js';
import {
  backoffMs,
  assertStream,
  BatchInvoker,
  consumerBacklog,
  inTenantForCleanup,
  isNotFound,
  quietly,
  sleep,
  toSourceMessage,
  type BatchResult,
  type Prepared,
} from './delivery.js';
import type { EventSource, SourceDeps, SourceKindImpl } from './source.js';

interface Held {
  m: JsMsg;
  p: Prepared;
}

type StreamSource = Extract<MappingConfig['source'], { kind: 'natsQueue' | 'natsStream' }>;

/** The consumer settings both stream-backed sources share. */
export function consumerMetadata(m: MappingConfig): Record<string, string> {
  return {
    'sluice.dev/mapping': `${m.ref.namespace}/${m.ref.name}`,
    'sluice.dev/mapping-uid': m.ref.uid,
  };
}

/**
 * A JetStream work queue, delivered like SQS: a durable pull consumer with explicit per-message
 * acks. Batches of up to `batchSize` records (and 6 MB) gather for up to the batching window;
 * several batches run at once, more as the backlog grows, up to `maximumConcurrency`. Success acks
 * the batch; with ReportBatchItemFailures only the reported records come back (nak with backoff);
 * after `maximumRetryAttempts` retries a record goes to `onFailure` and is acked. Throttles and
 * platform errors are retried in place without using up retries. In-flight records are kept
 * alive with progress acks, so the ack wait need not exceed the function timeout; records of a
 * poller that dies are redelivered after the ack wait.
 */
export class NatsQueueSource implements EventSource {
  private readonly src: StreamSource;
  private readonly bi: BatchInvoker;
  private readonly batcher: Batcher<Held>;
  /** Aborted on close: waits end at once. */
  private readonly stopWaiting = new AbortController();
  /** Aborted when the grace period ends: calls still running are abandoned (redelivered later). */
  private readonly cancelCalls = new AbortController();
  private closed = false;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private ready: Held[][] = [];
  private readonly active = new Set<Promise<void>>();
  private roomWaiters: (() => void)[] = [];
  private lastBacklog = 0;
  private backlogTimer: NodeJS.Timeout | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private idleScheduled = false;
  /** Records received and not yet answered, by stream sequence. */
  private readonly held = new Map<number, Held>();
  /** JetStream of the mapping's namespace (held from start to close). */
  private tenant: TenantJetStream | undefined;

  constructor(
    private readonly m: MappingConfig,
    private readonly deps: SourceDeps,
  ) {
    if (m.source.kind === 'schedule') throw new Error('NatsQueueSource needs a natsQueue source');
    this.src = m.source;
    this.bi = new BatchInvoker(m, deps);
    // Every waiting batch listens on these signals: more than the default 10 listeners is normal.
    setMaxListeners(0, this.stopWaiting.signal, this.cancelCalls.signal);
    this.batcher = new Batcher<Held>({
      maxRecords: m.batchSize,
      maxBytes: MAX_PAYLOAD_BYTES,
      windowMs: m.batchingWindowMs,
      sizeOf: (h) => h.p.size,
      onBatch: (items) => {
        this.ready.push(items);
        this.pump();
      },
    });
  }

  /** Concurrent batches: grows with the backlog, at least 1, at most maximumConcurrency. */
  concurrency(): number {
    return Math.max(1, Math.min(this.m.maximumConcurrency, Math.ceil(this.lastBacklog / this.m.batchSize)));
  }

  private get jsm(): JetStreamManager {
    if (!this.tenant) throw new Error('source not started');
    return this.tenant.jsm;
  }

  async start(): Promise<void> {
    this.tenant = await this.deps.tenants.acquire(this.m.ref.namespace);
    const { jsm } = this;
    const { stream, consumer, subject } = this.src;
    await assertStream(jsm, stream, this.m.ref.namespace);
    const settings = {
      ack_wait: nanos(this.deps.tuning.ackWaitMs),
      max_deliver: -1,
      max_ack_pending: Math.min(100_000, this.m.batchSize * (this.m.maximumConcurrency + 2)),
      metadata: consumerMetadata(this.m),
      description: `Sluice event-source mapping ${this.m.ref.namespace}/${this.m.ref.name}`,
      ...(subject ? { filter_subject: subject } : {}),
    };
    try {
      await jsm.consumers.info(stream, consumer);
      await jsm.consumers.update(stream, consumer, settings);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await jsm.consumers.add(stream, {
        durable_name: consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ...settings,
      });
    }
    this.lastBacklog = await consumerBacklog(jsm, stream, consumer);
    this.backlogTimer = setInterval(() => void this.refreshBacklog(), 1000);
    this.keepAliveTimer = setInterval(() => this.keepAlive(), Math.max(500, this.deps.tuning.ackWaitMs / 3));
    this.loop = this.run();
  }

  async backlog(): Promise<number> {
    return consumerBacklog(this.jsm, this.src.stream, this.src.consumer);
  }

  private async refreshBacklog(): Promise<void> {
    try {
      this.lastBacklog = await this.backlog();
      const { namespace, name } = this.m.ref;
      this.deps.metrics.backlog.set(
        { namespace, mapping: name, function: this.m.target.function },
        this.lastBacklog,
      );
      this.pump();
    } catch (err) {
      this.deps.log.debug({ err }, 'reading the backlog failed');
    }
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        const consumer = await (this.tenant as TenantJetStream).js.consumers.get(
          this.src.stream,
          this.src.consumer,
        );
        const prefetch = Math.min(10_000, this.m.batchSize * 2);
        const iter = await consumer.consume({ max_messages: prefetch });
        this.messages = iter;
        if (this.closed) await iter.close();
        for await (const msg of iter) {
          if (this.closed) break;
          this.onMessage(msg);
          this.scheduleIdle();
          await this.waitForRoom();
        }
      } catch (err) {
        if (this.closed) return;
        this.deps.report(`SourceError: ${describeError(err)}`);
        this.deps.log.warn({ err }, 'consuming failed; retrying');
        await sleep(1000, this.stopWaiting.signal);
      }
    }
  }

  /** With a zero window, a partial batch goes once the records already received are all gathered. */
  private scheduleIdle(): void {
    if (this.idleScheduled) return;
    this.idleScheduled = true;
    setImmediate(() => {
      this.idleScheduled = false;
      this.batcher.idle();
    });
  }

  private onMessage(msg: JsMsg): void {
    const known = this.held.get(msg.seq);
    if (known) {
      // Redelivered while still held here (a slow batch): keep one copy, answer on the newest delivery.
      known.m = msg;
      return;
    }
    const src = toSourceMessage(msg, this.src.consumer);
    if (this.m.hasFilters && !this.m.filter.matches(filterView(this.m.recordFormat, src))) {
      quietly(() => msg.ack());
      this.deps.metrics.filtered.inc({ namespace: this.m.ref.namespace, mapping: this.m.ref.name });
      return;
    }
    const h: Held = { m: msg, p: this.bi.prepare(src) };
    this.held.set(msg.seq, h);
    this.batcher.add(h);
  }

  /** Every record held (gathering, waiting for a slot, in flight) stays invisible to other pollers. */
  private keepAlive(): void {
    for (const h of this.held.values()) quietly(() => h.m.working());
  }

  private async waitForRoom(): Promise<void> {
    while (!this.closed && this.ready.length > 0) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  private wakeRoom(): void {
    for (const w of this.roomWaiters.splice(0)) w();
  }

  private pump(): void {
    while (!this.closed && this.ready.length > 0 && this.active.size < this.concurrency()) {
      const batch = this.ready.shift() as Held[];
      const p: Promise<void> = this.process(batch)
        .catch((err: unknown) => {
          this.deps.log.error({ err }, 'batch failed unexpectedly; records will be redelivered');
          for (const h of batch) quietly(() => h.m.nak());
        })
        .finally(() => {
          this.active.delete(p);
          this.pump();
        });
      this.active.add(p);
    }
    if (this.ready.length === 0 || this.closed) this.wakeRoom();
  }

  private async process(batch: Held[]): Promise<void> {
    try {
      for (let attempt = 1; ; attempt++) {
        const res = await this.bi.invoke(
          batch.map((h) => h.p),
          this.cancelCalls.signal,
        );
        const o = res.outcome;
        if (o.kind !== 'throttled' && o.kind !== 'error') {
          await this.settle(batch, res);
          return;
        }
        // Throttled or a platform error: wait and call again, without using up the records' retries.
        if (!this.closed) {
          const { retryBaseMs, retryMaxMs } = this.deps.tuning;
          const wait =
            o.kind === 'throttled' && o.retryAfterMs
              ? o.retryAfterMs
              : backoffMs(attempt, retryBaseMs, retryMaxMs);
          await sleep(wait, this.stopWaiting.signal);
        }
        if (this.closed) {
          for (const h of batch) quietly(() => h.m.nak());
          return;
        }
      }
    } finally {
      for (const h of batch) this.held.delete(h.p.msg.seq);
    }
  }

  private async settle(batch: Held[], res: BatchResult): Promise<void> {
    const o = res.outcome;
    const failed = o.kind === 'partial' ? new Set(o.failed) : undefined;
    const { namespace, name } = this.m.ref;
    await Promise.all(
      batch.map(async (h) => {
        if (o.kind === 'success' || (failed && !failed.has(h.p.id))) {
          quietly(() => h.m.ack());
          this.deps.metrics.records.inc({ namespace, mapping: name, result: 'delivered' });
          return;
        }
        await this.fail(h, res, o.kind === 'rejected');
      }),
    );
  }

  /** A record failed: retry later (nak with backoff) or, when retries are used up, onFailure and ack. */
  private async fail(h: Held, res: BatchResult, now: boolean): Promise<void> {
    const attempts = h.p.msg.deliveryCount;
    const max = this.m.maximumRetryAttempts;
    const { retryBaseMs, retryMaxMs } = this.deps.tuning;
    if (!now && (max < 0 || attempts <= max)) {
      quietly(() => h.m.nak(backoffMs(attempts, retryBaseMs, retryMaxMs)));
      return;
    }
    const { namespace, name, uid } = this.m.ref;
    if (!this.m.onFailure) {
      this.deps.log.warn(
        { seq: h.p.msg.seq, attempts },
        'record failed after its retries; no onFailure: dropped',
      );
      this.deps.metrics.records.inc({ namespace, mapping: name, result: 'dropped' });
      quietly(() => h.m.ack());
      return;
    }
    try {
      await this.deps.destinations.send(
        this.m.onFailure,
        this.bi.queueFailureRecord(h.p.msg, h.p.record, res),
        {
          namespace,
          dedupId: `${uid}:${h.p.msg.stream}:${h.p.msg.seq}`,
        },
      );
      this.deps.metrics.records.inc({ namespace, mapping: name, result: 'on_failure' });
      quietly(() => h.m.ack());
    } catch (err) {
      this.deps.metrics.destinationFailures.inc({
        namespace,
        function: this.m.target.function,
        version: this.m.target.qualifier || LATEST,
      });
      this.deps.log.warn(
        { err, seq: h.p.msg.seq, destination: this.m.onFailure },
        'onFailure delivery failed; the record is retried',
      );
      this.deps.report(`DestinationDeliveryFailed: ${(err as Error).message}`);
      quietly(() => h.m.nak(backoffMs(attempts, retryBaseMs, retryMaxMs)));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.stop();
    } finally {
      this.tenant?.release();
    }
  }

  private async stop(): Promise<void> {
    this.stopWaiting.abort();
    clearInterval(this.backlogTimer);
    clearInterval(this.keepAliveTimer);
    this.wakeRoom();
    // Gathered and waiting records go back at once, so the next owner need not wait for the ack wait.
    for (const h of [...this.batcher.discard(), ...this.ready.splice(0).flat()]) {
      this.held.delete(h.p.msg.seq);
      quietly(() => h.m.nak());
    }
    await this.messages?.close().catch(() => undefined);
    const drained = await Promise.race([
      Promise.allSettled([...this.active]).then(() => true),
      sleep(this.deps.tuning.closeGraceMs).then(() => false),
    ]);
    if (!drained) this.cancelCalls.abort();
    await Promise.allSettled([...this.active, this.loop]);
  }
}

export const natsQueue: SourceKindImpl = {
  create: (m, deps) => new NatsQueueSource(m, deps),
  async cleanup(m, deps) {
    const src = m.source;
    if (src.kind === 'schedule' || !src.ownsConsumer) return;
    await inTenantForCleanup(deps.tenants, m.ref.namespace, async ({ jsm }) => {
      try {
        await jsm.consumers.delete(src.stream, src.consumer);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    });
  },
};
