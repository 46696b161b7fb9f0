import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Activator } from '../activation/activator.js';
import { FunctionResolver, MemoryCatalog } from '../catalog/catalog.js';
import { parseFunctionRef } from '../arn.js';
import { FunctionNotReadyError, LambdaError, ThrottledError } from '../errors.js';
import { GatewayMetrics } from '../metrics.js';
import { EndpointTable, workloadKey } from '../routing/router.js';
import { FakeScaler, fnResource, silentLogger } from '../../test/support/gateway/fakes.js';
import { Dispatcher, HoldGate } from './dispatcher.js';
import {
  PodConnectionLostError,
  PodTimeoutError,
  PodUnreachableError,
  type PodClient,
  type PodRequest,
  type PodResponse,
} from './pod-client.js';

type Behaviour = 'ok' | 'busy' | 'unreachable' | 'timeout' | 'lost' | 'function-error' | 'denied';

class ScriptedPods implements PodClient {
  calls: string[] = [];
  requests: PodRequest[] = [];
  constructor(private readonly byAddress: Record<string, Behaviour>) {}
  invoke(address: string, req: PodRequest): Promise<PodResponse> {
    this.calls.push(address);
    this.requests.push(req);
    const ok = (body: string, headers: Record<string, string> = {}): Promise<PodResponse> =>
      Promise.resolve({ status: 200, headers, body: Buffer.from(body) });
    switch (this.byAddress[address] ?? 'ok') {
      case 'ok':
        return ok(`{"from":"${address}"}`);
      case 'function-error':
        return ok('{"errorType":"Error"}', {
          'x-amz-function-error': 'Unhandled',
          'x-amz-log-result': 'bG9n',
        });
      case 'busy':
        return Promise.resolve({
          status: 429,
          headers: { 'x-amzn-errortype': 'TooManyRequestsException' },
          body: Buffer.from('{}'),
        });
      case 'unreachable':
        return Promise.reject(new PodUnreachableError('refused'));
      case 'timeout':
        return Promise.reject(new PodTimeoutError('slow'));
      case 'lost':
        return Promise.reject(new PodConnectionLostError('reset'));
      case 'denied':
        return Promise.resolve({
          status: 403,
          headers: { 'x-amzn-errortype': 'AccessDeniedException' },
          body: Buffer.from('{"Type":"User","message":"x-sluice-invoke-token is missing or wrong"}'),
        });
    }
  }
}

function setup(
  pods: Record<string, Behaviour>,
  opts: { maxHeld?: number; failure?: string; ready?: string[] } = {},
) {
  const table = new EndpointTable();
  const key = workloadKey('default', 'f', '$LATEST');
  table.set(key, opts.ready ?? Object.keys(pods));
  const scaler = new FakeScaler(table, () => ['late:1'], 30);
  if (opts.failure) scaler.failure = opts.failure;
  const metrics = new GatewayMetrics(new Registry());
  const log = silentLogger();
  const client = new ScriptedPods(pods);
  const dispatcher = new Dispatcher({
    router: table,
    activator: new Activator({ scaler, router: table, metrics, log, pollIntervalMs: 10 }),
    pods: client,
    hold: new HoldGate(opts.maxHeld ?? 100),
    metrics,
    log,
    coldStartAllowanceMs: 1000,
    podTimeoutSlackMs: 100,
  });
  const target = new FunctionResolver(
    new MemoryCatalog([fnResource('f', { timeoutSeconds: 1 })]),
    'r',
  ).resolve(parseFunctionRef('f', undefined, 'default'));
  const send = () => dispatcher.dispatch(target, { body: Buffer.from('{}'), headers: {} }, 'req-1');
  return { send, client, table, key };
}

/** Lets `ms` of (fake) time pass and returns what `p` settled to: it must have settled by then. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let settled = false;
  const tracked = p.finally(() => {
    settled = true;
  });
  await vi.advanceTimersByTimeAsync(ms);
  expect(settled, `settled within ${ms} ms`).toBe(true);
  return tracked;
}

describe('Dispatcher', () => {
  // Fake timers: pods start (30 ms), slots free up and the activator polls on a clock the test
  // moves, so a call's 2 s bound (1 s timeout + 1 s cold-start allowance) is exact under any load.
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    { name: 'a busy pod (429) is skipped for another', pods: { 'a:1': 'busy', 'b:1': 'ok' }, from: 'b:1' },
    {
      name: 'an unreachable pod is skipped for another',
      pods: { 'a:1': 'unreachable', 'b:1': 'ok' },
      from: 'b:1',
    },
  ] as { name: string; pods: Record<string, Behaviour>; from: string }[])('$name', async ({ pods, from }) => {
    const { send } = setup(pods);
    const r = await send();
    expect(JSON.parse(r.body.toString())).toEqual({ from });
    expect(r.functionError).toBeUndefined();
  });

  it.each([
    {
      name: 'function error passes through',
      pod: 'function-error',
      fe: 'Unhandled',
      type: 'Error',
      timedOut: false,
    },
    {
      name: 'no answer in time → Sandbox.Timedout',
      pod: 'timeout',
      fe: 'Unhandled',
      type: 'Sandbox.Timedout',
      timedOut: true,
    },
    {
      name: 'connection lost mid-call → Runtime.ExitError',
      pod: 'lost',
      fe: 'Unhandled',
      type: 'Runtime.ExitError',
      timedOut: false,
    },
  ] as { name: string; pod: Behaviour; fe: string; type: string; timedOut: boolean }[])(
    '$name',
    async ({ pod, fe, type, timedOut }) => {
      const { send } = setup({ 'a:1': pod });
      const r = await send();
      expect(r.functionError).toBe(fe);
      expect(JSON.parse(r.body.toString()).errorType).toBe(type);
      expect(r.timedOut).toBe(timedOut);
    },
  );

  it('names the function in each pod request, so the pod client signs it with that function’s token', async () => {
    const { send, client } = setup({ 'a:1': 'ok' });
    await send();
    expect(client.requests.map((r) => r.function)).toEqual([{ namespace: 'default', name: 'f' }]);
  });

  it('a pod refusing the invoke token is a platform fault (500 ServiceException), not the caller’s 403', async () => {
    const { send } = setup({ 'a:1': 'denied' });
    const err = await send().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LambdaError);
    expect(err).toMatchObject({ status: 500, code: 'ServiceException' });
  });

  it('holds a call while the function scales from zero, then sends it', async () => {
    const { send, client } = setup({ 'late:1': 'ok' }, { ready: [] });
    const r = await within(2000, send());
    expect(JSON.parse(r.body.toString())).toEqual({ from: 'late:1' });
    expect(client.calls).toEqual(['late:1']);
  });

  it('answers 502 when the function cannot start', async () => {
    const { send } = setup({}, { ready: [], failure: 'ImagePullBackOff: not found' });
    await expect(send()).rejects.toThrow(FunctionNotReadyError);
  });

  it('refuses with 429 when too many calls are already held', async () => {
    const { send } = setup({}, { ready: [], maxHeld: 1 });
    const first = send();
    await expect(send()).rejects.toThrow(ThrottledError);
    await within(2000, first);
  });

  it('waits for a slot when every pod is at capacity', async () => {
    const { send, table, key } = setup({ 'a:1': 'ok' });
    const lease = table.acquire(key, 1)!;
    setTimeout(() => lease.release(), 50);
    const r = await within(2000, send());
    expect(JSON.parse(r.body.toString())).toEqual({ from: 'a:1' });
  });
});
