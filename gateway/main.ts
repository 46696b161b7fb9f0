import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { jetstream } from '@nats-io/jetstream';
import { CustomObjectsApi, KubeConfig, type KubernetesListObject } from '@kubernetes/client-node';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { addressPolicyFromConfig } from '../api/destinations.js';
import { GROUP, VERSION } from '../api/schema.js';
import type { FunctionResource } from '../api/types.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../lib/index.js';
import type { Shutdown } from '../lib/shutdown.js';
import type { Telemetry } from '../lib/telemetry.js';
import { runComponent, type CommonConfig } from '../lib/main.js';
import { credsFileAuth, KubeAccountDirectory, TenantConnections } from '../lib/nats/index.js';
import { KubeScaler } from './activation/kube-scaler.js';
import { createAsync, gatewayFunctionInvoker, type AsyncPipeline } from './async/index.js';
import { AsyncRunner } from './async/runner.js';
import { CachedTokenReviewer, GatewayAuthenticator } from './auth/authenticator.js';
import { KubeAccessKeys, KubeTokenReviewer } from './auth/kube-auth.js';
import { KubeAccessReviewer } from './auth/kube-rbac.js';
import { KubeCatalog } from './catalog/kube-catalog.js';
import { gatewaySpec, type GatewayConfig } from './config.js';
import { LambdaError } from './errors.js';
import { buildGateway, DEFAULT_SETTINGS, type Gateway, type GatewaySettings } from './gateway.js';
import { makeDeadLetterAuthorizer } from './handlers/dead-letters.js';
import { HttpPodClient } from './invoke/pod-client.js';
import { startupGate } from './startup-gate.js';
import { startPolicyCanary } from './policy-canary.js';
import { invokeToken, readInvokeKey } from '../api/invoke-token.js';
import { KubeManagementStore } from './management/kube-store.js';
import { makeSigner } from './packages/location.js';
import { kubePackageGc } from './packages/gc-kube.js';
import { AttachablePackageStore, DEFAULT_PACKAGE_STORE, NatsPackageStore } from './packages/store.js';
import { startWatch } from '../lib/kube/watch.js';
import { KubePeers } from './limits/kube-peers.js';
import { DEFAULT_CONCURRENCY_BUCKET, KvSharedCounter } from './limits/kv-counter.js';
import { StaticPeers } from './limits/limiter.js';
import { KeyedTokenBuckets } from './limits/rate.js';
import { EndpointSliceSource } from './routing/kube-endpoints.js';
import { EndpointTable } from './routing/router.js';
import { KubePublishAuthorizer, KubeVersionStore } from './versions/kube-versions.js';

/** The platform principals from `--platform-principals` (comma-separated). */
function principalSet(list: string): ReadonlySet<string> {
  return new Set(
    list
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/** Connects to NATS, waiting for it and reconnecting forever (a restarted server is picked up again). */
async function connectNats(config: GatewayConfig, log: Logger): Promise<NatsConnection> {
  log.info({ natsUrl: config.natsUrl }, 'connecting to NATS');
  const nc = await connect({
    servers: config.natsUrl,
    name: `sluice-gateway-${config.podIp || 'local'}`,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    ...credsFileAuth(config.natsCreds),
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') log.warn({ status: s.type }, 'NATS connection');
    }
  })();
  return nc;
}

/**
 * The async pipeline's parts for the runner (gateway/async/runner.ts): NATS, the namespaces'
 * accounts (from the controller's ConfigMap) and the pipeline over the Function watch, whose
 * dispatcher runs each attempt through the gateway's sync path (reserved concurrency, routing,
 * cold starts; it counts the invocation).
 */
function asyncRunner(o: {
  kc: KubeConfig;
  config: GatewayConfig & CommonConfig;
  registry: Registry;
  telemetry: Telemetry;
  log: Logger;
  /** Opened on the platform connection before the pipeline (reserved concurrency across replicas). */
  concurrency: KvSharedCounter;
  /** The zip package store, attached on the platform connection. */
  packages: AttachablePackageStore;
}): AsyncRunner<NatsConnection, TenantConnections, AsyncPipeline, Gateway> {
  const { kc, config, log } = o;
  let accounts: KubeAccountDirectory | undefined;
  const functions = kc.makeApiClient(CustomObjectsApi);
  return new AsyncRunner({
    log,
    connect: () => connectNats(config, log),
    // `nats:` destinations are published in the function's namespace account, found in the controller's ConfigMap.
    tenants: async () => {
      accounts ??= new KubeAccountDirectory(kc, config.namespace, log, config.natsAccountsConfigMap);
      if (!accounts.synced) await accounts.start();
      return new TenantConnections({
        servers: config.natsUrl,
        signerSeed: readFileSync(config.natsPlatformSigner, 'utf8').trim(),
        directory: accounts,
        name: `sluice-gateway-${config.podIp || 'local'}`,
        idleMs: config.natsTenantIdleSeconds * 1000,
        log,
      });
    },
    release: async () => {
      await accounts?.stop();
    },
    create: async (nc, tenants, gateway) => {
      // a short timeout: an admission waits for it only once before falling back (kv-counter.ts)
      await o.concurrency.attach(jetstream(nc, { timeout: 1000 }));
      o.packages.attach(
        await NatsPackageStore.open(jetstream(nc), {
          ...DEFAULT_PACKAGE_STORE,
          replicas: config.natsReplicas === '3' ? 3 : 1,
          quotaBytes: config.codeStorageQuotaMb * 1024 * 1024,
        }),
      );
      return createAsync({
        nc,
        tenants,
        backlogLimit: { maxEvents: config.asyncMaxBacklogPerFunction },
        invoker: gatewayFunctionInvoker((req) => gateway.invoke(req)),
        source: {
          start: (handlers) =>
            startWatch<FunctionResource>({
              kc,
              path: `/apis/${GROUP}/${VERSION}/functions`,
              list: () =>
                functions.listClusterCustomObject({
                  group: GROUP,
                  version: VERSION,
                  plural: 'functions',
                }) as Promise<KubernetesListObject<FunctionResource>>,
              handlers,
              log,
            }),
        },
        registry: o.registry,
        log: log.child({ part: 'async' }),
        tracer: o.telemetry.tracer,
        region: config.region,
        streams: { replicas: config.natsReplicas === '3' ? 3 : 1 },
        destinationAddresses: addressPolicyFromConfig(config.destinationBlockedCidrs),
      });
    },
  });
}

/**
 * The async runner and, on its NATS connection, reserved concurrency as one number across
 * replicas; without async (or until NATS is connected) each replica enforces its share of a
 * reserved limit (gateway/limits/limiter.ts).
 */
function asyncParts(o: Omit<Parameters<typeof asyncRunner>[0], 'concurrency'>): {
  runner?: ReturnType<typeof asyncRunner>;
  concurrency?: KvSharedCounter;
} {
  if (!o.config.async) return {};
  const concurrency = new KvSharedCounter(`${hostname()}-${randomUUID().slice(0, 8)}`, {
    ...DEFAULT_CONCURRENCY_BUCKET,
    replicas: o.config.natsReplicas === '3' ? 3 : 1,
  });
  return { runner: asyncRunner({ ...o, concurrency }), concurrency };
}

/** Each call's invoke token and Code.Location signatures from the platform key, or neither. */
function invokeKey(file: string): Buffer | undefined {
  return file ? readInvokeKey(file) : undefined;
}

/** Each call's invoke token from the platform key, or none (pods then need none either). */
function invokeTokens(file: string, log: Logger): ((namespace: string, fn: string) => string) | undefined {
  if (!file) {
    log.warn('no invoke key configured: calls to function pods carry no invoke token');
    return undefined;
  }
  const key = readInvokeKey(file);
  return (namespace, fn) => invokeToken(key, namespace, fn);
}

const asyncNotReady = (): LambdaError =>
  new LambdaError(
    503,
    'ServiceException',
    'Asynchronous invocation is not available yet (connecting to NATS)',
  );

/** The gateway's settings from its configuration. */
function gatewaySettings(config: GatewayConfig): GatewaySettings {
  return {
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
      maxConnections: config.maxConnections,
    },
    maxBufferedRequestBytes: config.maxBufferedRequestBytes,
    anonymousRate: { ratePerSecond: config.anonymousRatePerSecond, burst: config.anonymousBurst },
  };
}

/**
 * The garbage collection of unreferenced zip packages (gateway/packages/gc.ts): every replica
 * competes for its Lease; it stops (and releases the Lease) first on shutdown.
 */
function startPackageGc(o: {
  kc: KubeConfig;
  config: GatewayConfig;
  catalog: KubeCatalog;
  store: AttachablePackageStore;
  registry: Registry;
  log: Logger;
  shutdown: Shutdown;
}): void {
  if (o.config.packageGcIntervalSeconds <= 0) return;
  const gc = kubePackageGc({
    kc: o.kc,
    catalog: o.catalog,
    store: o.store,
    namespace: o.config.namespace,
    identity: o.config.podName || hostname(),
    intervalSeconds: o.config.packageGcIntervalSeconds,
    graceSeconds: o.config.packageGcGraceSeconds,
    registry: o.registry,
    log: o.log.child({ part: 'package-gc' }),
  });
  o.shutdown.register('package garbage collection', () => gc.stop());
  gc.start();
}

/** /readyz waits for NATS at start (gateway/startup-gate.ts); without async there is nothing to wait for. */
function natsStartupGate(
  runner: ReturnType<typeof asyncRunner> | undefined,
  config: GatewayConfig,
  log: Logger,
): () => boolean {
  if (!runner) return () => true;
  return startupGate({
    attached: () => runner.pipeline !== undefined,
    graceMs: config.natsReadyGraceSeconds * 1000,
    onGraceExpired: () =>
      log.warn(
        `not connected to NATS ${config.natsReadyGraceSeconds} s after start: ready anyway (Event calls answer 503 and reserved concurrency uses this replica's share until it connects)`,
      ),
  });
}

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
  const tokens = new CachedTokenReviewer(new KubeTokenReviewer(kc, config.tokenAudience), {
    failures: new KeyedTokenBuckets({
      ratePerSecond: config.authFailuresPerMinute / 60,
      burst: config.authFailureBurst,
    }),
  });
  const auth = new GatewayAuthenticator({ tokens, keys });
  const pods = new HttpPodClient(undefined, undefined, invokeTokens(config.invokeKeyFile, log));
  // Zip packages live in NATS: the store answers 503 until the platform connection is up.
  const packages = new AttachablePackageStore();
  const managementStore = new KubeManagementStore(kc);
  const key = invokeKey(config.invokeKeyFile);
  const { runner, concurrency } = asyncParts({ kc, config, registry, telemetry, log, packages });
  // Hooks run in reverse order of registration: the HTTP server drains first, then the async
  // dispatcher stops, then pod connections and NATS close, then the watches.
  if (runner) shutdown.register('nats', () => (concurrency?.close(), runner.closeNats()));
  shutdown.register('pod connections', () => pods.close());
  if (runner) {
    const budgetMs = Math.max(1000, (config.shutdownGraceSeconds - config.drainSeconds - 2) * 1000);
    shutdown.register('async dispatch', () => runner.stopDispatch(budgetMs));
  }

  const natsGate = natsStartupGate(runner, config, log);
  const gateway = buildGateway(
    {
      catalog,
      router,
      scaler: new KubeScaler(kc),
      peers,
      ...(concurrency ? { concurrency } : {}),
      auth,
      pods,
      versions: new KubeVersionStore(kc),
      publishAuthorizer: new KubePublishAuthorizer(kc),
      ...(runner
        ? {
            // acceptFromGateway answers with the event's request id (derived from an Idempotency-Key).
            asyncQueue: {
              enqueue: async (inv) => {
                if (!runner.pipeline) throw asyncNotReady();
                return runner.pipeline.acceptor.acceptFromGateway(inv);
              },
            },
            deadLetters: {
              dlq: () => {
                if (!runner.pipeline) throw asyncNotReady();
                return runner.pipeline.dlq;
              },
              authorize: makeDeadLetterAuthorizer({ auth, rbac: new KubeAccessReviewer(kc) }),
            },
          }
        : {}),
      packages: {
        catalog,
        store: packages,
        management: managementStore,
        objects: managementStore,
        reviewer: new KubeAccessReviewer(kc),
        codeStorageQuotaBytes: config.codeStorageQuotaMb * 1024 * 1024,
        ...(key
          ? { tokens: (ns: string, fn: string) => invokeToken(key, ns, fn), sign: makeSigner(key) }
          : {}),
      },
      platformPrincipals: principalSet(config.platformPrincipals),
      ready: () => endpoints.ready() && keys.ready() && natsGate(),
      registry,
      tracer: telemetry.tracer,
      log,
    },
    gatewaySettings(config),
  );

  // The policy canary closes after the invoke port (hooks run in reverse): a function pod that
  // finds the canary refused while the invoke port of the same gateway pod still answers takes its
  // NetworkPolicy for enforced, so the canary must never be the first to go.
  if (config.policyCanaryPort > 0) {
    const canary = await startPolicyCanary(config.policyCanaryPort);
    shutdown.register('policy canary', () => canary.close());
  }
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
  });
  if (runner) void runner.run(gateway);
  else log.warn('asynchronous invocation is disabled (--async=false): Event calls are answered 501');
  // Zip packages live on the async runner's NATS connection.
  if (runner) startPackageGc({ kc, config, catalog, store: packages, registry, log, shutdown });
  log.info(
    {
      port: config.port,
      defaultNamespace: config.defaultNamespace,
      namespace: config.namespace,
      async: config.async,
      platformPrincipals: config.platformPrincipals,
      tokenAudience: config.tokenAudience,
    },
    'sluice-gateway started',
  );
});
