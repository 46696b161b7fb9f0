import { runComponent } from '../lib/index.js';
import { runtimeSpec } from './config.js';
import { startRuntime } from './runtime.js';

// Entry point of the sluice-runtime process in every function pod (`node dist/runtime/main.js`).
await runComponent('sluice-runtime', runtimeSpec, async (ctx) => {
  await startRuntime(ctx, process.env);
});
