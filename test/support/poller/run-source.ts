/**
 * A poller process for one mapping, without Kubernetes: integration tests run two of these and
 * SIGKILL one to prove what survives a crash. Environment: NATS_URL, NATS_CREDS (the poller's
 * creds file text), NATS_PLATFORM_SIGNER (seed of the `platform` scoped key), NATS_ACCOUNTS
 * (JSON: namespace → account entry), MAPPING (an EventSourceMapping as JSON), INVOKE_URL (HTTP
 * endpoint taking the Invoke API's POST; every target goes to INVOKE_URL + INVOKE_PATH),
 * IDENTITY, TUNING (JSON, optional).
 */
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import type { EventSourceMappingResource } from '../../../api/types.js';
import { createLogger } from '../../../lib/log.js';
import {
  credsAuth,
  StaticAccountDirectory,
  TenantConnections,
  type AccountEntry,
} from '../../../lib/nats/index.js';
import { DestinationSender } from '../../../poller/destinations.js';
import { HttpInvoker } from '../../../poller/invoker.js';
import { resolveMapping } from '../../../poller/mapping.js';
import { PollerMetrics } from '../../../poller/metrics.js';
import { SOURCES } from '../../../poller/sources/index.js';
import { openPollerState } from '../../../poller/state.js';
import { FAST_TUNING } from './kit.js';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};

const esm = JSON.parse(env('MAPPING')) as EventSourceMappingResource;
const m = resolveMapping(esm);
const nc = await connect({ servers: env('NATS_URL'), ...credsAuth(env('NATS_CREDS')) });
const state = await openPollerState(jetstream(nc));
const path = process.env.INVOKE_PATH;
const invoker = new HttpInvoker({ baseUrl: env('INVOKE_URL'), ...(path ? { pathFor: () => path } : {}) });
const identity = env('IDENTITY');
const log = createLogger({ component: `poller-${identity}`, level: 'warn' });
const directory = new StaticAccountDirectory();
for (const [ns, e] of Object.entries(JSON.parse(env('NATS_ACCOUNTS')) as Record<string, AccountEntry>))
  directory.entries.set(ns, e);
const tenants = new TenantConnections({
  servers: env('NATS_URL'),
  signerSeed: env('NATS_PLATFORM_SIGNER'),
  directory,
  name: `poller-${identity}`,
  log,
});
const source = SOURCES[m.source.kind].create(m, {
  tenants,
  checkpoints: state.checkpoints,
  ticks: state.ticks,
  invoker,
  destinations: new DestinationSender(tenants, invoker),
  metrics: new PollerMetrics(new Registry()),
  log,
  tuning: { ...FAST_TUNING, ...(JSON.parse(process.env.TUNING ?? '{}') as object) },
  identity,
  report: () => undefined,
});
await source.start();
process.stdout.write('started\n');
process.once('SIGTERM', () => {
  void source
    .close()
    .then(() => tenants.close())
    .then(() => nc.close())
    .then(() => process.exit(0));
});
