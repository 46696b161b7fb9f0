import { runComponent } from '../lib/main.js';
import { startHealthServer } from '../lib/health.js';
import { controllerSpec } from './config.js';

await runComponent('sluice-controller', controllerSpec, async ({ config, log, shutdown }) => {
  const health = await startHealthServer(config.healthPort, () => true);
  shutdown.register('health server', () => new Promise<void>((r) => health.close(() => r())));
  log.info({ watchNamespace: config.watchNamespace || '(all)' }, 'sluice-controller started');
});
