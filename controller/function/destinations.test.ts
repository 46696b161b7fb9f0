import { describe, expect, it } from 'vitest';
import { AddressPolicy } from '../../api/destinations.js';
import type { FunctionSpec } from '../../api/types.js';
import { destinationFunctions, destinationsCondition } from './destinations.js';

const spec = (async: FunctionSpec['async']): FunctionSpec => ({
  runtime: 'nodejs22',
  code: { inline: 'x' },
  ...(async ? { async } : {}),
});

describe('DestinationsValid condition', () => {
  it.each([
    { name: 'no destinations', async: undefined, status: 'True', reason: 'NoDestinations', msg: /no async/ },
    {
      name: 'valid destinations',
      async: { onSuccess: 'function:audit', onFailure: 'nats:orders.failed' },
      status: 'True',
      reason: 'Valid',
      msg: /spec.async.onSuccess: function:audit; spec.async.onFailure: nats:orders.failed/,
    },
    {
      name: 'a platform subject stored before the CRD rule existed',
      async: { onFailure: 'nats:sluice.async.other.fn' },
      status: 'False',
      reason: 'InvalidDestination',
      msg: /spec.async.onFailure: .*reserved for the platform/,
    },
    {
      name: 'a loopback URL',
      async: { onSuccess: 'http://127.0.0.1:9000/' },
      status: 'False',
      reason: 'InvalidDestination',
      msg: /spec.async.onSuccess: .*loopback/,
    },
    {
      name: 'a function that does not exist',
      async: { onSuccess: 'function:audit', onFailure: 'function:ghost:prod' },
      status: 'False',
      reason: 'DestinationFunctionNotFound',
      msg: /^spec.async.onFailure: no Function ghost in this namespace$/,
    },
  ])('$name → $status $reason', ({ async, status, reason, msg }) => {
    const c = destinationsCondition(spec(async), (n) => n === 'audit');
    expect(c).toMatchObject({ type: 'DestinationsValid', status, reason });
    expect(c.message).toMatch(msg);
  });

  it("uses the cluster's configured ranges", () => {
    const c = destinationsCondition(
      spec({ onFailure: 'https://203.0.113.9/in' }),
      () => true,
      new AddressPolicy(['203.0.113.0/24']),
    );
    expect(c).toMatchObject({ status: 'False', reason: 'InvalidDestination' });
    expect(c.message).toMatch(/cluster's range 203.0.113.0\/24/);
  });

  it('lists the destination functions to look up', () => {
    expect(destinationFunctions(spec({ onSuccess: 'function:a:1', onFailure: 'function:b' }))).toEqual([
      'a',
      'b',
    ]);
  });
});
