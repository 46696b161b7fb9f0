import { createLogger, parseConfig, type ConfigSpec } from '../lib/index.js';
import { runtimeSpec } from './config.js';
import { netConnector, PolicyNotEnforcedError, waitForPolicy } from './policy-wait.js';

/**
 * `node dist/runtime/policy-main.js`: the NetworkPolicy wait alone, as an init container from the
 * platform's runtime image, for pods whose sluice-runtime is the function's own build (a Node.js
 * runtime with a code image): the kubelet starts the function's container only once this exits 0.
 * Exit status 3 when the policy is not in force within the budget (the kubelet retries).
 */
const spec = {
  policyCanary: runtimeSpec.policyCanary,
  policyControlPort: runtimeSpec.policyControlPort,
  policyWaitSeconds: runtimeSpec.policyWaitSeconds,
  policyProbeTimeoutMs: runtimeSpec.policyProbeTimeoutMs,
} as const satisfies ConfigSpec;

const config = parseConfig(spec, process.argv.slice(2), process.env);
const log = createLogger({ component: 'sluice-policy-wait', level: 'info' });
if (!config.policyCanary) {
  log.warn('no canary configured (SLUICE_POLICY_CANARY): nothing to wait for');
  process.exit(0);
}
try {
  const r = await waitForPolicy(netConnector, {
    canary: config.policyCanary,
    controlPort: config.policyControlPort || undefined,
    budgetMs: config.policyWaitSeconds * 1000,
    intervalMs: 50,
    probeTimeoutMs: config.policyProbeTimeoutMs,
  });
  log.info({ waitedMs: r.waitedMs, attempts: r.attempts }, 'NetworkPolicy in force');
} catch (err) {
  if (!(err instanceof PolicyNotEnforcedError)) throw err;
  process.stderr.write(`sluice-policy-wait: ${err.message}\n`);
  process.exit(3);
}
