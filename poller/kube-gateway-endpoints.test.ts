import { describe, expect, it } from 'vitest';
import { gatewayUrls } from './kube-gateway-endpoints.js';

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
