import { describe, expect, it } from 'vitest';
import { inflightReport, parseInflightReport } from './inflight.js';

describe('parseInflightReport', () => {
  it.each([
    {
      name: 'entries',
      body: { functions: [{ namespace: 'a', function: 'f', version: '3', inflight: 2 }] },
      want: [{ namespace: 'a', function: 'f', version: '3', inflight: 2 }],
    },
    {
      name: 'version defaults to $LATEST, junk dropped, negatives are 0',
      body: { functions: [{ namespace: 'a', function: 'f', inflight: -1 }, { function: 'x' }, null] },
      want: [{ namespace: 'a', function: 'f', version: '$LATEST', inflight: 0 }],
    },
  ])('$name', ({ body, want }) => expect(parseInflightReport(body)).toEqual(want));

  it('rejects a body without functions', () => expect(() => parseInflightReport({})).toThrow());
});

describe('the in-flight report', () => {
  it('reads back what a gateway writes', () => {
    const entries = [
      { namespace: 'shop', function: 'resize', version: '$LATEST', inflight: 3 },
      { namespace: 'shop', function: 'resize', version: '2', inflight: 1 },
    ];
    const wire = JSON.parse(JSON.stringify(inflightReport(entries))) as unknown;
    expect(wire).toEqual({ functions: entries });
    expect(parseInflightReport(wire)).toEqual(entries);
  });
});
