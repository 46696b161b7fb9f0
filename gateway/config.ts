import type { ConfigOf, ConfigSpec } from '../lib/config.js';

export const gatewaySpec = {
  port: {
    type: 'int',
    env: 'SLUICE_GATEWAY_PORT',
    flag: 'port',
    min: 1,
    max: 65535,
    default: 8080,
    description: 'HTTP port of the Invoke API and function URLs',
  },
  defaultNamespace: {
    type: 'string',
    env: 'SLUICE_DEFAULT_NAMESPACE',
    flag: 'default-namespace',
    default: 'default',
    pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    patternHint: 'a namespace name (DNS label)',
    description: 'namespace of bare function names',
  },
  natsUrl: {
    type: 'url',
    env: 'SLUICE_NATS_URL',
    flag: 'nats-url',
    default: 'nats://sluice-nats:4222',
    description: 'NATS JetStream server',
  },
  region: {
    type: 'string',
    env: 'SLUICE_REGION',
    flag: 'region',
    default: 'sluice-local',
    description: 'region reported in ARNs',
  },
} as const satisfies ConfigSpec;

export type GatewayConfig = ConfigOf<typeof gatewaySpec>;
