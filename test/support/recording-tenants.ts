import type { JetStreamClient } from '@nats-io/jetstream';
import type { TenantJetStream, TenantNats } from '../../lib/nats/tenants.js';

/** Namespaces' NATS accounts that record every publish (none should happen for refused subjects). */
export function recordingTenants(): { js: TenantNats; subjects: string[] } {
  const subjects: string[] = [];
  const js = {
    publish: (subject: string) => {
      subjects.push(subject);
      return Promise.resolve({ seq: 1, duplicate: false, stream: 'X' });
    },
  } as unknown as JetStreamClient;
  const tenants: TenantNats = {
    acquire: (namespace) =>
      Promise.resolve({
        namespace,
        account: 'A',
        js,
        release: () => undefined,
      } as unknown as TenantJetStream),
  };
  return { js: tenants, subjects };
}
