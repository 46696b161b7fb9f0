import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DESTINATION_DELIVERY_FAILURES_TOTAL, INVOCATIONS_TOTAL } from '../../api/metrics.js';

const FN = ['namespace', 'function', 'version'] as const;
type Fn = (typeof FN)[number];
export type FnLabels = Record<Fn, string>;

/** Returns the metric already registered under `name` (another component made it), else makes it. */
function shared<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * Metrics of the async pipeline, named after Lambda's CloudWatch set (lambda.md §9), on the
 * injected registry. `sluice_invocations_total` is shared with the sync path: it is looked up
 * on first use (so the gateway's metrics may be registered before or after these), and made
 * here only when nobody registered it.
 */
export class AsyncMetrics {
  /** AsyncEventsReceived: events durably enqueued (duplicates of an earlier publish not counted). */
  readonly received: Counter<Fn>;
  /** AsyncEventAge: enqueue → each dispatch (grows with retries and throttles). */
  readonly eventAge: Histogram<Fn>;
  /** AsyncEventsDropped: events that left the queue without a successful run, by reason. */
  readonly dropped: Counter<Fn | 'reason'>;
  /** Dead letters written (no failure destination, or a destination that could not be reached). */
  readonly deadLetters: Counter<Fn | 'reason'>;
  /** DestinationDeliveryFailures: records a destination did not take after the delivery retries. */
  readonly destinationFailures: Counter<Fn>;
  private invocationsCounter: Counter<Fn | 'type' | 'outcome'> | undefined;
  /** Deliveries of a message seen before (a lost ack, a dispatcher or server restart). */
  readonly redeliveries: Counter<Fn>;
  /** Events being dispatched by this replica. */
  readonly inFlight: Gauge<'namespace' | 'function'>;
  /** Events refused at accept: the function's backlog is at its limit (429). */
  readonly refused: Counter<'namespace' | 'function' | 'reason'>;
  /** Settle attempts that failed after the function ran (the event comes back to settle, not to run). */
  readonly settleFailures: Counter<'namespace' | 'function'>;
  /** Consumers found missing (deleted, lost) under a running pull loop and made again. */
  readonly consumersRecreated: Counter<'namespace' | 'function'>;
  /** 1 while this replica finds the function's consumer missing and cannot recreate it (nothing is dispatched). */
  readonly consumerMissing: Gauge<'namespace' | 'function'>;

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    this.received = new Counter({
      name: 'sluice_async_events_received_total',
      help: 'Async events durably enqueued (JetStream PubAck received)',
      labelNames: [...FN],
      registers,
    });
    this.eventAge = new Histogram({
      name: 'sluice_async_event_age_seconds',
      help: 'Time from enqueue to each dispatch of an async event',
      labelNames: [...FN],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200, 21600],
      registers,
    });
    this.dropped = new Counter({
      name: 'sluice_async_events_dropped_total',
      help: 'Async events that ended without a successful run (sent to the failure destination or the dead-letter stream), by reason: RetriesExhausted, EventAgeExceeded, ZeroReservedConcurrency, ResourceNotFound, RequestRejected',
      labelNames: [...FN, 'reason'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'sluice_dead_letter_events_total',
      help: 'Records written to the dead-letter stream, by reason (a failure condition, or DestinationDeliveryFailed)',
      labelNames: [...FN, 'reason'],
      registers,
    });
    this.destinationFailures = new Counter({ ...DESTINATION_DELIVERY_FAILURES_TOTAL, registers });
    this.redeliveries = new Counter({
      name: 'sluice_async_redeliveries_total',
      help: 'Async event messages delivered again after a lost acknowledgement or a restart (possible duplicate runs)',
      labelNames: [...FN],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'sluice_async_dispatch_in_flight',
      help: 'Async events being dispatched by this gateway replica',
      labelNames: ['namespace', 'function'],
      registers,
    });
    this.refused = new Counter({
      name: 'sluice_async_events_refused_total',
      help: 'Async events refused with 429 TooManyRequestsException because the function already has its maximum of events waiting (reason BacklogLimitExceeded)',
      labelNames: ['namespace', 'function', 'reason'],
      registers,
    });
    this.settleFailures = new Counter({
      name: 'sluice_async_settle_failures_total',
      help: 'Async events whose outcome (retry, destination record, dead letter) could not be made durable after the function ran; they are delivered again to settle, without running the function again',
      labelNames: ['namespace', 'function'],
      registers,
    });
    this.consumersRecreated = new Counter({
      name: 'sluice_async_consumer_recreated_total',
      help: "Async consumers found missing (deleted or lost) while their function exists, and recreated with the function's configuration",
      labelNames: ['namespace', 'function'],
      registers,
    });
    this.consumerMissing = new Gauge({
      name: 'sluice_async_consumer_missing',
      help: "1 while this gateway replica finds a function's async consumer missing and cannot recreate it (its events are not dispatched)",
      labelNames: ['namespace', 'function'],
      registers,
    });
  }

  /** `sluice_invocations_total{type="async"}`, shared with the sync path. */
  get invocations(): Counter<Fn | 'type' | 'outcome'> {
    this.invocationsCounter ??= shared(
      this.registry,
      'sluice_invocations_total',
      () => new Counter({ ...INVOCATIONS_TOTAL, registers: [this.registry] }),
    );
    return this.invocationsCounter;
  }
}
