import type { ComponentContext } from '../lib/index.js';
import { ConfigError, InFlight } from '../lib/index.js';
import { resolveSettings, type RuntimeConfig, type RuntimeSettings } from './config.js';
import { Environment, type ProcessSource } from './environment.js';
import { FunctionLog, type LineOutput } from './function-log.js';
import { FileInvokeAuth, OPEN_INVOKE_AUTH, type InvokeAuth } from './invoke-auth.js';
import { startInvokeServer, type InvokeServer } from './invoke-server.js';
import { RuntimeMetrics } from './metrics.js';
import { EnvironmentPool } from './pool.js';
import { findSocketOwner } from './proc.js';
import { adoptProcess, spawnNodeClient } from './process.js';
import { startRuntimeApi, type RuntimeApiServer } from './runtime-api.js';
import { netConnector, PolicyNotEnforcedError, waitForPolicy, type Connector } from './policy-wait.js';

/** What `startRuntime` leaves running (tests and main.ts use it). */
export interface RunningRuntime {
  settings: RuntimeSettings;
  pool: EnvironmentPool;
  invokeServer: InvokeServer;
  runtimeApis: RuntimeApiServer[];
}

function processSource(s: RuntimeSettings, runtimeApi: string, log: FunctionLog): ProcessSource {
  if (s.runtime === 'provided') {
    return {
      start: () => undefined,
      adopt: (port) => {
        const pid = findSocketOwner(port);
        return pid === undefined ? undefined : adoptProcess(pid);
      },
    };
  }
  return { start: () => spawnNodeClient(s, runtimeApi, log) };
}

/** Waits for the pod's NetworkPolicy (runtime/policy-wait.ts); its time in ms, 0 without a canary. */
async function waitForNetworkPolicy(
  c: RuntimeConfig,
  metrics: RuntimeMetrics,
  log: ComponentContext<RuntimeConfig>['log'],
  connector: Connector = netConnector,
): Promise<number> {
  if (!c.policyCanary) return 0;
  const started = Date.now();
  try {
    const r = await waitForPolicy(connector, {
      canary: c.policyCanary,
      controlPort: c.policyControlPort || undefined,
      budgetMs: c.policyWaitSeconds * 1000,
      intervalMs: 50,
      probeTimeoutMs: c.policyProbeTimeoutMs,
      onOpen: (attempt) => {
        if (attempt === 1) log.info({ canary: c.policyCanary }, 'waiting for the NetworkPolicy of this pod');
      },
    });
    metrics.policyWait(r.waitedMs / 1000, 'enforced');
    log.info({ waitedMs: r.waitedMs, attempts: r.attempts }, 'NetworkPolicy in force');
    return r.waitedMs;
  } catch (err) {
    if (err instanceof PolicyNotEnforcedError) metrics.policyWait((Date.now() - started) / 1000, 'exhausted');
    throw err;
  }
}

function invokeAuth(file: string): InvokeAuth {
  if (!file) return OPEN_INVOKE_AUTH;
  try {
    return new FileInvokeAuth(file);
  } catch (cause) {
    throw new ConfigError(`--invoke-token-file: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Starts sluice-runtime: one Runtime API server per execution environment, the invoke endpoint, and
 * the first init of every environment (readiness follows it).
 */
export async function startRuntime(
  ctx: ComponentContext<RuntimeConfig>,
  env: Readonly<Record<string, string | undefined>>,
  out: LineOutput = process.stdout,
): Promise<RunningRuntime> {
  const settings = resolveSettings(ctx.config, env);
  const { log, shutdown } = ctx;
  const metrics = new RuntimeMetrics(ctx.registry, {
    namespace: settings.namespace,
    function: settings.functionName,
    version: settings.version,
  });
  // Policy before code: nothing of the function runs, and nothing listens (so a custom runtime's
  // container, which waits for our /healthz, does not start either) until the pod's NetworkPolicy
  // is in force.
  const waitedMs = await waitForNetworkPolicy(ctx.config, metrics, log);
  const environments: Environment[] = [];
  const runtimeApis: RuntimeApiServer[] = [];
  for (let i = 0; i < settings.concurrency; i++) {
    const port = settings.runtimeApiPort + i;
    const address = `${settings.runtimeApiHost}:${port}`;
    const functionLog = new FunctionLog(out);
    const envLog = log.child({ env: i });
    const environment = new Environment(
      i,
      settings,
      processSource(settings, address, functionLog),
      functionLog,
      envLog,
      metrics,
    );
    environments.push(environment);
    runtimeApis.push(await startRuntimeApi(environment, settings.runtimeApiHost, port, envLog));
  }
  shutdown.register('runtime API', async () => {
    await Promise.all(runtimeApis.map((r) => r.close()));
  });
  const pool = new EnvironmentPool(environments);
  shutdown.register('execution environments', () => pool.close());

  const inFlight = new InFlight();
  const auth = invokeAuth(ctx.config.invokeTokenFile);
  if (!ctx.config.invokeTokenFile)
    log.warn('no invoke token configured: any caller that reaches the invoke port may invoke');
  const invokeServer = await startInvokeServer(
    { settings, pool, inFlight, metrics, tracer: ctx.telemetry.tracer, log, auth },
    ctx.config.invokeHost,
    ctx.config.invokePort,
  );
  shutdown.register('invoke endpoint', async () => {
    await inFlight.drain(ctx.config.shutdownGraceSeconds * 1000);
    await invokeServer.close();
  });
  log.info(
    {
      function: settings.functionName,
      namespace: settings.namespace,
      version: settings.version,
      runtime: settings.runtime,
      invokePort: invokeServer.port,
      runtimeApi: runtimeApis.map((r) => `${settings.runtimeApiHost}:${r.port}`),
    },
    'sluice-runtime started',
  );
  pool
    .start(waitedMs)
    .then(() => log.info({ environments: pool.size }, 'execution environments initialised'))
    .catch((err: unknown) => log.error({ err }, 'init of the execution environments failed'));
  return { settings, pool, invokeServer, runtimeApis };
}
