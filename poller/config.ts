import type { ConfigOf, ConfigSpec } from '../lib/config.js';

export const pollerSpec = {
  healthPort: {
    type: 'int',
    env: 'SLUICE_HEALTH_PORT',
    flag: 'health-port',
    min: 1,
    max: 65535,
    default: 8081,
    description: 'port of /healthz and /readyz',
  },
  natsUrl: {
    type: 'url',
    env: 'SLUICE_NATS_URL',
    flag: 'nats-url',
    default: 'nats://sluice-nats:4222',
    description: 'NATS JetStream server',
  },
  podNamespace: {
    type: 'string',
    env: 'POD_NAMESPACE',
    flag: 'pod-namespace',
    default: 'sluice-system',
    description: 'namespace the poller runs in (its Leases live there)',
  },
  podName: {
    type: 'string',
    env: 'POD_NAME',
    flag: 'pod-name',
    default: '',
    description: "this replica's identity for work leases (hostname when empty)",
  },
} as const satisfies ConfigSpec;

export type PollerConfig = ConfigOf<typeof pollerSpec>;
