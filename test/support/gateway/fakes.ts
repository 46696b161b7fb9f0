import { API_VERSION } from '../../../api/schema.js';
import type {
  AliasResource,
  AliasSpec,
  FunctionResource,
  FunctionSpec,
  FunctionVersionResource,
} from '../../../api/types.js';
import { createLogger, type Logger } from '../../../lib/index.js';
import type { Scaler, WorkloadStatus } from '../../../gateway/activation/activator.js';
import type { Principal } from '../../../gateway/auth/principal.js';
import { workloadKey, type EndpointTable } from '../../../gateway/routing/router.js';
import {
  VersionExistsError,
  type PublishAuthorizer,
  type VersionStore,
} from '../../../gateway/versions/publish.js';

/**
 * Option builders and fakes of the gateway's narrow Kubernetes-facing interfaces, shared by the
 * unit tests and the in-process integration tests. Nothing here talks to a cluster.
 */
export function silentLogger(): Logger {
  return createLogger({ component: 'test', level: 'silent' });
}

export function fnResource(
  name: string,
  spec: Partial<FunctionSpec> = {},
  namespace = 'default',
): FunctionResource {
  return {
    apiVersion: API_VERSION,
    kind: 'Function',
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: '1' },
    spec: {
      runtime: 'nodejs22',
      handler: 'index.handler',
      code: { inline: 'exports.handler = async (e) => e' },
      ...spec,
    },
  };
}

export function versionResource(
  fn: FunctionResource,
  version: string,
  spec: Partial<FunctionSpec> = {},
): FunctionVersionResource {
  const namespace = fn.metadata.namespace ?? 'default';
  const name = fn.metadata.name ?? '';
  return {
    apiVersion: API_VERSION,
    kind: 'FunctionVersion',
    metadata: { name: `${name}-v${version}`, namespace, uid: `uid-${namespace}-${name}-v${version}` },
    spec: { function: name, version, snapshot: { ...fn.spec, ...spec } },
  };
}

export function aliasResource(
  fn: FunctionResource,
  alias: string,
  spec: Omit<AliasSpec, 'function'>,
): AliasResource {
  const namespace = fn.metadata.namespace ?? 'default';
  return {
    apiVersion: API_VERSION,
    kind: 'Alias',
    metadata: {
      name: `${fn.metadata.name ?? ''}-${alias}`,
      namespace,
      uid: `uid-alias-${namespace}-${alias}`,
    },
    spec: { function: fn.metadata.name ?? '', name: alias, ...spec },
  };
}

/**
 * A scaler that "starts pods": after `startDelayMs` the workload gets the addresses from
 * `addressesFor` in the EndpointTable, as the EndpointSlice watch would report them.
 */
export class FakeScaler implements Scaler {
  scaleCalls = 0;
  scaledUp = 0;
  replicas = new Map<string, number>();
  /** Reported as the workload's failure (the function cannot start). */
  failure: string | undefined;
  /** Deployments that do not exist. */
  missing = new Set<string>();

  constructor(
    private readonly table: EndpointTable,
    private readonly addressesFor: (namespace: string, fn: string, version: string) => string[],
    public startDelayMs = 50,
  ) {}

  scaleFromZero(namespace: string, deployment: string, selector: Record<string, string>): Promise<boolean> {
    this.scaleCalls++;
    const id = `${namespace}/${deployment}`;
    if (this.missing.has(id) || (this.replicas.get(id) ?? 0) > 0) return Promise.resolve(false);
    this.replicas.set(id, 1);
    this.scaledUp++;
    if (this.failure === undefined) {
      const fn = selector['sluice.dev/function'] ?? '';
      const v = selector['sluice.dev/version'] ?? '';
      const version = v === 'latest' ? '$LATEST' : v;
      setTimeout(() => {
        this.table.set(workloadKey(namespace, fn, version), this.addressesFor(namespace, fn, version));
      }, this.startDelayMs).unref();
    }
    return Promise.resolve(true);
  }

  status(namespace: string, deployment: string): Promise<WorkloadStatus> {
    const id = `${namespace}/${deployment}`;
    if (this.missing.has(id)) return Promise.resolve({ exists: false, replicas: 0 });
    const replicas = this.replicas.get(id) ?? 0;
    return Promise.resolve(
      this.failure ? { exists: true, replicas, failure: this.failure } : { exists: true, replicas },
    );
  }
}

/** FunctionVersions in memory; `create` fails like the API server when the name is taken. */
export class MemoryVersionStore implements VersionStore {
  readonly objects = new Map<string, FunctionVersionResource>();

  list(namespace: string, fn: string): Promise<FunctionVersionResource[]> {
    return Promise.resolve(
      [...this.objects.values()].filter((v) => v.metadata.namespace === namespace && v.spec.function === fn),
    );
  }

  create(v: FunctionVersionResource): Promise<FunctionVersionResource> {
    const k = `${v.metadata.namespace ?? ''}/${v.metadata.name ?? ''}`;
    if (this.objects.has(k)) return Promise.reject(new VersionExistsError(`${k} exists`));
    const created = {
      ...v,
      metadata: { ...v.metadata, resourceVersion: '1', creationTimestamp: new Date() },
    };
    this.objects.set(k, created);
    return Promise.resolve(created);
  }
}

/** RBAC stand-in: the listed principals may publish. */
export class ListPublishAuthorizer implements PublishAuthorizer {
  constructor(private readonly allowed: (p: Principal, namespace: string) => boolean) {}
  canPublish(principal: Principal, namespace: string): Promise<boolean> {
    return Promise.resolve(this.allowed(principal, namespace));
  }
}
