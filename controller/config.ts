import type { ConfigOf, ConfigSpec } from '../lib/config.js';

export const controllerSpec = {
  healthPort: {
    type: 'int',
    env: 'SLUICE_HEALTH_PORT',
    flag: 'health-port',
    min: 1,
    max: 65535,
    default: 8081,
    description: 'port of /healthz and /readyz',
  },
  watchNamespace: {
    type: 'string',
    env: 'SLUICE_WATCH_NAMESPACE',
    flag: 'watch-namespace',
    default: '',
    description: 'namespace to watch (all namespaces when empty)',
  },
  podNamespace: {
    type: 'string',
    env: 'POD_NAMESPACE',
    flag: 'pod-namespace',
    default: 'sluice-system',
    description: 'namespace the controller runs in (its Lease lives there)',
  },
  podName: {
    type: 'string',
    env: 'POD_NAME',
    flag: 'pod-name',
    default: '',
    description: "this replica's identity for leader election (hostname when empty)",
  },
  runtimeImage: {
    type: 'string',
    env: 'SLUICE_RUNTIME_IMAGE',
    flag: 'runtime-image',
    default: 'localhost/sluice/runtime-{runtime}:dev',
    description:
      'image of the in-pod runtime (sluice-runtime); {runtime} becomes nodejs22 or nodejs24 (custom runtimes use the nodejs22 one as their sidecar)',
  },
  gatewaySelector: {
    type: 'string',
    env: 'SLUICE_GATEWAY_SELECTOR',
    flag: 'gateway-selector',
    default: 'app.kubernetes.io/name=sluice-gateway',
    description: 'label selector of gateway pods (function pods accept ingress only from them)',
  },
  dnsSelector: {
    type: 'string',
    env: 'SLUICE_DNS_SELECTOR',
    flag: 'dns-selector',
    default: 'k8s-app=kube-dns',
    description: 'label selector of the cluster DNS pods (functions may always reach them)',
  },
  dnsNamespace: {
    type: 'string',
    env: 'SLUICE_DNS_NAMESPACE',
    flag: 'dns-namespace',
    default: 'kube-system',
    description: 'namespace of the cluster DNS pods',
  },
  gatewayUrl: {
    type: 'url',
    env: 'SLUICE_GATEWAY_URL',
    flag: 'gateway-url',
    default: 'http://sluice-gateway.sluice-system.svc:8080',
    description: 'base URL of the gateway, shown in status.url',
  },
  region: {
    type: 'string',
    env: 'SLUICE_REGION',
    flag: 'region',
    default: 'sluice',
    description: 'region reported in ARNs',
  },
  workers: {
    type: 'int',
    env: 'SLUICE_WORKERS',
    flag: 'workers',
    min: 1,
    max: 64,
    default: 4,
    description: 'concurrent reconciles (never two for one object)',
  },
  leaderElection: {
    type: 'bool',
    env: 'SLUICE_LEADER_ELECTION',
    flag: 'leader-election',
    default: true,
    description: 'elect a leader through a Lease (run several replicas safely)',
  },
  resyncSeconds: {
    type: 'int',
    env: 'SLUICE_RESYNC_SECONDS',
    flag: 'resync-seconds',
    min: 10,
    max: 86400,
    default: 300,
    description: 'full resync period',
  },
} as const satisfies ConfigSpec;

export type ControllerConfig = ConfigOf<typeof controllerSpec>;
