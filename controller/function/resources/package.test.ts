import { describe, expect, it } from 'vitest';
import { specHash } from '../../../api/hash.js';
import type { FunctionSpec } from '../../../api/types.js';
import { makeDeployment } from './deployment.js';
import { DEFAULT_BUILD_OPTIONS, type BuildOptions, type VersionPlan } from './types.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const L1 = `sha256:${'a'.repeat(64)}`;
const L2 = `sha256:${'b'.repeat(64)}`;
const opts: BuildOptions = {
  ...DEFAULT_BUILD_OPTIONS,
  invokeKey: Buffer.from('k'.repeat(64)),
  packageBaseUrl: 'http://sluice-gateway.platform.svc:8080/',
  runtimeImages: { nodejs22: 'rt:22', nodejs24: 'rt:24', provided: 'base:provided' },
};

function plan(spec: Partial<FunctionSpec>, layerDigests?: string[]): VersionPlan {
  const s: FunctionSpec = { runtime: 'nodejs22', code: { package: D1 }, ...spec };
  return {
    namespace: 'team-a',
    functionName: 'orders',
    version: '$LATEST',
    spec: s,
    specHash: specHash(s),
    owner: { apiVersion: 'sluice.dev/v1alpha1', kind: 'Function', name: 'orders', uid: 'u' },
    ...(layerDigests ? { layerDigests } : {}),
  };
}
const podOf = (p: VersionPlan) => makeDeployment(p, opts, 0).spec?.template.spec;
const envOf = (
  c: { env?: { name: string; value?: string }[] } | undefined,
): Record<string, string | undefined> => Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));

describe('zip packages and layers in the pod', () => {
  it('nodejs: sluice-fetch-code fills /var/task and /opt (layers first, in order) from the gateway with the invoke token; the function mounts them read-only', () => {
    const pod = podOf(plan({}, [L1, L2]));
    const fetch = pod?.initContainers?.find((c) => c.name === 'sluice-fetch-code');
    expect(fetch?.image).toBe('rt:22');
    expect(fetch?.args).toEqual(['/app/dist/runtime/fetch-main.js']);
    const base = 'http://sluice-gateway.platform.svc:8080/internal/v1/packages/team-a/orders';
    expect(JSON.parse(envOf(fetch).SLUICE_PACKAGES ?? '')).toEqual([
      { kind: 'layer', digest: L1, url: `${base}/${L1}` },
      { kind: 'layer', digest: L2, url: `${base}/${L2}` },
      { kind: 'code', digest: D1, url: `${base}/${D1}` },
    ]);
    expect(fetch?.volumeMounts?.map((m) => [m.name, m.mountPath, m.readOnly ?? false])).toEqual([
      ['package', '/mnt/task', false],
      ['layers', '/mnt/opt', false],
      ['invoke-token', '/var/run/sluice/invoke', true],
    ]);
    const fn = pod?.containers.find((c) => c.name === 'function');
    expect(fn?.volumeMounts?.filter((m) => m.name === 'package' || m.name === 'layers')).toEqual([
      { name: 'package', mountPath: '/var/task', readOnly: true },
      { name: 'layers', mountPath: '/opt', readOnly: true },
    ]);
    expect(pod?.volumes?.filter((v) => v.emptyDir && v.name !== 'tmp').map((v) => v.name)).toEqual([
      'package',
      'layers',
    ]);
  });

  it('provided from a zip: the platform base image runs the bootstrap with /var/task and /opt; the fetch runs before the sidecar; the sidecar mounts neither', () => {
    const pod = podOf(plan({ runtime: 'provided' }, [L1]));
    expect(pod?.initContainers?.map((c) => c.name)).toEqual(['sluice-fetch-code', 'sluice-runtime']);
    const fn = pod?.containers.find((c) => c.name === 'function');
    expect(fn?.image).toBe('base:provided');
    expect(fn?.imagePullPolicy).toBe('IfNotPresent');
    expect(fn?.volumeMounts?.map((m) => m.mountPath)).toEqual(['/tmp', '/var/task', '/opt']);
    expect(fn?.volumeMounts?.some((m) => m.name === 'invoke-token')).toBe(false);
    const sidecar = pod?.initContainers?.find((c) => c.name === 'sluice-runtime');
    expect(sidecar?.volumeMounts?.map((m) => m.mountPath)).not.toContain('/var/task');
  });

  it('inline code with layers: /var/task from the ConfigMap, only layers fetched', () => {
    const p = {
      ...plan({ code: { inline: 'exports.handler=async()=>1' } }, [L1]),
      codeConfigMap: 'orders-code-x',
    };
    const pod = podOf(p);
    const fetch = pod?.initContainers?.find((c) => c.name === 'sluice-fetch-code');
    expect(JSON.parse(envOf(fetch).SLUICE_PACKAGES ?? '').map((x: { kind: string }) => x.kind)).toEqual([
      'layer',
    ]);
    const fn = pod?.containers.find((c) => c.name === 'function');
    expect(
      fn?.volumeMounts?.filter((m) => ['/var/task', '/opt'].includes(m.mountPath)).map((m) => m.name),
    ).toEqual(['code', 'layers']);
  });

  it('neither package nor layers: no fetch, no extra volumes', () => {
    const pod = podOf({ ...plan({ code: { inline: 'x' } }), codeConfigMap: 'c' });
    expect(pod?.initContainers ?? []).toEqual([]);
    expect(pod?.volumes?.map((v) => v.name)).not.toContain('package');
  });
});
