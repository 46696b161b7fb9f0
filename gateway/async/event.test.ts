import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { copyHeaders, eventHeaders, eventOf, type AsyncEvent } from './event.js';

describe('event headers', () => {
  it.each([
    {
      name: 'minimal event',
      ev: { eventId: 'r1', requestId: 'r1', enqueuedAt: 1700000000000, attempt: 1 },
    },
    {
      name: 'everything set',
      ev: {
        eventId: 'key:ns/fn/k',
        requestId: 'abc',
        enqueuedAt: 1700000000123,
        attempt: 3,
        qualifier: 'prod',
        idempotencyKey: 'k',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'a=b',
        amznTrace: 'Root=1-2-3',
        redrivenFrom: '17',
        lastError: {
          executedVersion: '2',
          errorType: 'E',
          payload: Buffer.from('{"x":1}').toString('base64'),
        },
      },
    },
  ])('round trip: $name', ({ ev }) => {
    const data = new TextEncoder().encode('{"n":1}');
    const back = eventOf(eventHeaders(ev), data, { seq: 1, timestampMs: 0 });
    const { payload, ...rest } = back;
    expect(rest).toEqual(ev);
    expect(payload.toString()).toBe('{"n":1}');
  });

  it.each([
    {
      name: 'no headers at all',
      h: undefined,
      want: { eventId: 'seq-9', requestId: 'seq-9', attempt: 1, enqueuedAt: 5 },
    },
    {
      name: 'garbage attempt and time',
      h: (() => {
        const x = headers();
        x.set('Sluice-Attempt', 'x');
        x.set('Sluice-Enqueued-At', 'y');
        x.set('Sluice-Last-Error', 'not base64 json');
        return x;
      })(),
      want: { eventId: 'seq-9', attempt: 1, enqueuedAt: 5 },
    },
  ])('hand-published messages get safe values: $name', ({ h, want }) => {
    const ev: AsyncEvent = eventOf(h, new Uint8Array(), { seq: 9, timestampMs: 5 });
    expect(ev).toMatchObject(want);
    expect(ev.lastError).toBeUndefined();
  });

  it('copyHeaders drops the headers NATS owns', () => {
    const h = headers();
    h.set('Nats-Msg-Id', 'x');
    h.set('Nats-Scheduler', 'y');
    h.set('Sluice-Request-Id', 'r');
    expect(copyHeaders(h).keys()).toEqual(['Sluice-Request-Id']);
  });
});
