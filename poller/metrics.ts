import { Counter, Gauge, type Registry } from 'prom-client';
import {
  DESTINATION_DELIVERY_FAILURES_TOTAL,
  INVOCATIONS_TOTAL,
  PLATFORM_AUTH_FAILURES_TOTAL,
} from '../api/metrics.js';

/** The poller's metrics (architecture: named after Lambda's CloudWatch set). */
export class PollerMetrics {
  readonly backlog: Gauge<'namespace' | 'mapping' | 'function'>;
  readonly batches: Counter<'namespace' | 'mapping' | 'function' | 'outcome'>;
  readonly invocations: Counter<'type' | 'namespace' | 'function' | 'version' | 'outcome'>;
  readonly filtered: Counter<'namespace' | 'mapping'>;
  readonly records: Counter<'namespace' | 'mapping' | 'result'>;
  readonly destinationFailures: Counter<'namespace' | 'function' | 'version'>;
  readonly replicas: Gauge<'namespace' | 'function' | 'version' | 'state'>;
  readonly scaleDecisions: Counter<'namespace' | 'function' | 'version' | 'direction'>;
  readonly ownedMappings: Gauge;
  /** The gateway refused the poller's own credentials (401/403): records are kept and retried. */
  readonly platformAuthFailures: Counter<'namespace' | 'function' | 'status'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.backlog = new Gauge({
      name: 'sluice_esm_backlog_messages',
      help: 'Records waiting in the source of an event-source mapping',
      labelNames: ['namespace', 'mapping', 'function'],
      registers,
    });
    this.batches = new Counter({
      name: 'sluice_esm_batches_total',
      help: 'Batches delivered by event-source mappings, by outcome',
      labelNames: ['namespace', 'mapping', 'function', 'outcome'],
      registers,
    });
    this.invocations = new Counter({ ...INVOCATIONS_TOTAL, registers });
    this.filtered = new Counter({
      name: 'sluice_esm_filtered_records_total',
      help: 'Records that matched no filter pattern (acknowledged, not delivered)',
      labelNames: ['namespace', 'mapping'],
      registers,
    });
    this.records = new Counter({
      name: 'sluice_esm_records_total',
      help: 'Records finished by event-source mappings: delivered, or sent to onFailure, or dropped',
      labelNames: ['namespace', 'mapping', 'result'],
      registers,
    });
    this.destinationFailures = new Counter({ ...DESTINATION_DELIVERY_FAILURES_TOTAL, registers });
    this.replicas = new Gauge({
      name: 'sluice_function_replicas',
      help: 'Replicas of a function version: desired (the autoscaler) and ready',
      labelNames: ['namespace', 'function', 'version', 'state'],
      registers,
    });
    this.scaleDecisions = new Counter({
      name: 'sluice_autoscaler_decisions_total',
      help: 'Replica changes written by the autoscaler',
      labelNames: ['namespace', 'function', 'version', 'direction'],
      registers,
    });
    this.ownedMappings = new Gauge({
      name: 'sluice_poller_owned_mappings',
      help: 'Event-source mappings this poller replica runs',
      registers,
    });
    this.platformAuthFailures = new Counter({ ...PLATFORM_AUTH_FAILURES_TOTAL, registers });
  }
}
