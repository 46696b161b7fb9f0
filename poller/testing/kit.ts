import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import type { EventSourceMappingResource } from '../../api/types.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { DestinationSender } from '../destinations.js';
import type { Invoker } from '../invoker.js';
import { resolveMapping, type MappingConfig } from '../mapping.js';
import { PollerMetrics } from '../metrics.js';
import type { SourceDeps, SourceTuning } from '../sources/source.js';
import { openPollerState, type PollerState } from '../state.js';

/** Test wiring: a NATS connection and everything a source needs, with short timings. */
export interface Kit {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  state: PollerState;
  metrics: PollerMetrics;
  registry: Registry;
  log: Logger;
  reports: string[];
  deps(invoker: Invoker, identity?: string, tuning?: Partial<SourceTuning>): SourceDeps;
  close(): Promise<void>;
}

export const FAST_TUNING: SourceTuning = {
  region: 'sluice',
  // Long, as in production: progress acks keep batches alive, and a stall of a busy test machine
  // must not redeliver a record a test then counts twice. Tests of redelivery after a crash set
  // it short.
  ackWaitMs: 30_000,
  retryBaseMs: 50,
  retryMaxMs: 200,
  closeGraceMs: 3000,
  scheduleInvocationType: 'RequestResponse',
  scheduleCatchUpMs: 10_000,
};

export async function makeKit(url: string): Promise<Kit> {
  const nc = await connect({ servers: url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const state = await openPollerState(js);
  const registry = new Registry();
  const metrics = new PollerMetrics(registry);
  const log = createLogger({
    component: 'poller-test',
    level: (process.env.SLUICE_TEST_LOG as 'info') ?? 'silent',
  });
  const reports: string[] = [];
  return {
    nc,
    js,
    jsm,
    state,
    metrics,
    registry,
    log,
    reports,
    deps: (invoker, identity = 'poller-a', tuning = {}) => ({
      js,
      jsm,
      checkpoints: state.checkpoints,
      ticks: state.ticks,
      invoker,
      destinations: new DestinationSender(js, invoker),
      metrics,
      log,
      tuning: { ...FAST_TUNING, ...tuning },
      identity,
      report: (r) => reports.push(r),
    }),
    close: () => nc.close(),
  };
}

let counter = 0;

/** An EventSourceMapping object as the API server would return it. */
export function esm(
  spec: EventSourceMappingResource['spec'],
  meta: Partial<EventSourceMappingResource['metadata']> = {},
): EventSourceMappingResource {
  counter++;
  return {
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'EventSourceMapping',
    metadata: {
      name: `m${counter}`,
      namespace: 'shop',
      uid: `00000000-0000-4000-8000-${String(Date.now() % 1e9).padStart(9, '0')}${String(counter).padStart(3, '0')}`,
      generation: 1,
      creationTimestamp: new Date(),
      ...meta,
    },
    spec,
  };
}

export const mapping = (
  spec: EventSourceMappingResource['spec'],
  meta?: Partial<EventSourceMappingResource['metadata']>,
): MappingConfig => resolveMapping(esm(spec, meta));
