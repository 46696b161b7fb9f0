import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { addressPolicyFromConfig } from '../api/destinations.js';
import { Counter } from 'prom-client';
import { runComponent } from '../lib/main.js';
import type { Logger } from '../lib/log.js';
import { readInvokeKey } from '../api/invoke-token.js';
import { LINK_LOCAL_CIDRS } from './function/peers.js';
import { startHealthServer } from '../lib/health.js';
import { controllerSpec } from './config.js';
import { makeKube } from './kube/client.js';
import { FunctionReconciler } from './function/reconcile.js';
import { AliasReconciler } from './alias/reconcile.js';
import { Controller } from './controller.js';
import { LeaderElector } from './leader.js';
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
  const reconcileTotal = new Counter({
    name: 'sluice_reconcile_total',
    help: 'Reconciles by kind and result (success, error, terminal).',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });
  const controller = new Controller({
    kc,
    log,
    reconcileTotal,
    workers: config.workers,
    resyncSeconds: config.resyncSeconds,
    namespace: config.watchNamespace,
    functions: new FunctionReconciler({
      kube,
      gatewayUrl: config.gatewayUrl,
      destinationAddresses: addressPolicyFromConfig(config.destinationBlockedCidrs),
      opts: {
        ...DEFAULT_BUILD_OPTIONS,
        runtimeImages: { nodejs22: config.runtimeImageNodejs22, nodejs24: config.runtimeImageNodejs24 },
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
    aliases: new AliasReconciler(kube),
  });
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
    const elector = new LeaderElector(
      kc,
      {
        namespace: config.podNamespace,
        name: 'sluice-controller',
        identity: config.podName || hostname(),
        leaseSeconds: 15,
        renewSeconds: 5,
      },
      log,
    );
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
      runtimeImages: [config.runtimeImageNodejs22, config.runtimeImageNodejs24],
    },
    'sluice-controller started',
  );
});
