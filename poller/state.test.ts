import { describe, expect, it } from 'vitest';
import { CHECKPOINT_BUCKET, ensureBucketReplicas, TICK_BUCKET, type BucketStreams } from './state.js';

/** Streams by name with their replicas; records the updates. */
function fakeStreams(have: Record<string, number>): BucketStreams & { updates: [string, number][] } {
  const updates: [string, number][] = [];
  return {
    updates,
    info: (name) => Promise.resolve({ config: { num_replicas: have[name]! } }),
    update: (name, config) => {
      updates.push([name, config.num_replicas]);
      have[name] = config.num_replicas;
      return Promise.resolve({});
    },
  };
}

describe('ensureBucketReplicas', () => {
  const buckets = [CHECKPOINT_BUCKET, TICK_BUCKET];
  const streamsOf = (checkpoints: number, ticks: number): Record<string, number> => ({
    [`KV_${CHECKPOINT_BUCKET}`]: checkpoints,
    [`KV_${TICK_BUCKET}`]: ticks,
  });

  it.each([
    { name: 'buckets already at the configured replicas', have: [3, 3], want: 3, changed: [] as string[] },
    { name: 'an install upgraded from 1 to 3 replicas', have: [1, 1], want: 3, changed: buckets },
    { name: 'one bucket behind', have: [3, 1], want: 3, changed: [TICK_BUCKET] },
    { name: 'back to a single server', have: [3, 3], want: 1, changed: buckets },
  ])('$name', async ({ have, want, changed }) => {
    const streams = fakeStreams(streamsOf(have[0]!, have[1]!));
    await expect(ensureBucketReplicas(streams, buckets, want)).resolves.toEqual(changed);
    expect(streams.updates).toEqual(changed.map((b) => [`KV_${b}`, want]));
  });
});
