import type { V1OwnerReference } from '@kubernetes/client-node';
import type { FunctionSpec } from '../../../api/types.js';

/** Everything a builder needs to render one version of a function: pure data, no clients. */
export interface VersionPlan {
  namespace: string;
  functionName: string;
  /** `$LATEST` or a version number. */
  version: string;
  spec: FunctionSpec;
  specHash: string;
  owner: V1OwnerReference;
  /** Name of the content-hashed ConfigMap holding inline code, when the code is inline. */
  codeConfigMap?: string;
}

/** Platform settings the builders need (from the controller's configuration). */
export interface BuildOptions {
  /** Images of sluice-runtime per built-in runtime (custom runtimes use the nodejs22 one as their sidecar). */
  runtimeImages: { nodejs22: string; nodejs24: string };
  region: string;
  /** Labels of the gateway pods: the only ingress a function accepts. */
  gatewayPodLabels: Record<string, string>;
  /** Labels of the pods that scrape the runtime's metrics port (9091), in any namespace. */
  metricsScraperLabels: Record<string, string>;
  /** Labels and namespace of the cluster DNS pods (egress always allowed there). */
  dnsPodLabels: Record<string, string>;
  dnsNamespace: string;
  /** Private address ranges a public function may not reach. */
  privateCidrs: string[];
}

export const DEFAULT_BUILD_OPTIONS: BuildOptions = {
  runtimeImages: {
    nodejs22: 'localhost/sluice/runtime-nodejs22:dev',
    nodejs24: 'localhost/sluice/runtime-nodejs24:dev',
  },
  region: 'sluice',
  gatewayPodLabels: { 'app.kubernetes.io/name': 'sluice-gateway' },
  metricsScraperLabels: { 'app.kubernetes.io/name': 'prometheus' },
  dnsPodLabels: { 'k8s-app': 'kube-dns' },
  dnsNamespace: 'kube-system',
  privateCidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'],
};

/** Parses "k=v,k2=v2" into labels. */
export function parseLabels(selector: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of selector
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [k, v = ''] = part.split('=');
    if (k) out[k.trim()] = v.trim();
  }
  return out;
}

/** The sluice-runtime image for a runtime (a custom runtime's sidecar uses the nodejs22 one). */
export function runtimeImageFor(images: BuildOptions['runtimeImages'], runtime: string): string {
  return runtime === 'nodejs24' ? images.nodejs24 : images.nodejs22;
}
