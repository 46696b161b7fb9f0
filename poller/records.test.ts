import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  filterView,
  itemIdentifier,
  rawRecord,
  sqsMessageId,
  sqsRecord,
  stableUuid,
  type SourceMessage,
} from './records.js';

const msg = (o: Partial<SourceMessage> = {}): SourceMessage => ({
  stream: 'ORDERS',
  consumer: 'sluice-esm-shop-orders',
  subject: 'orders.created',
  seq: 42,
  deliveryCount: 1,
  timestampMs: 1_700_000_000_123,
  headers: {},
  data: Buffer.from('{"id":7}'),
  ...o,
});
const ctx = { region: 'sluice', namespace: 'shop', receivedAtMs: 1_700_000_000_500 };

describe('sqsRecord', () => {
  it.each([
    {
      name: 'first delivery',
      m: msg(),
      check: (r: ReturnType<typeof sqsRecord>) => {
        expect(r.body).toBe('{"id":7}');
        expect(r.md5OfBody).toBe(createHash('md5').update('{"id":7}').digest('hex'));
        expect(r.eventSource).toBe('aws:sqs');
        expect(r.eventSourceARN).toBe('arn:aws:sqs:sluice:shop:ORDERS');
        expect(r.awsRegion).toBe('sluice');
        expect(r.attributes).toEqual({
          ApproximateReceiveCount: '1',
          SentTimestamp: '1700000000123',
          SenderId: 'sluice',
          ApproximateFirstReceiveTimestamp: '1700000000500',
        });
        expect(r.messageAttributes).toEqual({});
        expect(r.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      },
    },
    {
      name: 'redelivery keeps the messageId and counts receives',
      m: msg({ deliveryCount: 3 }),
      check: (r: ReturnType<typeof sqsRecord>) => {
        expect(r.messageId).toBe(sqsRecord(msg(), ctx).messageId);
        expect(r.attributes.ApproximateReceiveCount).toBe('3');
        expect(r.receiptHandle).not.toBe(sqsRecord(msg(), ctx).receiptHandle);
      },
    },
    {
      name: 'headers become string message attributes, JetStream headers do not',
      m: msg({
        headers: { 'Nats-Msg-Id': ['x'], tenant: ['a'], tags: ['b', 'c'], 'X-Amzn-Trace-Id': ['Root=1-2'] },
      }),
      check: (r: ReturnType<typeof sqsRecord>) => {
        expect(r.messageAttributes.tenant).toEqual({
          stringValue: 'a',
          stringListValues: [],
          binaryListValues: [],
          dataType: 'String',
        });
        expect(r.messageAttributes.tags?.stringValue).toBe('b,c');
        expect(r.messageAttributes['Nats-Msg-Id']).toBeUndefined();
        expect(r.attributes.AWSTraceHeader).toBe('Root=1-2');
      },
    },
    {
      name: 'utf-8 body and its md5',
      m: msg({ data: Buffer.from('héllo ✓') }),
      check: (r: ReturnType<typeof sqsRecord>) => {
        expect(r.body).toBe('héllo ✓');
        expect(r.md5OfBody).toBe(createHash('md5').update('héllo ✓', 'utf8').digest('hex'));
      },
    },
  ])('$name', ({ m, check }) => check(sqsRecord(m, ctx)));

  it('has exactly the fields of an SQS record', () => {
    expect(Object.keys(sqsRecord(msg(), ctx)).sort()).toEqual(
      [
        'attributes',
        'awsRegion',
        'body',
        'eventSource',
        'eventSourceARN',
        'md5OfBody',
        'messageAttributes',
        'messageId',
        'receiptHandle',
      ].sort(),
    );
  });
});

describe('rawRecord (stream records)', () => {
  it.each([
    { name: 'sequence as a decimal string', m: msg({ seq: 9007 }), want: { sequenceNumber: '9007' } },
    { name: 'data base64', m: msg({ data: Buffer.from([0, 1, 2, 255]) }), want: { data: 'AAEC/w==' } },
    { name: 'arrival in seconds', m: msg(), want: { approximateArrivalTimestamp: 1_700_000_000.123 } },
    { name: 'subject kept (ordering key)', m: msg({ subject: 'clicks.eu' }), want: { subject: 'clicks.eu' } },
  ])('$name', ({ m, want }) => {
    const r = rawRecord(m, ctx);
    expect(r.nats).toMatchObject(want);
    expect(r.eventSource).toBe('sluice:nats');
    expect(r.eventSourceARN).toBe('arn:aws:nats:sluice:shop:stream/ORDERS');
    expect(r.eventID).toBe(`ORDERS:${m.seq}`);
  });
});

describe('itemIdentifier and filterView', () => {
  it.each([
    { name: 'sqs: messageId', format: 'sqs' as const, want: sqsMessageId({ stream: 'ORDERS', seq: 42 }) },
    { name: 'raw: sequence', format: 'raw' as const, want: '42' },
  ])('$name', ({ format, want }) => expect(itemIdentifier(format, msg())).toBe(want));

  it.each([
    { name: 'sqs JSON body', format: 'sqs' as const, data: '{"a":1}', want: { body: { a: 1 } } },
    { name: 'sqs text body', format: 'sqs' as const, data: 'plain', want: { body: 'plain' } },
    { name: 'raw JSON data', format: 'raw' as const, data: '{"a":1}', want: { data: { a: 1 } } },
    { name: 'broken JSON stays text', format: 'raw' as const, data: '{"a":', want: { data: '{"a":' } },
  ])('$name', ({ format, data, want }) => {
    expect(filterView(format, msg({ data: Buffer.from(data) }))).toMatchObject(want);
  });

  it('stable uuids differ per name', () => {
    expect(stableUuid('a')).toBe(stableUuid('a'));
    expect(stableUuid('a')).not.toBe(stableUuid('b'));
  });
});
