import { describe, expect, it } from 'vitest';
import { policyOf } from './kube-world.js';

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
