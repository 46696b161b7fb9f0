import type { JetStreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { mapping } from '../../test/support/poller/kit.js';
import type { Workload } from './autoscaler.js';
import { JetStreamDemand, type VersionResolver } from './demand.js';

/** consumers.info answered from a table; a missing entry is "consumer not found". */
const jsm = (backlogs: Record<string, number | undefined>): JetStreamManager =>
  ({
    consumers: {
      info: (stream: string, name: string) => {
        const b = backlogs[`${stream}/${name}`];
        if (b === undefined) return Promise.reject(new Error('consumer not found'));
        // 7 more delivered: the async consumer's are being run (the gateways' in-flight), a
        // mapping's may wait in a window or backoff.
        const acked = stream === 'SLUICE_ASYNC' ? 7 : 0;
        return Promise.resolve({ num_pending: b, num_ack_pending: acked });
      },
    },
  }) as unknown as JetStreamManager;

const w = (version: string): Workload => ({
  namespace: 'shop',
  function: 'f',
  version,
  deployment: `f-${version}`,
  replicas: 1,
  readyReplicas: 1,
  policy: { minReplicas: 0, maxReplicas: 10, concurrencyPerPod: 1, scaleToZeroAfterSeconds: 60 },
});

const byAlias: VersionResolver = (_ns, _fn, q) =>
  q === 'prod'
    ? [
        { version: '3', weight: 0.75 },
        { version: '4', weight: 0.25 },
      ]
    : [{ version: q ?? '$LATEST', weight: 1 }];

describe('JetStreamDemand', () => {
  it.each([
    {
      name: 'in-flight only',
      backlogs: {},
      maps: [],
      inflight: { 'shop/f/$LATEST': 3 },
      async: false,
      want: { 'shop/f/$LATEST': { inflight: 3, backlog: 0 } },
    },
    {
      name: 'async backlog counts for every running version',
      backlogs: { 'SLUICE_ASYNC/fn_shop_f': 5 },
      maps: [],
      inflight: {},
      async: true,
      want: { 'shop/f/$LATEST': { backlog: 5 }, 'shop/f/3': { backlog: 5 } },
    },
    {
      name: 'a mapping counts batches, capped by its maximumConcurrency',
      backlogs: { 'Q/c': 95 },
      maps: [
        mapping({
          function: 'f',
          source: { natsQueue: { stream: 'Q', consumer: 'c' } },
          batchSize: 10,
          maximumConcurrency: 4,
        }),
      ],
      inflight: {},
      async: false,
      want: { 'shop/f/$LATEST': { backlog: 4 }, 'shop/f/3': { backlog: 0 } },
    },
    {
      name: 'an alias splits a mapping by weight',
      backlogs: { 'Q/c': 100 },
      maps: [
        mapping({
          function: 'f:prod',
          source: { natsQueue: { stream: 'Q', consumer: 'c' } },
          batchSize: 1,
          maximumConcurrency: 100,
        }),
      ],
      inflight: {},
      async: false,
      want: { 'shop/f/3': { backlog: 75 }, 'shop/f/4': { backlog: 25 } },
    },
    {
      name: 'a missing mapping consumer is an error for its version only',
      backlogs: {},
      maps: [mapping({ function: 'f:3', source: { natsQueue: { stream: 'Q', consumer: 'gone' } } })],
      inflight: {},
      async: false,
      want: {
        'shop/f/3': { backlog: 0, error: expect.stringMatching(/consumer Q\/gone not found/) },
        'shop/f/$LATEST': { backlog: 0 },
      },
    },
    {
      name: 'a missing async consumer is an error',
      backlogs: {},
      maps: [],
      inflight: {},
      async: true,
      want: { 'shop/f/$LATEST': { error: expect.stringMatching(/fn_shop_f not found/) } },
    },
  ])('$name', async ({ backlogs, maps, inflight, async, want }) => {
    const d = new JetStreamDemand({
      jsm: jsm(backlogs),
      // Mappings' consumers are read in their namespace's account: the same fake here.
      tenants: {
        acquire: (namespace: string) =>
          Promise.resolve({
            namespace,
            account: 'A',
            nc: undefined as never,
            js: undefined as never,
            jsm: jsm(backlogs),
            release: () => undefined,
          }),
      },
      mappings: () => maps,
      resolve: byAlias,
      inflight: () => new Map(Object.entries(inflight as Record<string, number>)),
      ...(async
        ? { async: { stream: 'SLUICE_ASYNC', consumer: (ns: string, fn: string) => `fn_${ns}_${fn}` } }
        : {}),
    });
    const got = Object.fromEntries(await d.demand([w('$LATEST'), w('3'), w('4')]));
    expect(got).toMatchObject(want);
    if (!('error' in (want['shop/f/$LATEST' as keyof typeof want] ?? {})))
      expect(got['shop/f/$LATEST']?.error).toBeUndefined();
  });
});
