/**
 * Conditions that prove "nothing more will arrive" in the e2e suite, instead of sleeping and
 * hoping: an async pipeline is settled when every event of the function reached a final state,
 * and a record collector is caught up when it holds every message of its stream.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { consumerName } from '../../../api/nats-naming.js';
import type { RecordCollector } from '../../integration/support/async-pipeline.js';
import { waitFor } from './kube.js';

const ASYNC_STREAM = 'SLUICE_ASYNC';

/**
 * Waits until no event of `namespace/fn` can still run or produce a record: its consumer on the
 * async stream has nothing pending and nothing unacknowledged (a record is published before its
 * event is acked), and no retry of it is scheduled.
 */
export async function asyncSettled(
  jsm: JetStreamManager,
  namespace: string,
  fn: string,
  timeoutMs = 120_000,
): Promise<void> {
  await waitFor(
    `every event of ${namespace}/${fn} to reach a final state`,
    async () => {
      const ci = await jsm.consumers.info(ASYNC_STREAM, consumerName(namespace, fn));
      const retries = await jsm.streams.info(ASYNC_STREAM, {
        subjects_filter: `sluice.retry.${namespace}.${fn.replaceAll('.', '_')}.>`,
      });
      const scheduled = Object.values(retries.state.subjects ?? {}).reduce((a, n) => a + n, 0);
      return ci.num_pending === 0 && ci.num_ack_pending === 0 && scheduled === 0 ? true : undefined;
    },
    timeoutMs,
    250,
  );
}

/** Waits until `collector` holds every message its stream holds. */
export async function caughtUp(
  jsm: JetStreamManager,
  collector: RecordCollector,
  stream: string,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    `the record collector to hold every message of ${stream}`,
    async () =>
      collector.records.length === (await jsm.streams.info(stream)).state.messages ? true : undefined,
    timeoutMs,
    100,
  );
}
