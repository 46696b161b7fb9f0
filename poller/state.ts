import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

/** The poller's own state in JetStream KV: stream checkpoints and schedule tick claims. */
export interface PollerState {
  checkpoints: KV;
  ticks: KV;
}

export const CHECKPOINT_BUCKET = 'sluice-esm-checkpoints';
export const TICK_BUCKET = 'sluice-schedule-ticks';

/** The part of JetStream's stream API that sets a bucket's replicas (a fake in tests). */
export interface BucketStreams {
  info(name: string): Promise<{ config: { num_replicas: number } }>;
  update(name: string, config: { num_replicas: number }): Promise<unknown>;
}

/**
 * Brings the buckets' streams to `replicas`: `Kvm.create` opens an existing bucket as it is, so
 * without this a bucket made while `nats.replicas` was 1 would stay on one server after an upgrade
 * to 3. Resolves with the buckets it changed.
 */
export async function ensureBucketReplicas(
  streams: BucketStreams,
  buckets: string[],
  replicas: number,
): Promise<string[]> {
  const changed: string[] = [];
  for (const bucket of buckets) {
    const stream = `KV_${bucket}`;
    const info = await streams.info(stream);
    if (info.config.num_replicas === replicas) continue;
    await streams.update(stream, { num_replicas: replicas });
    changed.push(bucket);
  }
  return changed;
}

/**
 * Creates (or opens) the buckets, with `replicas` replicas (an existing bucket is changed to it).
 * Tick claims expire after a day; checkpoints never do.
 */
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
  const jsm = await js.jetstreamManager();
  await ensureBucketReplicas(jsm.streams, [CHECKPOINT_BUCKET, TICK_BUCKET], replicas);
  return { checkpoints, ticks };
}
