import { describe, expect, it } from 'vitest';
import type { AliasResource, FunctionVersionResource } from '../../api/types.js';
import { fnResource } from '../../test/support/gateway/fakes.js';
import { InvalidParameterError } from '../errors.js';
import {
  aliasConfigurationOf,
  aliasFrom,
  aliasObjectName,
  maxItems,
  paginate,
  versionConfigurationOf,
  withAliasUpdate,
  withConfiguration,
  type AliasInput,
} from './config-mapping.js';
import { functionConfigurationOf, stateOf } from './mapping.js';

const cond = (type: string, status: 'True' | 'False', reason: string, observedGeneration = 2) => ({
  type,
  status,
  reason,
  message: `${reason}!`,
  observedGeneration,
});

describe('State and LastUpdateStatus from the conditions', () => {
  it.each([
    { name: 'no conditions yet', conds: undefined, state: 'Pending', update: 'InProgress' },
    {
      name: 'ready and updated',
      conds: [cond('Ready', 'True', 'ScaledToZero'), cond('Updated', 'True', 'Updated')],
      state: 'Active',
      update: 'Successful',
    },
    {
      name: 'rolling out',
      conds: [cond('Ready', 'True', 'Running'), cond('Updated', 'False', 'RollingOut')],
      state: 'Active',
      update: 'InProgress',
    },
    {
      name: 'the change not observed yet',
      conds: [cond('Ready', 'True', 'Running', 1), cond('Updated', 'True', 'Updated', 1)],
      state: 'Active',
      update: 'InProgress',
    },
    {
      name: 'first pods starting',
      conds: [cond('Ready', 'False', 'Deploying'), cond('Updated', 'False', 'RollingOut')],
      state: 'Pending',
      update: 'InProgress',
    },
    {
      name: 'cannot run',
      conds: [cond('Ready', 'False', 'ExecutionRoleNotAllowed'), cond('Updated', 'True', 'Updated')],
      state: 'Failed',
      update: 'Failed',
    },
  ])('$name', ({ conds, state, update }) => {
    const s = stateOf(2, conds);
    expect(s.State).toBe(state);
    expect(s.LastUpdateStatus).toBe(update);
    if (state !== 'Active') expect(s.StateReasonCode).toBeDefined();
  });

  it('FunctionConfiguration carries them and RevisionId = resourceVersion', () => {
    const fn = {
      ...fnResource('f', {}, 'shop'),
      status: { conditions: [cond('Ready', 'True', 'Running', 1), cond('Updated', 'True', 'Updated', 1)] },
    };
    fn.metadata.generation = 1;
    fn.metadata.resourceVersion = '77';
    expect(functionConfigurationOf('us-east-1', fn, 0)).toMatchObject({
      State: 'Active',
      LastUpdateStatus: 'Successful',
      RevisionId: '77',
    });
  });
});

describe('UpdateFunctionConfiguration onto the spec', () => {
  const fn = fnResource('f', { environment: { A: '1' }, description: 'old', memoryMB: 256 }, 'shop');

  it('replaces what is given and keeps the rest', () => {
    const out = withConfiguration(fn, {
      memorySize: 512,
      timeout: 30,
      environment: { B: '2' },
      role: 'arn:aws:iam::shop:role/runner',
      ephemeralStorage: 1024,
      layers: ['arn:aws:lambda:us-east-1:shop:layer:dep:1'],
    });
    expect(out.spec).toMatchObject({
      memoryMB: 512,
      timeoutSeconds: 30,
      environment: { B: '2' },
      executionRole: { serviceAccountName: 'runner' },
      ephemeralStorageMB: 1024,
      layers: ['arn:aws:lambda:us-east-1:shop:layer:dep:1'],
      description: 'old',
      handler: 'index.handler',
    });
    expect(fn.spec.memoryMB).toBe(256);
  });

  it('empties: no environment, no description, default role, no layers', () => {
    const out = withConfiguration(
      { ...fn, spec: { ...fn.spec, executionRole: { serviceAccountName: 'r' } } },
      { environment: {}, description: '', role: 'arn:aws:iam::shop:role/default', layers: [] },
    );
    expect(out.spec.environment).toBeUndefined();
    expect(out.spec.description).toBeUndefined();
    expect(out.spec.executionRole).toBeUndefined();
    expect(out.spec.layers).toBeUndefined();
  });

  it('a provided runtime has no handler', () => {
    expect(withConfiguration(fn, { runtime: 'provided.al2023' }).spec).not.toHaveProperty('handler');
  });

  it.each([
    { name: 'memory too small', input: { memorySize: 64 } },
    { name: 'timeout too long', input: { timeout: 901 } },
    { name: 'ephemeral storage too small', input: { ephemeralStorage: 100 } },
    { name: 'reserved variable', input: { environment: { AWS_REGION: 'x' } } },
    { name: 'unknown runtime', input: { runtime: 'python3.12' } },
    { name: "another namespace's role", input: { role: 'arn:aws:iam::other:role/r' } },
    { name: "another namespace's layer", input: { layers: ['arn:aws:lambda:us-east-1:other:layer:d:1'] } },
    { name: 'a long description', input: { description: 'x'.repeat(257) } },
  ])('refuses $name', ({ input }) => {
    expect(() => withConfiguration(fn, input)).toThrow(InvalidParameterError);
  });
});

describe('versions as FunctionConfiguration', () => {
  it('names the version and its own revision', () => {
    const v: FunctionVersionResource = {
      apiVersion: 'sluice.dev/v1alpha1',
      kind: 'FunctionVersion',
      metadata: { name: 'f-v3', namespace: 'shop', resourceVersion: '9' },
      spec: { function: 'f', version: '3', description: 'three', snapshot: fnResource('f').spec },
      status: { conditions: [cond('Ready', 'True', 'Inactive', 1)] },
    };
    expect(versionConfigurationOf('us-east-1', v, 10)).toMatchObject({
      FunctionName: 'f',
      FunctionArn: 'arn:aws:lambda:us-east-1:shop:function:f:3',
      Version: '3',
      Description: 'three',
      Runtime: 'nodejs22.x',
      State: 'Active',
      LastUpdateStatus: 'Successful',
      RevisionId: '9',
      CodeSize: 10,
    });
  });
});

describe('aliases ⇄ Alias objects', () => {
  it('CreateAlias → Alias → AliasConfiguration', () => {
    const a = aliasFrom('shop', 'f', {
      name: 'prod',
      functionVersion: '1',
      description: 'live',
      weights: { '2': 0.25 },
    });
    expect(a.metadata.name).toBe('f-prod');
    expect(a.spec).toEqual({
      function: 'f',
      name: 'prod',
      version: '1',
      description: 'live',
      additionalVersionWeights: { '2': 0.25 },
    });
    const stored: AliasResource = { ...a, metadata: { ...a.metadata, resourceVersion: '5' } };
    expect(aliasConfigurationOf('us-east-1', stored)).toEqual({
      AliasArn: 'arn:aws:lambda:us-east-1:shop:function:f:prod',
      Name: 'prod',
      FunctionVersion: '1',
      Description: 'live',
      RoutingConfig: { AdditionalVersionWeights: { '2': 0.25 } },
      RevisionId: '5',
    });
  });

  it('object names are DNS labels, distinct for names that differ in case', () => {
    const a = aliasObjectName('f', 'Prod_1');
    const b = aliasObjectName('f', 'prod-1');
    expect(a).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(b).toBe('f-prod-1');
    expect(a).not.toBe(b);
    expect(aliasObjectName('f', 'x'.repeat(128)).length).toBeLessThanOrEqual(63);
  });

  it('UpdateAlias: weights kept unless given, {} removes them', () => {
    const a = aliasFrom('shop', 'f', { name: 'prod', functionVersion: '1', weights: { '2': 0.5 } });
    expect(withAliasUpdate(a, { description: 'd' }).spec.additionalVersionWeights).toEqual({ '2': 0.5 });
    expect(withAliasUpdate(a, { weights: {} }).spec.additionalVersionWeights).toBeUndefined();
    expect(withAliasUpdate(a, { functionVersion: '3', weights: { '4': 0.1 } }).spec).toMatchObject({
      version: '3',
      additionalVersionWeights: { '4': 0.1 },
    });
  });

  it.each([
    { name: 'a numeric name', input: { name: '12', functionVersion: '1' } },
    { name: 'a bad character', input: { name: 'a.b', functionVersion: '1' } },
    { name: 'a bad version', input: { name: 'a', functionVersion: 'v1' } },
    { name: 'two weights', input: { name: 'a', functionVersion: '1', weights: { '2': 0.1, '3': 0.1 } } },
    { name: 'a weight over 1', input: { name: 'a', functionVersion: '1', weights: { '2': 1.5 } } },
    { name: 'the primary weighted', input: { name: 'a', functionVersion: '1', weights: { '1': 0.5 } } },
    { name: 'routing from $LATEST', input: { name: 'a', functionVersion: '$LATEST', weights: { '2': 0.5 } } },
  ] as { name: string; input: AliasInput }[])('refuses $name', ({ input }) => {
    expect(() => aliasFrom('shop', 'f', input)).toThrow(InvalidParameterError);
  });
});

describe('pagination', () => {
  const items = ['c', 'a', 'e', 'b', 'd'];

  it('walks every item once, in order, with NextMarker', () => {
    const seen: string[] = [];
    let marker: string | undefined;
    for (let i = 0; i < 10; i++) {
      const { page, nextMarker } = paginate(items, (x) => x, marker, 2);
      seen.push(...page);
      if (!nextMarker) break;
      marker = nextMarker;
    }
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('no NextMarker on the last page; a bad marker or MaxItems is a 400', () => {
    expect(paginate(items, (x) => x, undefined, 5).nextMarker).toBeUndefined();
    expect(() => paginate(items, (x) => x, '***', 2)).toThrow(InvalidParameterError);
    expect(maxItems(undefined, 50)).toBe(50);
    expect(maxItems('500', 50)).toBe(50);
    expect(maxItems('3', 50)).toBe(3);
    for (const bad of ['0', '-1', 'x', '10001'])
      expect(() => maxItems(bad, 50)).toThrow(InvalidParameterError);
  });
});
