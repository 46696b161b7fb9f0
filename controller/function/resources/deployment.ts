import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1PodSpec,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import {
  RUNTIME_METRICS_PORT,
  functionArn,
  LATEST,
  RUNTIME_INVOKE_PORT,
  workloadLabels,
  workloadName,
  workloadSelector,
} from '../../../api/naming.js';
import { isReservedEnv } from '../../../api/schema.js';
import { INVOKE_TOKEN_DIR, INVOKE_TOKEN_FILE, invokeTokenSecretName } from '../../../api/invoke-token.js';
import { INLINE_CODE_KEY, inlineCodeFile } from './configmap.js';
import { imagePullPolicy, runtimeImageFor, type BuildOptions, type VersionPlan } from './types.js';

/** Lambda's ratio: 1769 MB of memory buys one vCPU. */
export const MB_PER_VCPU = 1769;
export const RUNTIME_API_ADDRESS = '127.0.0.1:9001';
/** The sluice-runtime sidecar of a custom-runtime pod (its own small budget). */
export const SIDECAR_MEMORY_MB = 128;
/**
 * Node.js runtimes: sluice-runtime shares the container with the handler's process and holds
 * memoryMB for the handler itself (it kills the handler's process past memoryMB, as Lambda
 * does), so the container gets this much on top for the runtime process.
 */
export const RUNTIME_OVERHEAD_MB = 64;
const UID = 65532;

export function cpuMillis(memoryMB: number): number {
  return Math.max(10, Math.ceil((memoryMB * 1000) / MB_PER_VCPU));
}

const restricted: V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: UID,
  runAsGroup: UID,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

function env(obj: Record<string, string | number | undefined>): V1EnvVar[] {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([name, value]) => ({ name, value: String(value) }));
}

/**
 * Memory is exact (request = limit). CPU is requested in proportion to memory (1,769 MB = one
 * vCPU, as Lambda), which is also the pod's share when the node's CPUs are contended; the limit
 * is at least `cpuLimitFloorMillis`, so a small function may use idle CPU — above all while its
 * runtime starts, which at 128 MB (73m) would otherwise take seconds.
 */
function limits(
  memoryMB: number,
  cpuLimitFloorMillis: number,
  overheadMB = 0,
): { limits: Record<string, string>; requests: Record<string, string> } {
  const share = cpuMillis(memoryMB);
  const memory = `${memoryMB + overheadMB}Mi`;
  return {
    limits: { memory, cpu: cpuQuantity(Math.max(share, cpuLimitFloorMillis)) },
    requests: { memory, cpu: cpuQuantity(share) },
  };
}

/** A CPU quantity in the API server's canonical form (1000m is stored as "1"). */
export function cpuQuantity(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Settings of the sluice-runtime process (see runtime/config.ts). */
function runtimeEnv(plan: VersionPlan, opts: BuildOptions): V1EnvVar[] {
  const s = plan.spec;
  return env({
    SLUICE_FUNCTION_NAME: plan.functionName,
    SLUICE_FUNCTION_NAMESPACE: plan.namespace,
    SLUICE_FUNCTION_VERSION: plan.version,
    SLUICE_RUNTIME: s.runtime,
    SLUICE_HANDLER: s.handler ?? 'index.handler',
    SLUICE_MEMORY_MB: s.memoryMB ?? 128,
    SLUICE_TIMEOUT_SECONDS: s.timeoutSeconds ?? 3,
    SLUICE_TASK_ROOT: '/var/task',
    SLUICE_RUNTIME_API: RUNTIME_API_ADDRESS,
    SLUICE_INVOKE_PORT: RUNTIME_INVOKE_PORT,
    SLUICE_CONCURRENCY: s.scaling?.concurrencyPerPod ?? 1,
    SLUICE_REGION: opts.region,
    SLUICE_METRICS_PORT: RUNTIME_METRICS_PORT,
    SLUICE_INVOKE_TOKEN_FILE: opts.invokeKey ? INVOKE_TOKEN_FILE : undefined,
    ...policyWaitEnv(opts),
    ...telemetryEnv(plan, opts),
  });
}

function policyWaitEnv(opts: BuildOptions): Record<string, string | number> {
  const w = opts.policyWait;
  if (!w) return {};
  return {
    SLUICE_POLICY_CANARY: w.canary,
    SLUICE_POLICY_CONTROL_PORT: w.controlPort,
    SLUICE_POLICY_WAIT_SECONDS: w.budgetSeconds,
  };
}

/**
 * A Node.js runtime with a code image runs the function's own build of sluice-runtime, which
 * cannot be trusted to wait for the NetworkPolicy: the platform's runtime image does it first, as
 * an init container (the kubelet starts the function's container only once it exits 0).
 */
function policyWaitInit(plan: VersionPlan, opts: BuildOptions): V1Container[] {
  const s = plan.spec;
  if (!opts.policyWait || s.runtime === 'provided' || !s.code.image) return [];
  const image = runtimeImageFor(opts.runtimeImages, s.runtime);
  return [
    {
      name: 'sluice-policy-wait',
      image,
      imagePullPolicy: imagePullPolicy(image, opts),
      args: ['/app/dist/runtime/policy-main.js'],
      env: env(policyWaitEnv(opts)),
      resources: limits(SIDECAR_MEMORY_MB, opts.cpuLimitFloorMillis),
      securityContext: restricted,
      terminationMessagePolicy: 'FallbackToLogsOnError',
    },
  ];
}

/**
 * The function's invoke token, for sluice-runtime's container only (never a custom runtime's):
 * read-only, readable by the pod's group.
 */
function tokenVolume(
  plan: VersionPlan,
  opts: BuildOptions,
): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  if (!opts.invokeKey) return { volumes: [], mounts: [] };
  return {
    volumes: [
      {
        name: 'invoke-token',
        secret: { secretName: invokeTokenSecretName(plan.functionName), defaultMode: 0o440 },
      },
    ],
    mounts: [{ name: 'invoke-token', mountPath: INVOKE_TOKEN_DIR, readOnly: true }],
  };
}

/** OTel settings of sluice-runtime: spans named after the function, exported to the platform's collector. */
function telemetryEnv(plan: VersionPlan, opts: BuildOptions): Record<string, string> {
  if (!opts.telemetry) return {};
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: opts.telemetry.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: opts.telemetry.protocol,
    OTEL_SERVICE_NAME: plan.functionName,
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_RESOURCE_ATTRIBUTES: [
      `faas.name=${plan.functionName}`,
      `faas.version=${encodeURIComponent(plan.version)}`,
      `k8s.namespace.name=${plan.namespace}`,
      `cloud.region=${opts.region}`,
    ].join(','),
  };
}

/**
 * The function's own variables for the built-in runtime's container: each as
 * `SLUICE_ENV_<NAME>`, which sluice-runtime hands to the handler's process as `NAME`. So none of
 * them is an environment variable of sluice-runtime itself: NODE_OPTIONS, LD_PRELOAD and the like
 * cannot run code inside it (before its policy check, beside its invoke token).
 */
export const FUNCTION_ENV_PREFIX = 'SLUICE_ENV_';

/** The spec's variables without reserved names (rejected by the API server; dropped for specs stored before that rule). */
function userEnv(plan: VersionPlan): V1EnvVar[] {
  return Object.entries(plan.spec.environment ?? {})
    .filter(([name]) => !isReservedEnv(name))
    .map(([name, value]) => ({ name, value }));
}

/** One variable per name, the last one of each name kept (as the kubelet would; apply rejects duplicates). */
export function lastWins(vars: V1EnvVar[]): V1EnvVar[] {
  const last = new Map(vars.map((v, i) => [v.name, i]));
  return vars.filter((v, i) => last.get(v.name) === i);
}

/**
 * The environment of the container the function's code runs in, the platform's values last: a
 * reserved name in the spec (which the API server rejects already) can never replace them.
 */
function containerEnv(plan: VersionPlan, opts: BuildOptions): V1EnvVar[] {
  const s = plan.spec;
  // TZ is not reserved (Lambda's list): a function may set its own.
  if (s.runtime === 'provided')
    return lastWins([...env({ TZ: ':UTC' }), ...userEnv(plan), ...reservedEnv(plan, opts)]);
  // A code image is the function's own build of the runtime image: its variables as they are.
  const own = s.code.image
    ? userEnv(plan)
    : userEnv(plan).map((e) => ({ ...e, name: `${FUNCTION_ENV_PREFIX}${e.name}` }));
  return lastWins([...own, ...runtimeEnv(plan, opts)]);
}

/** Lambda's reserved variables for a custom runtime's container (the built-in runtime sets its own). */
function reservedEnv(plan: VersionPlan, opts: BuildOptions): V1EnvVar[] {
  const s = plan.spec;
  const qualifier = plan.version === LATEST ? undefined : plan.version;
  return [
    ...env({
      AWS_LAMBDA_RUNTIME_API: RUNTIME_API_ADDRESS,
      AWS_LAMBDA_FUNCTION_NAME: plan.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: plan.version,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: s.memoryMB ?? 128,
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${plan.functionName}`,
      AWS_REGION: opts.region,
      AWS_DEFAULT_REGION: opts.region,
      _HANDLER: s.handler ?? 'index.handler',
      LAMBDA_TASK_ROOT: '/var/task',
      SLUICE_FUNCTION_ARN: functionArn(opts.region, plan.namespace, plan.functionName, qualifier),
    }),
    // One stream per execution environment: the pod's name (Runtime Interface Clients require it).
    { name: 'AWS_LAMBDA_LOG_STREAM_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ];
}

function codeVolume(plan: VersionPlan): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const code = plan.spec.code;
  if (code.inline !== undefined && plan.codeConfigMap) {
    const file = inlineCodeFile(plan.spec.handler ?? 'index.handler');
    return {
      volumes: [
        {
          name: 'code',
          configMap: { name: plan.codeConfigMap, items: [{ key: INLINE_CODE_KEY, path: file }] },
        },
      ],
      mounts: [{ name: 'code', mountPath: '/var/task', readOnly: true }],
    };
  }
  if (code.configMap) {
    return {
      volumes: [{ name: 'code', configMap: { name: code.configMap.name } }],
      mounts: [{ name: 'code', mountPath: '/var/task', readOnly: true }],
    };
  }
  // A code image carries /var/task itself.
  return { volumes: [], mounts: [] };
}

/** Where sluice-fetch-code writes (the init container's view of the two emptyDirs). */
const FETCH_CODE_DIR = '/mnt/task';
const FETCH_LAYER_DIR = '/mnt/opt';
/** The fetch holds one zip (≤ 50 MB) in memory while it unpacks it. */
const FETCH_MEMORY_MB = 256;

/**
 * A zip package and layers (runtime/package-fetch.ts): the init container sluice-fetch-code, from
 * the platform's runtime image and with the function's invoke token, fills two emptyDirs from the
 * gateway before any other container starts; the function's container mounts them read-only at
 * /var/task (the package) and /opt (the layers, in order). Nothing when the function has neither.
 */
function packageParts(
  plan: VersionPlan,
  opts: BuildOptions,
  token: { mounts: V1VolumeMount[] },
): { init: V1Container[]; volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const s = plan.spec;
  const digest = s.code.package;
  const layers = plan.layerDigests ?? [];
  if (!digest && layers.length === 0) return { init: [], volumes: [], mounts: [] };
  const base = `${opts.packageBaseUrl.replace(/\/+$/, '')}/internal/v1/packages/${encodeURIComponent(plan.namespace)}/${encodeURIComponent(plan.functionName)}`;
  const packages = [
    ...layers.map((d) => ({ kind: 'layer', digest: d, url: `${base}/${d}` })),
    ...(digest ? [{ kind: 'code', digest, url: `${base}/${digest}` }] : []),
  ];
  // Unzipped, package and layers are at most 250 MB together (api/limits.ts).
  const dir = (name: string): V1Volume => ({ name, emptyDir: { sizeLimit: '256Mi' } });
  const volumes = [...(digest ? [dir('package')] : []), ...(layers.length ? [dir('layers')] : [])];
  const fetchMounts: V1VolumeMount[] = [
    ...(digest ? [{ name: 'package', mountPath: FETCH_CODE_DIR }] : []),
    ...(layers.length ? [{ name: 'layers', mountPath: FETCH_LAYER_DIR }] : []),
  ];
  const image = runtimeImageFor(opts.runtimeImages, s.runtime);
  return {
    init: [
      {
        name: 'sluice-fetch-code',
        image,
        imagePullPolicy: imagePullPolicy(image, opts),
        args: ['/app/dist/runtime/fetch-main.js'],
        env: env({
          SLUICE_PACKAGES: JSON.stringify(packages),
          SLUICE_CODE_DIR: FETCH_CODE_DIR,
          SLUICE_LAYER_DIR: FETCH_LAYER_DIR,
        }),
        resources: limits(FETCH_MEMORY_MB, opts.cpuLimitFloorMillis),
        securityContext: restricted,
        volumeMounts: [...fetchMounts, ...token.mounts],
        terminationMessagePolicy: 'FallbackToLogsOnError',
      },
    ],
    volumes,
    mounts: [
      ...(digest ? [{ name: 'package', mountPath: '/var/task', readOnly: true }] : []),
      ...(layers.length ? [{ name: 'layers', mountPath: '/opt', readOnly: true }] : []),
    ],
  };
}

const probes = (port: number | string): Pick<V1Container, 'readinessProbe' | 'startupProbe'> => ({
  // Fast readiness: the gateway holds cold calls until the pod is Ready.
  readinessProbe: {
    httpGet: { path: '/readyz', port: port as never },
    periodSeconds: 1,
    failureThreshold: 1,
    successThreshold: 1,
    timeoutSeconds: 1,
  },
});

/**
 * The Deployment running one version. Node.js runtimes: one container, sluice-runtime spawning
 * the handler's process (a code image for a Node.js runtime is built FROM the runtime image and
 * adds /var/task). runtime provided: the custom image runs next to a sluice-runtime sidecar that
 * serves it the Runtime API on the pod's loopback (a native sidecar: an init container with
 * restartPolicy Always, started and listening before the function container starts); the pod
 * shares one process namespace so the sidecar can reset the function's process after a timeout.
 */
export function makeDeployment(plan: VersionPlan, opts: BuildOptions, replicas: number): V1Deployment {
  const s = plan.spec;
  const memoryMB = s.memoryMB ?? 128;
  const timeout = s.timeoutSeconds ?? 3;
  const token = tokenVolume(plan, opts);
  const pkg = packageParts(plan, opts, token);
  const code = codeVolume(plan);
  const volumes = [...code.volumes, ...pkg.volumes];
  const mounts = [...code.mounts, ...pkg.mounts];
  const tmp: V1Volume = { name: 'tmp', emptyDir: { sizeLimit: `${s.ephemeralStorageMB ?? 512}Mi` } };
  const tmpMount: V1VolumeMount = { name: 'tmp', mountPath: '/tmp' };
  const provided = s.runtime === 'provided';
  const runtimeImage =
    !provided && s.code.image ? s.code.image : runtimeImageFor(opts.runtimeImages, s.runtime);
  const runtime: V1Container = {
    name: provided ? 'sluice-runtime' : 'function',
    image: runtimeImage,
    imagePullPolicy: imagePullPolicy(runtimeImage, opts),
    env: provided ? runtimeEnv(plan, opts) : containerEnv(plan, opts),
    ports: [
      { name: 'http', containerPort: RUNTIME_INVOKE_PORT, protocol: 'TCP' },
      { name: 'metrics', containerPort: RUNTIME_METRICS_PORT, protocol: 'TCP' },
    ],
    resources: provided
      ? limits(SIDECAR_MEMORY_MB, opts.cpuLimitFloorMillis)
      : limits(memoryMB, opts.cpuLimitFloorMillis, RUNTIME_OVERHEAD_MB),
    securityContext: restricted,
    volumeMounts: [tmpMount, ...(provided ? code.mounts : mounts), ...token.mounts],
    // Why it stopped (e.g. its NetworkPolicy never came into force) shows in the pod's status.
    terminationMessagePolicy: 'FallbackToLogsOnError',
    ...probes('http'),
  };
  const containers: V1Container[] = provided ? [] : [runtime];
  if (provided) {
    // A custom runtime from a zip package (or a layer's /opt/bootstrap) runs on the platform's base.
    const image = s.code.image ?? opts.runtimeImages.provided;
    containers.push({
      name: 'function',
      image,
      imagePullPolicy: imagePullPolicy(image, opts),
      env: containerEnv(plan, opts),
      resources: limits(memoryMB, opts.cpuLimitFloorMillis),
      securityContext: restricted,
      volumeMounts: [tmpMount, ...pkg.mounts],
    });
  }
  const role = s.executionRole?.serviceAccountName;
  const podSpec: V1PodSpec = {
    // provided: sluice-runtime is a native sidecar (an init container that keeps running), so the
    // kubelet starts the custom runtime only once the Runtime API listens (startupProbe): a
    // custom runtime that cannot connect at start exits, and its restarts would back off.
    // The sidecar serves /healthz only once the pod's NetworkPolicy is in force (its budget).
    ...(provided
      ? {
          initContainers: [
            ...pkg.init,
            {
              ...runtime,
              restartPolicy: 'Always',
              startupProbe: {
                httpGet: { path: '/healthz', port: 'http' as never },
                periodSeconds: 1,
                failureThreshold: Math.max(120, (opts.policyWait?.budgetSeconds ?? 0) + 60),
                timeoutSeconds: 1,
              },
            },
          ],
        }
      : policyWaitInit(plan, opts).length || pkg.init.length
        ? { initContainers: [...policyWaitInit(plan, opts), ...pkg.init] }
        : {}),
    containers,
    volumes: [tmp, ...volumes, ...token.volumes],
    serviceAccountName: role ?? 'default',
    automountServiceAccountToken: role !== undefined,
    enableServiceLinks: false,
    shareProcessNamespace: provided,
    terminationGracePeriodSeconds: timeout + 5,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: UID,
      runAsGroup: UID,
      fsGroup: UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
  const labels = workloadLabels(plan.functionName, plan.version);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: workloadName(plan.functionName, plan.version),
      namespace: plan.namespace,
      labels,
      annotations: { 'sluice.dev/spec-sha256': plan.specHash },
      ownerReferences: [plan.owner],
    },
    spec: {
      replicas,
      revisionHistoryLimit: 2,
      selector: { matchLabels: workloadSelector(plan.functionName, plan.version) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels, annotations: { 'sluice.dev/spec-sha256': plan.specHash } },
        spec: podSpec,
      },
    },
  };
}
