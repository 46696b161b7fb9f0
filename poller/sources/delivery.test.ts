import { describe, expect, it } from 'vitest';
import type { SourceMessage } from '../records.js';
import { backoffMs, traceHeaders, type Prepared } from './delivery.js';

const item = (headers: Record<string, string[]>): Prepared =>
  ({ msg: { headers } as unknown as SourceMessage, record: {}, json: '{}', size: 2, id: '1' }) as Prepared;

describe('traceHeaders', () => {
  it.each([
    { name: 'none', items: [item({})], want: undefined },
    {
      name: 'the first traced record, any header case',
      items: [
        item({}),
        item({ TraceParent: ['00-a-b-01'], tracestate: ['k=v'] }),
        item({ traceparent: ['00-c-d-01'] }),
      ],
      want: { traceparent: '00-a-b-01', tracestate: 'k=v' },
    },
  ])('$name', ({ items, want }) => expect(traceHeaders(items)).toEqual(want));
});

describe('backoffMs', () => {
  it.each([
    { attempt: 1, want: 100 },
    { attempt: 2, want: 200 },
    { attempt: 4, want: 800 },
    { attempt: 10, want: 1000 },
  ])('attempt $attempt → $want ms', ({ attempt, want }) => expect(backoffMs(attempt, 100, 1000)).toBe(want));
});
