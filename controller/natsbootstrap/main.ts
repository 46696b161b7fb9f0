import { KubeConfig } from '@kubernetes/client-node';
import type { ConfigSpec } from '../../lib/config.js';
import { runComponent } from '../../lib/main.js';
import { makeKube } from '../kube/client.js';
import { bootstrap } from './bootstrap.js';

/** `node dist/controller/natsbootstrap/main.js`: the chart's pre-install/pre-upgrade hook Job. */
const spec = {
  namespace: {
    type: 'string',
    env: 'POD_NAMESPACE',
    flag: 'namespace',
    default: 'sluice-system',
    description: 'the release namespace, where the keys, creds Secrets and the auth ConfigMap are kept',
  },
  resolverDir: {
    type: 'string',
    env: 'SLUICE_NATS_RESOLVER_DIR',
    flag: 'resolver-dir',
    default: '/data/jwt',
    description: "nats-server's account resolver directory (on the JetStream volume)",
  },
} as const satisfies ConfigSpec;

await runComponent('sluice-nats-bootstrap', spec, async ({ config, log, shutdown }) => {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  await bootstrap(makeKube(kc), { namespace: config.namespace, resolverDir: config.resolverDir }, log);
  log.info({ namespace: config.namespace }, 'NATS bootstrap done');
  await shutdown.run();
  process.exit(0);
});
