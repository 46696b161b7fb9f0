import { DiscoveryV1Api, type KubeConfig, type V1EndpointSlice } from '@kubernetes/client-node';
import { startWatch, type RunningWatch } from '../lib/kube/watch.js';
import type { Logger } from '../lib/log.js';
import type { GatewayEndpoints } from './autoscaler/inflight.js';

/** Ready gateway pods, from the EndpointSlices of the gateway Service. */
export class KubeGatewayEndpoints implements GatewayEndpoints {
  private readonly slices: RunningWatch<V1EndpointSlice>;

  constructor(kc: KubeConfig, namespace: string, service: string, log: Logger) {
    const api = kc.makeApiClient(DiscoveryV1Api);
    const labelSelector = `kubernetes.io/service-name=${service}`;
    this.slices = startWatch<V1EndpointSlice>({
      kc,
      path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      list: () => api.listNamespacedEndpointSlice({ namespace, labelSelector }),
      labelSelector,
      log,
    });
  }

  /** Resolves once the first list arrived (the watch retries on its own until then). */
  start(): Promise<void> {
    return this.slices.synced;
  }

  stop(): Promise<void> {
    return this.slices.stop();
  }

  urls(): string[] {
    return gatewayUrls(this.slices.list());
  }
}

/** `http://IP:PORT` of every ready endpoint (the port named http, else the first). */
export function gatewayUrls(slices: readonly V1EndpointSlice[]): string[] {
  const out = new Set<string>();
  for (const s of slices) {
    const port = (s.ports ?? []).find((p) => p.name === 'http') ?? s.ports?.[0];
    if (!port?.port) continue;
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      for (const a of e.addresses.slice(0, 1))
        out.add(`http://${a.includes(':') ? `[${a}]` : a}:${port.port}`);
    }
  }
  return [...out].sort();
}
