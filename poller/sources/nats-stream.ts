import { setMaxListeners } from 'node:events';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { LATEST } from '../../api/naming.js';
import { describeError, SluiceError } from '../../lib/errors.js';
import type { TenantJetStream } from '../../lib/nats/tenants.js';
import { Batcher, MAX_PAYLOAD_BYTES } from '../batching.js';
import type { MappingConfig } from '../mapping.js';
import { planStreamStep, type Segment } from '../outcome.js';
import { filterView } from '../records.js';
import {
  assertStream,
  backoffMs,
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
import { consumerMetadata } from './nats-queue.js';
import type { EventSource, SourceDeps, SourceKindImpl } from './source.js';

interface Held {
  m: JsMsg;
  p: Prepared;
  /** Matched no filter: not delivered, but the checkpoint moves past it. */
  filtered: boolean;
}

/** Another writer moved the checkpoint: this replica no longer owns the mapping. */
/** JetStream's compare-and-set refusal: the subject's last sequence is not the one expected. */
function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export class CheckpointFencedError extends SluiceError {
  override readonly name = 'CheckpointFencedError';
}

type StreamSource = Extract<MappingConfig['source'], { kind: 'natsQueue' | 'natsStream' }>;

export const checkpointKey = (uid: string): string => `esm.${uid}`;

/**
 * An ordered JetStream stream, delivered like Kinesis: one batch at a time in stream order (so
 * in order per subject), a checkpoint after every finished batch, retries that block the stream
 * until they succeed or run out. The checkpoint lives in a KV bucket (written with
 * compare-and-set, which also fences a replica that lost its lease); each session recreates the
 * durable consumer at checkpoint + 1, so a new owner resumes exactly where the last one stopped,
 * in order. A failing batch is bisected (if enabled) down to the failing record; with
 * ReportBatchItemFailures it checkpoints before the lowest reported sequence and retries from
 * there; records past `maximumRecordAgeSeconds` or out of retries go to `onFailure` as a batch
 * range (NatsStreamBatchInfo).
 */
export class NatsStreamSource implements EventSource {
  private readonly src: StreamSource;
  private readonly bi: BatchInvoker;
  private readonly batcher: Batcher<Held>;
  private readonly stopWaiting = new AbortController();
  private readonly cancelCalls = new AbortController();
  private closed = false;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private worker: Promise<void> | undefined;
  private ready: Held[][] = [];
  private kick: (() => void) | undefined;
  private roomWaiters: (() => void)[] = [];
  private busy = false;
  private highestSeen = 0;
  private revision = 0;
  private retryAttempt = 0;
  private idleScheduled = false;
  /** JetStream of the mapping's namespace (held from start to close). */
  private tenant: TenantJetStream | undefined;

  constructor(
    private readonly m: MappingConfig,
    private readonly deps: SourceDeps,
  ) {
    if (m.source.kind === 'schedule') throw new Error('NatsStreamSource needs a natsStream source');
    this.src = m.source;
    this.bi = new BatchInvoker(m, deps);
    // Every waiting batch listens on these signals: more than the default 10 listeners is normal.
    setMaxListeners(0, this.stopWaiting.signal, this.cancelCalls.signal);
    this.batcher = new Batcher<Held>({
      maxRecords: m.batchSize,
      maxBytes: MAX_PAYLOAD_BYTES,
      windowMs: m.batchingWindowMs,
      sizeOf: (h) => (h.filtered ? 0 : h.p.size),
      onBatch: (items) => {
        this.ready.push(items);
        this.kick?.();
      },
    });
  }

  private get key(): string {
    return checkpointKey(this.m.ref.uid);
  }

  /** The last finished sequence, if a checkpoint exists. */
  async checkpoint(): Promise<number | undefined> {
    const e = await this.deps.checkpoints.get(this.key);
    if (!e || e.operation !== 'PUT') return undefined;
    this.revision = e.revision;
    return e.json<{ seq: number }>().seq;
  }

  /**
   * Moves the checkpoint to `seq` by compare-and-set. A conflict is another writer (this session
   * was fenced off) unless the entry there is this very write, whose answer was lost. Any other
   * failure is the KV being out of reach for now (NATS restarting, no responders, a timeout): with
   * `retry` the same write is tried again with backoff until it lands or the source closes — the
   * stream waits, as a Kinesis shard does — rather than ending the session with nobody to restart it.
   */
  private async writeCheckpoint(seq: number, retry: boolean): Promise<void> {
    const value = JSON.stringify({ seq, at: new Date().toISOString(), owner: this.deps.identity });
    for (let attempt = 1; ; attempt++) {
      try {
        this.revision =
          this.revision === 0
            ? await this.deps.checkpoints.create(this.key, value)
            : await this.deps.checkpoints.update(this.key, value, this.revision);
        return;
      } catch (err) {
        if (isWrongLastSequence(err)) {
          const mine = await this.ownWrite(seq).catch(() => undefined);
          if (mine === undefined && !retry) throw err;
          if (mine === false) {
            throw new CheckpointFencedError(
              `checkpoint of ${this.m.ref.namespace}/${this.m.ref.name} moved by another writer`,
              { cause: err },
            );
          }
          if (mine !== undefined) return;
        } else if (!retry) {
          throw err;
        }
        if (this.closed) throw err;
        this.deps.log.warn({ err, seq, attempt }, 'checkpoint write failed; retrying');
        this.deps.report(`CheckpointWriteFailed: ${describeError(err)}`);
        const { retryBaseMs, retryMaxMs } = this.deps.tuning;
        await sleep(backoffMs(attempt, retryBaseMs, retryMaxMs), this.stopWaiting.signal);
        if (this.closed) throw err;
      }
    }
  }

  /** Whether the checkpoint entry is this session's write of `seq` (adopting its revision) or another writer's. */
  private async ownWrite(seq: number): Promise<boolean> {
    const e = await this.deps.checkpoints.get(this.key);
    if (!e || e.operation !== 'PUT') return false;
    const v = e.json<{ seq?: number; owner?: string }>();
    if (v.owner !== this.deps.identity || v.seq !== seq) return false;
    this.revision = e.revision;
    return true;
  }

  private async startPosition(): Promise<Partial<ConsumerConfig>> {
    const cp = await this.checkpoint();
    if (cp !== undefined) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: cp + 1 };
    if (this.m.startingPosition === 'AT_TIMESTAMP') {
      return {
        deliver_policy: DeliverPolicy.StartTime,
        opt_start_time: new Date(this.m.startingPositionTimestampMs ?? 0).toISOString(),
      };
    }
    const info = await this.jsm.streams.info(this.src.stream);
    // Record where LATEST / TRIM_HORIZON pointed, so a restart resumes there rather than re-resolving it.
    const start =
      this.m.startingPosition === 'LATEST' ? info.state.last_seq : Math.max(0, info.state.first_seq - 1);
    await this.writeCheckpoint(start, false);
    return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start + 1 };
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
    const position = await this.startPosition();
    this.highestSeen = (position.opt_start_seq ?? 1) - 1;
    try {
      await jsm.consumers.delete(stream, consumer);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await jsm.consumers.add(stream, {
      durable_name: consumer,
      ack_policy: AckPolicy.All,
      ack_wait: nanos(this.deps.tuning.ackWaitMs),
      max_deliver: -1,
      max_ack_pending: Math.min(100_000, this.m.batchSize * 2),
      metadata: consumerMetadata(this.m),
      description: `Sluice event-source mapping ${this.m.ref.namespace}/${this.m.ref.name} (ordered)`,
      ...(subject ? { filter_subject: subject } : {}),
      ...position,
    });
    this.worker = this.work();
    this.loop = this.run();
  }

  async backlog(): Promise<number> {
    return consumerBacklog(this.jsm, this.src.stream, this.src.consumer);
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        const consumer = await (this.tenant as TenantJetStream).js.consumers.get(
          this.src.stream,
          this.src.consumer,
        );
        const iter = await consumer.consume({ max_messages: Math.min(10_000, this.m.batchSize * 2) });
        this.messages = iter;
        if (this.closed) await iter.close();
        for await (const msg of iter) {
          if (this.closed) break;
          this.onMessage(msg);
          if (!this.idleScheduled) {
            this.idleScheduled = true;
            setImmediate(() => {
              this.idleScheduled = false;
              this.batcher.idle();
            });
          }
          while (!this.closed && this.ready.length > 0) {
            await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
          }
        }
      } catch (err) {
        if (this.closed) return;
        this.deps.report(`SourceError: ${describeError(err)}`);
        this.deps.log.warn({ err }, 'consuming failed; retrying');
        await sleep(1000, this.stopWaiting.signal);
      }
    }
  }

  private onMessage(msg: JsMsg): void {
    // Redeliveries of what this session already holds or finished: order is kept by sequence.
    if (msg.seq <= this.highestSeen) return;
    this.highestSeen = msg.seq;
    const src = toSourceMessage(msg, this.src.consumer);
    const filtered = this.m.hasFilters && !this.m.filter.matches(filterView(this.m.recordFormat, src));
    if (filtered)
      this.deps.metrics.filtered.inc({ namespace: this.m.ref.namespace, mapping: this.m.ref.name });
    this.batcher.add({ m: msg, p: this.bi.prepare(src), filtered });
  }

  private async work(): Promise<void> {
    while (!this.closed) {
      const batch = this.ready.shift();
      if (!batch) {
        await new Promise<void>((resolve) => (this.kick = resolve));
        this.kick = undefined;
        continue;
      }
      for (const w of this.roomWaiters.splice(0)) w();
      this.busy = true;
      try {
        await this.processBatch(batch);
      } catch (err) {
        this.deps.report(`Stopped: ${describeError(err)}`);
        this.deps.log.error({ err }, 'stream delivery stopped; the next session resumes at the checkpoint');
        this.closed = true;
        await this.messages?.close().catch(() => undefined);
      } finally {
        this.busy = false;
      }
    }
    for (const w of this.roomWaiters.splice(0)) w();
  }

  private async finish(h: Held): Promise<void> {
    await this.writeCheckpoint(h.m.seq, true);
    quietly(() => h.m.ack());
  }

  private async processBatch(batch: Held[]): Promise<void> {
    const keepAlive = setInterval(
      () => batch.forEach((h) => quietly(() => h.m.working())),
      Math.max(500, this.deps.tuning.ackWaitMs / 3),
    );
    try {
      const deliver = batch.filter((h) => !h.filtered);
      if (await this.deliverInOrder(deliver)) {
        const last = batch[batch.length - 1];
        if (last && !this.closed) await this.finish(last);
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** Works through the batch's segments in order; false when it stopped early (closing). */
  private async deliverInOrder(deliver: Held[]): Promise<boolean> {
    let segments: Segment[] = deliver.length > 0 ? [{ from: 0, to: deliver.length, retries: 0 }] : [];
    const { namespace, name } = this.m.ref;
    while (segments.length > 0) {
      if (this.closed) return false;
      let seg = segments.shift() as Segment;
      seg = await this.expireOld(deliver, seg);
      if (seg.from >= seg.to) continue;
      const items = deliver.slice(seg.from, seg.to);
      const res = await this.bi.invoke(
        items.map((h) => h.p),
        this.cancelCalls.signal,
      );
      if (this.closed && (res.outcome.kind === 'error' || res.outcome.kind === 'throttled')) return false;
      const step = planStreamStep(seg, res.outcome, {
        bisect: this.m.bisect,
        maxRetries: this.m.maximumRetryAttempts,
        ...(res.outcome.kind === 'partial' ? { firstFailedIndex: this.firstFailed(deliver, seg, res) } : {}),
      });
      if (res.outcome.kind === 'success') {
        this.deps.metrics.records.inc({ namespace, mapping: name, result: 'delivered' }, items.length);
      }
      if (step.failed) {
        const failed = deliver.slice(step.failed.from, step.failed.to);
        if (!(await this.sendFailure(failed, 'RetryAttemptsExhausted', seg.retries + 1, res))) return false;
      }
      if (step.doneThrough !== undefined) await this.finish(deliver[step.doneThrough] as Held);
      segments = [...step.next, ...segments];
      if (step.backoff) {
        this.retryAttempt++;
        const { retryBaseMs, retryMaxMs } = this.deps.tuning;
        const o = res.outcome;
        const wait =
          o.kind === 'throttled' && o.retryAfterMs
            ? o.retryAfterMs
            : backoffMs(this.retryAttempt, retryBaseMs, retryMaxMs);
        await sleep(wait, this.stopWaiting.signal);
      } else {
        this.retryAttempt = 0;
      }
    }
    return true;
  }

  private firstFailed(deliver: Held[], seg: Segment, res: BatchResult): number {
    if (res.outcome.kind !== 'partial') return seg.from;
    const failed = new Set(res.outcome.failed);
    for (let i = seg.from; i < seg.to; i++) if (failed.has((deliver[i] as Held).p.id)) return i;
    return seg.from;
  }

  /** Records older than maximumRecordAgeSeconds go to onFailure (they head the segment: streams are in time order). */
  private async expireOld(deliver: Held[], seg: Segment): Promise<Segment> {
    if (this.m.maximumRecordAgeSeconds < 0) return seg;
    const oldest = (this.deps.now ?? Date.now)() - this.m.maximumRecordAgeSeconds * 1000;
    let k = seg.from;
    while (k < seg.to && (deliver[k] as Held).p.msg.timestampMs < oldest) k++;
    if (k === seg.from) return seg;
    if (!(await this.sendFailure(deliver.slice(seg.from, k), 'RecordAgeExceeded', seg.retries)))
      return { ...seg, to: seg.from };
    await this.finish(deliver[k - 1] as Held);
    return { ...seg, from: k };
  }

  /** Sends the failure record, retrying while the destination is down (the stream waits, like a Kinesis shard). */
  private async sendFailure(
    items: Held[],
    condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded',
    attempts: number,
    last?: BatchResult,
  ): Promise<boolean> {
    const { namespace, name, uid } = this.m.ref;
    const msgs = items.map((h) => h.p.msg);
    if (!this.m.onFailure) {
      this.deps.log.warn(
        { from: msgs[0]?.seq, to: msgs[msgs.length - 1]?.seq, condition },
        'records skipped; no onFailure',
      );
      this.deps.metrics.records.inc({ namespace, mapping: name, result: 'dropped' }, items.length);
      return true;
    }
    const record = this.bi.streamFailureRecord(msgs, condition, attempts, last);
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        await this.deps.destinations.send(this.m.onFailure, record, {
          namespace,
          dedupId: `${uid}:${msgs[0]?.seq}-${msgs[msgs.length - 1]?.seq}`,
        });
        this.deps.metrics.records.inc({ namespace, mapping: name, result: 'on_failure' }, items.length);
        return true;
      } catch (err) {
        this.deps.metrics.destinationFailures.inc({
          namespace,
          function: this.m.target.function,
          version: this.m.target.qualifier || LATEST,
        });
        this.deps.log.warn({ err, destination: this.m.onFailure }, 'onFailure delivery failed; retrying');
        this.deps.report(`DestinationDeliveryFailed: ${(err as Error).message}`);
        const { retryBaseMs, retryMaxMs } = this.deps.tuning;
        await sleep(backoffMs(attempt, retryBaseMs, retryMaxMs), this.stopWaiting.signal);
      }
    }
    return false;
  }

  async close(): Promise<void> {
    if (this.closed && !this.worker) return;
    this.closed = true;
    this.stopWaiting.abort();
    this.batcher.discard();
    this.ready.splice(0);
    this.kick?.();
    for (const w of this.roomWaiters.splice(0)) w();
    await this.messages?.close().catch(() => undefined);
    const worker = this.worker;
    this.worker = undefined;
    const drained = await Promise.race([
      Promise.allSettled([worker]).then(() => true),
      sleep(this.deps.tuning.closeGraceMs).then(() => false),
    ]);
    if (!drained || this.busy) this.cancelCalls.abort();
    await Promise.allSettled([worker, this.loop]);
    this.tenant?.release();
  }
}

export const natsStream: SourceKindImpl = {
  create: (m, deps) => new NatsStreamSource(m, deps),
  async cleanup(m, deps) {
    const src = m.source;
    if (src.kind === 'schedule') return;
    if (src.ownsConsumer) {
      await inTenantForCleanup(deps.tenants, m.ref.namespace, async ({ jsm }) => {
        try {
          await jsm.consumers.delete(src.stream, src.consumer);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      });
    }
    await deps.checkpoints.purge(checkpointKey(m.ref.uid));
  },
};
