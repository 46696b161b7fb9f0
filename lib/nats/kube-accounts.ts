import { CoreV1Api, makeInformer, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { AccountDirectory, AccountEntry } from './tenants.js';

/** The ConfigMap the controller publishes namespace → account in (in the platform's namespace). */
export const ACCOUNTS_CONFIGMAP = 'sluice-nats-accounts';
/** Its label, which the platform's informers select it by. */
export const ACCOUNTS_LABEL = { key: 'app.kubernetes.io/component', value: 'nats-accounts' };

/** Parses one ConfigMap value; undefined when it is not an entry. */
export function parseEntry(value: string | undefined): AccountEntry | undefined {
  if (!value) return undefined;
  try {
    const e = JSON.parse(value) as Partial<AccountEntry>;
    if (typeof e.uid !== 'string' || typeof e.ready !== 'boolean') return undefined;
    return e as AccountEntry;
  } catch {
    return undefined;
  }
}

export function entriesOf(cm: V1ConfigMap | undefined): Map<string, AccountEntry> {
  const out = new Map<string, AccountEntry>();
  for (const [ns, v] of Object.entries(cm?.data ?? {})) {
    const e = parseEntry(v);
    if (e) out.set(ns, e);
  }
  return out;
}

/**
 * The accounts of namespaces, from the controller's ConfigMap in the platform's namespace
 * (list + watch). Tenants cannot write there, so a tenant can never point the platform at
 * another namespace's account.
 */
export class KubeAccountDirectory implements AccountDirectory {
  private entries = new Map<string, AccountEntry>();
  private readonly informer;
  synced = false;

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
    private readonly log: Logger,
    private readonly name = ACCOUNTS_CONFIGMAP,
  ) {
    const core = kc.makeApiClient(CoreV1Api);
    const selector = `${ACCOUNTS_LABEL.key}=${ACCOUNTS_LABEL.value}`;
    this.informer = makeInformer<V1ConfigMap>(
      kc,
      `/api/v1/namespaces/${namespace}/configmaps`,
      () => core.listNamespacedConfigMap({ namespace, labelSelector: selector }),
      selector,
    );
    const refresh = (): void => {
      const cm = this.informer.get(this.name, this.namespace);
      this.entries = entriesOf(cm);
    };
    for (const verb of ['add', 'update', 'delete'] as const) this.informer.on(verb, refresh);
    this.informer.on('error', (err: unknown) => {
      this.log.warn({ err }, 'watching the NATS accounts ConfigMap failed; restarting');
      setTimeout(() => void this.informer.start().catch(() => undefined), 2000);
    });
  }

  async start(): Promise<void> {
    await this.informer.start();
    this.entries = entriesOf(this.informer.get(this.name, this.namespace));
    this.synced = true;
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  entry(namespace: string): AccountEntry | undefined {
    return this.entries.get(namespace);
  }
}
