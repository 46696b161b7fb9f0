import { runComponent } from '../lib/main.js';
import { startHealthServer } from '../lib/health.js';
import { pollerSpec } from './config.js';

await runComponent('sluice-poller', pollerSpec, async ({ config, log, shutdown }) => {
  const health = await startHealthServer(config.healthPort, () => true);
  shutdown.register('health server', () => new Promise<void>((r) => health.close(() => r())));
  log.info({ natsUrl: config.natsUrl }, 'sluice-poller started');
});
