import { KubeConfig } from '@kubernetes/client-node';
import { runComponent } from '../lib/main.js';
import { KubeScaler } from './activation/kube-scaler.js';
import { CachedTokenReviewer, GatewayAuthenticator } from './auth/authenticator.js';
import { KubeAccessKeys, KubeTokenReviewer } from './auth/kube-auth.js';
import { KubeCatalog } from './catalog/kube-catalog.js';
import { gatewaySpec } from './config.js';
import { buildGateway, DEFAULT_SETTINGS } from './gateway.js';
import { HttpPodClient } from './invoke/pod-client.js';
import { KubePeers } from './limits/kube-peers.js';
import { StaticPeers } from './limits/limiter.js';
import { EndpointSliceSource } from './routing/kube-endpoints.js';
import { EndpointTable } from './routing/router.js';
import { KubePublishAuthorizer, KubeVersionStore } from './versions/kube-versions.js';

await runComponent('sluice-gateway', gatewaySpec, async ({ config, log, registry, telemetry, shutdown }) => {
  // In a pod: the service account; elsewhere: KUBECONFIG or ~/.kube/config.
  const kc = new KubeConfig();
  kc.loadFromDefault();

  const catalog = new KubeCatalog(kc, log);
  const router = new EndpointTable();
  const endpoints = new EndpointSliceSource(kc, router, log);
  const keys = new KubeAccessKeys(kc, config.namespace, log);
  const peers = config.podIp
    ? new KubePeers(kc, config.namespace, config.serviceName, config.podIp, log)
    : new StaticPeers();
  shutdown.register('watches', async () => {
    await Promise.all([
      catalog.stop(),
      endpoints.stop(),
      keys.stop(),
      peers instanceof KubePeers ? peers.stop() : undefined,
    ]);
  });

  const pods = new HttpPodClient();
  const gateway = buildGateway(
    {
      catalog,
      router,
      scaler: new KubeScaler(kc),
      peers,
      auth: new GatewayAuthenticator({ tokens: new CachedTokenReviewer(new KubeTokenReviewer(kc)), keys }),
      pods,
      versions: new KubeVersionStore(kc),
      publishAuthorizer: new KubePublishAuthorizer(kc),
      ready: () => endpoints.ready() && keys.ready(),
      registry,
      tracer: telemetry.tracer,
      log,
    },
    {
      ...DEFAULT_SETTINGS,
      defaultNamespace: config.defaultNamespace,
      region: config.region,
      maxHeldCalls: config.maxHeldCalls,
      maxInFlight: config.maxInFlight,
      coldStartAllowanceMs: config.coldStartAllowanceSeconds * 1000,
      limits: {
        ...DEFAULT_SETTINGS.limits,
        maxHeaderSize: config.maxHeaderBytes,
        requestTimeoutMs: config.requestTimeoutSeconds * 1000,
      },
    },
  );

  await new Promise<void>((resolve, reject) => {
    gateway.server.once('error', reject);
    gateway.server.listen(config.port, '0.0.0.0', () => resolve());
  });
  shutdown.register('http server', async () => {
    // Fail /readyz first so the Service stops sending new calls, then let in-flight calls finish.
    gateway.drain();
    await new Promise((r) => setTimeout(r, config.drainSeconds * 1000));
    await new Promise<void>((r) => {
      gateway.server.close(() => r());
      gateway.server.closeIdleConnections();
    });
    pods.close();
  });
  log.info(
    { port: config.port, defaultNamespace: config.defaultNamespace, namespace: config.namespace },
    'sluice-gateway started',
  );
});
