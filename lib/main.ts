import type { Server } from 'node:http';
import type { Registry } from 'prom-client';
import { ConfigError, describeError } from './errors.js';
import { configHelp, parseConfig, type ConfigOf, type ConfigSpec } from './config.js';
import { createLogger, LOG_LEVELS, type Logger } from './log.js';
import { createRegistry, startMetricsServer } from './metrics.js';
import { Shutdown } from './shutdown.js';
import { startTelemetry, type Telemetry } from './telemetry.js';

/** Settings every component shares. */
export const commonSpec = {
  logLevel: {
    type: 'enum',
    env: 'SLUICE_LOG_LEVEL',
    flag: 'log-level',
    values: LOG_LEVELS,
    default: 'info',
    description: 'log level',
  },
  metricsPort: {
    type: 'int',
    env: 'SLUICE_METRICS_PORT',
    flag: 'metrics-port',
    min: 0,
    max: 65535,
    default: 9090,
    description: 'port of the /metrics server (0 disables it)',
  },
  shutdownGraceSeconds: {
    type: 'int',
    env: 'SLUICE_SHUTDOWN_GRACE_SECONDS',
    flag: 'shutdown-grace-seconds',
    min: 0,
    max: 3600,
    default: 25,
    description: 'how long SIGTERM waits for in-flight work',
  },
} as const satisfies ConfigSpec;

export type CommonConfig = ConfigOf<typeof commonSpec>;

/** What a component's start function receives: its parsed config and the process's services. */
export interface ComponentContext<C> {
  config: C & CommonConfig;
  log: Logger;
  registry: Registry;
  telemetry: Telemetry;
  shutdown: Shutdown;
}

/**
 * The body of every `main.ts`: parse configuration once (exit 2 with a clear message when it is
 * bad), set up logging, metrics, tracing and graceful shutdown, then call `start`.
 */
export async function runComponent<S extends ConfigSpec>(
  component: string,
  spec: S,
  start: (ctx: ComponentContext<ConfigOf<S>>) => Promise<void>,
  argv: readonly string[] = process.argv.slice(2),
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<void> {
  const fullSpec = { ...commonSpec, ...spec };
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(configHelp(component, fullSpec) + '\n');
    return;
  }
  let config: ConfigOf<S> & CommonConfig;
  try {
    config = parseConfig(fullSpec, argv, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${component}: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ component, level: config.logLevel });
  const registry = createRegistry(component);
  const telemetry = startTelemetry(component, env);
  const shutdown = new Shutdown(log, config.shutdownGraceSeconds * 1000);
  shutdown.register('telemetry', () => telemetry.shutdown());
  let metricsServer: Server | undefined;
  if (config.metricsPort > 0) {
    metricsServer = await startMetricsServer(registry, config.metricsPort);
    shutdown.register('metrics server', () => new Promise<void>((r) => metricsServer?.close(() => r())));
  }
  shutdown.installSignalHandlers();
  try {
    await start({ config, log, registry, telemetry, shutdown });
  } catch (err) {
    log.fatal({ err }, `failed to start: ${describeError(err)}`);
    await shutdown.run();
    process.exit(1);
  }
}
