import { describe, expect, it } from 'vitest';
import { specHash } from './hash.js';
import type { FunctionResource, FunctionSpec, FunctionVersionResource } from './types.js';
import { planPublish } from './versions.js';

const spec = (inline: string): FunctionSpec => ({ runtime: 'nodejs22', code: { inline } });
const fn = (inline: string): FunctionResource => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'Function',
  metadata: { name: 'f', namespace: 'n', uid: 'u' },
  spec: { ...spec(inline), versioning: { autoPublish: true } },
});
const v = (n: string, inline: string): FunctionVersionResource => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'FunctionVersion',
  metadata: { name: `f-v${n}` },
  spec: { function: 'f', version: n, codeSha256: specHash(spec(inline)), snapshot: spec(inline) },
});

describe('planPublish', () => {
  it.each([
    { name: 'first version', versions: [], code: 'a', want: { create: '1' } },
    {
      name: 'unchanged since the latest: nothing new',
      versions: [v('1', 'a'), v('2', 'b')],
      code: 'b',
      want: { existing: '2' },
    },
    {
      name: 'unchanged since an older one only: a new version',
      versions: [v('2', 'b'), v('1', 'a')],
      code: 'a',
      want: { create: '3' },
    },
    { name: 'changed: the next number', versions: [v('1', 'a')], code: 'c', want: { create: '2' } },
  ])('$name', ({ versions, code, want }) => {
    const plan = planPublish(fn(code), versions, 'why');
    if ('existing' in plan) expect({ existing: plan.existing.spec.version }).toEqual(want);
    else {
      expect({ create: plan.create.spec.version }).toEqual(want);
      expect(plan.create.metadata.name).toBe(`f-v${want.create}`);
      expect(plan.create.spec.snapshot.versioning).toBeUndefined();
      expect(plan.create.spec.description).toBe('why');
      expect(plan.create.metadata.ownerReferences?.[0]).toMatchObject({
        kind: 'Function',
        uid: 'u',
        controller: true,
      });
    }
  });
});
