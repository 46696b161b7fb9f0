import { describe, expect, it } from 'vitest';
import { InvalidDestinationError } from '../api/destinations.js';
import type { EventSourceMappingResource } from '../api/types.js';
import { resolveMapping } from './mapping.js';

const mapping = (onFailure: string): EventSourceMappingResource => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'EventSourceMapping',
  metadata: { namespace: 'shop', name: 'orders', uid: 'u1', generation: 1 },
  spec: { function: 'worker', source: { natsQueue: { stream: 'ORDERS' } }, onFailure },
});

/**
 * A namespace is an account: a mapping's onFailure is parsed by the one destination contract
 * (api/destinations.ts), so it can name neither the platform's subjects (its streams, JetStream's
 * API and KV, the inboxes its connections into tenant accounts answer on) nor another namespace.
 * The mapping goes Failed; nothing is consumed.
 */
describe("resolveMapping: a mapping's onFailure cannot name a platform subject or another namespace", () => {
  it.each([
    { name: "the async pipeline's subjects", uri: 'nats:sluice.async.other.fn' },
    { name: 'the dead-letter subjects', uri: 'nats:sluice.dlq.other.fn' },
    { name: 'the platform prefix itself', uri: 'nats:sluice' },
    { name: "JetStream's API", uri: 'nats:$JS.API.STREAM.PURGE.SLUICE_ASYNC' },
    { name: "the poller's checkpoints (KV)", uri: 'nats:$KV.sluice-esm-checkpoints.shop' },
    { name: "the platform's inboxes in tenant accounts", uri: 'nats:_INBOX_sluice.abc.1' },
    { name: 'a wildcard reaching many subjects', uri: 'nats:orders.>' },
    { name: 'a function of another namespace (partial ARN)', uri: 'function:other:function:audit' },
    { name: 'a function of another namespace (ARN)', uri: 'function:arn:aws:lambda:r:other:function:audit' },
    { name: 'a Service of another namespace', uri: 'http://audit.other.svc.cluster.local/in' },
  ])('refuses $name', ({ uri }) => {
    expect(() => resolveMapping(mapping(uri))).toThrow(InvalidDestinationError);
  });

  it.each([
    { name: 'a subject of its own account', uri: 'nats:orders.failed' },
    { name: 'a function of its own namespace', uri: 'function:audit:prod' },
    { name: 'a public endpoint', uri: 'https://hooks.example.com/failed' },
  ])('keeps $name', ({ uri }) => {
    expect(resolveMapping(mapping(uri)).onFailure).toBe(uri);
  });
});
