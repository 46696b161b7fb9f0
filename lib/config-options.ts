import type { FieldSpec } from './config.js';

/**
 * Settings that more than one component reads under the same variable and flag (the chart sets
 * them once for all): one definition of the name, type, range and default. A component may word
 * its own description: `natsCreds: { ...natsCreds, description: '…' }`.
 */
export const healthPort = {
  type: 'int',
  env: 'SLUICE_HEALTH_PORT',
  flag: 'health-port',
  min: 1,
  max: 65535,
  default: 8081,
  description: 'port of /healthz and /readyz',
} as const satisfies FieldSpec;

export const podNamespace = {
  type: 'string',
  env: 'POD_NAMESPACE',
  flag: 'pod-namespace',
  default: 'sluice-system',
  description: 'namespace this component runs in (downward API)',
} as const satisfies FieldSpec;

export const podName = {
  type: 'string',
  env: 'POD_NAME',
  flag: 'pod-name',
  default: '',
  description: "this replica's identity (hostname when empty)",
} as const satisfies FieldSpec;

export const natsUrl = {
  type: 'url',
  env: 'SLUICE_NATS_URL',
  flag: 'nats-url',
  default: 'nats://sluice-nats:4222',
  description: 'NATS JetStream server',
} as const satisfies FieldSpec;

export const natsCreds = {
  type: 'string',
  env: 'SLUICE_NATS_CREDS',
  flag: 'nats-creds',
  default: '/var/run/secrets/sluice/nats/creds',
  description: 'NATS credentials file of this component (a user of the platform account)',
} as const satisfies FieldSpec;

export const natsPlatformSigner = {
  type: 'string',
  env: 'SLUICE_NATS_PLATFORM_SIGNER',
  flag: 'nats-platform-signer',
  default: '/var/run/secrets/sluice/nats/platform-signer',
  description:
    "file with the seed of the scoped signing key of role platform (it mints users in namespaces' accounts)",
} as const satisfies FieldSpec;

export const natsAccountsConfigMap = {
  type: 'string',
  env: 'SLUICE_NATS_ACCOUNTS_CONFIGMAP',
  flag: 'nats-accounts-configmap',
  default: 'sluice-nats-accounts',
  description: "ConfigMap (pod namespace) where the controller publishes each namespace's NATS account",
} as const satisfies FieldSpec;

export const natsTenantIdleSeconds = {
  type: 'int',
  env: 'SLUICE_NATS_TENANT_IDLE_SECONDS',
  flag: 'nats-tenant-idle-seconds',
  min: 1,
  max: 86400,
  default: 300,
  description: "a connection into a namespace's NATS account unused this long is closed",
} as const satisfies FieldSpec;

export const destinationBlockedCidrs = {
  type: 'string',
  env: 'SLUICE_DESTINATION_BLOCKED_CIDRS',
  flag: 'destination-blocked-cidrs',
  default: '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10',
  description:
    "the cluster's pod and service ranges (comma-separated CIDRs) that http(s) destinations may not reach; loopback, private, link-local and unique-local addresses never are",
} as const satisfies FieldSpec;

export const region = {
  type: 'string',
  env: 'SLUICE_REGION',
  flag: 'region',
  pattern: /^[a-z0-9-]{1,32}$/,
  patternHint: 'lower-case letters, digits and "-"',
  default: 'sluice',
  description: 'region field of ARNs and AWS_REGION of the function',
} as const satisfies FieldSpec;

export const invokeKeyFile = {
  type: 'string',
  env: 'SLUICE_INVOKE_KEY_FILE',
  flag: 'invoke-key-file',
  default: '',
  description:
    "the platform's invoke key (the chart mounts Secret sluice-invoke-key): each function gets its invoke token in a Secret mounted into sluice-runtime, which then accepts calls only with it; none when empty",
} as const satisfies FieldSpec;

export const policyCanary = {
  type: 'string',
  env: 'SLUICE_POLICY_CANARY',
  flag: 'policy-canary',
  default: '',
  pattern: /^([^:\s]+:\d{1,5})?$/,
  patternHint: 'host:port, or empty',
  description:
    "host:port every function NetworkPolicy denies but that listens (the gateway's canary port; the host a headless Service of the gateway pods): before anything of the function runs, sluice-runtime waits until it cannot connect there, i.e. until the pod's policy is in force; no wait when empty",
} as const satisfies FieldSpec;

export const policyControlPort = {
  type: 'int',
  env: 'SLUICE_POLICY_CONTROL_PORT',
  flag: 'policy-control-port',
  min: 0,
  max: 65535,
  default: 0,
  description:
    "a port of the canary's pods that every function NetworkPolicy allows (the gateway's invoke port), probed on the same pod address: a refused canary counts only while it answers (0: the canary alone decides)",
} as const satisfies FieldSpec;

export const policyWaitSeconds = {
  type: 'int',
  env: 'SLUICE_POLICY_WAIT_SECONDS',
  flag: 'policy-wait-seconds',
  min: 1,
  max: 600,
  default: 60,
  description:
    'longest wait for the NetworkPolicy; past it sluice-runtime exits (status 3) rather than run the function unprotected',
} as const satisfies FieldSpec;
