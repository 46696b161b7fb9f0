import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { FunctionResource } from '../../api/types.js';
import { ValidationError, type Logger } from '../../lib/index.js';
import { asyncFunctionOf, type AsyncFunction } from './function-config.js';
import { assertNatsName, consumerName, CONSUMER_PREFIX, Subjects } from '../../api/nats-naming.js';

/**
 * The JetStream layout of the async pipeline:
 *
 * - `SLUICE_ASYNC` (work-queue retention, file storage): accepted events on
 *   `<prefix>.async.<namespace>.<function>`, and scheduled retries on `<prefix>.retry.>` that the
 *   server moves to the async subject when their time comes (message schedules, nats-server ≥ 2.12).
 *   An acknowledged event is removed. The stream has no size, count or age limit, so nothing is
 *   ever discarded to make room (message schedules rule out `discard: new`); what bounds it is
 *   the server's JetStream storage (`max_file_store`), and a full server refuses the publish —
 *   the caller gets an error, never a silent loss.
 * - One durable pull consumer per function, filtered on its async subject, shared by every
 *   gateway replica (the server load-balances pulls).
 * - `SLUICE_DLQ` (limits retention, file storage): dead letters on `<prefix>.dlq.<namespace>.<function>`.
 */
export interface StreamSettings {
  streamName: string;
  dlqStreamName: string;
  subjects: Subjects;
  /** 1, or 3 for a clustered NATS. */
  replicas: 1 | 3;
  /** How long an Idempotency-Key / request id de-duplicates a publish. */
  duplicateWindowSeconds: number;
  /** How long dead letters are kept (0: until purged or redriven). */
  dlqMaxAgeSeconds: number;
  /** Size cap of the dead-letter stream (-1: none); when reached, dead-letter writes are refused, old ones kept. */
  dlqMaxBytes: number;
  /** ack_wait = function timeout + this margin (cold start allowance and record delivery). */
  ackMarginSeconds: number;
  /** Upper bound of any consumer's max_ack_pending. */
  maxAckPendingCap: number;
}

export const DEFAULT_STREAM_SETTINGS: StreamSettings = {
  streamName: 'SLUICE_ASYNC',
  dlqStreamName: 'SLUICE_DLQ',
  subjects: new Subjects('sluice'),
  replicas: 1,
  duplicateWindowSeconds: 600,
  dlqMaxAgeSeconds: 14 * 24 * 3600,
  dlqMaxBytes: -1,
  ackMarginSeconds: 60,
  maxAckPendingCap: 10_000,
};

const NS = 1_000_000_000;
const META_NAMESPACE = 'sluice.dev/namespace';
const META_FUNCTION = 'sluice.dev/function';

/** The consumer's ack wait: a call running this long without a heartbeat is presumed lost. */
export function ackWaitMs(fn: Pick<AsyncFunction, 'timeoutSeconds'>, marginSeconds: number): number {
  return (fn.timeoutSeconds + marginSeconds) * 1000;
}

function isApiError(err: unknown, code?: number): err is JetStreamApiError {
  return err instanceof JetStreamApiError && (code === undefined || err.code === code);
}

/** True when every setting in `want` already has that value (so no update is sent). */
function sameSettings(have: StreamConfig, want: Partial<StreamConfig>): boolean {
  const h = have as unknown as Record<string, unknown>;
  return Object.entries(want).every(([k, v]) => JSON.stringify(h[k]) === JSON.stringify(v));
}

export class AsyncStreams {
  constructor(
    private readonly jsm: JetStreamManager,
    readonly settings: StreamSettings,
    private readonly log: Logger,
  ) {
    assertNatsName(settings.streamName, 'stream name');
    assertNatsName(settings.dlqStreamName, 'dead-letter stream name');
    if (settings.replicas !== 1 && settings.replicas !== 3) {
      throw new ValidationError(`replicas must be 1 or 3, not ${String(settings.replicas)}`);
    }
  }

  asyncStreamConfig(): Partial<StreamConfig> {
    const s = this.settings;
    return {
      name: s.streamName,
      description: 'Sluice asynchronous invocations: accepted events and scheduled retries',
      subjects: [s.subjects.asyncAll(), s.subjects.retryAll()],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: s.replicas,
      duplicate_window: s.duplicateWindowSeconds * NS,
      max_bytes: -1,
      max_msgs: -1,
      max_age: 0,
      allow_msg_schedules: true,
    };
  }

  dlqStreamConfig(): Partial<StreamConfig> {
    const s = this.settings;
    return {
      name: s.dlqStreamName,
      description: 'Sluice dead letters: failed async events with their invocation records',
      subjects: [s.subjects.dlqAll()],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      num_replicas: s.replicas,
      max_age: s.dlqMaxAgeSeconds * NS,
      max_bytes: s.dlqMaxBytes,
      duplicate_window:
        Math.min(s.duplicateWindowSeconds, s.dlqMaxAgeSeconds || s.duplicateWindowSeconds) * NS,
    };
  }

  /** Creates both streams, or brings an existing one's changeable settings up to date. */
  async ensureStreams(): Promise<void> {
    for (const cfg of [this.asyncStreamConfig(), this.dlqStreamConfig()]) {
      try {
        const info = await this.jsm.streams.info(cfg.name as string);
        const { name, retention, storage, ...changeable } = cfg;
        if (sameSettings(info.config, changeable)) continue;
        if (info.config.retention !== retention || info.config.storage !== storage) {
          this.log.warn(
            { stream: name, retention: info.config.retention, storage: info.config.storage },
            'stream exists with a different retention or storage; leaving it as it is',
          );
        }
        await this.jsm.streams.update(name as string, changeable);
      } catch (err) {
        if (!isApiError(err, 10059)) throw err;
        try {
          await this.jsm.streams.add({ ...cfg, name: cfg.name as string });
          this.log.info({ stream: cfg.name }, 'stream created');
        } catch (addErr) {
          // Another replica created it in between: fine when it now exists.
          const exists = await this.jsm.streams.info(cfg.name as string).then(
            () => true,
            () => false,
          );
          if (!exists) throw addErr;
        }
      }
    }
  }

  consumerName(namespace: string, name: string): string {
    return consumerName(namespace, name);
  }

  consumerConfig(fn: AsyncFunction): Partial<ConsumerConfig> {
    const name = consumerName(fn.namespace, fn.name);
    return {
      durable_name: name,
      name,
      description: `Sluice async events of function ${fn.namespace}/${fn.name}`,
      filter_subject: this.settings.subjects.async(fn.namespace, fn.name),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ackWaitMs(fn, this.settings.ackMarginSeconds) * 1_000_000,
      // In flight across all gateway replicas, nak-delayed re-queues included. Reserved
      // concurrency 0 still takes one event at a time (to fail it as ZeroReservedConcurrency).
      max_ack_pending: Math.max(1, Math.min(this.settings.maxAckPendingCap, fn.maxConcurrency)),
      max_deliver: -1,
      max_waiting: 512,
      metadata: { [META_NAMESPACE]: fn.namespace, [META_FUNCTION]: fn.name },
    };
  }

  /** Creates the function's consumer or updates it (idempotent; every replica may call it). */
  async ensureConsumer(fn: AsyncFunction | FunctionResource): Promise<ConsumerInfo> {
    const af = 'spec' in fn ? asyncFunctionOf(fn) : fn;
    const cfg = this.consumerConfig(af);
    try {
      return await this.jsm.consumers.add(this.settings.streamName, cfg);
    } catch (err) {
      // 10148: exists with another configuration (replicas race to create it, or the function changed).
      if (!isApiError(err, 10148)) throw err;
      const { durable_name: _d, name: _n, ...changeable } = cfg;
      return this.jsm.consumers.update(this.settings.streamName, cfg.name as string, changeable);
    }
  }

  /**
   * Deletes the function's consumer. Events still queued stay in the stream (a function created
   * again under the same name picks them up); returns false when there was no consumer.
   */
  async deleteConsumer(namespace: string, name: string): Promise<boolean> {
    try {
      return await this.jsm.consumers.delete(this.settings.streamName, consumerName(namespace, name));
    } catch (err) {
      if (isApiError(err, 10014)) return false;
      throw err;
    }
  }

  /** The functions that have a consumer (only consumers this pipeline made). */
  async listConsumers(): Promise<{ namespace: string; name: string; consumer: string }[]> {
    const out: { namespace: string; name: string; consumer: string }[] = [];
    for await (const ci of this.jsm.consumers.list(this.settings.streamName)) {
      const md = ci.config.metadata ?? {};
      const ns = md[META_NAMESPACE];
      const fn = md[META_FUNCTION];
      if (ns && fn && ci.name.startsWith(CONSUMER_PREFIX))
        out.push({ namespace: ns, name: fn, consumer: ci.name });
    }
    return out;
  }

  /** Events waiting plus in flight for a function (read from the consumer's leader). */
  async backlog(namespace: string, name: string): Promise<{ pending: number; inFlight: number }> {
    const ci = await this.jsm.consumers.info(this.settings.streamName, consumerName(namespace, name));
    return { pending: ci.num_pending, inFlight: ci.num_ack_pending };
  }
}
