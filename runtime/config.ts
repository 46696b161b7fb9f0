import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ConfigError, type ConfigOf, type ConfigSpec } from '../lib/index.js';
import { policyCanary, policyControlPort, policyWaitSeconds, region } from '../lib/config-options.js';
import { functionArn, logStreamName } from './format.js';

const NAME = /^[a-z0-9]([-a-z0-9]{0,62}[a-z0-9])?$/;

/** Every setting of `sluice-runtime`; each is a flag and an environment variable (see `--help`). */
export const runtimeSpec = {
  functionName: {
    type: 'string',
    env: 'SLUICE_FUNCTION_NAME',
    flag: 'function-name',
    pattern: NAME,
    patternHint: 'a DNS label (lower-case letters, digits, "-", at most 64 characters)',
    description: 'name of the function (required)',
  },
  namespace: {
    type: 'string',
    env: 'SLUICE_FUNCTION_NAMESPACE',
    flag: 'namespace',
    pattern: NAME,
    patternHint: 'a Kubernetes namespace name',
    default: 'default',
    description: 'namespace of the function: the account field of its ARN',
  },
  version: {
    type: 'string',
    env: 'SLUICE_FUNCTION_VERSION',
    flag: 'function-version',
    pattern: /^(\$LATEST|[1-9][0-9]*)$/,
    patternHint: '$LATEST or a version number',
    default: '$LATEST',
    description: 'the version this pod runs',
  },
  handler: {
    type: 'string',
    env: 'SLUICE_HANDLER',
    flag: 'handler',
    default: 'index.handler',
    description: 'handler string ([path/]module.export) for the built-in Node.js runtimes',
  },
  runtime: {
    type: 'enum',
    env: 'SLUICE_RUNTIME',
    flag: 'runtime',
    values: ['nodejs22', 'nodejs24', 'provided'] as const,
    default: 'nodejs22',
    description: 'nodejs22/nodejs24 spawn the built-in client; provided waits for a custom runtime',
  },
  memoryMB: {
    type: 'int',
    env: 'SLUICE_MEMORY_MB',
    flag: 'memory-mb',
    min: 128,
    max: 10240,
    default: 128,
    description: 'memory size of the function in MB',
  },
  timeoutSeconds: {
    type: 'int',
    env: 'SLUICE_TIMEOUT_SECONDS',
    flag: 'timeout-seconds',
    min: 1,
    max: 900,
    default: 3,
    description: 'invocation deadline in seconds',
  },
  initTimeoutSeconds: {
    type: 'int',
    env: 'SLUICE_INIT_TIMEOUT_SECONDS',
    flag: 'init-timeout-seconds',
    min: 1,
    max: 900,
    default: 10,
    description: 'limit of an eager init (at start and after a reset) that no invocation waits for',
  },
  taskRoot: {
    type: 'string',
    env: 'SLUICE_TASK_ROOT',
    flag: 'task-root',
    default: '/var/task',
    description: 'directory of the function code',
  },
  runtimeApi: {
    type: 'string',
    env: 'SLUICE_RUNTIME_API',
    flag: 'runtime-api',
    pattern: /^[^:\s]+:\d{1,5}$/,
    patternHint: 'host:port',
    default: '127.0.0.1:9001',
    description: 'address of the Runtime API; environment i of a pool listens on port + i',
  },
  invokeHost: {
    type: 'string',
    env: 'SLUICE_INVOKE_HOST',
    flag: 'invoke-host',
    default: '0.0.0.0',
    description: 'address of the invoke endpoint',
  },
  invokePort: {
    type: 'int',
    env: 'SLUICE_INVOKE_PORT',
    flag: 'invoke-port',
    min: 0,
    max: 65535,
    default: 8080,
    description: 'port of the invoke endpoint',
  },
  concurrency: {
    type: 'int',
    env: 'SLUICE_CONCURRENCY',
    flag: 'concurrency',
    min: 1,
    max: 64,
    default: 1,
    description: 'execution environments in this pod (concurrencyPerPod); provided allows 1',
  },
  region,
  nodeBinary: {
    type: 'string',
    env: 'SLUICE_NODE_BINARY',
    flag: 'node-binary',
    description: 'node executable for the built-in client [default: the one running sluice-runtime]',
  },
  invokeTokenFile: {
    type: 'string',
    env: 'SLUICE_INVOKE_TOKEN_FILE',
    flag: 'invoke-token-file',
    default: '',
    description:
      "file holding this function's invoke token (the controller mounts it): the invoke endpoint answers 403 to calls without it; no check when empty",
  },
  policyCanary,
  policyControlPort,
  policyWaitSeconds,
  policyProbeTimeoutMs: {
    type: 'int',
    env: 'SLUICE_POLICY_PROBE_TIMEOUT_MS',
    flag: 'policy-probe-timeout-ms',
    min: 50,
    max: 10000,
    default: 500,
    description: 'a connection to the canary unanswered for this long counts as denied (CNIs that drop)',
  },
  freezeIdle: {
    type: 'bool',
    env: 'SLUICE_FREEZE_IDLE',
    flag: 'freeze-idle',
    default: true,
    description: 'stop (SIGSTOP) the function process between invocations, as a frozen sandbox',
  },
} as const satisfies ConfigSpec;

export type RuntimeConfig = ConfigOf<typeof runtimeSpec>;
export type RuntimeKind = RuntimeConfig['runtime'];

/** Everything an execution environment needs, resolved once from the configuration. */
export interface RuntimeSettings {
  functionName: string;
  namespace: string;
  version: string;
  handler: string;
  runtime: RuntimeKind;
  memoryMB: number;
  timeoutSeconds: number;
  initTimeoutSeconds: number;
  taskRoot: string;
  runtimeApiHost: string;
  runtimeApiPort: number;
  concurrency: number;
  region: string;
  nodeBinary: string;
  clientEntry: string;
  freezeIdle: boolean;
  logGroupName: string;
  logStreamName: string;
  /** The function's own environment: passed through to the built-in client. */
  functionEnv: Record<string, string>;
}

/**
 * The controller passes each of the function's variables as `SLUICE_ENV_<NAME>` (so none is an
 * environment variable of sluice-runtime itself, e.g. NODE_OPTIONS); the handler's process gets
 * them as `NAME`.
 */
export const FUNCTION_ENV_PREFIX = 'SLUICE_ENV_';

/** Variables of sluice-runtime that are not the function's own. */
function isPlatformVariable(key: string): boolean {
  return (
    key.startsWith('SLUICE_') || key.startsWith('OTEL_') || key.startsWith('VITEST') || key === 'NODE_ENV'
  );
}

export function resolveSettings(
  c: RuntimeConfig,
  env: Readonly<Record<string, string | undefined>>,
  now: Date = new Date(),
): RuntimeSettings {
  if (!c.functionName) {
    throw new ConfigError('environment variable SLUICE_FUNCTION_NAME (flag --function-name) is required');
  }
  if (c.runtime === 'provided' && c.concurrency !== 1) {
    throw new ConfigError(`--concurrency ${c.concurrency} is invalid for runtime provided; allowed: 1`);
  }
  const colon = c.runtimeApi.lastIndexOf(':');
  const port = Number(c.runtimeApi.slice(colon + 1));
  if (port < 1 || port + c.concurrency - 1 > 65535) {
    throw new ConfigError(
      `--runtime-api "${c.runtimeApi}": ports ${port}..${port + c.concurrency - 1} are invalid`,
    );
  }
  const functionEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !isPlatformVariable(k)) functionEnv[k] = v;
  for (const [k, v] of Object.entries(env)) {
    const name = k.slice(FUNCTION_ENV_PREFIX.length);
    if (v !== undefined && k.startsWith(FUNCTION_ENV_PREFIX) && name) functionEnv[name] = v;
  }
  const instance = (env.HOSTNAME ?? hostname()).replace(/[^A-Za-z0-9-]/g, '');
  return {
    functionName: c.functionName,
    namespace: c.namespace,
    version: c.version,
    handler: c.handler,
    runtime: c.runtime,
    memoryMB: c.memoryMB,
    timeoutSeconds: c.timeoutSeconds,
    initTimeoutSeconds: c.initTimeoutSeconds,
    taskRoot: c.taskRoot,
    runtimeApiHost: c.runtimeApi.slice(0, colon),
    runtimeApiPort: port,
    concurrency: c.concurrency,
    region: c.region,
    nodeBinary: c.nodeBinary ?? process.execPath,
    clientEntry: fileURLToPath(new URL('./node-client/main.js', import.meta.url)),
    freezeIdle: c.freezeIdle,
    logGroupName: `/sluice/${c.namespace}/${c.functionName}`,
    logStreamName: logStreamName(c.version, instance, now),
    functionEnv,
  };
}

/** The ARN of the function as invoked: unqualified, or with the caller's version or alias. */
export function invokedArn(s: RuntimeSettings, qualifier: string | undefined): string {
  return functionArn({ region: s.region, namespace: s.namespace, name: s.functionName, qualifier });
}
