import type { V1Deployment, V1DeploymentStatus } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { AliasResource, FunctionResource, FunctionVersionResource } from '../../api/types.js';
import { activeVersions, podProblem, updatedCondition } from './reconcile.js';
import { routingSummary } from '../alias/reconcile.js';

const fn: FunctionResource = {
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'Function',
  metadata: { name: 'f', namespace: 'n' },
  spec: { runtime: 'nodejs22', code: { inline: 'x' } },
};
const version = (n: string, minReplicas = 0): FunctionVersionResource => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'FunctionVersion',
  metadata: { name: `f-v${n}`, namespace: 'n' },
  spec: {
    function: 'f',
    version: n,
    codeSha256: `h${n}`,
    snapshot: { runtime: 'nodejs22', code: { inline: n }, scaling: { minReplicas } },
  },
});
const alias = (v: string, weights?: Record<string, number>): AliasResource => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'Alias',
  metadata: { name: 'prod', namespace: 'n' },
  spec: { function: 'f', version: v, ...(weights ? { additionalVersionWeights: weights } : {}) },
});

describe('activeVersions', () => {
  it.each([
    {
      name: 'only $LATEST without aliases',
      versions: [version('1'), version('2')],
      aliases: [],
      want: ['$LATEST'],
    },
    {
      name: 'an alias target',
      versions: [version('1'), version('2')],
      aliases: [alias('1')],
      want: ['$LATEST', '1'],
    },
    {
      name: 'alias target and weighted version',
      versions: [version('1'), version('2')],
      aliases: [alias('1', { '2': 0.1 })],
      want: ['$LATEST', '1', '2'],
    },
    {
      name: 'a version with a minimum scale',
      versions: [version('1'), version('2', 1)],
      aliases: [],
      want: ['$LATEST', '2'],
    },
    {
      name: 'an alias to a missing version is ignored',
      versions: [version('1')],
      aliases: [alias('7')],
      want: ['$LATEST'],
    },
    {
      name: 'an alias to $LATEST adds nothing',
      versions: [],
      aliases: [alias('$LATEST')],
      want: ['$LATEST'],
    },
  ])('$name', ({ versions, aliases, want }) => {
    expect(activeVersions(fn, versions, aliases).map((a) => a.version)).toEqual(want);
  });
});

describe('podProblem', () => {
  it.each([
    {
      name: 'healthy pod',
      pod: { status: { containerStatuses: [{ name: 'function', state: { running: {} } }] } },
      want: undefined,
    },
    {
      name: 'crash loop',
      pod: {
        status: {
          containerStatuses: [
            { name: 'function', state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } } },
          ],
        },
      },
      want: 'CrashLoopBackOff',
    },
    {
      name: 'image missing',
      pod: {
        status: {
          containerStatuses: [{ name: 'function', state: { waiting: { reason: 'ErrImageNeverPull' } } }],
        },
      },
      want: 'ErrImageNeverPull',
    },
    {
      name: 'unschedulable',
      pod: {
        status: { conditions: [{ type: 'PodScheduled', status: 'False', message: 'Insufficient cpu' }] },
      },
      want: 'Unschedulable',
    },
    {
      name: 'still creating',
      pod: {
        status: {
          containerStatuses: [{ name: 'function', state: { waiting: { reason: 'ContainerCreating' } } }],
        },
      },
      want: undefined,
    },
  ])('$name', ({ pod, want }) => {
    expect(podProblem([{ metadata: { name: 'p' }, ...pod } as never])?.reason).toBe(want);
  });
});

describe('routingSummary', () => {
  it.each([
    { name: 'single version', spec: { function: 'f', version: '3' }, want: '3=100%' },
    {
      name: 'weighted',
      spec: { function: 'f', version: '3', additionalVersionWeights: { '4': 0.1 } },
      want: '3=90%,4=10%',
    },
  ])('$name', ({ spec, want }) => {
    expect(routingSummary(spec)).toBe(want);
  });
});

describe('updatedCondition ($LATEST rolled out: Lambda LastUpdateStatus)', () => {
  const d = (generation: number, spec: number, st: V1DeploymentStatus): V1Deployment =>
    ({ metadata: { generation }, spec: { replicas: spec }, status: st }) as V1Deployment;
  it.each([
    { name: 'no Deployment yet', dep: undefined, status: 'False', reason: 'Pending' },
    {
      name: 'template not yet seen',
      dep: d(3, 1, { observedGeneration: 2, replicas: 1, updatedReplicas: 1 }),
      status: 'False',
      reason: 'RollingOut',
    },
    {
      name: 'new pod up, old pod still running',
      dep: d(3, 1, { observedGeneration: 3, replicas: 2, updatedReplicas: 1 }),
      status: 'False',
      reason: 'RollingOut',
    },
    {
      name: 'new pod not created yet',
      dep: d(3, 1, { observedGeneration: 3, replicas: 1, updatedReplicas: 0 }),
      status: 'False',
      reason: 'RollingOut',
    },
    {
      name: 'every pod runs the current spec',
      dep: d(3, 2, { observedGeneration: 3, replicas: 2, updatedReplicas: 2 }),
      status: 'True',
      reason: 'Updated',
    },
    { name: 'scaled to zero', dep: d(3, 0, { observedGeneration: 3 }), status: 'True', reason: 'Updated' },
  ])('$name → $status $reason', ({ dep, status, reason }) => {
    expect(updatedCondition(dep)).toMatchObject({ type: 'Updated', status, reason });
  });
});
