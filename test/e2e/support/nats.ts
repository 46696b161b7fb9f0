/**
 * NATS on the cluster, with credentials: every client authenticates (docs/nats.md). Platform-level
 * checks (the async pipeline's SLUICE_ASYNC, dead letters) connect as the platform's
 * administrator, whose creds the install-time bootstrap keeps in Secret sluice-nats-admin of the
 * release namespace; tenant-level work (a test namespace's streams, records of its nats:
 * destinations) connects with that namespace's own Secret sluice-nats, which the controller
 * writes (the annotation sluice.dev/nats-credentials asks for it before any mapping exists).
 */
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { SYSTEM_NS } from './gateway.js';
import { kubectl, waitFor } from './kube.js';

/** The creds file text in `secret` of `namespace`, once it exists. */
export async function secretCreds(namespace: string, secret: string, timeoutMs = 120_000): Promise<string> {
  return waitFor(
    `Secret ${namespace}/${secret} with NATS creds`,
    async () => {
      const r = await kubectl(['-n', namespace, 'get', 'secret', secret, '-o', 'jsonpath={.data.creds}']);
      const b64 = r.stdout.trim();
      return r.code === 0 && b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
    },
    timeoutMs,
  );
}

/** The administrator of the platform account (no limits inside SLUICE; no tenant's account). */
export function platformCreds(): Promise<string> {
  return secretCreds(SYSTEM_NS, 'sluice-nats-admin');
}

/**
 * A namespace's own creds: asks the controller for them with the annotation (so streams can be
 * made before the first mapping) and waits for Secret sluice-nats.
 */
export async function tenantCreds(namespace: string): Promise<string> {
  await kubectl(['annotate', 'namespace', namespace, 'sluice.dev/nats-credentials=true', '--overwrite']);
  return secretCreds(namespace, 'sluice-nats');
}

/** Connects through a forward (`http://127.0.0.1:PORT`) with a creds file's text. */
export function connectNats(forward: { base: string }, creds: string): Promise<NatsConnection> {
  return connect({
    servers: forward.base.replace(/^http:\/\//, ''),
    ignoreClusterUpdates: true,
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
  });
}
