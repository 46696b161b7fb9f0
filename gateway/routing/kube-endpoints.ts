import { DiscoveryV1Api, type KubeConfig, type V1EndpointSlice } from '@kubernetes/client-node';
import { LABELS, RUNTIME_INVOKE_PORT } from '../../api/naming.js';
import type { Logger } from '../../lib/index.js';
import { startWatch, type RunningWatch } from '../../lib/kube/watch.js';
import { versionFromLabel, workloadKey, type EndpointTable } from './router.js';

/** `host:port` with IPv6 hosts in brackets. */
export function formatAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Ready addresses of one EndpointSlice (an endpoint without a ready condition counts as ready). */
export function readyAddresses(slice: V1EndpointSlice): string[] {
  const port = slice.ports?.find((p) => p.port !== undefined)?.port ?? RUNTIME_INVOKE_PORT;
  const out: string[] = [];
  for (const ep of slice.endpoints ?? []) {
    if (ep.conditions?.ready === false || ep.conditions?.terminating === true) continue;
    const ip = ep.addresses[0];
    if (ip) out.push(formatAddress(ip, port));
  }
  return out;
}

/**
 * Addresses of one EndpointSlice whose pods are starting: not ready, not terminating. The
 * activator probes these itself rather than wait for the kubelet's probe and the slice's update.
 */
export function startingAddresses(slice: V1EndpointSlice): string[] {
  const port = slice.ports?.find((p) => p.port !== undefined)?.port ?? RUNTIME_INVOKE_PORT;
  const out: string[] = [];
  for (const ep of slice.endpoints ?? []) {
    if (ep.conditions?.ready !== false || ep.conditions?.terminating === true) continue;
    const ip = ep.addresses[0];
    if (ip) out.push(formatAddress(ip, port));
  }
  return out;
}

/** The workload an EndpointSlice belongs to, from the labels the controller puts on the Service. */
export function sliceWorkload(slice: V1EndpointSlice): string | undefined {
  const labels = slice.metadata?.labels ?? {};
  const fn = labels[LABELS.function];
  const version = labels[LABELS.version];
  const ns = slice.metadata?.namespace;
  if (!fn || !version || !ns) return undefined;
  return workloadKey(ns, fn, versionFromLabel(version));
}

/**
 * Feeds the EndpointTable from a cluster-wide watch on EndpointSlices labelled
 * `sluice.dev/function`. A Service may have several slices; a workload's endpoints are the
 * union of its slices' ready endpoints.
 */
export class EndpointSliceSource {
  private readonly slices = new Map<string, { key: string; addresses: string[]; starting: string[] }>();
  private readonly watch: RunningWatch;

  constructor(
    kc: KubeConfig,
    private readonly table: EndpointTable,
    log: Logger,
  ) {
    const api = kc.makeApiClient(DiscoveryV1Api);
    this.watch = startWatch<V1EndpointSlice>({
      kc,
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      labelSelector: LABELS.function,
      list: () => api.listEndpointSliceForAllNamespaces({ labelSelector: LABELS.function }),
      handlers: { upsert: (s) => this.upsert(s), remove: (s) => this.remove(s) },
      log,
    });
  }

  private static id(s: V1EndpointSlice): string {
    return `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`;
  }

  private upsert(s: V1EndpointSlice): void {
    const key = sliceWorkload(s);
    const id = EndpointSliceSource.id(s);
    const before = this.slices.get(id);
    if (!key) return this.remove(s);
    this.slices.set(id, { key, addresses: readyAddresses(s), starting: startingAddresses(s) });
    if (before && before.key !== key) this.recompute(before.key);
    this.recompute(key);
  }

  private remove(s: V1EndpointSlice): void {
    const id = EndpointSliceSource.id(s);
    const before = this.slices.get(id);
    if (!before) return;
    this.slices.delete(id);
    this.recompute(before.key);
  }

  private recompute(key: string): void {
    const all: string[] = [];
    const starting: string[] = [];
    for (const s of this.slices.values()) {
      if (s.key !== key) continue;
      all.push(...s.addresses);
      starting.push(...s.starting);
    }
    this.table.set(key, all, starting);
  }

  ready(): boolean {
    return this.watch.isSynced();
  }

  synced(): Promise<void> {
    return this.watch.synced;
  }

  stop(): Promise<void> {
    return this.watch.stop();
  }
}
