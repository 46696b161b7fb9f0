import { ConfigError, runComponent } from '../lib/index.js';
import { runtimeSpec } from './config.js';
import { PolicyNotEnforcedError } from './policy-wait.js';
import { startRuntime } from './runtime.js';

/** Exit status when the pod's NetworkPolicy never came into force (the kubelet restarts the container). */
const EXIT_POLICY_NOT_ENFORCED = 3;

// Entry point of the sluice-runtime process in every function pod (`node dist/runtime/main.js`).
await runComponent('sluice-runtime', runtimeSpec, async (ctx) => {
  try {
    await startRuntime(ctx, process.env);
  } catch (err) {
    if (err instanceof PolicyNotEnforcedError) {
      ctx.log.error({ err }, err.message);
      process.stderr.write(`sluice-runtime: ${err.message}\n`);
      process.exit(EXIT_POLICY_NOT_ENFORCED);
    }
    if (!(err instanceof ConfigError)) throw err;
    // Same contract as a value the spec rejects: a clear message and exit status 2.
    process.stderr.write(`sluice-runtime: invalid configuration: ${err.message}\n`);
    process.exit(2);
  }
});
