import { describe, expect, it } from 'vitest';
import { fnResource } from '../../test/support/gateway/fakes.js';
import { InvalidParameterError } from '../errors.js';
import {
  accountSettingsOf,
  concurrencyOf,
  destinationFromCrd,
  destinationToCrd,
  EVENT_INVOKE_CONFIG_MODIFIED,
  eventInvokeConfigOf,
  eventInvokeInput,
  hasEventInvokeConfig,
  reservedInput,
  withEventInvokePut,
  withEventInvokeUpdate,
  withoutEventInvokeConfig,
  withReserved,
} from './settings-mapping.js';

const NOW = new Date('2026-01-02T03:04:05.000Z');

describe('reserved concurrency ↔ spec.concurrency.reserved', () => {
  it('sets, reads and removes it; {} when none', () => {
    const fn = fnResource('f', {}, 'shop');
    expect(concurrencyOf(fn)).toEqual({});
    const set = withReserved(fn, 5);
    expect(set.spec.concurrency).toEqual({ reserved: 5 });
    expect(concurrencyOf(set)).toEqual({ ReservedConcurrentExecutions: 5 });
    expect(withReserved(set, undefined).spec.concurrency).toBeUndefined();
    expect(concurrencyOf(withReserved(fn, 0))).toEqual({ ReservedConcurrentExecutions: 0 });
  });

  it('takes 0..100000 integers only', () => {
    expect(reservedInput({ ReservedConcurrentExecutions: 100000 })).toBe(100000);
    for (const bad of [{}, { ReservedConcurrentExecutions: -1 }, { ReservedConcurrentExecutions: 1.5 }]) {
      expect(() => reservedInput(bad)).toThrow(InvalidParameterError);
    }
    expect(() => reservedInput({ ReservedConcurrentExecutions: '3' })).toThrow(InvalidParameterError);
  });
});

describe('destinations', () => {
  it('a function ARN of the same namespace is function:NAME[:Q], and back', () => {
    expect(destinationToCrd('arn:aws:lambda:us-east-1:shop:function:audit', 'shop')).toBe('function:audit');
    expect(destinationToCrd('arn:aws:lambda:eu-west-1:shop:function:audit:prod', 'shop')).toBe(
      'function:audit:prod',
    );
    expect(destinationFromCrd('function:audit:prod', 'us-east-1', 'shop')).toBe(
      'arn:aws:lambda:us-east-1:shop:function:audit:prod',
    );
  });

  it('nats: and https: as the CRD writes them', () => {
    expect(destinationToCrd('nats:orders.failed', 'shop')).toBe('nats:orders.failed');
    expect(destinationFromCrd('nats:orders.failed', 'r', 'shop')).toBe('nats:orders.failed');
    expect(destinationToCrd('https://hooks.example.com/x', 'shop')).toBe('https://hooks.example.com/x');
  });

  it('refuses another namespace, SQS/SNS ARNs and what the contract refuses', () => {
    for (const bad of [
      'arn:aws:lambda:us-east-1:other:function:audit',
      'arn:aws:sqs:us-east-1:111111111111:q',
      'nats:sluice.internal',
      'nats:_INBOX.x',
      'http://10.0.0.1/',
      'mailto:x',
    ]) {
      expect(() => destinationToCrd(bad, 'shop'), bad).toThrow();
    }
    expect(() => destinationToCrd('arn:aws:lambda:us-east-1:other:function:audit', 'shop')).toThrow(
      InvalidParameterError,
    );
  });
});

describe('event invoke config ↔ spec.async', () => {
  const fn = fnResource('f', { async: { retryDelaySeconds: 5, maxEventAgeSeconds: 600 } }, 'shop');

  it('reads the body: ranges, destinations, an empty destination is null', () => {
    expect(
      eventInvokeInput(
        {
          MaximumRetryAttempts: 1,
          MaximumEventAgeInSeconds: 60,
          DestinationConfig: {
            OnFailure: { Destination: 'arn:aws:lambda:us-east-1:shop:function:dlq' },
            OnSuccess: {},
          },
        },
        'shop',
      ),
    ).toEqual({ maxRetryAttempts: 1, maxEventAgeSeconds: 60, onFailure: 'function:dlq', onSuccess: null });
    expect(() => eventInvokeInput({ MaximumRetryAttempts: 3 }, 'shop')).toThrow(InvalidParameterError);
    expect(() => eventInvokeInput({ MaximumEventAgeInSeconds: 59 }, 'shop')).toThrow(InvalidParameterError);
    expect(() => eventInvokeInput({ DestinationConfig: [] }, 'shop')).toThrow(InvalidParameterError);
  });

  it('Put replaces the Lambda fields and keeps retryDelaySeconds', () => {
    const put = withEventInvokePut(fn, { maxRetryAttempts: 0, onSuccess: 'nats:ok' }, NOW);
    expect(put.spec.async).toEqual({ retryDelaySeconds: 5, maxRetryAttempts: 0, onSuccess: 'nats:ok' });
    expect(put.metadata.annotations?.[EVENT_INVOKE_CONFIG_MODIFIED]).toBe(NOW.toISOString());
    expect(eventInvokeConfigOf('us-east-1', put)).toEqual({
      LastModified: NOW.getTime() / 1000,
      FunctionArn: 'arn:aws:lambda:us-east-1:shop:function:f:$LATEST',
      MaximumRetryAttempts: 0,
      DestinationConfig: { OnSuccess: { Destination: 'nats:ok' }, OnFailure: {} },
    });
  });

  it('Update merges; an empty destination removes it', () => {
    const base = withEventInvokePut(
      fn,
      { maxRetryAttempts: 2, onSuccess: 'nats:ok', onFailure: 'nats:ko' },
      NOW,
    );
    const up = withEventInvokeUpdate(base, { maxEventAgeSeconds: 120, onSuccess: null }, NOW);
    expect(up.spec.async).toEqual({
      retryDelaySeconds: 5,
      maxRetryAttempts: 2,
      maxEventAgeSeconds: 120,
      onFailure: 'nats:ko',
    });
  });

  it('Delete leaves only Sluice’s retryDelaySeconds; no config then', () => {
    expect(hasEventInvokeConfig(fn)).toBe(true);
    const gone = withoutEventInvokeConfig(fn);
    expect(gone.spec.async).toEqual({ retryDelaySeconds: 5 });
    expect(hasEventInvokeConfig(gone)).toBe(false);
    expect(withoutEventInvokeConfig(fnResource('g')).spec.async).toBeUndefined();
  });
});

describe('GetAccountSettings', () => {
  it('limits and usage of the namespace; unreserved is what reserved concurrency leaves', () => {
    const fns = [fnResource('a', { concurrency: { reserved: 30 } }), fnResource('b')];
    expect(
      accountSettingsOf({
        quotaBytes: 1000,
        unzippedLimit: 262144000,
        zippedLimit: 52428800,
        concurrentExecutions: 100,
        functions: fns,
        storedBytes: 42,
      }),
    ).toEqual({
      AccountLimit: {
        TotalCodeSize: 1000,
        CodeSizeUnzipped: 262144000,
        CodeSizeZipped: 52428800,
        ConcurrentExecutions: 100,
        UnreservedConcurrentExecutions: 70,
      },
      AccountUsage: { TotalCodeSize: 42, FunctionCount: 2 },
    });
  });
});
