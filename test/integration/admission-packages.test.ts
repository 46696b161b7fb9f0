/**
 * Zip packages and layers at admission, against a real kube-apiserver: spec.code.package, a
 * Function's spec.layers (and the chart's policy keeping them in the function's namespace), and
 * the immutable LayerVersion.
 */
import { ApiException, CoreV1Api, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerVersionName } from '../../api/layers.js';
import { renderChart } from '../support/helm.js';
import { until } from '../support/time.js';
import { startApiServer, type ApiServer } from './support/apiserver.js';

const API = 'sluice.dev/v1alpha1';
const NS = 'tenant-a';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const layer = (name: string, version = 1, ns = NS): string =>
  `arn:aws:lambda:us-east-1:${ns}:layer:${name}:${version}`;

let kas: ApiServer;
let objects: KubernetesObjectApi;

beforeAll(async () => {
  kas = await startApiServer();
  const kc = kas.kubeConfig();
  objects = KubernetesObjectApi.makeApiClient(kc);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
}, 120_000);

afterAll(async () => {
  await kas?.stop();
});

/** The API server's message when it refuses `obj`; undefined when it stores it. */
async function refusal(
  obj: KubernetesObject,
  write: 'create' | 'replace' = 'create',
): Promise<string | undefined> {
  try {
    if (write === 'create') await objects.create(obj, undefined, 'All');
    else await objects.replace(obj, undefined, 'All');
    return undefined;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    return String((JSON.parse(String(err.body)) as { message?: string }).message ?? err.body);
  }
}

let n = 0;
const fn = (spec: Record<string, unknown>, kind = 'Function'): KubernetesObject =>
  ({
    apiVersion: API,
    kind,
    metadata: { name: `fn-${++n}`, namespace: NS },
    spec:
      kind === 'Function'
        ? { runtime: 'nodejs22', ...spec }
        : { function: 'f', version: '1', snapshot: { runtime: 'nodejs22', ...spec } },
  }) as KubernetesObject;

const lv = (spec: Record<string, unknown>, name = `lv-${++n}`): KubernetesObject =>
  ({ apiVersion: API, kind: 'LayerVersion', metadata: { name, namespace: NS }, spec }) as KubernetesObject;

describe('spec.code.package', () => {
  it.each([
    { name: 'a Node.js function from a package', spec: { code: { package: DIGEST } } },
    {
      name: 'a custom runtime (provided) from a package',
      spec: { runtime: 'provided', code: { package: DIGEST } },
    },
    {
      name: 'five layers of its own namespace',
      spec: { code: { package: DIGEST }, layers: ['a', 'b', 'c', 'd', 'e'].map((l) => layer(l)) },
    },
    {
      name: 'a layer name with upper case and _',
      spec: { code: { package: DIGEST }, layers: [layer('My_Layer-2', 12)] },
    },
  ])('stores $name', async ({ spec }) => {
    expect(await refusal(fn(spec))).toBeUndefined();
  });

  it.each([
    {
      name: 'a digest in upper case',
      spec: { code: { package: `sha256:${'AB'.repeat(32)}` } },
      message: 'spec.code.package must be sha256: followed by 64 lower-case hex digits',
    },
    {
      name: 'a digest without its algorithm',
      spec: { code: { package: 'ab'.repeat(32) } },
      message: 'spec.code.package must be sha256: followed by 64 lower-case hex digits',
    },
    {
      name: 'a short digest',
      spec: { code: { package: 'sha256:abc' } },
      message: 'spec.code.package must be sha256: followed by 64 lower-case hex digits',
    },
    {
      name: 'a package and inline code',
      spec: { code: { package: DIGEST, inline: 'x' } },
      message: 'spec.code must set exactly one of inline, configMap, image or package',
    },
    {
      name: 'a custom runtime with inline code',
      spec: { runtime: 'provided', code: { inline: 'x' } },
      message: 'spec.code.image or spec.code.package is required when spec.runtime is provided',
    },
    {
      name: 'six layers',
      spec: { code: { package: DIGEST }, layers: ['a', 'b', 'c', 'd', 'e', 'f'].map((l) => layer(l)) },
      message: 'must have at most 5 items',
    },
    {
      name: 'a layer that is not an ARN',
      spec: { code: { package: DIGEST }, layers: ['my-layer:1'] },
      message: 'spec.layers[] must be a layer version ARN arn:aws:lambda:REGION:NAMESPACE:layer:NAME:VERSION',
    },
    {
      name: 'a layer ARN without a version',
      spec: { code: { package: DIGEST }, layers: ['arn:aws:lambda:us-east-1:tenant-a:layer:x'] },
      message: 'spec.layers[] must be a layer version ARN',
    },
    {
      name: 'a layer ARN of version 0',
      spec: { code: { package: DIGEST }, layers: [layer('x', 0)] },
      message: 'spec.layers[] must be a layer version ARN',
    },
    {
      name: 'two versions of one layer',
      spec: { code: { package: DIGEST }, layers: [layer('x', 1), layer('x', 2)] },
      message: 'spec.layers must not list two versions of the same layer',
    },
  ])('refuses $name', async ({ spec, message }) => {
    expect(await refusal(fn(spec))).toContain(message);
  });

  it('applies the same rules to a FunctionVersion snapshot', async () => {
    expect(
      await refusal(fn({ code: { package: DIGEST }, layers: [layer('x')] }, 'FunctionVersion')),
    ).toBeUndefined();
    expect(await refusal(fn({ code: { package: 'sha256:x' } }, 'FunctionVersion'))).toContain(
      'spec.code.package must be sha256:',
    );
  });
});

describe("the chart's admission policy: layers of the function's own namespace", () => {
  beforeAll(async () => {
    for (const o of renderChart([], { showOnly: ['templates/admission-policies.yaml'] }))
      if (o.metadata?.name?.endsWith('-layers')) await objects.create(o);
    await until(
      async () =>
        (await refusal(fn({ code: { package: DIGEST }, layers: [layer('x', 1, 'tenant-b')] }))) !== undefined,
      'the layers policy to be in force',
      30_000,
      250,
    );
  });

  it.each([
    { name: 'a Function', kind: 'Function', field: 'spec.layers[]' },
    { name: 'a FunctionVersion', kind: 'FunctionVersion', field: 'spec.snapshot.layers[]' },
  ])("refuses another namespace's layer in $name, naming it", async ({ kind, field }) => {
    const other = layer('shared', 3, 'tenant-b');
    const message = await refusal(fn({ code: { package: DIGEST }, layers: [layer('mine'), other] }, kind));
    expect(message).toContain(`${field}: ${other} is not a layer of this namespace`);
  });

  it('stores layers of its own namespace', async () => {
    expect(await refusal(fn({ code: { package: DIGEST }, layers: [layer('mine')] }))).toBeUndefined();
  });
});

describe('LayerVersion', () => {
  const spec = {
    layerName: 'My_Layer',
    version: 1,
    package: DIGEST,
    codeSize: 1234,
    compatibleRuntimes: ['nodejs22.x'],
  };

  it('is stored under its derived name and cannot change', async () => {
    const name = layerVersionName('My_Layer', 1);
    await objects.create(lv(spec, name));
    const stored = await objects.read<KubernetesObject & { spec: typeof spec }>({
      apiVersion: API,
      kind: 'LayerVersion',
      metadata: { name, namespace: NS },
    });
    expect(stored.spec).toEqual(spec);
    expect(
      await refusal({ ...stored, spec: { ...spec, description: 'changed' } } as KubernetesObject, 'replace'),
    ).toContain('spec is immutable: a published LayerVersion cannot change');
  });

  it.each([
    {
      name: 'a layer name with a dot',
      spec: { ...spec, layerName: 'a.b' },
      message: 'spec.layerName must be 1 to 140 letters, digits, - and _',
    },
    { name: 'version 0', spec: { ...spec, version: 0 }, message: 'spec.version must be a positive integer' },
    {
      name: 'a bad digest',
      spec: { ...spec, package: 'md5:1' },
      message: 'spec.package must be sha256: followed by 64 lower-case hex digits',
    },
    {
      name: 'a negative size',
      spec: { ...spec, codeSize: -1 },
      message: 'spec.codeSize must not be negative',
    },
    { name: 'no package', spec: { layerName: 'x', version: 1 }, message: 'spec.package: Required value' },
  ])('refuses $name', async ({ spec: s, message }) => {
    expect(await refusal(lv(s))).toContain(message);
  });
});
