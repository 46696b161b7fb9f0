import type { V1Namespace } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { EventSourceMappingResource, FunctionResource } from '../../api/types.js';
import { fitsBudget, needsNats } from './reconcile.js';

const ns = (annotations?: Record<string, string>): V1Namespace => ({
  metadata: { name: 'shop', annotations },
});
const fn = (async: Record<string, string>) => ({ spec: { async } }) as unknown as FunctionResource;
const esm = (spec: object) => ({ spec }) as unknown as EventSourceMappingResource;

describe('needsNats', () => {
  it.each([
    { name: 'nothing', n: ns(), fns: [], esms: [], want: false },
    {
      name: 'the annotation',
      n: ns({ 'sluice.dev/nats-credentials': 'true' }),
      fns: [],
      esms: [],
      want: true,
    },
    {
      name: 'the annotation set to false',
      n: ns({ 'sluice.dev/nats-credentials': 'false' }),
      fns: [],
      esms: [],
      want: false,
    },
    {
      name: 'a nats: onFailure of a function',
      n: ns(),
      fns: [fn({ onFailure: 'nats:x.y' })],
      esms: [],
      want: true,
    },
    {
      name: 'a nats: onSuccess of a function',
      n: ns(),
      fns: [fn({ onSuccess: 'nats:x' })],
      esms: [],
      want: true,
    },
    {
      name: 'only function: and http destinations',
      n: ns(),
      fns: [fn({ onSuccess: 'function:a', onFailure: 'https://x' })],
      esms: [],
      want: false,
    },
    {
      name: 'a natsQueue mapping',
      n: ns(),
      fns: [],
      esms: [esm({ source: { natsQueue: { stream: 'Q' } } })],
      want: true,
    },
    {
      name: 'a natsStream mapping',
      n: ns(),
      fns: [],
      esms: [esm({ source: { natsStream: { stream: 'S' } } })],
      want: true,
    },
    {
      name: 'a schedule with a nats: onFailure',
      n: ns(),
      fns: [],
      esms: [esm({ source: { schedule: { expression: 'rate(1 minute)' } }, onFailure: 'nats:dlq' })],
      want: true,
    },
    {
      name: 'a schedule only',
      n: ns(),
      fns: [],
      esms: [esm({ source: { schedule: { expression: 'rate(1 minute)' } } })],
      want: false,
    },
  ])('$name', ({ n, fns, esms, want }) => expect(needsNats(n, fns, esms)).toBe(want));
});

describe('fitsBudget', () => {
  const limits = { diskStorage: 100, memoryStorage: 10, streams: 1, consumers: 1, maxAckPending: -1 };
  it.each([
    { name: 'the first', pushed: 0, budget: { diskStorage: 100, memoryStorage: 10 }, want: true },
    { name: 'exactly full', pushed: 2, budget: { diskStorage: 300, memoryStorage: 30 }, want: true },
    { name: 'one too many (disk)', pushed: 3, budget: { diskStorage: 300, memoryStorage: 100 }, want: false },
    {
      name: 'one too many (memory)',
      pushed: 3,
      budget: { diskStorage: 1000, memoryStorage: 30 },
      want: false,
    },
  ])('$name', ({ pushed, budget, want }) => expect(fitsBudget(pushed, limits, budget)).toBe(want));
  it('ignores memory when namespaces get none', () =>
    expect(fitsBudget(5, { ...limits, memoryStorage: 0 }, { diskStorage: 600, memoryStorage: 0 })).toBe(
      true,
    ));
});
