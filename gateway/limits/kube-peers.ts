import { DiscoveryV1Api, type KubeConfig, type V1EndpointSlice } from '@kubernetes/client-node';
import type { Logger } from '../../lib/index.js';
import { startWatch, type RunningWatch } from '../../lib/kube/watch.js';
import type { PeerView } from './limiter.js';

/**
 * The ready gateway replicas, from the EndpointSlices of the gateway's own Service. Replicas are
 * ordered by pod IP; this replica is found by its own IP (`POD_IP` from the downward API). A
 * replica not (yet) listed counts itself as one more, last in order.
 */
export class KubePeers implements PeerView {
  private readonly slices = new Map<string, string[]>();
  private ips: string[] = [];
  private readonly watch: RunningWatch;

  constructor(
    kc: KubeConfig,
    namespace: string,
    service: string,
    private readonly selfIp: string,
    log: Logger,
  ) {
    const api = kc.makeApiClient(DiscoveryV1Api);
    const labelSelector = `kubernetes.io/service-name=${service}`;
    this.watch = startWatch<V1EndpointSlice>({
      kc,
      path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      labelSelector,
      list: () => api.listNamespacedEndpointSlice({ namespace, labelSelector }),
      handlers: {
        upsert: (s) => this.set(s.metadata?.name ?? '', readyIps(s)),
        remove: (s) => this.set(s.metadata?.name ?? '', undefined),
      },
      log,
    });
  }

  private set(name: string, ips: string[] | undefined): void {
    if (ips) this.slices.set(name, ips);
    else this.slices.delete(name);
    this.ips = [...new Set([...this.slices.values()].flat())].sort();
  }

  count(): number {
    return this.ips.includes(this.selfIp) ? this.ips.length : this.ips.length + 1;
  }

  index(): number {
    const i = this.ips.indexOf(this.selfIp);
    return i >= 0 ? i : this.ips.length;
  }

  stop(): Promise<void> {
    return this.watch.stop();
  }
}

function readyIps(s: V1EndpointSlice): string[] {
  return (s.endpoints ?? [])
    .filter((e) => e.conditions?.ready !== false)
    .map((e) => e.addresses[0])
    .filter((a): a is string => Boolean(a));
}
