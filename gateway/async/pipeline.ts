import type { Tracer } from '@opentelemetry/api';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import type { AddressCheck, Resolver } from '../../api/destinations.js';
import type { Logger } from '../../lib/index.js';
import type { TenantNats } from '../../lib/nats/tenants.js';
import { EventAcceptor } from './accept.js';
import { BacklogGuard, DEFAULT_BACKLOG_LIMIT, streamBacklogCounter, type BacklogLimit } from './backlog.js';
import { AsyncDispatcher, DEFAULT_DISPATCHER_SETTINGS, type DispatcherSettings } from './dispatcher.js';
import { Destinations, type DeliveryPolicy } from './destinations.js';
import { DeadLetterQueue } from './dlq.js';
import type { FunctionInvoker } from './invoker.js';
import { AsyncMetrics } from './metrics.js';
import { DEFAULT_SETTLE_BUCKET, KvSettleStore, SettleLedger, type SettleBucketSettings } from './settle.js';
import { AsyncStreams, DEFAULT_STREAM_SETTINGS, type StreamSettings } from './streams.js';
import { AsyncFunctionWatcher, type FunctionWatchSource } from './watcher.js';

export interface AsyncPipelineOptions {
  /** The platform account (the pipeline's streams). */
  nc: NatsConnection;
  /** Namespaces' own accounts, where `nats:` destinations are published. */
  tenants: TenantNats;
  invoker: FunctionInvoker;
  /** Function objects (list+watch); the pipeline makes and removes consumers from them. */
  source: FunctionWatchSource;
  registry: Registry;
  log: Logger;
  tracer?: Tracer;
  region: string;
  streams?: Partial<StreamSettings>;
  /** The KV bucket of "invoked, outcome X" records of events whose settle failed (settle.ts). */
  settle?: Partial<SettleBucketSettings>;
  dispatcher?: Partial<Omit<DispatcherSettings, 'region' | 'streamName' | 'subjects' | 'ackMarginSeconds'>>;
  delivery?: DeliveryPolicy;
  /** Which addresses http(s) destinations may reach (default: the contract's rules, api/destinations.ts). */
  destinationAddresses?: AddressCheck;
  /** DNS for http(s) destinations (default: the system resolver). */
  resolve?: Resolver;
  /** Per-function backlog limit at accept (429 beyond it); default 10,000 events. */
  backlogLimit?: Partial<BacklogLimit>;
  /** Whether `function:` destinations exist; default: the watched Function objects (qualifiers not checked). */
  functionExists?: (namespace: string, name: string, qualifier?: string) => boolean;
  /** The clock events' age is measured by (accept time, expiry, record times); Date.now when absent. */
  now?: () => number;
}

export interface AsyncPipeline {
  /** `acceptEvent` for the invoke handler; also the gateway's AsyncQueue (`enqueue`). */
  acceptor: EventAcceptor;
  dispatcher: AsyncDispatcher;
  dlq: DeadLetterQueue;
  streams: AsyncStreams;
  watcher: AsyncFunctionWatcher;
  metrics: AsyncMetrics;
  /**
   * Starts the Function watcher: consumers and pull loops follow the functions. Resolves once
   * the first list is dispatched. Call it after the gateway (and its metrics) exist.
   */
  start(): Promise<void>;
  /** Stops watching and dispatching (events in flight finish or are redelivered). */
  stop(timeoutMs?: number): Promise<void>;
}

/** Room left in NATS's max_payload for headers of a record. */
const HEADER_ROOM = 64 * 1024;

/**
 * The composition root of the async pipeline: creates (or updates) the streams and builds the
 * acceptor, dead-letter queue, destinations and dispatcher. Nothing is dispatched until
 * `start()`, so the gateway can be built in between with `acceptor` as its async queue.
 */
export async function createAsync(o: AsyncPipelineOptions): Promise<AsyncPipeline> {
  const streamSettings: StreamSettings = { ...DEFAULT_STREAM_SETTINGS, ...o.streams };
  const jsm = await jetstreamManager(o.nc);
  const js = jetstream(o.nc);
  const streams = new AsyncStreams(jsm, streamSettings, o.log);
  await streams.ensureStreams();
  const maxPayload = o.nc.info?.max_payload ?? 1024 * 1024;
  if (maxPayload < 2 * 1024 * 1024) {
    o.log.warn(
      { maxPayload },
      'the NATS server max_payload is under 2 MB: records of large events may not fit (the Sluice chart sets 8 MB)',
    );
  }
  const settleStore = new KvSettleStore(js, {
    ...DEFAULT_SETTLE_BUCKET,
    replicas: streamSettings.replicas,
    ...o.settle,
  });
  await settleStore.open();
  const metrics = new AsyncMetrics(o.registry);
  const subjects = streamSettings.subjects;
  const backlog = new BacklogGuard({
    counter: streamBacklogCounter(jsm, streamSettings.streamName, subjects),
    limit: { ...DEFAULT_BACKLOG_LIMIT, ...o.backlogLimit },
    metrics,
  });
  const acceptor = new EventAcceptor({ js, subjects, metrics, backlog, ...(o.now ? { now: o.now } : {}) });
  const dlq = new DeadLetterQueue({
    js,
    jsm,
    dlqStream: streamSettings.dlqStreamName,
    asyncStream: streamSettings.streamName,
    subjects,
    metrics,
    log: o.log,
  });
  // The watcher knows which functions exist; it is built after the dispatcher it feeds.
  const known: { watcher?: AsyncFunctionWatcher } = {};
  const destinations = new Destinations({
    tenants: o.tenants,
    acceptor,
    functionExists: o.functionExists ?? ((ns, name) => known.watcher?.has(ns, name) ?? false),
    reservedPrefix: subjects.prefix,
    ...(o.delivery ? { policy: o.delivery } : {}),
    ...(o.destinationAddresses ? { addresses: o.destinationAddresses } : {}),
    ...(o.resolve ? { resolve: o.resolve } : {}),
    log: o.log,
  });
  const dispatcher = new AsyncDispatcher({
    nc: o.nc,
    js,
    invoker: o.invoker,
    destinations,
    dlq,
    metrics,
    log: o.log,
    consumers: streams,
    settles: new SettleLedger({ store: settleStore }),
    ...(o.tracer ? { tracer: o.tracer } : {}),
    ...(o.now ? { now: o.now } : {}),
    settings: {
      ...DEFAULT_DISPATCHER_SETTINGS,
      maxRecordBytes: Math.max(64 * 1024, maxPayload - HEADER_ROOM),
      ...o.dispatcher,
      ackMarginSeconds: streamSettings.ackMarginSeconds,
      region: o.region,
      streamName: streamSettings.streamName,
      subjects,
    },
  });
  const watcher = new AsyncFunctionWatcher({ source: o.source, consumers: streams, dispatcher, log: o.log });
  known.watcher = watcher;
  return {
    acceptor,
    dispatcher,
    dlq,
    streams,
    watcher,
    metrics,
    start: () => watcher.start(),
    stop: async (timeoutMs = 30_000) => {
      await watcher.stop();
      await dispatcher.stop(timeoutMs);
    },
  };
}

/** createAsync, then start: for callers that have their invoker ready (tests, benchmarks). */
export async function startAsync(o: AsyncPipelineOptions): Promise<AsyncPipeline> {
  const p = await createAsync(o);
  await p.start();
  return p;
}
