import type { ConfigOf, ConfigSpec } from '../lib/config.js';
import {
  healthPort,
  podNamespace,
  podName,
  natsCreds,
  natsAccountsConfigMap,
  destinationBlockedCidrs,
  region,
  invokeKeyFile,
  policyCanary,
  policyControlPort,
  policyWaitSeconds,
} from '../lib/config-options.js';

export const controllerSpec = {
  healthPort,
  watchNamespace: {
    type: 'string',
    env: 'SLUICE_WATCH_NAMESPACE',
    flag: 'watch-namespace',
    default: '',
    description: 'namespace to watch (all namespaces when empty)',
  },
  podNamespace: {
    ...podNamespace,
    description: 'namespace the controller runs in (its Lease lives there)',
  },
  podName: {
    ...podName,
    description: "this replica's identity for leader election (hostname when empty)",
  },
  runtimeImageNodejs22: {
    type: 'string',
    env: 'SLUICE_RUNTIME_IMAGE_NODEJS22',
    flag: 'runtime-image-nodejs22',
    default: 'localhost/sluice/runtime-nodejs22:dev',
    description: 'image of the in-pod runtime for nodejs22 (also the sidecar of custom runtimes)',
  },
  runtimeImageNodejs24: {
    type: 'string',
    env: 'SLUICE_RUNTIME_IMAGE_NODEJS24',
    flag: 'runtime-image-nodejs24',
    default: 'localhost/sluice/runtime-nodejs24:dev',
    description: 'image of the in-pod runtime for nodejs24',
  },
  runtimeImageProvided: {
    type: 'string',
    env: 'SLUICE_RUNTIME_IMAGE_PROVIDED',
    flag: 'runtime-image-provided',
    default: 'localhost/sluice/provided:dev',
    description:
      'function image of runtime provided from a zip package (runs /var/task/bootstrap, else /opt/bootstrap)',
  },
  destinationBlockedCidrs: {
    ...destinationBlockedCidrs,
    description:
      "the cluster's pod and service ranges (comma-separated CIDRs) that http(s) destinations may not reach; a Function naming one gets DestinationsValid=False",
  },
  gatewaySelector: {
    type: 'string',
    env: 'SLUICE_GATEWAY_SELECTOR',
    flag: 'gateway-selector',
    default: 'app.kubernetes.io/name=sluice-gateway',
    description: 'label selector of gateway pods (function pods accept ingress only from them)',
  },
  metricsNamespaceSelector: {
    type: 'string',
    env: 'SLUICE_METRICS_NAMESPACE_SELECTOR',
    flag: 'metrics-namespace-selector',
    default: 'kubernetes.io/metadata.name=monitoring',
    description:
      "labels (k=v,...) of the namespaces whose pods may scrape function pods' metrics port (their NetworkPolicy)",
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
  natsUrl: {
    type: 'string',
    env: 'SLUICE_NATS_URL',
    flag: 'nats-url',
    default: '',
    description: 'NATS server: the controller manages one NATS account per namespace there (none when empty)',
  },
  natsCreds: {
    ...natsCreds,
    description: "the controller's NATS credentials file (a user of the system account: account claims only)",
  },
  natsKeysDir: {
    type: 'string',
    env: 'SLUICE_NATS_KEYS_DIR',
    flag: 'nats-keys-dir',
    default: '/var/run/secrets/sluice/nats',
    description:
      'directory with the files operator-signer, tenant-master, tenant-signer and platform-signer-public (Secret sluice-nats-controller)',
  },
  natsTenantUrl: {
    type: 'string',
    env: 'SLUICE_NATS_TENANT_URL',
    flag: 'nats-tenant-url',
    default: 'nats://sluice-nats.sluice-system.svc:4222',
    description: "the NATS URL written into namespaces' sluice-nats Secrets",
  },
  natsAccountsConfigMap: {
    ...natsAccountsConfigMap,
    description:
      'ConfigMap (pod namespace) where each namespace’s NATS account is published for the poller and gateway',
  },
  natsTenantDiskBytes: {
    type: 'int',
    env: 'SLUICE_NATS_TENANT_DISK_BYTES',
    flag: 'nats-tenant-disk-bytes',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: 256 * 1024 * 1024,
    description: "JetStream file storage of each namespace's account (bytes)",
  },
  natsTenantMemoryBytes: {
    type: 'int',
    env: 'SLUICE_NATS_TENANT_MEMORY_BYTES',
    flag: 'nats-tenant-memory-bytes',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: 0,
    description: "JetStream memory storage of each namespace's account (bytes; 0: file streams only)",
  },
  natsTenantStreams: {
    type: 'int',
    env: 'SLUICE_NATS_TENANT_STREAMS',
    flag: 'nats-tenant-streams',
    min: -1,
    max: 1_000_000,
    default: 32,
    description: "streams (KV buckets and object stores included) of each namespace's account (-1: no limit)",
  },
  natsTenantConsumers: {
    type: 'int',
    env: 'SLUICE_NATS_TENANT_CONSUMERS',
    flag: 'nats-tenant-consumers',
    min: -1,
    max: 1_000_000,
    default: 256,
    description:
      "consumers of each namespace's account, the platform's for its mappings included (-1: no limit)",
  },
  natsBudgetDiskBytes: {
    type: 'int',
    env: 'SLUICE_NATS_BUDGET_DISK_BYTES',
    flag: 'nats-budget-disk-bytes',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: 4 * 1024 * 1024 * 1024,
    description:
      "file storage all namespaces' accounts may reserve together; keep it under the server's max_file_store minus the platform's own streams",
  },
  natsBudgetMemoryBytes: {
    type: 'int',
    env: 'SLUICE_NATS_BUDGET_MEMORY_BYTES',
    flag: 'nats-budget-memory-bytes',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: 128 * 1024 * 1024,
    description: "memory storage all namespaces' accounts may reserve together (under max_memory_store)",
  },
  region: {
    ...region,
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
  functionCpuLimitFloorMillis: {
    type: 'int',
    env: 'SLUICE_FUNCTION_CPU_LIMIT_FLOOR_MILLIS',
    flag: 'function-cpu-limit-floor-millis',
    min: 0,
    max: 64000,
    default: 1000,
    description:
      'lowest CPU limit of function pods (millicores): they may use idle CPU up to it, e.g. while starting; their request (their share when CPUs are contended) stays proportional to memory. 0: limit = that share',
  },
  invokeKeyFile,
  policyCanary: {
    ...policyCanary,
    description:
      "the gateway pods' NetworkPolicy canary (a headless Service of them and the canary port, e.g. sluice-policy-canary.sluice-system.svc:8070): function pods run no code until their policy denies it (runtime/policy-wait.ts); no wait when empty",
  },
  policyControlPort: {
    ...policyControlPort,
    default: 8080,
    description: "a port of the same pods every function policy allows (the gateway's invoke port)",
  },
  policyWaitSeconds: {
    ...policyWaitSeconds,
    description:
      "function pods' longest wait for their NetworkPolicy; past it they fail their init and restart",
  },
  peerClusterCidrs: {
    type: 'string',
    env: 'SLUICE_PEER_CLUSTER_CIDRS',
    flag: 'peer-cluster-cidrs',
    default: '',
    description:
      "comma-separated ranges of the cluster's own networks (nodes, pods, Services): no cidr peer of a private function may overlap them (nor link-local ranges), unless --peer-allowed-cidrs contains it",
  },
  peerAllowedNamespaces: {
    type: 'string',
    env: 'SLUICE_PEER_ALLOWED_NAMESPACES',
    flag: 'peer-allowed-namespaces',
    default: '',
    description:
      "comma-separated namespaces private functions may name as peers although they are the platform's or kube-system",
  },
  peerAllowedCidrs: {
    type: 'string',
    env: 'SLUICE_PEER_ALLOWED_CIDRS',
    flag: 'peer-allowed-cidrs',
    default: '',
    description:
      'comma-separated ranges private functions may name as cidr peers although they are link-local or the cluster’s own',
  },
  trustedImagePrefixes: {
    type: 'string',
    env: 'SLUICE_TRUSTED_IMAGE_PREFIXES',
    flag: 'trusted-image-prefixes',
    default: '',
    description:
      'comma-separated image name prefixes pulled IfNotPresent (e.g. registry.example.com/platform/); every other code.image is pulled Always, so a pod cannot run an image another tenant left on the node without its own pull credentials',
  },
  functionOtlpEndpoint: {
    type: 'string',
    env: 'SLUICE_FUNCTION_OTLP_ENDPOINT',
    flag: 'function-otlp-endpoint',
    default: '',
    pattern: /^(https?:\/\/[^\s/]+(\/\S*)?)?$/,
    patternHint: 'an http(s) URL such as http://otel-collector.observability:4318, or empty',
    description:
      'OTLP endpoint function pods export their spans to (OTEL_EXPORTER_OTLP_ENDPOINT of sluice-runtime); none when empty',
  },
  functionOtlpProtocol: {
    type: 'enum',
    env: 'SLUICE_FUNCTION_OTLP_PROTOCOL',
    flag: 'function-otlp-protocol',
    values: ['http/protobuf', 'http/json', 'grpc'],
    default: 'http/protobuf',
    description: 'OTLP protocol of function pods (OTEL_EXPORTER_OTLP_PROTOCOL)',
  },
  otlpCollectorNamespace: {
    type: 'string',
    env: 'SLUICE_OTLP_COLLECTOR_NAMESPACE',
    flag: 'otlp-collector-namespace',
    default: '',
    description:
      "namespace of the OTLP collector's pods, which function pods may then reach on the endpoint's port (their NetworkPolicy keeps other private addresses out)",
  },
  otlpCollectorSelector: {
    type: 'string',
    env: 'SLUICE_OTLP_COLLECTOR_SELECTOR',
    flag: 'otlp-collector-selector',
    default: '',
    description: "label selector of the OTLP collector's pods (with --otlp-collector-namespace)",
  },
} as const satisfies ConfigSpec;

export type ControllerConfig = ConfigOf<typeof controllerSpec>;
