import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { INVOCATIONS_TOTAL } from '../api/metrics.js';

const FN = ['namespace', 'function', 'version'] as const;

/**
 * The gateway's Prometheus metrics (names from ARCHITECTURE.md), registered on the injected
 * registry. Labels are bounded: function identity, and small enums (type, outcome, reason,
 * route template, status code) — never request ids, paths or principals.
 */
export class GatewayMetrics {
  readonly invocations: Counter<'namespace' | 'function' | 'version' | 'type' | 'outcome'>;
  readonly duration: Histogram<'namespace' | 'function' | 'version' | 'type'>;
  readonly coldStarts: Counter<'namespace' | 'function' | 'version' | 'outcome'>;
  readonly activationDuration: Histogram<'namespace' | 'function' | 'version' | 'outcome'>;
  readonly concurrent: Gauge<'namespace' | 'function' | 'version'>;
  readonly throttles: Counter<'namespace' | 'function' | 'version' | 'reason'>;
  readonly heldCalls: Gauge;
  readonly concurrencyFallback: Counter;
  readonly requests: Counter<'route' | 'code'>;
  readonly shed: Counter<'reason'>;
  readonly bufferedBytes: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.invocations = new Counter({ ...INVOCATIONS_TOTAL, registers });
    this.duration = new Histogram({
      name: 'sluice_invocation_duration_seconds',
      help: 'Time from the gateway receiving a call to its answer, including any cold start',
      labelNames: [...FN, 'type'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers,
    });
    this.coldStarts = new Counter({
      name: 'sluice_cold_starts_total',
      help: 'Scale-from-zero activations by outcome (success|failed|timeout)',
      labelNames: [...FN, 'outcome'],
      registers,
    });
    this.activationDuration = new Histogram({
      name: 'sluice_activation_duration_seconds',
      help: 'Time from a call finding no ready pod to a pod being ready (or the activation giving up)',
      labelNames: [...FN, 'outcome'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    });
    this.concurrent = new Gauge({
      name: 'sluice_concurrent_executions',
      help: 'Invocations in flight through this gateway replica',
      labelNames: [...FN],
      registers,
    });
    this.concurrencyFallback = new Counter({
      name: 'sluice_concurrency_fallback_total',
      help: 'Admissions of a function with reserved concurrency decided by the per-replica share because the shared counter (NATS KV) was unavailable',
      registers,
    });
    this.throttles = new Counter({
      name: 'sluice_throttles_total',
      help: 'Calls rejected with TooManyRequestsException, by reason',
      labelNames: [...FN, 'reason'],
      registers,
    });
    this.heldCalls = new Gauge({
      name: 'sluice_gateway_held_calls',
      help: 'Calls held waiting for a pod (cold start or all pods busy)',
      registers,
    });
    this.shed = new Counter({
      name: 'sluice_gateway_shed_requests_total',
      help: 'Requests a gateway replica refused to protect itself, by reason: buffer_full (request bytes buffered at once), anonymous_rate (anonymous calls of a public function), auth_failures (failed token reviews from one address), max_connections (connections dropped at the cap)',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['buffer_full', 'anonymous_rate', 'auth_failures', 'max_connections']) {
      this.shed.inc({ reason }, 0);
    }
    this.bufferedBytes = new Gauge({
      name: 'sluice_gateway_buffered_request_bytes',
      help: 'Request body bytes this replica holds (reserved when a body is read, released when its call is answered)',
      registers,
    });
    this.requests = new Counter({
      name: 'sluice_gateway_requests_total',
      help: 'HTTP requests by route template and status code',
      labelNames: ['route', 'code'],
      registers,
    });
  }
}

/**
 * The package garbage collection's metrics (gateway/packages/gc.ts), registered by main.ts when it
 * runs: labelled by namespace only.
 */
export class PackageGcMetrics {
  readonly deleted: Counter<'namespace'>;
  readonly storedBytes: Gauge<'namespace'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.deleted = new Counter({
      name: 'sluice_packages_deleted_total',
      help: 'Zip packages the garbage collection deleted (referenced by nothing in their namespace, older than the grace period)',
      labelNames: ['namespace'],
      registers,
    });
    this.storedBytes = new Gauge({
      name: 'sluice_packages_stored_bytes',
      help: 'Bytes of zip packages stored per namespace after the last garbage collection (reported by the replica that collects)',
      labelNames: ['namespace'],
      registers,
    });
  }
}
