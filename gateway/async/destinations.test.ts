import { describe, expect, it } from 'vitest';
import { parseDestination } from './destinations.js';

describe('parseDestination', () => {
  it.each([
    { name: 'function', uri: 'function:audit', want: { kind: 'function', name: 'audit' } },
    {
      name: 'function with a version',
      uri: 'function:audit:3',
      want: { kind: 'function', name: 'audit', qualifier: '3' },
    },
    {
      name: 'function with an alias',
      uri: 'function:audit:prod',
      want: { kind: 'function', name: 'audit', qualifier: 'prod' },
    },
    {
      name: 'function $LATEST',
      uri: 'function:audit:$LATEST',
      want: { kind: 'function', name: 'audit', qualifier: '$LATEST' },
    },
    { name: 'nats subject', uri: 'nats:orders.failed', want: { kind: 'nats', subject: 'orders.failed' } },
    { name: 'nats single token', uri: 'nats:audit', want: { kind: 'nats', subject: 'audit' } },
    {
      name: 'https',
      uri: 'https://hooks.example.com/x?y=1',
      want: { kind: 'http', url: 'https://hooks.example.com/x?y=1' },
    },
    {
      name: 'http with a port',
      uri: 'http://10.0.0.1:8080/in',
      want: { kind: 'http', url: 'http://10.0.0.1:8080/in' },
    },
  ])('accepts $name', ({ uri, want }) => {
    expect(parseDestination(uri)).toEqual({ ...want, uri });
  });

  it.each([
    { name: 'empty', uri: '' },
    { name: 'unknown scheme', uri: 'sqs:queue' },
    { name: 'upper-case function name', uri: 'function:Audit' },
    { name: 'function without a name', uri: 'function:' },
    { name: 'alias starting with a digit and letters', uri: 'function:audit:1a' },
    { name: 'nats wildcard *', uri: 'nats:orders.*' },
    { name: 'nats wildcard >', uri: 'nats:orders.>' },
    { name: 'nats empty token', uri: 'nats:orders..failed' },
    { name: 'http without a host', uri: 'http://' },
    { name: 'http with a space', uri: 'http://a b/' },
    { name: 'ftp', uri: 'ftp://host/x' },
  ])('rejects $name', ({ uri }) => {
    expect(() => parseDestination(uri)).toThrow(/destination/);
  });
});
