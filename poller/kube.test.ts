import { describe, expect, it } from 'vitest';
import { gatewayUrls, policyOf } from './kube.js';

describe('gatewayUrls', () => {
  it.each([
    {
      name: 'ready endpoints on the http port',
      slices: [
        {
          addressType: 'IPv4',
          ports: [
            { name: 'metrics', port: 9090 },
            { name: 'http', port: 8080 },
          ],
          endpoints: [
            { addresses: ['10.0.0.2'], conditions: { ready: true } },
            { addresses: ['10.0.0.3'], conditions: { ready: false } },
            { addresses: ['10.0.0.1'] },
          ],
        },
      ],
      want: ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'],
    },
    {
      name: 'first port when none is named http; IPv6 bracketed; duplicates once',
      slices: [
        { addressType: 'IPv6', ports: [{ port: 8080 }], endpoints: [{ addresses: ['fd00::1'] }] },
        { addressType: 'IPv6', ports: [{ port: 8080 }], endpoints: [{ addresses: ['fd00::1'] }] },
      ],
      want: ['http://[fd00::1]:8080'],
    },
    {
      name: 'no ports',
      slices: [{ addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'] }] }],
      want: [],
    },
  ])('$name', ({ slices, want }) => expect(gatewayUrls(slices)).toEqual(want));
});

describe('policyOf', () => {
  it.each([
    {
      name: 'defaults',
      spec: {},
      reserved: undefined,
      want: { minReplicas: 0, maxReplicas: 20, concurrencyPerPod: 1, scaleToZeroAfterSeconds: 300 },
    },
    {
      name: 'set values and reserved concurrency',
      spec: {
        scaling: { minReplicas: 1, maxReplicas: 5, concurrencyPerPod: 4, scaleToZeroAfterSeconds: 60 },
      },
      reserved: 8,
      want: {
        minReplicas: 1,
        maxReplicas: 5,
        concurrencyPerPod: 4,
        scaleToZeroAfterSeconds: 60,
        reservedConcurrency: 8,
      },
    },
  ])('$name', ({ spec, reserved, want }) =>
    expect(policyOf({ runtime: 'nodejs22', code: { inline: 'x' }, ...spec }, reserved)).toEqual(want),
  );
});
