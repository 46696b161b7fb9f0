import type { V1ConfigMap, V1Namespace, V1Secret } from '@kubernetes/client-node';
import type { EventSourceMappingResource, FunctionResource } from '../../api/types.js';
import type { Logger } from '../../lib/log.js';
import {
  credsIdentity,
  masterBytes,
  publicKeyOf,
  scopedUserCreds,
  tenantAccountJwt,
  type NatsKeys,
  type TenantLimits,
} from '../../lib/nats/claims.js';
import { entriesOf } from '../../lib/nats/kube-accounts.js';
import { tenantAccountKey } from '../../lib/nats/nkeys.js';
import type { AccountEntry } from '../../lib/nats/tenants.js';
import type { Kube } from '../kube/client.js';
import {
  CREDENTIALS_ANNOTATION,
  makeAccountsConfigMap,
  makeTenantSecret,
  TENANT_SECRET,
} from './resources/secret.js';

/** The keys the controller holds (Secret `sluice-nats-controller`): no operator identity, no account seeds. */
export type ControllerNatsKeys = Pick<NatsKeys, 'operatorSigner' | 'tenantMaster' | 'tenantSigner'> & {
  platformSignerPublic: string;
};

/** Account claims on the server (AccountAdmin over the controller's SYS user). */
export interface AccountOps {
  /** Pushes unless the server has equivalent claims; true when it pushed. */
  ensure(account: string, jwt: string): Promise<boolean>;
  /** Purges the account's JetStream data, then deletes its claims. */
  remove(account: string): Promise<void>;
  /** Connects with `creds` and asks for JetStream account info; throws when JetStream is off. */
  verify(creds: string): Promise<void>;
}

/** What the platform's NATS can give all tenants together (`nats.tenants.budget`). */
export interface TenantBudget {
  diskStorage: number;
  memoryStorage: number;
}

export interface NatsAccountDeps {
  kube: Kube;
  accounts: AccountOps;
  keys: ControllerNatsKeys;
  limits: TenantLimits;
  budget: TenantBudget;
  /** The URL written into the namespaces' Secrets. */
  tenantUrl: string;
  /** Where the accounts ConfigMap lives (the platform's namespace) and its name. */
  releaseNamespace: string;
  configMapName: string;
  /** Informer caches. */
  namespace(name: string): V1Namespace | undefined;
  functions(namespace: string): FunctionResource[];
  mappings(namespace: string): EventSourceMappingResource[];
  now?: () => number;
}

/** Whether a namespace needs its NATS account: a NATS event source, a nats: destination, or the annotation. */
export function needsNats(
  ns: V1Namespace | undefined,
  functions: FunctionResource[],
  mappings: EventSourceMappingResource[],
): boolean {
  if (ns?.metadata?.annotations?.[CREDENTIALS_ANNOTATION] === 'true') return true;
  const nats = (d: string | undefined): boolean => d?.startsWith('nats:') ?? false;
  if (functions.some((f) => nats(f.spec?.async?.onSuccess) || nats(f.spec?.async?.onFailure))) return true;
  return mappings.some(
    (m) =>
      m.spec?.source?.natsQueue !== undefined ||
      m.spec?.source?.natsStream !== undefined ||
      nats(m.spec?.onFailure),
  );
}

/** Whether one more account fits the budget next to the accounts already pushed (pure). */
export function fitsBudget(pushed: number, limits: TenantLimits, budget: TenantBudget): boolean {
  const n = pushed + 1;
  const disk = limits.diskStorage <= 0 || n * limits.diskStorage <= budget.diskStorage;
  const mem = limits.memoryStorage <= 0 || n * limits.memoryStorage <= budget.memoryStorage;
  return disk && mem;
}

/**
 * One NATS account per namespace (docs/nats.md). Level-triggered per namespace: an account for a
 * namespace that needs one (pushed when the server's claims differ — so a controller start
 * re-pushes whatever the server lost), its `sluice-nats` Secret, and its entry in the accounts
 * ConfigMap the poller and gateway read; the account of a namespace that is gone (or was
 * recreated: another UID) is purged and deleted. An account stays while its namespace exists,
 * even when nothing uses NATS any more (deleting it would delete the namespace's streams).
 */
export class NatsAccountReconciler {
  private entries: Map<string, AccountEntry> | undefined;
  private admission: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly d: NatsAccountDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Namespaces with an entry (so a deleted namespace is found after a restart too). */
  async known(): Promise<string[]> {
    return [...(await this.load()).keys()];
  }

  async reconcile(namespace: string, log: Logger): Promise<void> {
    const entries = await this.load();
    const ns = this.d.namespace(namespace);
    let entry = entries.get(namespace);
    const uid = ns?.metadata?.uid;
    if (entry && (!ns || entry.uid !== uid)) {
      if (ns && !ns.metadata?.deletionTimestamp) {
        // Recreated under the same name: the old account goes, a new one is derived below.
        await this.removeAccount(namespace, entry, log);
        entry = undefined;
      } else if (!ns) {
        await this.removeAccount(namespace, entry, log);
        return;
      }
    }
    // A terminating namespace keeps its account until it is gone: its mappings' finalizers
    // still delete their consumers in it.
    if (!ns || !uid || ns.metadata?.deletionTimestamp) return;
    if (!entry?.account && !needsNats(ns, this.d.functions(namespace), this.d.mappings(namespace))) return;
    // Admission (the budget) and the push run one at a time.
    const run = this.admission.then(() => this.ensureAccount(ns, namespace, uid, log));
    this.admission = run.catch(() => undefined);
    const ready = await run;
    if (ready) await this.ensureSecret(namespace, ready, log);
  }

  private async ensureAccount(
    ns: V1Namespace,
    namespace: string,
    uid: string,
    log: Logger,
  ): Promise<AccountEntry | undefined> {
    const entries = await this.load();
    const entry = entries.get(namespace);
    if (!entry?.account) {
      const pushed = [...entries.values()].filter((e) => e.account).length;
      if (!fitsBudget(pushed, this.d.limits, this.d.budget)) {
        const message = `the NATS budget for namespaces (${this.d.budget.diskStorage} bytes of file storage, ${this.d.budget.memoryStorage} of memory) is used up by ${pushed} namespaces: namespace ${namespace} gets no NATS account until one goes or the budget (chart value nats.tenants.budget) grows`;
        if (entry?.reason !== 'BudgetExceeded') {
          await this.writeEntry(namespace, { uid, ready: false, reason: 'BudgetExceeded', message });
          await this.event(ns, 'Warning', 'NatsBudgetExceeded', message, log);
        }
        return undefined;
      }
    }
    const account = tenantAccountKey(masterBytes(this.d.keys), uid).getPublicKey();
    const jwt = await tenantAccountJwt({
      namespace,
      account,
      keys: this.d.keys,
      tenantSignerPublic: publicKeyOf(this.d.keys.tenantSigner),
      platformSignerPublic: this.d.keys.platformSignerPublic,
      limits: this.d.limits,
      ...(entry?.revoked ? { revocations: entry.revoked } : {}),
    });
    const pushed = await this.d.accounts.ensure(account, jwt);
    if (pushed) log.info({ namespace, account }, 'NATS account pushed');
    if (entry?.ready && entry.account === account && !pushed) return entry;
    // New or changed: JetStream must answer (an account past the server's reservations has none).
    const probe = await scopedUserCreds(
      `sluice-controller-probe@${namespace}`,
      account,
      this.d.keys.tenantSigner,
    );
    try {
      await this.d.accounts.verify(probe);
    } catch (err) {
      const message = `NATS account ${account} of namespace ${namespace} has no JetStream: ${(err as Error).message}`;
      await this.writeEntry(namespace, {
        ...entry,
        uid,
        account,
        ready: false,
        reason: 'JetStreamUnavailable',
        message,
      });
      await this.event(ns, 'Warning', 'NatsJetStreamUnavailable', message, log);
      throw err;
    }
    const ready: AccountEntry = { ...entry, uid, account, ready: true };
    delete ready.reason;
    delete ready.message;
    await this.writeEntry(namespace, ready);
    if (!entry?.ready)
      await this.event(ns, 'Normal', 'NatsAccountReady', `NATS account ${account} is ready`, log);
    return ready;
  }

  /** Secret `sluice-nats`: kept while its creds are of this account and signer; otherwise new creds, the old user revoked. */
  private async ensureSecret(namespace: string, entry: AccountEntry, log: Logger): Promise<void> {
    const account = entry.account as string;
    const current = await this.currentSecret(namespace);
    const signer = publicKeyOf(this.d.keys.tenantSigner);
    const id = current?.id;
    const valid = id !== undefined && id.account === account && id.issuer === signer;
    if (valid && current?.url === this.d.tenantUrl && id.user === entry.user) return;
    const next =
      valid && current?.creds
        ? current.creds
        : await scopedUserCreds(`sluice-nats@${namespace}`, account, this.d.keys.tenantSigner);
    const user = credsIdentity(next).user;
    if (entry.user && entry.user !== user) {
      // The Secret was deleted or replaced: the user it held may no longer connect.
      const revoked = { ...entry.revoked, [entry.user]: Math.floor(this.now() / 1000) };
      const updated = { ...entry, user, revoked };
      await this.pushRevocations(namespace, updated, log);
      await this.writeEntry(namespace, updated);
    } else if (entry.user !== user) {
      await this.writeEntry(namespace, { ...entry, user });
    }
    await this.d.kube.apply(makeTenantSecret(namespace, this.d.tenantUrl, next));
    log.info({ namespace, account }, 'NATS credentials written to Secret sluice-nats');
  }

  private async currentSecret(
    namespace: string,
  ): Promise<{ creds?: string; url?: string; id?: ReturnType<typeof credsIdentity> } | undefined> {
    const s = await this.d.kube.get<V1Secret>('v1', 'Secret', namespace, TENANT_SECRET);
    if (!s?.data) return undefined;
    const text = (k: string): string | undefined =>
      s.data?.[k] ? Buffer.from(s.data[k], 'base64').toString() : undefined;
    const creds = text('creds');
    let id: ReturnType<typeof credsIdentity> | undefined;
    try {
      id = creds ? credsIdentity(creds) : undefined;
    } catch {
      id = undefined;
    }
    return {
      ...(creds ? { creds } : {}),
      ...(text('url') ? { url: text('url') } : {}),
      ...(id ? { id } : {}),
    };
  }

  private async pushRevocations(namespace: string, entry: AccountEntry, log: Logger): Promise<void> {
    const jwt = await tenantAccountJwt({
      namespace,
      account: entry.account as string,
      keys: this.d.keys,
      tenantSignerPublic: publicKeyOf(this.d.keys.tenantSigner),
      platformSignerPublic: this.d.keys.platformSignerPublic,
      limits: this.d.limits,
      ...(entry.revoked ? { revocations: entry.revoked } : {}),
    });
    await this.d.accounts.ensure(entry.account as string, jwt);
    log.info({ namespace }, 'revoked the previous NATS user of the namespace');
  }

  private async removeAccount(namespace: string, entry: AccountEntry, log: Logger): Promise<void> {
    if (entry.account) {
      await this.d.accounts.remove(entry.account);
      log.info({ namespace, account: entry.account }, 'NATS account purged and deleted');
    }
    await this.writeEntry(namespace, undefined);
  }

  private async load(): Promise<Map<string, AccountEntry>> {
    if (!this.entries) {
      const cm = await this.d.kube.get<V1ConfigMap>(
        'v1',
        'ConfigMap',
        this.d.releaseNamespace,
        this.d.configMapName,
      );
      this.entries = entriesOf(cm);
    }
    return this.entries;
  }

  private async writeEntry(namespace: string, entry: AccountEntry | undefined): Promise<void> {
    const entries = await this.load();
    const cm = makeAccountsConfigMap(this.d.releaseNamespace, this.d.configMapName);
    await this.d.kube.mergePatch(cm, { data: { [namespace]: entry ? JSON.stringify(entry) : null } });
    if (entry) entries.set(namespace, entry);
    else entries.delete(namespace);
  }

  private async event(
    ns: V1Namespace,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    log: Logger,
  ) {
    const name = ns.metadata?.name ?? '';
    await this.d.kube
      .event({
        involved: { apiVersion: 'v1', kind: 'Namespace', metadata: { ...ns.metadata, namespace: name } },
        type,
        reason,
        message,
      })
      .catch((err: unknown) => log.warn({ err, namespace: name }, 'recording an event failed'));
  }
}
