import { ConfigError, runComponent } from '../lib/index.js';
import { runtimeSpec } from './config.js';
import { startRuntime } from './runtime.js';

// Entry point of the sluice-runtime process in every function pod (`node dist/runtime/main.js`).
await runComponent('sluice-runtime', runtimeSpec, async (ctx) => {
  try {
    await startRuntime(ctx, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Same contract as a value the spec rejects: a clear message and exit status 2.
    process.stderr.write(`sluice-runtime: invalid configuration: ${err.message}\n`);
    process.exit(2);
  }
});
