import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

/** The poller's own state in JetStream KV: stream checkpoints and schedule tick claims. */
export interface PollerState {
  checkpoints: KV;
  ticks: KV;
}

export const CHECKPOINT_BUCKET = 'sluice-esm-checkpoints';
export const TICK_BUCKET = 'sluice-schedule-ticks';

/** Creates (or opens) the buckets. Tick claims expire after a day; checkpoints never do. */
export async function openPollerState(js: JetStreamClient, replicas = 1): Promise<PollerState> {
  const kvm = new Kvm(js);
  const checkpoints = await kvm.create(CHECKPOINT_BUCKET, {
    history: 1,
    replicas,
    description: 'Sluice stream checkpoints',
  });
  const ticks = await kvm.create(TICK_BUCKET, {
    history: 1,
    replicas,
    ttl: 24 * 3600 * 1000,
    description: 'Sluice schedule tick claims',
  });
  return { checkpoints, ticks };
}
