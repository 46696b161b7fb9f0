import type { V1OwnerReference } from '@kubernetes/client-node';
import type { FunctionSpec } from '../../../api/types.js';
import { LINK_LOCAL_CIDRS, type PeerPolicy } from '../peers.js';

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
  /** The package digests of spec.layers' LayerVersions, in the spec's order (resolved by the reconciler). */
  layerDigests?: string[];
}

/** Platform settings the builders need (from the controller's configuration). */
export interface BuildOptions {
  /**
   * Images of sluice-runtime per built-in runtime (custom runtimes use the nodejs22 one as their
   * sidecar), and `provided`: the minimal base a custom runtime from a zip package runs on (it
   * execs /var/task/bootstrap, else /opt/bootstrap).
   */
  runtimeImages: { nodejs22: string; nodejs24: string; provided: string };
  /**
   * The gateway's base URL function pods download their zip package and layers from
   * (`/internal/v1/packages/...`, runtime/package-fetch.ts).
   */
  packageBaseUrl: string;
  region: string;
  /** The platform's own namespace (the release's): where the gateway pods that call functions run. */
  platformNamespace: string;
  /** Labels of the gateway pods (in platformNamespace): the only ingress a function accepts. */
  gatewayPodLabels: Record<string, string>;
  /**
   * The platform's invoke key (api/invoke-token.ts): each function gets its token in a Secret
   * mounted into sluice-runtime, which then refuses calls without it. None: pods check no token.
   */
  invokeKey?: Buffer;
  /**
   * Policy before code (runtime/policy-wait.ts): sluice-runtime waits until it can no longer reach
   * `canary` (host:port of the gateway pods' canary; every function policy denies it) while
   * `controlPort` on the same pods answers, before any code of the function runs. None: no wait.
   */
  policyWait?: { canary: string; controlPort: number; budgetSeconds: number };
  /**
   * Labels of the namespaces whose pods may scrape the runtime's metrics port (9091): the
   * monitoring namespace. (Any pod elsewhere could carry a Prometheus label.)
   */
  metricsNamespaceLabels: Record<string, string>;
  /** Labels and namespace of the cluster DNS pods (egress always allowed there). */
  dnsPodLabels: Record<string, string>;
  dnsNamespace: string;
  /** Private address ranges a public function may not reach. */
  privateCidrs: string[];
  /** What a private function's peers may name (controller/function/peers.ts). */
  peerPolicy: PeerPolicy;
  /**
   * Lowest CPU limit of a function's containers (millicores); their request stays proportional
   * to memory. 0: the limit is the proportional share too (strict, as Lambda).
   */
  cpuLimitFloorMillis: number;
  /** Where sluice-runtime exports spans (OTLP); no telemetry in function pods when absent. */
  telemetry?: FunctionTelemetry;
  /**
   * Image name prefixes the cluster admin trusts (e.g. `registry.example.com/platform/`): pulled
   * `IfNotPresent`. Every other `code.image` is pulled `Always`, so the kubelet checks the pod's
   * own pull credentials each time instead of running a copy another tenant's pod left on the node.
   * The runtime images are the platform's own and always trusted.
   */
  trustedImagePrefixes: string[];
}

export interface FunctionTelemetry {
  /** OTEL_EXPORTER_OTLP_ENDPOINT, e.g. `http://otel-collector.observability:4318`. */
  endpoint: string;
  protocol: 'http/protobuf' | 'http/json' | 'grpc';
  /** The collector's pods, which every function may reach on `port` (a NetworkPolicy egress rule). */
  collector?: { namespace: string; podLabels: Record<string, string>; port: number };
}

/** The port of an OTLP endpoint URL (its scheme's default when it names none). */
export function endpointPort(endpoint: string): number {
  const u = new URL(endpoint);
  return u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
}

export const DEFAULT_BUILD_OPTIONS: BuildOptions = {
  runtimeImages: {
    nodejs22: 'localhost/sluice/runtime-nodejs22:dev',
    nodejs24: 'localhost/sluice/runtime-nodejs24:dev',
    provided: 'localhost/sluice/provided:dev',
  },
  packageBaseUrl: 'http://sluice-gateway.sluice-system.svc:8080',
  region: 'sluice',
  platformNamespace: 'sluice-system',
  gatewayPodLabels: { 'app.kubernetes.io/name': 'sluice-gateway' },
  metricsNamespaceLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
  dnsPodLabels: { 'k8s-app': 'kube-dns' },
  dnsNamespace: 'kube-system',
  privateCidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'],
  peerPolicy: {
    deniedNamespaces: ['sluice-system', 'kube-system'],
    deniedCidrs: LINK_LOCAL_CIDRS,
    allowedCidrs: [],
    platformNamespace: 'sluice-system',
  },
  cpuLimitFloorMillis: 1000,
  trustedImagePrefixes: [],
};

/** `Always` for a tenant's image; `IfNotPresent` for the platform's runtime images and trusted prefixes. */
export function imagePullPolicy(image: string, opts: BuildOptions): 'Always' | 'IfNotPresent' {
  const trusted =
    Object.values(opts.runtimeImages).includes(image) ||
    opts.trustedImagePrefixes.some((p) => p !== '' && image.startsWith(p));
  return trusted ? 'IfNotPresent' : 'Always';
}

/** A comma-separated list (empty entries dropped). */
export function parseList(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

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

/** Function pods' telemetry from the controller's settings: none without an endpoint. */
export function functionTelemetry(c: {
  functionOtlpEndpoint: string;
  functionOtlpProtocol: FunctionTelemetry['protocol'];
  otlpCollectorNamespace: string;
  otlpCollectorSelector: string;
}): Pick<BuildOptions, 'telemetry'> {
  if (!c.functionOtlpEndpoint) return {};
  const collector =
    c.otlpCollectorNamespace && c.otlpCollectorSelector
      ? {
          namespace: c.otlpCollectorNamespace,
          podLabels: parseLabels(c.otlpCollectorSelector),
          port: endpointPort(c.functionOtlpEndpoint),
        }
      : undefined;
  return {
    telemetry: {
      endpoint: c.functionOtlpEndpoint,
      protocol: c.functionOtlpProtocol,
      ...(collector ? { collector } : {}),
    },
  };
}
