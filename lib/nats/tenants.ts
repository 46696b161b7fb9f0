import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { SluiceError } from '../errors.js';
import type { Logger } from '../log.js';
import { scopedUserCreds } from './claims.js';
import { credsAuth } from './connect.js';
import { PLATFORM_INBOX } from './permissions.js';

/**
 * A namespace's NATS account as the controller published it (ConfigMap `sluice-nats-accounts`
 * in the platform's namespace: written by the controller only, never by a tenant).
 */
export interface AccountEntry {
  /** The account's public key (absent while it was never pushed). */
  account?: string;
  /** The namespace UID the account was derived from. */
  uid: string;
  /** Pushed and JetStream answered. */
  ready: boolean;
  reason?: string;
  message?: string;
  /** The user of the namespace's `sluice-nats` creds, and revoked earlier ones. */
  user?: string;
  revoked?: Record<string, number>;
}

/** Where the platform learns a namespace's account. */
export interface AccountDirectory {
  entry(namespace: string): AccountEntry | undefined;
}

/** A directory of fixed entries (tests, tools). */
export class StaticAccountDirectory implements AccountDirectory {
  readonly entries = new Map<string, AccountEntry>();
  entry(namespace: string): AccountEntry | undefined {
    return this.entries.get(namespace);
  }
}

/** The namespace has no usable NATS account (yet): `reason` says why (NatsAccountNotReady, BudgetExceeded…). */
export class AccountNotReadyError extends SluiceError {
  override readonly name = 'AccountNotReadyError';
  constructor(
    readonly namespace: string,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The account of a namespace, or AccountNotReadyError. */
export function readyAccount(directory: AccountDirectory, namespace: string): string {
  const e = directory.entry(namespace);
  if (e?.ready && e.account) return e.account;
  throw new AccountNotReadyError(
    namespace,
    e?.reason ?? 'NatsAccountNotReady',
    e?.message ??
      `namespace ${namespace} has no NATS account yet (the controller creates it for a namespace with a NATS event source, a nats: destination or the annotation sluice.dev/nats-credentials: "true")`,
  );
}

/** JetStream inside one namespace's account; call `release()` when done. */
export interface TenantJetStream {
  readonly namespace: string;
  readonly account: string;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  release(): void;
}

/** How platform code reaches a namespace's own streams and subjects. */
export interface TenantNats {
  /** Opens (or shares) the platform's connection into the namespace's account. */
  acquire(namespace: string): Promise<TenantJetStream>;
}

/** Runs `fn` with the namespace's JetStream and releases it. */
export async function withTenant<T>(
  tenants: TenantNats,
  namespace: string,
  fn: (t: TenantJetStream) => Promise<T>,
): Promise<T> {
  const t = await tenants.acquire(namespace);
  try {
    return await fn(t);
  } finally {
    t.release();
  }
}

export interface TenantConnectionsOptions {
  servers: string;
  /** Seed of the platform-wide scoped signing key of role `platform`. */
  signerSeed: string;
  directory: AccountDirectory;
  /** Connection name prefix (`sluice-poller`…): the name is `<name>@<namespace>`. */
  name: string;
  /** A connection nobody uses for this long is closed. */
  idleMs?: number;
  log: Logger;
  /** Extra connection options (tests shorten reconnect waits). */
  connectOptions?: Partial<ConnectionOptions>;
}

interface Entry {
  account: string;
  opening: Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }>;
  refs: number;
  lastUsed: number;
  closed: boolean;
}

/**
 * The platform's connections into tenant accounts: one per namespace in use, opened lazily as a
 * user of role `platform` minted in-process (the account's template bounds it: consume, read,
 * publish; no stream admin), with the inbox prefix tenants may not subscribe to. The account comes
 * from the directory only. Shared by reference count; closed after `idleMs` unused, or when the
 * namespace's account changes (the namespace was recreated) or goes.
 */
export class TenantConnections implements TenantNats {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: TenantConnectionsOptions) {
    const idle = o.idleMs ?? 5 * 60_000;
    this.sweeper = setInterval(() => void this.sweep(idle), Math.max(1000, Math.floor(idle / 2)));
    this.sweeper.unref();
  }

  /** Namespaces with an open (or opening) connection. */
  get open(): string[] {
    return [...this.entries.keys()];
  }

  async acquire(namespace: string): Promise<TenantJetStream> {
    if (this.stopped) throw new SluiceError('tenant connections are closed');
    const account = readyAccount(this.o.directory, namespace);
    let e = this.entries.get(namespace);
    if (e && (e.account !== account || e.closed)) {
      this.drop(namespace, e);
      e = undefined;
    }
    if (!e) {
      const entry: Entry = {
        account,
        opening: this.openConnection(namespace, account),
        refs: 0,
        lastUsed: Date.now(),
        closed: false,
      };
      entry.opening.catch(() => {
        if (this.entries.get(namespace) === entry) this.entries.delete(namespace);
      });
      this.entries.set(namespace, entry);
      e = entry;
    }
    e.refs++;
    const held = e;
    try {
      const c = await held.opening;
      let released = false;
      return {
        namespace,
        account,
        ...c,
        release: () => {
          if (released) return;
          released = true;
          held.refs--;
          held.lastUsed = Date.now();
        },
      };
    } catch (err) {
      held.refs--;
      throw err;
    }
  }

  private async openConnection(
    namespace: string,
    account: string,
  ): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    const creds = await scopedUserCreds(`${this.o.name}@${namespace}`, account, this.o.signerSeed);
    const nc = await connect({
      servers: this.o.servers,
      name: `${this.o.name}@${namespace}`,
      inboxPrefix: PLATFORM_INBOX,
      maxReconnectAttempts: -1,
      ...credsAuth(creds),
      ...this.o.connectOptions,
    });
    void nc.closed().then(() => {
      const e = this.entries.get(namespace);
      if (e && e.account === account) e.closed = true;
    });
    try {
      const jsm = await jetstreamManager(nc);
      this.o.log.info({ namespace, account }, 'connected to the namespace NATS account');
      return { nc, js: jetstream(nc), jsm };
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  private drop(namespace: string, e: Entry): void {
    this.entries.delete(namespace);
    void e.opening.then(
      (c) => c.nc.drain().catch(() => undefined),
      () => undefined,
    );
  }

  private async sweep(idleMs: number): Promise<void> {
    const now = Date.now();
    for (const [ns, e] of [...this.entries]) {
      const gone = this.o.directory.entry(ns)?.account !== e.account;
      if (e.refs === 0 && (gone || e.closed || now - e.lastUsed >= idleMs)) {
        this.drop(ns, e);
        this.o.log.debug({ namespace: ns }, 'closed an idle namespace NATS connection');
      }
    }
    await Promise.resolve();
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(
      all.map((e) =>
        e.opening.then(
          (c) => c.nc.drain().catch(() => undefined),
          () => undefined,
        ),
      ),
    );
  }
}
