import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { decode } from '@nats-io/jwt';
import { LABELS } from '../../api/naming.js';
import {
  accountUserCreds,
  generateKeys,
  jwtOfCreds,
  publicKeyOf,
  type NatsKeys,
} from '../../lib/nats/claims.js';
import {
  ADMIN_PERMISSIONS,
  CONTROLLER_SYS_PERMISSIONS,
  gatewayPermissions,
  pollerPermissions,
  type Permissions,
} from '../../lib/nats/permissions.js';
import { serverAuthConfig } from '../../lib/nats/server-config.js';
import type { Logger } from '../../lib/log.js';
import type { Kube } from '../kube/client.js';

/** Names of what the bootstrap keeps in the release namespace (docs/nats.md "Keys and Secrets"). */
export const BOOTSTRAP_NAMES = {
  keys: 'sluice-nats-keys',
  auth: 'sluice-nats-auth',
  gateway: 'sluice-nats-gateway',
  poller: 'sluice-nats-poller',
  controller: 'sluice-nats-controller',
  admin: 'sluice-nats-admin',
} as const;

/** Secret `sluice-nats-keys`: data key → NatsKeys field. */
const KEY_FIELDS: Record<string, keyof NatsKeys> = {
  operator: 'operator',
  'operator-signer': 'operatorSigner',
  'system-account': 'systemAccount',
  'platform-account': 'platformAccount',
  'tenant-signer': 'tenantSigner',
  'platform-signer': 'platformSigner',
  'tenant-master': 'tenantMaster',
};

const MANAGED = 'sluice-nats-bootstrap';

function text(s: V1Secret | undefined, key: string): string | undefined {
  const v = s?.data?.[key];
  return v ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}

export function keysOfSecret(s: V1Secret): NatsKeys {
  const keys: Partial<NatsKeys> = {};
  for (const [k, field] of Object.entries(KEY_FIELDS)) {
    const v = text(s, k);
    if (!v)
      throw new Error(
        `Secret ${BOOTSTRAP_NAMES.keys} has no key ${k}: restore it from a backup, or delete it to start over (docs/nats.md "Rotation")`,
      );
    keys[field] = v.trim();
  }
  return keys as NatsKeys;
}

function secret(
  namespace: string,
  name: string,
  data: Record<string, string>,
  description: string,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { [LABELS.managedBy]: MANAGED, [LABELS.partOf]: 'sluice', [LABELS.component]: 'nats-auth' },
      annotations: { 'sluice.dev/description': description },
    },
    type: 'Opaque',
    stringData: data,
  };
}

/** Whether creds were signed by `account` and carry exactly `perms`. */
export function credsMatch(creds: string | undefined, account: string, perms: Permissions): boolean {
  if (!creds) return false;
  try {
    const c = decode<{ pub?: Permissions['pub']; sub?: Permissions['sub'] }>(jwtOfCreds(creds));
    const norm = (p?: { allow?: string[]; deny?: string[] }) =>
      JSON.stringify([p?.allow ?? [], p?.deny ?? []]);
    return c.iss === account && norm(c.nats.pub) === norm(perms.pub) && norm(c.nats.sub) === norm(perms.sub);
  } catch {
    return false;
  }
}

export interface BootstrapOptions {
  namespace: string;
  /** The resolver directory on the NATS volume (the server's config names it). */
  resolverDir: string;
}

/**
 * Install-time bootstrap (a Helm pre-install/pre-upgrade hook): creates, only when missing, the
 * keys of the installation, the server's operator-mode config, and the components' creds. Run
 * again, it changes nothing but what is missing or stale (creds of another account, or with
 * permissions this version no longer grants). What it creates is not Helm's: uninstall keeps it.
 */
export async function bootstrap(kube: Kube, o: BootstrapOptions, log: Logger): Promise<NatsKeys> {
  const ns = o.namespace;
  const existing = await kube.get<V1Secret>('v1', 'Secret', ns, BOOTSTRAP_NAMES.keys);
  let keys: NatsKeys;
  if (existing) {
    keys = keysOfSecret(existing);
  } else {
    keys = generateKeys();
    const data = Object.fromEntries(Object.entries(KEY_FIELDS).map(([k, f]) => [k, keys[f]]));
    await kube.create(
      secret(
        ns,
        BOOTSTRAP_NAMES.keys,
        data,
        'The NATS keys of this Sluice installation (operator, accounts, signing keys, tenant master). Kept on uninstall; back it up.',
      ),
    );
    log.info('generated the NATS keys of the installation');
  }
  const operator = publicKeyOf(keys.operator);
  const sys = publicKeyOf(keys.systemAccount);
  const platform = publicKeyOf(keys.platformAccount);

  const auth = await kube.get<V1ConfigMap>('v1', 'ConfigMap', ns, BOOTSTRAP_NAMES.auth);
  const want = { operator, 'system-account': sys, 'platform-account': platform };
  if (!auth || Object.entries(want).some(([k, v]) => auth.data?.[k] !== v)) {
    await kube.apply<V1ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: BOOTSTRAP_NAMES.auth,
        namespace: ns,
        labels: { [LABELS.managedBy]: MANAGED, [LABELS.partOf]: 'sluice', [LABELS.component]: 'nats-auth' },
      },
      data: { 'auth.conf': await serverAuthConfig(keys, { resolverDir: o.resolverDir }), ...want },
    });
    log.info({ operator }, 'wrote the NATS server auth config');
  }

  const users: {
    name: string;
    account: 'platformAccount' | 'systemAccount';
    perms: Permissions;
    extra: Record<string, string>;
    description: string;
  }[] = [
    {
      name: BOOTSTRAP_NAMES.gateway,
      account: 'platformAccount',
      perms: gatewayPermissions(),
      extra: { 'platform-signer': keys.platformSigner },
      description: "sluice-gateway's NATS creds (platform account) and the platform signing key",
    },
    {
      name: BOOTSTRAP_NAMES.poller,
      account: 'platformAccount',
      perms: pollerPermissions(),
      extra: { 'platform-signer': keys.platformSigner },
      description: "sluice-poller's NATS creds (platform account) and the platform signing key",
    },
    {
      name: BOOTSTRAP_NAMES.controller,
      account: 'systemAccount',
      perms: CONTROLLER_SYS_PERMISSIONS,
      extra: {
        'operator-signer': keys.operatorSigner,
        'tenant-master': keys.tenantMaster,
        'tenant-signer': keys.tenantSigner,
        'platform-signer-public': publicKeyOf(keys.platformSigner),
      },
      description: "sluice-controller's NATS creds (system account) and the keys of namespaces' accounts",
    },
    {
      name: BOOTSTRAP_NAMES.admin,
      account: 'platformAccount',
      perms: ADMIN_PERMISSIONS,
      extra: {},
      description:
        'An administrator of the platform account (no limits inside it): for operators and the e2e tests',
    },
  ];
  for (const u of users) {
    const cur = await kube.get<V1Secret>('v1', 'Secret', ns, u.name);
    const account = publicKeyOf(keys[u.account]);
    const extraSame = Object.entries(u.extra).every(([k, v]) => text(cur, k) === v);
    if (cur && extraSame && credsMatch(text(cur, 'creds'), account, u.perms)) continue;
    const creds = await accountUserCreds(u.name, keys[u.account], u.perms);
    await kube.apply(secret(ns, u.name, { creds, ...u.extra }, u.description));
    log.info({ secret: u.name }, 'wrote NATS creds');
  }
  return keys;
}
