import { describe, expect, it } from 'vitest';
import type { FunctionResource, FunctionSpec } from '../../api/types.js';
import { asyncFunctionOf } from './function-config.js';

const fn = (spec: Partial<FunctionSpec>): FunctionResource => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'Function',
  metadata: { namespace: 'shop', name: 'resize' },
  spec: { runtime: 'nodejs22', handler: 'index.handler', code: { inline: 'x' }, ...spec },
});

describe('asyncFunctionOf', () => {
  it.each([
    {
      name: 'defaults: Lambda retries and age, 20 × 1 concurrency, 3 s timeout',
      spec: {},
      want: {
        maxConcurrency: 20,
        timeoutSeconds: 3,
        maxRetryAttempts: 2,
        maxEventAgeSeconds: 21_600,
        retryDelaySeconds: 60,
      },
    },
    {
      name: 'reserved concurrency caps dispatch',
      spec: { concurrency: { reserved: 5 }, scaling: { maxReplicas: 10, concurrencyPerPod: 4 } },
      want: { reserved: 5, maxConcurrency: 5 },
    },
    {
      name: 'pods × per-pod concurrency caps dispatch below reserved',
      spec: { concurrency: { reserved: 100 }, scaling: { maxReplicas: 3, concurrencyPerPod: 2 } },
      want: { maxConcurrency: 6 },
    },
    {
      name: 'reserved 0 stops dispatch',
      spec: { concurrency: { reserved: 0 } },
      want: { reserved: 0, maxConcurrency: 0 },
    },
    {
      name: 'async settings and destinations',
      spec: {
        timeoutSeconds: 30,
        async: {
          maxRetryAttempts: 0,
          maxEventAgeSeconds: 60,
          retryDelaySeconds: 1,
          onSuccess: 'function:audit',
          onFailure: 'nats:failed',
        },
      },
      want: {
        timeoutSeconds: 30,
        maxRetryAttempts: 0,
        maxEventAgeSeconds: 60,
        retryDelaySeconds: 1,
        onSuccess: 'function:audit',
        onFailure: 'nats:failed',
      },
    },
  ])('$name', ({ spec, want }) => {
    expect(asyncFunctionOf(fn(spec))).toMatchObject({ namespace: 'shop', name: 'resize', ...want });
  });
});
