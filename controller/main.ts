import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { KubeConfig } from '@kubernetes/client-node';
import { addressPolicyFromConfig } from '../api/destinations.js';
import { Counter } from 'prom-client';
import { runComponent } from '../lib/main.js';
import type { Logger } from '../lib/log.js';
import { readInvokeKey } from '../api/invoke-token.js';
import { LINK_LOCAL_CIDRS } from './function/peers.js';
import type { Shutdown } from '../lib/shutdown.js';
import { startHealthServer } from '../lib/health.js';
import { controllerSpec, type ControllerConfig } from './config.js';
import { makeKube, type Kube } from './kube/client.js';
import { FunctionReconciler } from './function/reconcile.js';
import { AliasReconciler } from './alias/reconcile.js';
import { Controller, type NatsCaches } from './controller.js';
import { credsFileAuth } from '../lib/nats/connect.js';
import { NatsAccountOps } from './natsaccount/nats.js';
import { NatsAccountReconciler, type ControllerNatsKeys } from './natsaccount/reconcile.js';
import { LeaderElector } from '../lib/kube/elector.js';
import { cachedKube, Listers } from './kube/cached.js';
import { KubeLeaseStore } from '../lib/kube/leases.js';
import {
  DEFAULT_BUILD_OPTIONS,
  functionTelemetry,
  parseLabels,
  parseList,
} from './function/resources/types.js';

/** The platform's invoke key, when configured (function pods then accept only their token). */
function invokeKey(file: string, log: Logger): { invokeKey?: Buffer } {
  if (!file) {
    log.warn('no invoke key configured: function pods will accept calls from any pod that reaches them');
    return {};
  }
  return { invokeKey: readInvokeKey(file) };
}

await runComponent('sluice-controller', controllerSpec, async ({ config, log, registry, shutdown }) => {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const kube = makeKube(kc);
  // The reconcilers read from the controller's watches and write to the API server.
  const listers = new Listers();
  const cached = cachedKube(kube, listers);
  const reconcileTotal = new Counter({
    name: 'sluice_reconcile_total',
    help: 'Reconciles by kind and result (success, error).',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });
  const nats = config.natsUrl ? natsAccountsOf(config, kube, log, shutdown) : undefined;
  const natsAccounts = nats?.reconciler;
  const controller = new Controller({
    ...(natsAccounts ? { natsAccounts } : {}),
    kc,
    log,
    reconcileTotal,
    workers: config.workers,
    resyncSeconds: config.resyncSeconds,
    namespace: config.watchNamespace,
    listers,
    functions: new FunctionReconciler({
      kube: cached,
      gatewayUrl: config.gatewayUrl,
      destinationAddresses: addressPolicyFromConfig(config.destinationBlockedCidrs),
      opts: {
        ...DEFAULT_BUILD_OPTIONS,
        runtimeImages: {
          nodejs22: config.runtimeImageNodejs22,
          nodejs24: config.runtimeImageNodejs24,
          provided: config.runtimeImageProvided,
        },
        packageBaseUrl: config.gatewayUrl,
        region: config.region,
        platformNamespace: config.podNamespace,
        gatewayPodLabels: parseLabels(config.gatewaySelector),
        ...invokeKey(config.invokeKeyFile, log),
        dnsPodLabels: parseLabels(config.dnsSelector),
        metricsNamespaceLabels: parseLabels(config.metricsNamespaceSelector),
        dnsNamespace: config.dnsNamespace,
        cpuLimitFloorMillis: config.functionCpuLimitFloorMillis,
        trustedImagePrefixes: parseList(config.trustedImagePrefixes),
        peerPolicy: {
          deniedNamespaces: [config.podNamespace, 'kube-system'].filter(
            (ns) => !parseList(config.peerAllowedNamespaces).includes(ns),
          ),
          deniedCidrs: [...LINK_LOCAL_CIDRS, ...parseList(config.peerClusterCidrs)],
          allowedCidrs: parseList(config.peerAllowedCidrs),
          platformNamespace: config.podNamespace,
          canaryPort: config.policyCanary ? Number(config.policyCanary.split(':').pop()) : undefined,
        },
        ...(config.policyCanary
          ? {
              policyWait: {
                canary: config.policyCanary,
                controlPort: config.policyControlPort,
                budgetSeconds: config.policyWaitSeconds,
              },
            }
          : {}),
        ...functionTelemetry(config),
      },
    }),
    aliases: new AliasReconciler(cached),
  });
  if (nats) {
    // A NATS server that restarted without its resolver directory (emptyDir) lost the accounts.
    void nats.connected.then(async (sys) => {
      controller.resyncNatsAccounts();
      for await (const s of sys.status()) if (s.type === 'reconnect') controller.resyncNatsAccounts();
    });
  }
  const health = await startHealthServer(config.healthPort, () => controller.hasSynced || !leading);
  shutdown.register('health server', () => new Promise<void>((r) => health.close(() => r())));
  let leading = false;
  const startLeading = (): void => {
    leading = true;
    controller.start().catch((err: unknown) => {
      log.fatal({ err }, 'controller failed to start');
      process.exit(1);
    });
  };
  if (!config.leaderElection) {
    startLeading();
  } else {
    const elector = new LeaderElector({
      leases: new KubeLeaseStore(kc, config.podNamespace, 'sluice-controller'),
      name: 'sluice-controller',
      identity: config.podName || hostname(),
      leaseSeconds: 15,
      renewSeconds: 5,
      log,
    });
    shutdown.register('leader election', () => elector.stop());
    elector.start(startLeading, () => {
      // As client-go does: a replica that lost the lease exits and restarts as a follower.
      process.exit(1);
    });
  }
  // Hooks run in reverse: the controller stops before the lease is released.
  shutdown.register('controller', () => controller.stop());
  log.info(
    {
      watchNamespace: config.watchNamespace || '(all)',
      runtimeImages: [config.runtimeImageNodejs22, config.runtimeImageNodejs24, config.runtimeImageProvided],
    },
    'sluice-controller started',
  );
});

/**
 * One NATS account per namespace: the SYS connection and the reconciler. The connection is made in
 * the background (reconnecting forever), so the controller starts — and reconciles functions —
 * while NATS is not up yet; until it is, account reconciles fail and are retried.
 */
function natsAccountsOf(
  config: ControllerConfig,
  kube: Kube,
  log: Logger,
  shutdown: Shutdown,
): { connected: Promise<NatsConnection>; reconciler: (caches: NatsCaches) => NatsAccountReconciler } {
  const key = (f: string): string => readFileSync(path.join(config.natsKeysDir, f), 'utf8').trim();
  const keys: ControllerNatsKeys = {
    operatorSigner: key('operator-signer'),
    tenantMaster: key('tenant-master'),
    tenantSigner: key('tenant-signer'),
    platformSignerPublic: key('platform-signer-public'),
  };
  const connected = connect({
    servers: config.natsUrl,
    name: 'sluice-controller',
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    ...credsFileAuth(config.natsCreds),
  });
  let sys: NatsConnection | undefined;
  void connected.then(
    (nc) => {
      sys = nc;
      log.info('connected to NATS (system account)');
    },
    (err: unknown) => log.error({ err }, 'connecting to NATS failed'),
  );
  shutdown.register('nats', async () => {
    if (sys && !sys.isClosed()) await sys.drain();
  });
  const accounts = new NatsAccountOps(
    () => {
      if (!sys) throw new Error('not connected to NATS yet');
      return sys;
    },
    keys,
    config.natsUrl,
  );
  log.info({ natsUrl: config.natsUrl }, 'managing one NATS account per namespace');
  const reconciler = (caches: NatsCaches): NatsAccountReconciler =>
    new NatsAccountReconciler({
      kube,
      accounts,
      keys,
      limits: {
        diskStorage: config.natsTenantDiskBytes,
        memoryStorage: config.natsTenantMemoryBytes,
        streams: config.natsTenantStreams,
        consumers: config.natsTenantConsumers,
        maxAckPending: -1,
      },
      budget: { diskStorage: config.natsBudgetDiskBytes, memoryStorage: config.natsBudgetMemoryBytes },
      tenantUrl: config.natsTenantUrl,
      releaseNamespace: config.podNamespace,
      configMapName: config.natsAccountsConfigMap,
      ...caches,
    });
  return { connected, reconciler };
}
