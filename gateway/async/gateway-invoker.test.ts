import { describe, expect, it } from 'vitest';
import { gatewayFunctionInvoker, type InternalInvoke } from './gateway-invoker.js';

describe('gatewayFunctionInvoker', () => {
  it.each([
    {
      name: 'first attempt, unqualified, with trace context',
      req: { approximateInvokeCount: 1, traceparent: '00-aa-bb-01', tracestate: 'x=y' },
      want: {
        headers: {
          'x-amz-client-context': Buffer.from('{"custom":{"approximateInvokeCount":1}}').toString('base64'),
          'x-sluice-approximate-invoke-count': '1',
          traceparent: '00-aa-bb-01',
          tracestate: 'x=y',
        },
      },
    },
    {
      name: 'a retry of an alias',
      req: { approximateInvokeCount: 3, qualifier: 'prod' },
      want: {
        qualifier: 'prod',
        headers: {
          'x-amz-client-context': Buffer.from('{"custom":{"approximateInvokeCount":3}}').toString('base64'),
          'x-sluice-approximate-invoke-count': '3',
        },
      },
    },
  ])('$name', async ({ req, want }) => {
    const seen: Parameters<InternalInvoke>[0][] = [];
    const inv = gatewayFunctionInvoker((r) => {
      seen.push(r);
      return Promise.resolve({
        kind: 'throttled',
        reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
      });
    });
    const out = await inv.invoke({
      namespace: 'shop',
      function: 'orders',
      payload: Buffer.from('{}'),
      requestId: 'r-1',
      deadlineMs: 0,
      ...req,
    });
    expect(out).toEqual({ kind: 'throttled', reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' });
    expect(inv.countsInvocations).toBe(true);
    expect(seen).toEqual([
      {
        namespace: 'shop',
        function: 'orders',
        payload: Buffer.from('{}'),
        requestId: 'r-1',
        type: 'async',
        ...want,
      },
    ]);
  });
});
