/**
 * Reaching Sluice's gateway from e2e tests: a forward to its Service, ServiceAccount tokens,
 * access-key Secrets for SigV4 (the AWS SDK), Functions that are Ready, and the gateways' metrics.
 */
import { randomBytes } from 'node:crypto';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { FunctionResource } from '../../../api/types.js';
import { apply, cluster, forward, kubectl, waitFor } from './kube.js';

export const API = 'sluice.dev/v1alpha1';
export const SYSTEM_NS = 'sluice-system';

export interface Forward {
  base: string;
  stop: () => Promise<void>;
}

/** A forward from loopback to the gateway Service (kube-proxy spreads connections over its pods). */
export function forwardGateway(): Promise<Forward> {
  return forward(`svc/${SYSTEM_NS}/sluice-gateway:8080`);
}

export function fnManifest(
  ns: string,
  name: string,
  spec: Partial<FunctionResource['spec']>,
): FunctionResource {
  return {
    apiVersion: API,
    kind: 'Function',
    metadata: { name, namespace: ns },
    spec: {
      runtime: 'nodejs22',
      code: { inline: 'exports.handler = async (e) => e' },
      memoryMB: 128,
      ...spec,
    },
  };
}

export async function getFn(ns: string, name: string): Promise<FunctionResource | undefined> {
  const r = await kubectl(['-n', ns, 'get', 'fn', name, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as FunctionResource) : undefined;
}

/** Waits until the Function's condition `type` is True for its current generation. */
async function waitCondition(
  ns: string,
  name: string,
  type: 'Ready' | 'Updated',
  timeoutMs: number,
): Promise<FunctionResource> {
  return waitFor(
    `Function ${ns}/${name} to be ${type}`,
    async () => {
      const f = await getFn(ns, name);
      const c = f?.status?.conditions?.find((x) => x.type === type);
      return c?.status === 'True' && f?.status?.observedGeneration === f?.metadata.generation ? f : undefined;
    },
    timeoutMs,
  );
}

/** Waits until the Function's Ready condition is True for its current generation. */
export function waitReady(ns: string, name: string, timeoutMs = 150_000): Promise<FunctionResource> {
  return waitCondition(ns, name, 'Ready', timeoutMs);
}

/**
 * Waits until every pod of $LATEST runs the Function's current spec (condition Updated, Lambda's
 * LastUpdateStatus Successful), so calls to $LATEST see the last change.
 */
export function waitUpdated(ns: string, name: string, timeoutMs = 150_000): Promise<FunctionResource> {
  return waitCondition(ns, name, 'Updated', timeoutMs);
}

/** The audience the gateway reviews bearer tokens for (chart value gateway.tokenAudience). */
export const TOKEN_AUDIENCE = 'sluice';

/**
 * Creates the ServiceAccount (if missing) and returns a token of it issued for the gateway
 * (`kubectl create token NAME --audience sluice`): the gateway refuses ordinary API-server tokens.
 */
export async function serviceAccountToken(ns: string, name: string): Promise<string> {
  await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } });
  const r = await kubectl(['-n', ns, 'create', 'token', name, '--audience', TOKEN_AUDIENCE, '--duration=1h']);
  if (r.code !== 0) throw new Error(`kubectl create token ${ns}/${name}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Grants a ServiceAccount verbs on a sluice.dev resource in its namespace (Role + RoleBinding). */
export async function grant(ns: string, sa: string, resource: string, verbs: string[]): Promise<void> {
  const name = `e2e-${sa}-${resource}`;
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name, namespace: ns },
    rules: [{ apiGroups: ['sluice.dev'], resources: [resource], verbs }],
  });
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
  });
}

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  remove: () => Promise<void>;
}

/** An access-key Secret in the gateway's namespace, acting as `principal`. */
export async function createAccessKey(principal: string): Promise<AccessKey> {
  const suffix = randomBytes(4).toString('hex');
  const accessKeyId = `AKIDE2E${suffix.toUpperCase()}`;
  const secretAccessKey = randomBytes(20).toString('hex');
  const name = `e2e-key-${suffix}`;
  await apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: SYSTEM_NS, labels: { 'sluice.dev/access-key': 'true' } },
    stringData: { accessKeyId, secretAccessKey, principal },
  });
  return {
    accessKeyId,
    secretAccessKey,
    remove: async () =>
      void (await kubectl(['-n', SYSTEM_NS, 'delete', 'secret', name, '--ignore-not-found'])),
  };
}

/** The AWS SDK's Lambda client against the gateway, signing with the key; no retries of its own. */
export function lambdaClient(
  base: string,
  key: Pick<AccessKey, 'accessKeyId' | 'secretAccessKey'>,
): LambdaClient {
  return new LambdaClient({
    region: 'us-east-1',
    endpoint: base,
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    maxAttempts: 1,
  });
}

/** The gateway pods (name, IP, restarts). */
export async function gatewayPods(): Promise<{ name: string; ip: string; restarts: number }[]> {
  const pods = await cluster().core.listNamespacedPod({
    namespace: SYSTEM_NS,
    labelSelector: 'app.kubernetes.io/name=sluice-gateway',
  });
  return pods.items
    .filter((p) => !p.metadata?.deletionTimestamp && p.status?.podIP)
    .map((p) => ({
      name: p.metadata?.name ?? '',
      ip: p.status?.podIP ?? '',
      restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
    }));
}

/** The value of one sample of a Prometheus text exposition (0 when absent). */
export function sample(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const have = Object.fromEntries(
      [...body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Each gateway pod's /metrics (port 9090), by pod name. */
export async function gatewayMetrics(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const p of await gatewayPods()) {
    const fwd = await forward(`${p.ip}:9090`);
    try {
      const res = await fetch(`${fwd.base}/metrics`);
      out.set(p.name, await res.text());
    } finally {
      await fwd.stop();
    }
  }
  return out;
}
