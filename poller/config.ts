import type { ConfigOf, ConfigSpec } from '../lib/config.js';
import {
  healthPort,
  podNamespace,
  podName,
  natsUrl,
  natsCreds,
  natsPlatformSigner,
  natsAccountsConfigMap,
  natsTenantIdleSeconds,
  destinationBlockedCidrs,
  region,
} from '../lib/config-options.js';

export const pollerSpec = {
  healthPort,
  natsUrl,
  natsCreds: {
    ...natsCreds,
    description: "the poller's NATS credentials file (a user of the platform account)",
  },
  natsPlatformSigner: {
    ...natsPlatformSigner,
    description:
      "file with the seed of the scoped signing key of role platform: the poller mints its users in namespaces' accounts with it",
  },
  natsAccountsConfigMap,
  natsTenantIdleSeconds,
  natsReplicas: {
    type: 'int',
    env: 'SLUICE_NATS_REPLICAS',
    flag: 'nats-replicas',
    min: 1,
    max: 5,
    default: 1,
    description: "replicas of the poller's KV buckets (3 with a clustered NATS)",
  },
  podNamespace: {
    ...podNamespace,
    description: 'namespace the poller runs in (its Leases live there, and the gateway Service)',
  },
  podName: {
    ...podName,
    description: "this replica's identity for work leases (hostname when empty)",
  },
  gatewayUrl: {
    type: 'url',
    env: 'SLUICE_GATEWAY_URL',
    flag: 'gateway-url',
    default: 'http://sluice-gateway:8080',
    description: 'the gateway: batches are invoked through its Invoke API',
  },
  gatewayService: {
    type: 'string',
    env: 'SLUICE_GATEWAY_SERVICE',
    flag: 'gateway-service',
    default: 'sluice-gateway',
    description:
      'Service (in the pod namespace) whose EndpointSlices list the gateways to ask for in-flight calls',
  },
  tokenFile: {
    type: 'string',
    env: 'SLUICE_TOKEN_FILE',
    flag: 'token-file',
    default: '/var/run/secrets/sluice/gateway-token/token',
    description:
      "the poller's ServiceAccount token for the gateway: a projected token with the gateway's audience (sluice), re-read every minute as the kubelet rotates it",
  },
  destinationBlockedCidrs,
  region: {
    ...region,
    description: 'region in ARNs and records (awsRegion)',
  },
  leaseSeconds: {
    type: 'int',
    env: 'SLUICE_LEASE_SECONDS',
    flag: 'lease-seconds',
    min: 2,
    max: 300,
    default: 15,
    description: "how long a dead replica's mappings wait before another replica takes them",
  },
  renewSeconds: {
    type: 'int',
    env: 'SLUICE_RENEW_SECONDS',
    flag: 'renew-seconds',
    min: 1,
    max: 100,
    default: 5,
    description: 'how often leases are renewed and mappings re-read',
  },
  ackWaitSeconds: {
    type: 'int',
    env: 'SLUICE_ACK_WAIT_SECONDS',
    flag: 'ack-wait-seconds',
    min: 1,
    max: 3600,
    default: 30,
    description:
      'JetStream ack wait of mapping consumers (in-flight records are kept alive with progress acks)',
  },
  scheduleInvocationType: {
    type: 'enum',
    env: 'SLUICE_SCHEDULE_INVOCATION_TYPE',
    flag: 'schedule-invocation-type',
    values: ['Event', 'RequestResponse'],
    default: 'Event',
    description: 'how schedule ticks invoke (Event: like EventBridge, through the async pipeline)',
  },
  scheduleMaxEventAgeSeconds: {
    type: 'int',
    env: 'SLUICE_SCHEDULE_MAX_EVENT_AGE_SECONDS',
    flag: 'schedule-max-event-age-seconds',
    min: 60,
    max: 86400,
    default: 86400,
    description:
      "how long a schedule tick is retried after throttles and platform errors (5xx, 401/403 of the poller's own credentials) before it is given up (EventBridge Scheduler's default maximum event age)",
  },
  asyncStream: {
    type: 'string',
    env: 'SLUICE_ASYNC_STREAM',
    flag: 'async-stream',
    default: 'SLUICE_ASYNC',
    description:
      "the async pipeline's stream, whose per-function consumer backlog drives scaling ('none': no async backlog)",
  },
  autoscale: {
    type: 'bool',
    env: 'SLUICE_AUTOSCALE',
    flag: 'autoscale',
    default: true,
    description: 'run the autoscaler (on the replica holding the autoscaler lease)',
  },
  autoscaleIntervalMs: {
    type: 'int',
    env: 'SLUICE_AUTOSCALE_INTERVAL_MS',
    flag: 'autoscale-interval-ms',
    min: 100,
    max: 60000,
    default: 1000,
    description: 'how often the autoscaler decides',
  },
  stableWindowSeconds: {
    type: 'int',
    env: 'SLUICE_STABLE_WINDOW_SECONDS',
    flag: 'stable-window-seconds',
    min: 0,
    max: 3600,
    default: 60,
    description: 'scale-in keeps the highest recommendation of this window',
  },
  burstWindowSeconds: {
    type: 'int',
    env: 'SLUICE_BURST_WINDOW_SECONDS',
    flag: 'burst-window-seconds',
    min: 1,
    max: 600,
    default: 10,
    description: 'window of the burst limit',
  },
  burstReplicas: {
    type: 'int',
    env: 'SLUICE_BURST_REPLICAS',
    flag: 'burst-replicas',
    min: 1,
    max: 10000,
    default: 100,
    description: 'most replicas added to one function version per burst window',
  },
} as const satisfies ConfigSpec;

export type PollerConfig = ConfigOf<typeof pollerSpec>;
