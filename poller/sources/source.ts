import type { Tracer } from '@opentelemetry/api';
import type { KV } from '@nats-io/kv';
import type { Logger } from '../../lib/log.js';
import type { TenantNats } from '../../lib/nats/tenants.js';
import type { Destinations } from '../destinations.js';
import type { Invoker } from '../invoker.js';
import type { MappingConfig, SourceKind } from '../mapping.js';
import type { PollerMetrics } from '../metrics.js';

/**
 * One running event source of one mapping (STYLE §10): it starts delivering, reports its
 * backlog, and closes cleanly. Each kind lives in its own file and is registered in SOURCES.
 */
export interface EventSource {
  /** Prepares the source (consumer, checkpoint) and begins delivering in the background. */
  start(): Promise<void>;
  /** Records waiting (not yet delivered or not yet finished); throws when it cannot be read. */
  backlog(): Promise<number>;
  /**
   * Stops: no new batch starts, gathered records are handed back to the source, and the batch in
   * flight may finish within the grace period (otherwise it is redelivered later).
   */
  close(): Promise<void>;
}

/** Knobs shared by all sources (from the poller's configuration; tests shorten them). */
export interface SourceTuning {
  region: string;
  /** JetStream ack wait; in-flight batches are kept alive with progress acks. */
  ackWaitMs: number;
  /** First retry delay after a function error; doubled per attempt up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long close() lets an in-flight batch finish. */
  closeGraceMs: number;
  /** Schedules: Event (like EventBridge) or RequestResponse. */
  scheduleInvocationType: 'Event' | 'RequestResponse';
  /** Schedules: how far back a new owner fires ticks the previous owner missed. */
  scheduleCatchUpMs: number;
  /**
   * Schedules: how long a tick's invocation is retried after throttles and platform errors (5xx,
   * the gateway refusing the poller's own credentials) before the tick is given up — EventBridge
   * Scheduler's default maximum event age, 24 h.
   */
  scheduleMaxEventAgeMs: number;
}

export const DEFAULT_TUNING: SourceTuning = {
  region: 'sluice',
  ackWaitMs: 30_000,
  retryBaseMs: 1000,
  retryMaxMs: 60_000,
  closeGraceMs: 20_000,
  scheduleInvocationType: 'Event',
  scheduleCatchUpMs: 60_000,
  scheduleMaxEventAgeMs: 24 * 3600_000,
};

/** What every source gets (no module state; everything injected). */
export interface SourceDeps {
  /**
   * JetStream inside a namespace's own account: a mapping's stream is looked up in the account of
   * the mapping's namespace only (the platform's and other namespaces' streams are not there), and
   * its `nats:` records are published there.
   */
  tenants: TenantNats;
  /** Stream checkpoints: key `esm.<uid>` → last finished sequence. */
  checkpoints: KV;
  /** Schedule tick claims: key `tick.<uid>.<ms>`. */
  ticks: KV;
  invoker: Invoker;
  destinations: Destinations;
  metrics: PollerMetrics;
  log: Logger;
  tuning: SourceTuning;
  /** This replica's identity (claims and status). */
  identity: string;
  /** Reports the result of the latest batch or tick ("OK", or what failed). */
  report: (result: string) => void;
  /** Spans for deliveries (the API's no-op tracer when telemetry is off or absent). */
  tracer?: Tracer;
  /** The clock records' age is measured by (maximumRecordAgeSeconds); Date.now when absent. */
  now?: () => number;
}

export type SourceFactory = (mapping: MappingConfig, deps: SourceDeps) => EventSource;

/** A source kind: how to run it, and how to remove what it left outside the cluster. */
export interface SourceKindImpl {
  create: SourceFactory;
  /** Deletes consumers and checkpoints (the finalizer's work). */
  cleanup(mapping: MappingConfig, deps: Pick<SourceDeps, 'tenants' | 'checkpoints' | 'log'>): Promise<void>;
}

export type SourceRegistry = Record<SourceKind, SourceKindImpl>;
