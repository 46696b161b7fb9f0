/**
 * Mappings and nats: destinations are bound to their namespace by construction: the poller
 * consumes a mapping's stream in the mapping namespace's account (the platform's streams and
 * other namespaces' are not there: Ready=False StreamNotFound), and records go to the function's
 * (mapping's) own account only. Also the per-function backlog limit of the async queue (429).
 */
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventSourceMappingResource } from '../../api/types.js';
import { AsyncBacklogFullError } from '../../gateway/async/errors.js';
import { toErrorResponse } from '../../gateway/errors.js';
import { FakeInvoker as AsyncFakeInvoker } from '../support/gateway/fake-invoker.js';
import { DestinationSender } from '../../poller/destinations.js';
import { KubeLeaseStore } from '../../lib/kube/leases.js';
import { KubeWorld } from '../../poller/kube-world.js';
import { SOURCES } from '../../poller/sources/index.js';
import { ApiServer } from '../support/apiserver.js';
import { FakeInvoker } from '../support/poller/fake-invoker.js';
import { makeKit, type Kit } from '../support/poller/kit.js';
import { MappingManager } from '../../poller/work/manager.js';
import { until } from '../support/time.js';
import { fnResource, metricValue, startPipeline, waitFor } from './support/async-pipeline.js';
import { NatsServer } from './support/nats.js';

const G = { group: 'sluice.dev', version: 'v1alpha1' };
let kas: ApiServer;
let nats: NatsServer;
let kit: Kit;
let admin: JetStreamManager;
let other: JetStreamManager;

beforeAll(async () => {
  [kas, nats] = await Promise.all([ApiServer.start(), NatsServer.start()]);
  kit = await makeKit(nats); // acts as namespace shop
  const core = kas.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ['shop', 'pending', 'sluice-system'])
    await core.createNamespace({ body: { metadata: { name } } });
  // The platform's streams, and another namespace's, each with a message.
  admin = await jetstreamManager(await nats.connect('admin'));
  await admin.streams.add({ name: 'SLUICE_ASYNC', subjects: ['sluice.async.>', 'sluice.retry.>'] });
  await admin.streams.add({ name: 'SLUICE_DLQ', subjects: ['sluice.dlq.>'] });
  await admin.streams.add({ name: 'PLATFORM_DONE', subjects: ['orders.done'] });
  const adminNc = await nats.connect('admin');
  await jetstream(adminNc).publish('sluice.async.shop.worker', 'queued event');
  other = await jetstreamManager(await nats.connectTenant('other'));
  await other.streams.add({ name: 'POSTS', subjects: ['posts.>'] });
  await other.streams.add({ name: 'DONE', subjects: ['orders.done'] });
  await kit.jsm.streams.add({ name: 'DONE', subjects: ['orders.done'] });
  await kit.jsm.streams.add({ name: 'OWN', subjects: ['own.>'] });
}, 120_000);

afterAll(async () => {
  await kit?.close();
  await nats?.cleanup();
  await kas?.stop();
});

const messages = async (jsm: JetStreamManager, stream: string): Promise<number> =>
  (await jsm.streams.info(stream)).state.messages;

describe('event-source mappings', () => {
  it('a mapping naming SLUICE_ASYNC, SLUICE_DLQ or another namespace’s stream is Ready=False StreamNotFound; no account is NatsAccountNotReady', async () => {
    const custom = kas.kubeConfig().makeApiClient(CustomObjectsApi);
    const world = new KubeWorld(kas.kubeConfig(), kit.log);
    await world.start();
    const invoker = new FakeInvoker();
    const manager = new MappingManager({
      identity: 'poller-a',
      leases: new KubeLeaseStore(kas.kubeConfig(), 'sluice-system', 'sluice-poller'),
      api: world,
      sources: SOURCES,
      sourceDeps: (report) => ({ ...kit.deps(invoker), report }),
      metrics: kit.metrics,
      log: kit.log,
      leaseSeconds: 5,
      renewSeconds: 1,
    });
    world.onMappingChange(() => manager.nudge());
    manager.start();
    const create = (namespace: string, name: string, stream: string): Promise<unknown> =>
      custom.createNamespacedCustomObject({
        ...G,
        plural: 'eventsourcemappings',
        namespace,
        body: {
          apiVersion: 'sluice.dev/v1alpha1',
          kind: 'EventSourceMapping',
          metadata: { name },
          spec: { function: 'worker', source: { natsQueue: { stream } } },
        },
      });
    const ready = async (namespace: string, name: string) => {
      const esm = (await custom
        .getNamespacedCustomObject({ ...G, plural: 'eventsourcemappings', namespace, name })
        .catch(() => undefined)) as EventSourceMappingResource | undefined;
      return esm?.status?.conditions?.find((c) => c.type === 'Ready');
    };
    try {
      await create('shop', 'own', 'OWN');
      for (const [name, stream] of [
        ['steal-async', 'SLUICE_ASYNC'],
        ['steal-dlq', 'SLUICE_DLQ'],
        ['steal-posts', 'POSTS'],
      ] as const)
        await create('shop', name, stream);
      await create('pending', 'early', 'ANY');
      await until(async () => (await ready('shop', 'own'))?.status === 'True', 'the own stream polled');
      for (const name of ['steal-async', 'steal-dlq', 'steal-posts']) {
        await until(
          async () => (await ready('shop', name))?.reason === 'StreamNotFound',
          `${name} StreamNotFound`,
        );
        expect((await ready('shop', name))?.status).toBe('False');
      }
      await until(
        async () => (await ready('pending', 'early'))?.reason === 'NatsAccountNotReady',
        'no account',
      );
      // Nothing happened to the platform's and the other namespace's streams: no consumer, no message taken.
      const names = async (jsm: JetStreamManager, s: string): Promise<string[]> => {
        const out: string[] = [];
        for await (const c of jsm.consumers.list(s)) out.push(c.name);
        return out;
      };
      expect(await names(admin, 'SLUICE_ASYNC')).toEqual([]);
      expect(await names(other, 'POSTS')).toEqual([]);
      expect(await messages(admin, 'SLUICE_ASYNC')).toBe(1);
      expect(invoker.calls).toHaveLength(0);
    } finally {
      await manager.stop();
      await world.stop();
    }
  });

  it('a mapping’s nats: onFailure record lands in its own namespace’s account only', async () => {
    const sender = new DestinationSender(kit.tenants, new FakeInvoker());
    await sender.send('nats:orders.done', { failed: true }, { namespace: 'shop', dedupId: 'rec-1' });
    expect(await messages(kit.jsm, 'DONE')).toBe(1);
    expect(await messages(other, 'DONE')).toBe(0);
    expect(await messages(admin, 'PLATFORM_DONE')).toBe(0);
    // A namespace without an account cannot be published to at all.
    await expect(
      sender.send('nats:orders.done', {}, { namespace: 'pending', dedupId: 'rec-2' }),
    ).rejects.toThrow(/publishing to orders.done failed/);
  });
});

describe('async destinations and the backlog limit', () => {
  it('a function’s nats: destinations publish into its namespace’s account; sluice.async.<other>… reaches nobody', async () => {
    const p = await startPipeline(nats, {
      id: 'route',
      invoker: new AsyncFakeInvoker(),
      functions: [
        fnResource('shop', 'ok', { async: { onSuccess: 'nats:orders.done' } }),
        fnResource('shop', 'inject', { async: { onSuccess: 'nats:sluice.async.other.victim' } }),
      ],
    });
    try {
      const before = await messages(kit.jsm, 'DONE');
      await p.acceptor.acceptEvent({
        namespace: 'shop',
        function: 'ok',
        payload: Buffer.from('{}'),
        requestId: 'r1',
      });
      await until(async () => (await messages(kit.jsm, 'DONE')) === before + 1, 'the record in shop’s DONE');
      expect(await messages(other, 'DONE')).toBe(0);
      expect(await messages(admin, 'PLATFORM_DONE')).toBe(0);
      // Publishing into the platform's subject names from a function only reaches its own account,
      // where no stream binds them: the delivery fails and the record is a dead letter.
      const queued = await messages(admin, 'SLUICE_ASYNC');
      await p.acceptor.acceptEvent({
        namespace: 'shop',
        function: 'inject',
        payload: Buffer.from('{}'),
        requestId: 'r2',
      });
      await waitFor(async () => (await p.dlq.count('shop', 'inject')) === 1, 15_000);
      expect((await p.dlq.list('shop', 'inject')).items[0]).toMatchObject({
        reason: 'DestinationDeliveryFailed',
      });
      expect(await messages(admin, 'SLUICE_ASYNC')).toBe(queued);
    } finally {
      await p.close();
    }
  });

  it('an Event call past the function’s backlog limit is refused with 429 TooManyRequestsException and counted', async () => {
    // No consumer for the function: its events stay queued.
    const p = await startPipeline(nats, {
      id: 'limit',
      invoker: new AsyncFakeInvoker(),
      functions: [],
      backlogLimit: { maxEvents: 5, refreshMs: 60_000 },
    });
    try {
      const accept = (n: number) =>
        p.acceptor.acceptEvent({
          namespace: 'shop',
          function: 'busy',
          payload: Buffer.from('{}'),
          requestId: `b${n}`,
        });
      for (let n = 0; n < 5; n++) await accept(n);
      const err = await accept(5).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AsyncBacklogFullError);
      const res = toErrorResponse(err);
      expect(res.status).toBe(429);
      expect(res.code).toBe('TooManyRequestsException');
      expect(res.body).toMatchObject({ Reason: 'AsyncBacklogLimitExceeded' });
      expect(
        await metricValue(p.registry, 'sluice_async_events_refused_total', {
          namespace: 'shop',
          function: 'busy',
        }),
      ).toBe(1);
      // Refused again while full; another function is not affected.
      await expect(accept(6)).rejects.toBeInstanceOf(AsyncBacklogFullError);
      await p.acceptor.acceptEvent({
        namespace: 'shop',
        function: 'calm',
        payload: Buffer.from('{}'),
        requestId: 'c',
      });
      const subjects = (await p.jsm.streams.info('LIMIT_ASYNC', { subjects_filter: 'limit.async.shop.>' }))
        .state.subjects;
      expect(subjects).toEqual({ 'limit.async.shop.busy': 5, 'limit.async.shop.calm': 1 });
    } finally {
      await p.close();
    }
  });
});
