import { runComponent } from '../lib/main.js';
import { startHealthServer } from '../lib/health.js';
import { gatewaySpec } from './config.js';

await runComponent('sluice-gateway', gatewaySpec, async ({ config, log, shutdown }) => {
  const server = await startHealthServer(config.port, () => true);
  shutdown.register('http server', () => new Promise<void>((r) => server.close(() => r())));
  log.info({ port: config.port, defaultNamespace: config.defaultNamespace }, 'sluice-gateway started');
});
