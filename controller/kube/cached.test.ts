import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Lister } from '../../lib/kube/watch.js';
import { APPLIED_HASH_ANNOTATION, appliedHash, cachedKube, Listers, stamped } from './cached.js';
import type { Kube } from './client.js';

/** A lister over fixed objects. */
function lister(objs: KubernetesObject[]): Lister<KubernetesObject> {
  return {
    get: (name, ns) => objs.find((o) => o.metadata?.name === name && o.metadata.namespace === ns),
    list: (ns) => objs.filter((o) => !ns || o.metadata?.namespace === ns),
  };
}

/** The API server side: records every call. */
function recordingKube(): { kube: Kube; calls: string[] } {
  const calls: string[] = [];
  const rec =
    (verb: string) =>
    (...args: unknown[]): Promise<never> => {
      const first = args[0] as KubernetesObject | string;
      calls.push(
        typeof first === 'string'
          ? `${verb} ${args.slice(0, 4).join('/')}`
          : `${verb} ${first.kind}/${first.metadata?.namespace}/${first.metadata?.name}`,
      );
      return Promise.resolve((verb === 'delete' ? true : verb === 'list' ? [] : first) as never);
    };
  const kube = {
    get: rec('get'),
    list: rec('list'),
    create: rec('create'),
    apply: rec('apply'),
    delete: rec('delete'),
    mergePatch: rec('mergePatch'),
    label: rec('label'),
    patchStatus: rec('patchStatus'),
    setScale: rec('setScale'),
    event: rec('event'),
  } as unknown as Kube;
  return { kube, calls };
}

const svc = (ns: string, name: string, labels: Record<string, string> = {}): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: ns, name, labels },
});

function setup(objs: KubernetesObject[], now?: () => number) {
  const listers = new Listers();
  listers.register('v1', 'Service', lister(objs));
  const api = recordingKube();
  return { ...api, cached: cachedKube(api.kube, listers, now ? { now, rememberMs: 1000 } : {}) };
}

describe('cachedKube', () => {
  it('reads a watched kind from the cache, a copy with apiVersion and kind', async () => {
    const obj = { metadata: { namespace: 'a', name: 's' } } as KubernetesObject;
    const { cached, calls } = setup([obj]);
    const got = await cached.get<KubernetesObject>('v1', 'Service', 'a', 's');
    expect(got).toMatchObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } });
    expect(got).not.toBe(obj);
    expect(calls).toEqual([]);
  });

  it.each([
    { name: 'another namespace’s object of the same name', ns: 'b', want: undefined },
    { name: 'a cluster-wide lookup', ns: '', want: undefined },
  ])('never answers with $name', async ({ ns, want }) => {
    const { cached } = setup([svc('a', 's')]);
    expect(await cached.get('v1', 'Service', ns, 's')).toBe(want);
  });

  it('lists one namespace by label selector', async () => {
    const { cached, calls } = setup([
      svc('a', 'one', { fn: 'x' }),
      svc('a', 'two', { fn: 'y' }),
      svc('b', 'three', { fn: 'x' }),
    ]);
    const names = (await cached.list('v1', 'Service', 'a', 'fn=x')).map((o) => o.metadata?.name);
    expect(names).toEqual(['one']);
    expect(calls).toEqual([]);
  });

  it('asks the API server for a kind nobody watches', async () => {
    const { cached, calls } = setup([]);
    await cached.get('v1', 'ServiceAccount', 'a', 'sa');
    expect(calls).toEqual(['get v1/ServiceAccount/a/sa']);
  });

  it('skips an apply whose hash the cached object carries, and sends a changed one stamped', async () => {
    const desired = svc('a', 's', { v: '1' });
    const { cached, calls } = setup([stamped(desired, appliedHash(desired))]);
    await cached.apply(desired);
    expect(calls).toEqual([]);
    const changed = svc('a', 's', { v: '2' });
    const sent = await cached.apply(changed);
    expect(calls).toEqual(['apply Service/a/s']);
    expect(sent.metadata?.annotations?.[APPLIED_HASH_ANNOTATION]).toBe(appliedHash(changed));
  });

  it('sends an unchanged apply of a watched kind again once the hash was trusted for rememberMs', async () => {
    let t = 0;
    const desired = svc('a', 's', { v: '1' });
    const { cached, calls } = setup([stamped(desired, appliedHash(desired))], () => t);
    await cached.apply(desired);
    t = 999;
    await cached.apply(desired);
    expect(calls).toEqual([]);
    t = 1001;
    await cached.apply(desired);
    await cached.apply(desired);
    expect(calls).toEqual(['apply Service/a/s']);
  });

  it('remembers an apply of a kind it cannot read back, for a while', async () => {
    let t = 0;
    const { cached, calls } = setup([], () => t);
    const secret: KubernetesObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { namespace: 'a', name: 'tok' },
    };
    await cached.apply(secret);
    await cached.apply(secret);
    expect(calls).toEqual(['apply Secret/a/tok']);
    t = 1001;
    await cached.apply(secret);
    expect(calls).toEqual(['apply Secret/a/tok', 'apply Secret/a/tok']);
  });

  it('does not send a delete of what the cache does not hold', async () => {
    const { cached, calls } = setup([svc('a', 's')]);
    expect(await cached.delete('v1', 'Service', 'a', 'gone')).toBe(false);
    expect(await cached.delete('v1', 'Service', 'b', 's')).toBe(false);
    expect(await cached.delete('v1', 'Service', 'a', 's')).toBe(true);
    expect(calls).toEqual(['delete v1/Service/a/s']);
  });
});
