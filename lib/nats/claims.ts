import { randomBytes } from 'node:crypto';
import {
  createAccount,
  createOperator,
  createUser,
  decode,
  encodeAccount,
  encodeGeneric,
  encodeOperator,
  encodeUser,
  fmtCreds,
  fromPublic,
  fromSeed,
  newScopedSigner,
  type Account,
  type KeyPair,
} from '@nats-io/jwt';
import { PLATFORM_SCOPE, TENANT_SCOPE, type Permissions } from './permissions.js';

const te = new TextEncoder();
const td = new TextDecoder();

/** The keys of one Sluice installation (Secret `sluice-nats-keys`; docs/nats.md "Keys"). */
export interface NatsKeys {
  /** Operator identity seed: signs the operator JWT only. */
  operator: string;
  /** Operator signing key: signs every account JWT and the claims-delete requests. */
  operatorSigner: string;
  /** System account (SYS): signs the controller's user. */
  systemAccount: string;
  /** Platform account (SLUICE): signs the gateway's, poller's and administrator's users. */
  platformAccount: string;
  /** Scoped signing key of role `tenant` in every tenant account (the namespaces' creds). */
  tenantSigner: string;
  /** Scoped signing key of role `platform` in every tenant account (the poller and gateway inside it). */
  platformSigner: string;
  /** 32 random bytes, base64: tenant account keys are derived from it and the namespace UID. */
  tenantMaster: string;
}

export const seedOf = (kp: KeyPair): string => td.decode(kp.getSeed());
export const keyPair = (seed: string): KeyPair => fromSeed(te.encode(seed.trim()));
export const publicKeyOf = (seed: string): string => keyPair(seed).getPublicKey();
export const masterBytes = (keys: Pick<NatsKeys, 'tenantMaster'>): Uint8Array =>
  new Uint8Array(Buffer.from(keys.tenantMaster, 'base64'));

export function generateKeys(): NatsKeys {
  return {
    operator: seedOf(createOperator()),
    operatorSigner: seedOf(createOperator()),
    systemAccount: seedOf(createAccount()),
    platformAccount: seedOf(createAccount()),
    tenantSigner: seedOf(createAccount()),
    platformSigner: seedOf(createAccount()),
    tenantMaster: randomBytes(32).toString('base64'),
  };
}

/**
 * Account-level NATS limits. @nats-io/jwt leaves them out, and the server then reads conn = 0:
 * every connection of the account would be refused ("maximum account active connections
 * exceeded").
 */
export const UNLIMITED_NATS = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
};

/** JetStream limits of one tenant account (bytes and counts; chart `nats.tenants`). */
export interface TenantLimits {
  diskStorage: number;
  memoryStorage: number;
  streams: number;
  consumers: number;
  /** Cap on any consumer's max_ack_pending (-1: none). */
  maxAckPending: number;
}

export const SYSTEM_ACCOUNT_NAME = 'SYS';
export const PLATFORM_ACCOUNT_NAME = 'SLUICE';

export function operatorJwt(keys: NatsKeys): Promise<string> {
  return encodeOperator('sluice', keyPair(keys.operator), {
    system_account: publicKeyOf(keys.systemAccount),
    signing_keys: [publicKeyOf(keys.operatorSigner)],
  });
}

export function systemAccountJwt(keys: NatsKeys): Promise<string> {
  return encodeAccount(
    SYSTEM_ACCOUNT_NAME,
    publicKeyOf(keys.systemAccount),
    { limits: { ...UNLIMITED_NATS } },
    { signer: keyPair(keys.operatorSigner) },
  );
}

/**
 * The platform account. Its JetStream limits stay -1: a positive limit would be reserved
 * against the server's store and compete with the tenants' (docs/nats.md "Limits").
 */
export function platformAccountJwt(keys: NatsKeys): Promise<string> {
  return encodeAccount(
    PLATFORM_ACCOUNT_NAME,
    publicKeyOf(keys.platformAccount),
    {
      limits: { ...UNLIMITED_NATS, disk_storage: -1, mem_storage: -1, streams: -1, consumer: -1 },
    },
    { signer: keyPair(keys.operatorSigner) },
  );
}

export const TENANT_ROLE = 'tenant';
export const PLATFORM_ROLE = 'platform';

/** The account JWT of a namespace: its limits and the two scoped signing keys with their templates. */
export function tenantAccountJwt(o: {
  namespace: string;
  account: string;
  keys: Pick<NatsKeys, 'operatorSigner'>;
  tenantSignerPublic: string;
  platformSignerPublic: string;
  limits: TenantLimits;
  revocations?: Record<string, number>;
}): Promise<string> {
  const l = o.limits;
  const claims: Partial<Account> = {
    limits: {
      ...UNLIMITED_NATS,
      disk_storage: l.diskStorage,
      mem_storage: l.memoryStorage,
      streams: l.streams,
      consumer: l.consumers,
      max_ack_pending: l.maxAckPending,
    },
    signing_keys: [
      newScopedSigner(o.tenantSignerPublic, TENANT_ROLE, TENANT_SCOPE),
      newScopedSigner(o.platformSignerPublic, PLATFORM_ROLE, PLATFORM_SCOPE),
    ],
    tags: [`sluice-namespace:${o.namespace}`],
    ...(o.revocations && Object.keys(o.revocations).length ? { revocations: o.revocations } : {}),
  };
  return encodeAccount(o.namespace, o.account, claims, { signer: keyPair(o.keys.operatorSigner) });
}

/** A credentials file (JWT and seed) as nats-server's tools write it. */
export function credsFile(jwt: string, user: KeyPair): string {
  return td.decode(fmtCreds(jwt, user));
}

/** A user signed by an account key, with its permissions in the user JWT (platform components). */
export async function accountUserCreds(
  name: string,
  accountSeed: string,
  perms: Permissions,
): Promise<string> {
  const user = createUser();
  const jwt = await encodeUser(name, user, keyPair(accountSeed), perms);
  return credsFile(jwt, user);
}

/**
 * A user signed by a scoped signing key: the JWT carries no permissions (the account's template
 * for the key's role decides them; a user with any is refused).
 */
export async function scopedUserCreds(name: string, account: string, signerSeed: string): Promise<string> {
  const user = createUser();
  const jwt = await encodeUser(name, user, account, {}, { signer: keyPair(signerSeed), scopedUser: true });
  return credsFile(jwt, user);
}

/** The body of `$SYS.REQ.CLAIMS.DELETE`: a generic JWT signed by the operator signing key. */
export function deleteAccountsRequest(
  keys: Pick<NatsKeys, 'operatorSigner'>,
  accounts: string[],
): Promise<string> {
  return encodeGeneric('delete accounts', keyPair(keys.operatorSigner), 'generic', { accounts });
}

/** The JWT of a creds file (the first block). */
export function jwtOfCreds(creds: string): string {
  const m = /-----BEGIN NATS USER JWT-----\s*([^\s-][^\s]*)\s*------END NATS USER JWT------/.exec(creds);
  if (!m?.[1]) throw new Error('not a NATS credentials file');
  return m[1];
}

/** Who signed a user's creds and for which account (`issuer_account` for a scoped signer). */
export function credsIdentity(creds: string): { user: string; issuer: string; account: string } {
  const c = decode<{ issuer_account?: string }>(jwtOfCreds(creds));
  return { user: c.sub, issuer: c.iss, account: c.nats.issuer_account || c.iss };
}

/** Throws unless `pub` is a public key of an account. */
export function assertAccountKey(pub: string): void {
  if (!pub.startsWith('A')) throw new Error(`${pub} is not an account public key`);
  fromPublic(pub);
}
