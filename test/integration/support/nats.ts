import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { createLogger } from '../../../lib/log.js';
import {
  accountUserCreds,
  AccountAdmin,
  ADMIN_PERMISSIONS,
  CONTROLLER_SYS_PERMISSIONS,
  credsAuth,
  gatewayPermissions,
  generateKeys,
  masterBytes,
  PLATFORM_INBOX,
  PLATFORM_NAMES,
  pollerPermissions,
  publicKeyOf,
  scopedUserCreds,
  serverAuthConfig,
  StaticAccountDirectory,
  tenantAccountJwt,
  tenantAccountKey,
  TenantConnections,
  type NatsKeys,
  type PlatformNames,
  type TenantLimits,
} from '../../../lib/nats/index.js';
import { freePort } from '../../support/net.js';
import { budget } from '../../support/time.js';

/**
 * A real nats-server per test suite: JetStream with a temporary store directory, loopback only,
 * a random port, in operator mode as the chart runs it (the same generated auth config: SYS and
 * SLUICE preloaded, the full resolver). Every client authenticates: `connect('admin' | 'gateway'
 * | 'poller' | 'controller')` for platform code under its own permission list, `tenant(ns)` to
 * create a namespace's account as the controller does and `connectTenant(ns)` to act as that
 * namespace. `restart()` keeps the port, the store and the accounts; `cleanup()` stops it and
 * removes the directory — call it from afterAll / finally.
 */
export function natsServerBinary(): string {
  const fromEnv = process.env.NATS_SERVER;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const cache = path.join(homedir(), '.cache', 'sluice', 'bin');
  if (existsSync(cache)) {
    for (const d of readdirSync(cache)
      .filter((n) => n.startsWith('nats-server-'))
      .sort()
      .reverse()) {
      const bin = path.join(cache, d, 'nats-server');
      if (existsSync(bin)) return bin;
    }
  }
  throw new Error(
    'nats-server not found: set NATS_SERVER (`. .cluster/env`) or build it with `make cluster-up` (cached in ~/.cache/sluice/bin)',
  );
}

export interface NatsServerOptions {
  /** max_payload of the server (Sluice runs with 8MB so records of 1 MB events fit). */
  maxPayload?: string;
  /** max_file_store (default 4GB). */
  maxFileStore?: string;
  /**
   * jetstream sync_interval: 'always' (fsync before every acknowledgement, the chart's default) or
   * a Go duration; unset, nats-server's own default (an fsync every 2m, acknowledgements first).
   */
  syncInterval?: string;
  /** The installation's keys (default: new ones). */
  keys?: NatsKeys;
  /** The operator-mode config text to use, `RESOLVER_DIR` standing for the resolver directory (default: generated from the keys). */
  authConfig?: string;
}

export type PlatformRole = 'admin' | 'gateway' | 'poller' | 'controller';

/** Limits of test tenants: file storage only, so memory reservations never run out. */
export const TEST_TENANT_LIMITS: TenantLimits = {
  diskStorage: 64 * 1024 * 1024,
  memoryStorage: 0,
  streams: 32,
  consumers: 256,
  maxAckPending: -1,
};

const quiet = createLogger({ component: 'nats-test', level: 'silent' });

export class NatsServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly log: string[] = [];
  /** Namespace → account, as the controller would publish it. */
  readonly directory = new StaticAccountDirectory();
  private sysConn: NatsConnection | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly configFile: string,
    readonly keys: NatsKeys,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(o: NatsServerOptions = {}): Promise<NatsServer> {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-nats-'));
    try {
      const port = await freePort();
      const keys = o.keys ?? generateKeys();
      const resolverDir = path.join(dir, 'jwt');
      const configFile = path.join(dir, 'nats.conf');
      writeFileSync(
        configFile,
        [
          `listen: "127.0.0.1:${port}"`,
          `max_payload: ${o.maxPayload ?? '8MB'}`,
          `jetstream {`,
          `  store_dir: "${path.join(dir, 'js')}"`,
          `  max_memory_store: 64MB`,
          `  max_file_store: ${o.maxFileStore ?? '4GB'}`,
          ...(o.syncInterval ? [`  sync_interval: "${o.syncInterval}"`] : []),
          `}`,
          o.authConfig?.replaceAll('RESOLVER_DIR', resolverDir) ??
            (await serverAuthConfig(keys, { resolverDir })),
        ].join('\n'),
      );
      const s = new NatsServer(dir, port, configFile, keys);
      await s.spawn();
      return s;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The creds file text of a platform component (permissions for the given JetStream names). */
  async creds(role: PlatformRole, names: PlatformNames = PLATFORM_NAMES): Promise<string> {
    const k = this.keys;
    switch (role) {
      case 'admin':
        return accountUserCreds('sluice-admin', k.platformAccount, ADMIN_PERMISSIONS);
      case 'gateway':
        return accountUserCreds('sluice-gateway', k.platformAccount, gatewayPermissions(names));
      case 'poller':
        return accountUserCreds('sluice-poller', k.platformAccount, pollerPermissions(names));
      case 'controller':
        return accountUserCreds('sluice-controller', k.systemAccount, CONTROLLER_SYS_PERMISSIONS);
    }
  }

  /** Connection options of a platform component. */
  async auth(role: PlatformRole, names?: PlatformNames): Promise<Partial<ConnectionOptions>> {
    return credsAuth(await this.creds(role, names));
  }

  async connect(
    role: PlatformRole,
    opts: Partial<ConnectionOptions> & { names?: PlatformNames } = {},
  ): Promise<NatsConnection> {
    const { names, ...rest } = opts;
    return connect({ servers: this.url, ...(await this.auth(role, names)), ...rest });
  }

  /**
   * Creates (pushes) the account of a namespace as the controller does and lists it in the
   * directory; resolves with the namespace's `tenant` creds (what Secret `sluice-nats` holds).
   */
  async tenant(
    namespace: string,
    o: { uid?: string; limits?: TenantLimits } = {},
  ): Promise<{ account: string; creds: string }> {
    const uid = o.uid ?? `uid-${namespace}`;
    const account = tenantAccountKey(masterBytes(this.keys), uid).getPublicKey();
    const jwt = await tenantAccountJwt({
      namespace,
      account,
      keys: this.keys,
      tenantSignerPublic: publicKeyOf(this.keys.tenantSigner),
      platformSignerPublic: publicKeyOf(this.keys.platformSigner),
      limits: o.limits ?? TEST_TENANT_LIMITS,
    });
    await this.admin().then((a) => a.ensure(account, jwt));
    this.directory.entries.set(namespace, { account, uid, ready: true });
    return { account, creds: await scopedUserCreds(`tenant@${namespace}`, account, this.keys.tenantSigner) };
  }

  /** The controller's account administration (its SYS user). */
  async admin(): Promise<AccountAdmin> {
    if (!this.sysConn || this.sysConn.isClosed()) {
      this.sysConn = await this.connect('controller', { maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    }
    return new AccountAdmin(this.sysConn, this.keys);
  }

  /** A connection as the namespace itself (its `sluice-nats` creds); the account is created when missing. */
  async connectTenant(namespace: string, opts: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
    const { creds } = await this.tenant(namespace);
    return connect({ servers: this.url, ...credsAuth(creds), ...opts });
  }

  /** The platform's connections into tenant accounts (role `platform`), over this server's directory. */
  tenantConnections(name = 'sluice-test', idleMs?: number): TenantConnections {
    return new TenantConnections({
      servers: this.url,
      signerSeed: this.keys.platformSigner,
      directory: this.directory,
      name,
      ...(idleMs !== undefined ? { idleMs } : {}),
      log: quiet,
      connectOptions: { reconnectTimeWait: 250 },
    });
  }

  /** A platform-role user in a namespace's account, as the poller and gateway mint them. */
  async connectAsPlatform(namespace: string, opts: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
    const account = this.directory.entry(namespace)?.account ?? (await this.tenant(namespace)).account;
    const creds = await scopedUserCreds(`platform@${namespace}`, account, this.keys.platformSigner);
    return connect({ servers: this.url, inboxPrefix: PLATFORM_INBOX, ...credsAuth(creds), ...opts });
  }

  private async spawn(): Promise<void> {
    const child = spawn(natsServerBinary(), ['-c', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    let ready: () => void = () => undefined;
    let failed: (e: Error) => void = () => undefined;
    const readyP = new Promise<void>((res, rej) => {
      ready = res;
      failed = rej;
    });
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.log.push(line);
        if (line.includes('Server is ready')) ready();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => failed(new Error(`nats-server exited (${code}):\n${this.log.join('\n')}`)));
    const timer = setTimeout(
      () => failed(new Error(`nats-server not ready:\n${this.log.join('\n')}`)),
      budget(20_000),
    );
    try {
      await readyP;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the server: SIGTERM (clean shutdown) or SIGKILL (a crash). */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), budget(10_000));
    await this.exited;
    clearTimeout(t);
  }

  /** Stops and starts again on the same port with the same store (and accounts). */
  async restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM', downMs = 0): Promise<void> {
    await this.stop(signal);
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.spawn();
  }

  async cleanup(): Promise<void> {
    try {
      await this.sysConn?.close().catch(() => undefined);
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
