import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RetentionPolicy } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_INVOKE_PATH } from '../../api/naming.js';
import { HttpInvoker } from '../../poller/invoker.js';
import { SOURCES } from '../../poller/sources/index.js';
import { makeKit, mapping, type Kit } from '../support/poller/kit.js';
import { budget, until } from '../support/time.js';
import { NatsServer } from './support/nats.js';
import { ROOT, startRuntime, type RuntimeProcessHandle } from './runtime-harness.js';

// An unchanged Lambda SQS handler — Powertools' BatchProcessor with processPartialResponse —
// running in the real sluice-runtime process, fed by a natsQueue mapping with recordFormat: sqs.
const HANDLER = `
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';

const processor = new BatchProcessor(EventType.SQS);

const recordHandler = async (record) => {
  const order = JSON.parse(record.body);
  if (order.bad) throw new Error('cannot process order ' + order.id);
  console.log(JSON.stringify({ processed: order.id, receiveCount: record.attributes.ApproximateReceiveCount, tenant: record.messageAttributes.tenant?.stringValue }));
};

export const handler = async (event, context) =>
  processPartialResponse(event, recordHandler, processor, { context });
`;

let server: NatsServer;
let kit: Kit;
let rt: RuntimeProcessHandle;
// The task root sits inside the repository so the handler resolves @aws-lambda-powertools/batch from node_modules.
const taskRoot = path.join(ROOT, 'dist', '.poller-it', 'sqs-handler');

beforeAll(async () => {
  mkdirSync(taskRoot, { recursive: true });
  writeFileSync(path.join(taskRoot, 'index.mjs'), HANDLER);
  server = await NatsServer.start();
  kit = await makeKit(server);
  rt = await startRuntime({ taskRoot, functionName: 'orders', timeoutSeconds: 10 });
}, budget(120_000));

afterAll(async () => {
  await rt?.stop();
  await kit?.close();
  await server?.cleanup();
  rmSync(taskRoot, { recursive: true, force: true });
});

describe('recordFormat: sqs', () => {
  it('Powertools BatchProcessor reports its failures; only those come back, then go to onFailure', async () => {
    await kit.jsm.streams.add({ name: 'SHOP', subjects: ['shop.>'], retention: RetentionPolicy.Workqueue });
    await kit.jsm.streams.add({ name: 'SHOP_DLQ', subjects: ['dlq.shop'] });
    const invoker = new HttpInvoker({ baseUrl: rt.url(''), pathFor: () => RUNTIME_INVOKE_PATH });
    const src = SOURCES.natsQueue.create(
      mapping({
        function: 'orders',
        source: { natsQueue: { stream: 'SHOP', subject: 'shop.orders' } },
        batchSize: 10,
        maximumBatchingWindowSeconds: 1,
        maximumRetryAttempts: 1,
        functionResponseTypes: ['ReportBatchItemFailures'],
        recordFormat: 'sqs',
        onFailure: 'nats:dlq.shop',
      }),
      kit.deps(invoker),
    );
    await src.start();
    try {
      for (let id = 1; id <= 6; id++) {
        const h = headers();
        h.set('tenant', 'acme');
        await kit.js.publish('shop.orders', JSON.stringify({ id, bad: id === 4 }), { headers: h });
      }
      await until(
        async () => (await kit.jsm.streams.info('SHOP_DLQ')).state.messages === 1,
        'the dead letter',
        30_000,
      );
      await until(async () => (await kit.jsm.streams.info('SHOP')).state.messages === 0, 'all acknowledged');
      const processed = rt
        .functionLines()
        .map((l) => /\{"processed".*\}/.exec(l)?.[0])
        .filter((l): l is string => l !== undefined)
        .map((l) => JSON.parse(l) as { processed: number; receiveCount: string; tenant: string });
      expect(processed.map((p) => p.processed).sort()).toEqual([1, 2, 3, 5, 6]);
      expect(processed.every((p) => p.receiveCount === '1' && p.tenant === 'acme')).toBe(true);
      const dead = (await kit.jsm.streams.getMessage('SHOP_DLQ', { seq: 1 }))?.json<{
        requestContext: { condition: string; approximateInvokeCount: number };
        requestPayload: { Records: { body: string; eventSource: string }[] };
      }>();
      expect(dead?.requestContext).toMatchObject({
        condition: 'RetriesExhausted',
        approximateInvokeCount: 2,
      });
      expect(dead?.requestPayload.Records[0]).toMatchObject({
        body: '{"id":4,"bad":true}',
        eventSource: 'aws:sqs',
      });
    } finally {
      await src.close();
    }
  });
});
