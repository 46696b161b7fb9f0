import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { canonicalJson } from '../../api/hash.js';
import { matchesSelector } from '../../lib/kube/selector.js';
import type { Lister } from '../../lib/kube/watch.js';
import type { Kube } from './client.js';

/** What the controller last applied to an object: a hash of it (set on every apply). */
export const APPLIED_HASH_ANNOTATION = 'sluice.dev/applied-hash';

/** The listers of the controller's watches, by `apiVersion/kind`; registered as the watches start. */
export class Listers {
  private readonly byKind = new Map<string, Lister<KubernetesObject>>();

  register(apiVersion: string, kind: string, lister: Lister<KubernetesObject>): void {
    this.byKind.set(`${apiVersion}/${kind}`, lister);
  }

  of(apiVersion: string, kind: string): Lister<KubernetesObject> | undefined {
    return this.byKind.get(`${apiVersion}/${kind}`);
  }
}

/** A hash of an object as it would be applied (its own hash annotation left out). */
export function appliedHash(obj: KubernetesObject): string {
  const annotations = { ...obj.metadata?.annotations };
  delete annotations[APPLIED_HASH_ANNOTATION];
  const bare = { ...obj, metadata: { ...obj.metadata, annotations } };
  return createHash('sha256').update(canonicalJson(bare)).digest('hex').slice(0, 32);
}

/** `obj` carrying `hash` as the hash of what was applied. */
export function stamped<T extends KubernetesObject>(obj: T, hash: string): T {
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      annotations: { ...obj.metadata?.annotations, [APPLIED_HASH_ANNOTATION]: hash },
    },
  };
}

export interface CachedKubeOptions {
  /**
   * How long an unchanged apply is skipped before it is sent once more (default 10 minutes):
   * for a kind the controller cannot read back (Secrets: it may write them but not read them)
   * how long a write is remembered as done, so one deleted behind its back comes back; for a
   * watched kind how long an object carrying the hash is trusted, so an edit of a field the
   * controller owns (kubectl edit) is undone within that time.
   */
  rememberMs?: number;
  now?: () => number;
}

/**
 * Reads from caches, writes to the API server (controller-runtime's client, knative's listers):
 * get and list answer from the watches' listers (a kind nobody watches goes to the API server);
 * an apply whose object is unchanged since the controller last applied it — the hash annotation
 * of the cached object, or, for a kind it cannot read, the hash it remembers writing — is not
 * sent (but once every `rememberMs` it is, to undo drift the hash cannot see); a delete of an object the cache does not hold is not sent. Creates go to `api` as they
 * are: a create that finds the object exists (the cache had not seen it yet) is the caller's to
 * answer (apply instead, or take it as done). Writes go to `api` unchanged.
 * Every object read is a copy with apiVersion and kind set, so callers may change it.
 */
export function cachedKube(api: Kube, listers: Listers, opts: CachedKubeOptions = {}): Kube {
  const rememberMs = opts.rememberMs ?? 10 * 60_000;
  const now = opts.now ?? Date.now;
  /** Per object: the hash last applied (or found applied) and when. */
  const written = new Map<string, { hash: string; at: number }>();
  const keyOf = (o: KubernetesObject): string =>
    `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  const copy = <T extends KubernetesObject>(o: KubernetesObject, apiVersion: string, kind: string): T =>
    ({ ...structuredClone(o), apiVersion, kind }) as T;
  const cachedOf = (o: KubernetesObject): KubernetesObject | undefined => {
    const lister = listers.of(o.apiVersion ?? '', o.kind ?? '');
    const found = lister?.get(o.metadata?.name ?? '', o.metadata?.namespace);
    return found && found.metadata?.namespace === o.metadata?.namespace ? found : undefined;
  };
  const apply = async <T extends KubernetesObject>(obj: T): Promise<T> => {
    const hash = appliedHash(obj);
    const key = keyOf(obj);
    const lister = listers.of(obj.apiVersion ?? '', obj.kind ?? '');
    const last = written.get(key);
    const fresh = last?.hash === hash && now() - last.at < rememberMs;
    if (lister) {
      const cur = cachedOf(obj);
      if (cur?.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] === hash) {
        // First seen applied (after a restart, say): trusted from now on, for rememberMs.
        if (last?.hash !== hash) written.set(key, { hash, at: now() });
        if (last?.hash !== hash || fresh) return copy<T>(cur, obj.apiVersion ?? '', obj.kind ?? '');
      }
    } else if (fresh) return obj;
    written.delete(key);
    const out = await api.apply(stamped(obj, hash));
    written.set(key, { hash, at: now() });
    return out;
  };
  return {
    ...api,
    live: api,
    async get<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string, name: string) {
      const lister = listers.of(apiVersion, kind);
      if (!lister) return api.get<T>(apiVersion, kind, namespace, name);
      const o = lister.get(name, namespace || undefined);
      // Tenant safety: an object only ever answers for its own namespace.
      if (!o || (o.metadata?.namespace ?? '') !== namespace) return undefined;
      return copy<T>(o, apiVersion, kind);
    },
    async list<T extends KubernetesObject>(
      apiVersion: string,
      kind: string,
      namespace: string,
      labelSelector?: string,
    ) {
      const lister = listers.of(apiVersion, kind);
      if (!lister) return api.list<T>(apiVersion, kind, namespace, labelSelector);
      return lister
        .list(namespace)
        .filter(
          (o) => o.metadata?.namespace === namespace && matchesSelector(o.metadata.labels, labelSelector),
        )
        .map((o) => copy<T>(o, apiVersion, kind));
    },
    apply,
    async delete(apiVersion: string, kind: string, namespace: string, name: string) {
      written.delete(`${apiVersion}/${kind}/${namespace}/${name}`);
      const lister = listers.of(apiVersion, kind);
      if (lister && !lister.get(name, namespace)) return false;
      return api.delete(apiVersion, kind, namespace, name);
    },
  };
}
