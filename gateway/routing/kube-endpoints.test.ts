import type { V1EndpointSlice } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { readyAddresses, startingAddresses } from './kube-endpoints.js';

const slice: V1EndpointSlice = {
  addressType: 'IPv4',
  ports: [{ port: 8080 }],
  endpoints: [
    { addresses: ['10.0.0.1'], conditions: { ready: true } },
    { addresses: ['10.0.0.2'], conditions: { ready: false } },
    { addresses: ['10.0.0.3'], conditions: { ready: false, terminating: true } },
    { addresses: ['10.0.0.4'] },
  ],
};

describe('EndpointSlice addresses', () => {
  it('ready: ready or without a condition, never terminating', () => {
    expect(readyAddresses(slice)).toEqual(['10.0.0.1:8080', '10.0.0.4:8080']);
  });

  it('starting: not ready and not terminating (the ones to probe)', () => {
    expect(startingAddresses(slice)).toEqual(['10.0.0.2:8080']);
  });
});
