import type { JetStreamClient } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { EventAcceptor, idempotentEventId, type GatewayAsyncInvocation } from './accept.js';
import { Subjects } from '../../api/nats-naming.js';

/** A JetStream client that de-duplicates by msgID, as the server does inside its window. */
function dedupingJs(): { js: JetStreamClient; ids: string[] } {
  const ids: string[] = [];
  const js = {
    publish: (_subject: string, _data: Uint8Array, opts: { msgID: string }) => {
      const duplicate = ids.includes(opts.msgID);
      if (!duplicate) ids.push(opts.msgID);
      return Promise.resolve({ seq: ids.indexOf(opts.msgID) + 1, duplicate, stream: 'S' });
    },
  } as unknown as JetStreamClient;
  return { js, ids };
}

const inv = (caller: string, requestId: string, key = 'order-42'): GatewayAsyncInvocation => ({
  requestId,
  idempotencyKey: key,
  caller,
  target: { namespace: 'shop', function: 'orders', qualifier: '$LATEST', qualified: false },
  payload: Buffer.from('{}'),
  traceHeaders: {},
});

describe('Idempotency-Key is scoped to the caller', () => {
  it('the same caller retrying gets the same request id and is de-duplicated', async () => {
    const { js, ids } = dedupingJs();
    const a = new EventAcceptor({ js, subjects: new Subjects() });
    const first = await a.acceptFromGateway(inv('serviceaccount:shop:checkout', 'r1'));
    const retry = await a.acceptFromGateway(inv('serviceaccount:shop:checkout', 'r2'));
    expect(retry).toEqual({ ...first, duplicate: true });
    expect(ids).toHaveLength(1);
  });

  it('another caller with the same key is another event, with its own request id', async () => {
    const { js, ids } = dedupingJs();
    const a = new EventAcceptor({ js, subjects: new Subjects() });
    const victim = await a.acceptFromGateway(inv('serviceaccount:shop:checkout', 'r1'));
    const other = await a.acceptFromGateway(inv('serviceaccount:shop:intruder', 'r2'));
    const anonymous = await a.acceptFromGateway(inv('anonymous', 'r3'));
    expect(other.duplicate).toBe(false);
    expect(anonymous.duplicate).toBe(false);
    expect(new Set([victim.requestId, other.requestId, anonymous.requestId]).size).toBe(3);
    expect(ids).toHaveLength(3);
  });

  it.each([
    { name: 'caller', a: ['x', 'ns', 'f', 'k'], b: ['y', 'ns', 'f', 'k'] },
    { name: 'namespace', a: ['x', 'ns', 'f', 'k'], b: ['x', 'ns2', 'f', 'k'] },
    { name: 'function', a: ['x', 'ns', 'f', 'k'], b: ['x', 'ns', 'g', 'k'] },
    { name: 'key', a: ['x', 'ns', 'f', 'k'], b: ['x', 'ns', 'f', 'k2'] },
    { name: 'no separator games', a: ['x:ns', 'f', 'k', 'z'], b: ['x', 'ns:f', 'k', 'z'] },
  ])('the event id differs when the $name differs', ({ a, b }) => {
    const id = (p: string[]): string => idempotentEventId(p[0]!, p[1]!, p[2]!, p[3]!);
    expect(id(a)).not.toBe(id(b));
    expect(id(a)).toBe(id([...a]));
    expect(id(a)).toMatch(/^key:[0-9a-f]{40}$/);
  });
});
