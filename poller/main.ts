import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { KubeConfig } from '@kubernetes/client-node';
import { addressPolicyFromConfig } from '../api/destinations.js';
import { consumerName as asyncConsumerName } from '../api/nats-naming.js';
import { startHealthServer } from '../lib/health.js';
import { runComponent, type CommonConfig } from '../lib/main.js';
import { credsFileAuth, KubeAccountDirectory, TenantConnections } from '../lib/nats/index.js';
import { Autoscaler } from './autoscaler/autoscaler.js';
import { JetStreamDemand } from './autoscaler/demand.js';
import { GatewayInflight } from './autoscaler/inflight.js';
import { pollerSpec, type PollerConfig } from './config.js';
import { DestinationSender } from './destinations.js';
import { fileToken, HttpInvoker, reportingAuthFailures } from './invoker.js';
import { KubeLeaseStore } from '../lib/kube/leases.js';
import { KubeGatewayEndpoints } from './kube-gateway-endpoints.js';
import { KubeScaleTarget } from './kube-scale-target.js';
import { KubeWorld } from './kube-world.js';
import { PollerMetrics } from './metrics.js';
import { SOURCES } from './sources/index.js';
import type { SourceTuning } from './sources/source.js';
import { openPollerState } from './state.js';
import { AutoscalerLeader } from './work/leader.js';
import { MappingManager } from './work/manager.js';

/** The sources' knobs from the poller's configuration. */
function sourceTuning(config: PollerConfig & CommonConfig): SourceTuning {
  return {
    region: config.region,
    ackWaitMs: config.ackWaitSeconds * 1000,
    retryBaseMs: 1000,
    retryMaxMs: 60_000,
    closeGraceMs: Math.max(1000, (config.shutdownGraceSeconds - 2) * 1000),
    scheduleInvocationType: config.scheduleInvocationType,
    scheduleCatchUpMs: 4 * config.leaseSeconds * 1000,
    scheduleMaxEventAgeMs: config.scheduleMaxEventAgeSeconds * 1000,
  };
}

await runComponent('sluice-poller', pollerSpec, async ({ config, log, registry, shutdown, telemetry }) => {
  const identity = config.podName || hostname();
  const metrics = new PollerMetrics(registry);
  const kc = new KubeConfig();
  kc.loadFromDefault();

  const nc = await connect({
    servers: config.natsUrl,
    name: `sluice-poller-${identity}`,
    maxReconnectAttempts: -1,
    ...credsFileAuth(config.natsCreds),
  });
  shutdown.register('nats', () => nc.drain());
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const state = await openPollerState(js, config.natsReplicas);
  // Mappings' streams and nats: destinations live in the namespaces' own accounts.
  const accounts = new KubeAccountDirectory(kc, config.podNamespace, log, config.natsAccountsConfigMap);
  await accounts.start();
  const tenants = new TenantConnections({
    servers: config.natsUrl,
    signerSeed: readFileSync(config.natsPlatformSigner, 'utf8').trim(),
    directory: accounts,
    name: `sluice-poller-${identity}`,
    idleMs: config.natsTenantIdleSeconds * 1000,
    log,
  });
  shutdown.register('namespace NATS connections', async () => {
    await tenants.close();
    await accounts.stop();
  });

  const token = fileToken(config.tokenFile);
  const http = new HttpInvoker({ baseUrl: config.gatewayUrl, token });
  const invoker = reportingAuthFailures(http, { counter: metrics.platformAuthFailures, log });
  const destinations = new DestinationSender(tenants, invoker, {
    addresses: addressPolicyFromConfig(config.destinationBlockedCidrs),
  });
  const world = new KubeWorld(kc, log);
  await world.start();
  shutdown.register('watches', () => world.stop());

  const health = await startHealthServer(config.healthPort, () => world.synced && !nc.isClosed());
  shutdown.register('health server', () => new Promise<void>((r) => health.close(() => r())));

  const leases = new KubeLeaseStore(kc, config.podNamespace, 'sluice-poller');
  const tuning = sourceTuning(config);

  if (config.autoscale) {
    const endpoints = new KubeGatewayEndpoints(kc, config.podNamespace, config.gatewayService, log);
    await endpoints.start();
    const inflight = new GatewayInflight({ endpoints, log, token });
    inflight.start();
    const autoscaler = new Autoscaler({
      view: world,
      target: new KubeScaleTarget(kc),
      demand: new JetStreamDemand({
        jsm,
        tenants,
        mappings: () => world.enabledMappings(),
        resolve: world.resolve,
        inflight: () => inflight.inflight(),
        ...(config.asyncStream !== 'none'
          ? { async: { stream: config.asyncStream, consumer: asyncConsumerName } }
          : {}),
      }),
      windows: {
        stableWindowMs: config.stableWindowSeconds * 1000,
        burstWindowMs: config.burstWindowSeconds * 1000,
        burstReplicas: config.burstReplicas,
      },
      metrics,
      log: log.child({ part: 'autoscaler' }),
    });
    const leader = new AutoscalerLeader({
      leases,
      identity,
      leaseSeconds: config.leaseSeconds,
      renewSeconds: config.renewSeconds,
      intervalMs: config.autoscaleIntervalMs,
      autoscaler,
      log,
    });
    leader.start();
    shutdown.register('autoscaler', async () => {
      await leader.stop();
      inflight.stop();
      await endpoints.stop();
    });
  }

  const manager = new MappingManager({
    identity,
    leases,
    api: world,
    sources: SOURCES,
    sourceDeps: (report) => ({
      tenants,
      checkpoints: state.checkpoints,
      ticks: state.ticks,
      invoker,
      destinations,
      metrics,
      log,
      tuning,
      identity,
      report,
      tracer: telemetry.tracer,
    }),
    metrics,
    log: log.child({ part: 'mappings' }),
    leaseSeconds: config.leaseSeconds,
    renewSeconds: config.renewSeconds,
  });
  world.onMappingChange(() => manager.nudge());
  manager.start();
  // Registered last, so it runs first on SIGTERM: batches finish or go back before NATS closes.
  shutdown.register('mappings', () => manager.stop());
  log.info({ identity, natsUrl: config.natsUrl, gateway: config.gatewayUrl }, 'sluice-poller started');
});
