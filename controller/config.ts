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
    default: 'localhost/sluice/runtime:dev',
    description: 'image of the in-pod runtime (sluice-runtime)',
  },
  gatewaySelector: {
    type: 'string',
    env: 'SLUICE_GATEWAY_SELECTOR',
    flag: 'gateway-selector',
    default: 'app.kubernetes.io/name=sluice-gateway',
    description: 'label selector of gateway pods (function pods accept ingress only from them)',
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
