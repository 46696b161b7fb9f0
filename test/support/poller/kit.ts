import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import type { EventSourceMappingResource } from '../../../api/types.js';
import { createLogger, type Logger } from '../../../lib/log.js';
import type { TenantConnections } from '../../../lib/nats/tenants.js';
import { DestinationSender } from '../../../poller/destinations.js';
import type { Invoker } from '../../../poller/invoker.js';
import { resolveMapping, type MappingConfig } from '../../../poller/mapping.js';
import { PollerMetrics } from '../../../poller/metrics.js';
import type { SourceDeps, SourceTuning } from '../../../poller/sources/source.js';
import { openPollerState, type PollerState } from '../../../poller/state.js';

/**
 * The test NATS server as the kit needs it (test/integration/support/nats.ts): operator mode,
 * the poller's creds, namespaces' accounts and the platform's connections into them.
 */
export interface KitNats {
  url: string;
  auth(role: 'poller'): Promise<Partial<ConnectionOptions>>;
  /** A connection as the namespace (its `sluice-nats` creds); its account is created when missing. */
  connectTenant(namespace: string): Promise<NatsConnection>;
  tenantConnections(name?: string): TenantConnections;
}

/**
 * Test wiring: everything a source needs, with short timings. `nc`/`js`/`jsm` act as the
 * namespace `shop` (the tests' mappings live there): its streams are made and fed with them, as a
 * tenant would with its own creds; the poller's state is in the platform account, and sources
 * reach `shop`'s streams through the platform's connections into that account.
 */
export interface Kit {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  tenants: TenantConnections;
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
  scheduleMaxEventAgeMs: 60_000,
};

export async function makeKit(nats: KitNats, namespace = 'shop'): Promise<Kit> {
  const pollerNc = await connect({ servers: nats.url, ...(await nats.auth('poller')) });
  const state = await openPollerState(jetstream(pollerNc));
  const nc = await nats.connectTenant(namespace);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const tenants = nats.tenantConnections('sluice-poller-test');
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
    tenants,
    state,
    metrics,
    registry,
    log,
    reports,
    deps: (invoker, identity = 'poller-a', tuning = {}) => ({
      tenants,
      checkpoints: state.checkpoints,
      ticks: state.ticks,
      invoker,
      destinations: new DestinationSender(tenants, invoker),
      metrics,
      log,
      tuning: { ...FAST_TUNING, ...tuning },
      identity,
      report: (r) => reports.push(r),
    }),
    close: async () => {
      await tenants.close();
      await nc.close();
      await pollerNc.close();
    },
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
