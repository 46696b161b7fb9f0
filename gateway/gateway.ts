import type { Server } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import type { Express } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '../lib/index.js';
import { Activator, type Scaler } from './activation/activator.js';
import { makeApp, makeServer, DEFAULT_LIMITS, type ServerLimits } from './app.js';
import type { Authenticator } from './auth/authenticator.js';
import { FunctionResolver, type FunctionCatalog } from './catalog/catalog.js';
import { makeDeadLetterHandlers, type DeadLetterHandlerDeps } from './handlers/dead-letters.js';
import { makeFunctionUrlHandler } from './handlers/function-url.js';
import { makeHealthzHandler, makeReadyzHandler } from './handlers/health.js';
import { makeInflightHandler } from './handlers/inflight.js';
import { makeInvokeHandler } from './handlers/invoke.js';
import { makePublishVersionHandler } from './handlers/publish-version.js';
import { makePackageDeliveryHandler, makePackageDownloadHandler } from './handlers/packages.js';
import type { PackageCatalog } from './catalog/catalog.js';
import type { AccessReviewer } from './auth/kube-rbac.js';
import { CODE_UPLOAD_BODY_LIMIT, makeManagementHandlers } from './management/handlers.js';
import type { FunctionObjectStore, ManagementStore } from './management/store.js';
import type { Signer } from './packages/location.js';
import { DEFAULT_CODE_STORAGE_QUOTA, type PackageStore } from './packages/store.js';
import { makeSettingsHandlers } from './management/settings.js';
import type { AsyncQueue } from './invoke/async-queue.js';
import type { RouteHandlers } from './routes.js';
import { Dispatcher, HoldGate } from './invoke/dispatcher.js';
import { InflightCounter } from './invoke/inflight.js';
import type { InvocationDeps } from './invoke/invocation.js';
import type { InvokeOutcome } from '../api/outcomes.js';
import { invokeInternal, type InternalInvokeRequest } from './invoke/internal.js';
import type { PodClient } from './invoke/pod-client.js';
import { ByteBudget } from './limits/bytes.js';
import { ConcurrencyLimiter, type PeerView } from './limits/limiter.js';
import type { SharedCounter } from './limits/shared.js';
import { KeyedTokenBuckets, type RateSettings } from './limits/rate.js';
import { SYNC_PAYLOAD_LIMIT } from '../api/limits.js';
import { GatewayMetrics } from './metrics.js';
import type { EndpointRouter } from './routing/router.js';
import type { PublishAuthorizer, VersionStore } from './versions/publish.js';

/** Everything the gateway talks to, as narrow interfaces (Kubernetes in main.ts, fakes in tests). */
export interface GatewayDeps {
  catalog: FunctionCatalog;
  router: EndpointRouter;
  scaler: Scaler;
  peers: PeerView;
  /**
   * The semaphore all replicas share for reserved concurrency (gateway/limits/kv-counter.ts);
   * without it, or while it is unavailable, each replica enforces its share of the limit.
   */
  concurrency?: SharedCounter;
  auth: Authenticator;
  pods: PodClient;
  versions: VersionStore;
  publishAuthorizer: PublishAuthorizer;
  asyncQueue?: AsyncQueue;
  /** The async pipeline's dead-letter queue and who may manage it (handlers/dead-letters.ts). */
  deadLetters?: Omit<DeadLetterHandlerDeps, 'log'>;
  /**
   * Sluice's own principals (`serviceaccount:NS:NAME`): they may invoke any function and read
   * `/internal/v1/inflight`. The chart lists the poller's ServiceAccount.
   */
  platformPrincipals?: ReadonlySet<string>;
  /**
   * Zip packages: the pod delivery endpoint, Code.Location downloads and the management API
   * (CreateFunction, GetFunction, UpdateFunctionCode, DeleteFunction, the layer calls).
   */
  packages?: PackagesDeps;
  /** Extra readiness (e.g. all watches synced); the catalog's readiness is always included. */
  ready?: () => boolean;
  registry: Registry;
  tracer: Tracer;
  log: Logger;
}

export interface PackagesDeps {
  catalog: PackageCatalog;
  store: PackageStore;
  /** Functions and LayerVersions written (and read fresh) for the management API. */
  management: ManagementStore;
  /** Function lists and Aliases for the configuration and alias calls (not routed without it). */
  objects?: FunctionObjectStore;
  /** SubjectAccessReviews of the management API's callers. */
  reviewer: AccessReviewer;
  /** A function's invoke token (pods present it to fetch their packages). */
  tokens?: (namespace: string, fn: string) => string;
  /** Signs Code.Location links. */
  sign?: Signer;
  /** The per-namespace code storage quota GetAccountSettings reports (default 5 GiB). */
  codeStorageQuotaBytes?: number;
}

export interface GatewaySettings {
  defaultNamespace: string;
  region: string;
  /** Calls one replica may hold waiting for pods before answering 429. */
  maxHeldCalls: number;
  /** Calls in flight through one replica before answering 429 (the account-level limit). */
  maxInFlight: number;
  /** How long a call may wait for a pod beyond the function's timeout. */
  coldStartAllowanceMs: number;
  podTimeoutSlackMs: number;
  /** Activation: how long a missing Deployment is tolerated, and the status poll interval. */
  missingWorkloadGraceMs: number;
  activationPollMs: number;
  limits: ServerLimits;
  /** Largest sync request body. */
  bodyLimitBytes?: number;
  /** Request body bytes one replica buffers at once; beyond it 429 (buffer_full). */
  maxBufferedRequestBytes: number;
  /** Anonymous calls of one public function per replica (token bucket); beyond it 429. */
  anonymousRate: RateSettings;
  random?: () => number;
}

export const DEFAULT_SETTINGS: Omit<GatewaySettings, 'defaultNamespace' | 'region'> = {
  maxHeldCalls: 1000,
  maxInFlight: 10_000,
  coldStartAllowanceMs: 30_000,
  podTimeoutSlackMs: 15_000,
  missingWorkloadGraceMs: 10_000,
  activationPollMs: 500,
  limits: DEFAULT_LIMITS,
  maxBufferedRequestBytes: 64 * 1024 * 1024,
  anonymousRate: { ratePerSecond: 50, burst: 100 },
};

export interface Gateway {
  app: Express;
  server: Server;
  metrics: GatewayMetrics;
  activator: Activator;
  limiter: ConcurrencyLimiter;
  hold: HoldGate;
  /** Calls in flight through this replica per function version (for the autoscaler). */
  inflight: InflightCounter;
  /** Stops accepting calls: /readyz answers 503 from now on. */
  drain(): void;
  /** Runs a function for callers inside Sluice (async dispatcher, event sources) on the sync path. */
  invoke(req: InternalInvokeRequest): Promise<InvokeOutcome>;
}

/** The composition root: builds the handlers from their dependencies, the app and the server. */
/** Zip packages: delivery to pods, Code.Location downloads and the management API (none without a store). */
function packageHandlers(
  deps: GatewayDeps,
  settings: GatewaySettings,
): Pick<Partial<RouteHandlers>, 'packages' | 'management' | 'settings'> {
  if (!deps.packages) return {};
  const p = deps.packages;
  const management = {
    auth: deps.auth,
    reviewer: p.reviewer,
    store: p.management,
    packages: p.store,
    versions: deps.versions,
    ...(p.objects ? { objects: p.objects } : {}),
    ...(p.sign ? { sign: p.sign } : {}),
    // two uploads of the largest zip at once per replica
    uploadBudget: new ByteBudget(2 * CODE_UPLOAD_BODY_LIMIT),
    defaultNamespace: settings.defaultNamespace,
    region: settings.region,
  };
  return {
    packages: {
      delivery: makePackageDeliveryHandler({
        catalog: p.catalog,
        store: p.store,
        ...(p.tokens ? { tokens: p.tokens } : {}),
        log: deps.log,
      }),
      download: makePackageDownloadHandler({
        store: p.store,
        ...(p.sign ? { sign: p.sign } : {}),
        log: deps.log,
      }),
    },
    management: makeManagementHandlers(management),
    settings: makeSettingsHandlers(management, {
      ...(p.objects ? { objects: p.objects } : {}),
      codeStorageQuotaBytes: p.codeStorageQuotaBytes ?? DEFAULT_CODE_STORAGE_QUOTA,
      concurrentExecutions: () => settings.maxInFlight * deps.peers.count(),
    }),
  };
}

export function buildGateway(deps: GatewayDeps, settings: GatewaySettings): Gateway {
  const metrics = new GatewayMetrics(deps.registry);
  const activator = new Activator({
    scaler: deps.scaler,
    router: deps.router,
    metrics,
    log: deps.log,
    pollIntervalMs: settings.activationPollMs,
    missingGraceMs: settings.missingWorkloadGraceMs,
  });
  const hold = new HoldGate(settings.maxHeldCalls, metrics);
  const inflight = new InflightCounter();
  const platformPrincipals = deps.platformPrincipals ?? new Set<string>();
  const dispatcher = new Dispatcher({
    router: deps.router,
    activator,
    pods: deps.pods,
    hold,
    metrics,
    log: deps.log,
    coldStartAllowanceMs: settings.coldStartAllowanceMs,
    podTimeoutSlackMs: settings.podTimeoutSlackMs,
    inflight,
  });
  let fellBack = false;
  const limiter = new ConcurrencyLimiter(deps.peers, settings.maxInFlight, deps.concurrency, {
    fallback: (namespace, fn) => {
      metrics.concurrencyFallback.inc();
      if (fellBack) return;
      fellBack = true;
      deps.log.warn(
        { namespace, function: fn },
        'the shared reserved-concurrency counter is unavailable: enforcing a per-replica share of reserved limits (logged once)',
      );
    },
  });
  const resolver = new FunctionResolver(deps.catalog, settings.region, settings.random);
  const invocation: InvocationDeps = {
    auth: deps.auth,
    resolver,
    limiter,
    dispatcher,
    metrics,
    tracer: deps.tracer,
    log: deps.log,
    platformPrincipals,
    anonymousRate: new KeyedTokenBuckets(settings.anonymousRate),
  };
  const bodyLimitBytes = settings.bodyLimitBytes ?? SYNC_PAYLOAD_LIMIT;
  let draining = false;
  const ready = (): boolean => !draining && deps.catalog.ready() && (deps.ready?.() ?? true);
  const app = makeApp({
    handlers: {
      invoke: makeInvokeHandler({
        ...invocation,
        defaultNamespace: settings.defaultNamespace,
        bodyLimitBytes,
        ...(deps.asyncQueue ? { asyncQueue: deps.asyncQueue } : {}),
      }),
      publishVersion: makePublishVersionHandler({
        auth: deps.auth,
        resolver,
        authorizer: deps.publishAuthorizer,
        store: deps.versions,
        defaultNamespace: settings.defaultNamespace,
        region: settings.region,
      }),
      functionUrl: makeFunctionUrlHandler({
        ...invocation,
        bodyLimitBytes,
        ...(deps.asyncQueue ? { asyncQueue: deps.asyncQueue } : {}),
      }),
      healthz: makeHealthzHandler(),
      readyz: makeReadyzHandler(ready),
      inflight: makeInflightHandler({ auth: deps.auth, inflight, platformPrincipals }),
      ...(deps.deadLetters
        ? { deadLetters: makeDeadLetterHandlers({ ...deps.deadLetters, log: deps.log }) }
        : {}),
      ...packageHandlers(deps, settings),
    },
    metrics,
    tracer: deps.tracer,
    log: deps.log,
    budget: new ByteBudget(settings.maxBufferedRequestBytes),
  });
  const server = makeServer(app, settings.limits, deps.log, metrics);
  // Draining: every answer closes its connection, so a client holding keep-alive connections to
  // this replica moves to the others call by call instead of finding its idle connection cut when
  // the listener closes (an Event call sent on it would fail before it reached any gateway).
  server.prependListener('request', (_req, res) => {
    if (draining) res.shouldKeepAlive = false;
  });
  return {
    app,
    server,
    metrics,
    activator,
    limiter,
    hold,
    inflight,
    drain: () => {
      draining = true;
    },
    invoke: (req) => invokeInternal(invocation, req),
  };
}
