import { describe, expect, it } from 'vitest';
import type { FunctionSpec, LayerVersionResource } from '../../api/types.js';
import { layerVersionName } from '../../api/layers.js';
import { resolveLayers } from './layers.js';

const lv = (ns: string, layerName: string, version: number, digest: string): LayerVersionResource => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'LayerVersion',
  metadata: { name: layerVersionName(layerName, version), namespace: ns },
  spec: { layerName, version, package: digest },
});
const store = [
  lv('a', 'deps', 1, 'sha256:1'),
  lv('a', 'My_Layer', 3, 'sha256:3'),
  lv('b', 'deps', 2, 'sha256:b2'),
];
const get = (_v: string, _k: string, ns: string, name: string): Promise<LayerVersionResource | undefined> =>
  Promise.resolve(store.find((o) => o.metadata.namespace === ns && o.metadata.name === name));
const spec = (layers: string[]): FunctionSpec =>
  ({ runtime: 'nodejs22', code: { inline: 'x' }, layers }) as FunctionSpec;

describe('resolveLayers', () => {
  it('gives the digests in the spec order', async () => {
    expect(
      await resolveLayers(
        get,
        'a',
        spec(['arn:aws:lambda:sluice:a:layer:My_Layer:3', 'arn:aws:lambda:sluice:a:layer:deps:1']),
        'spec.layers',
      ),
    ).toEqual({ digests: ['sha256:3', 'sha256:1'] });
  });

  it.each([
    {
      arn: 'arn:aws:lambda:sluice:a:layer:deps:2',
      want: {
        reason: 'LayerNotFound',
        message: 'spec.layers[0]: layer deps version 2 does not exist in namespace a',
      },
    },
    {
      // Namespace b has deps:2, but a function of a may not use it.
      arn: 'arn:aws:lambda:sluice:b:layer:deps:2',
      want: {
        reason: 'LayerNotAllowed',
        message: 'spec.layers[0]: arn:aws:lambda:sluice:b:layer:deps:2 is not a layer version of namespace a',
      },
    },
  ])('$want.reason: $arn', async ({ arn, want }) => {
    expect(await resolveLayers(get, 'a', spec([arn]), 'spec.layers')).toEqual(want);
  });
});
