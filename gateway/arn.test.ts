import { describe, expect, it } from 'vitest';
import { inCallerAccount, parseFunctionRef, parseUrlFunctionRef } from './arn.js';
import { InvalidParameterError } from './errors.js';

describe('parseFunctionRef', () => {
  it.each([
    {
      name: 'bare name',
      fn: 'hello',
      q: undefined,
      want: { namespace: 'default', name: 'hello', qualifier: '$LATEST', qualified: false, bare: true },
    },
    {
      name: 'name:alias',
      fn: 'hello:prod',
      q: undefined,
      want: { namespace: 'default', name: 'hello', qualifier: 'prod', qualified: true, bare: true },
    },
    {
      name: 'name:version',
      fn: 'hello:3',
      q: undefined,
      want: { namespace: 'default', name: 'hello', qualifier: '3', qualified: true, bare: true },
    },
    {
      name: 'name with Qualifier param',
      fn: 'hello',
      q: '$LATEST',
      want: { namespace: 'default', name: 'hello', qualifier: '$LATEST', qualified: true, bare: true },
    },
    {
      name: 'same qualifier twice',
      fn: 'hello:prod',
      q: 'prod',
      want: { namespace: 'default', name: 'hello', qualifier: 'prod', qualified: true, bare: true },
    },
    {
      name: 'empty Qualifier param is none',
      fn: 'hello',
      q: '',
      want: { namespace: 'default', name: 'hello', qualifier: '$LATEST', qualified: false, bare: true },
    },
    {
      name: 'partial ARN',
      fn: 'shop:function:resize',
      q: undefined,
      want: { namespace: 'shop', name: 'resize', qualifier: '$LATEST', qualified: false },
    },
    {
      name: 'partial ARN with qualifier',
      fn: 'shop:function:resize:7',
      q: undefined,
      want: { namespace: 'shop', name: 'resize', qualifier: '7', qualified: true },
    },
    {
      name: 'full ARN',
      fn: 'arn:aws:lambda:us-east-1:shop:function:resize',
      q: undefined,
      want: { namespace: 'shop', name: 'resize', qualifier: '$LATEST', qualified: false },
    },
    {
      name: 'full ARN with alias',
      fn: 'arn:aws:lambda:sluice-local:shop:function:resize:prod',
      q: 'prod',
      want: { namespace: 'shop', name: 'resize', qualifier: 'prod', qualified: true },
    },
    {
      name: 'full ARN in another partition',
      fn: 'arn:aws-cn:lambda:cn-north-1:team-a:function:f',
      q: undefined,
      want: { namespace: 'team-a', name: 'f', qualifier: '$LATEST', qualified: false },
    },
  ])('$name', ({ fn, q, want }) => {
    expect(parseFunctionRef(fn, q, 'default')).toEqual(want);
  });

  it.each([
    { name: 'empty name', fn: '', q: undefined, msg: /1-170/ },
    { name: 'too long', fn: 'x'.repeat(171), q: undefined, msg: /1-170/ },
    { name: 'conflicting qualifiers', fn: 'hello:prod', q: 'stage', msg: /does not match/ },
    { name: 'bad qualifier characters', fn: 'hello:pr od', q: undefined, msg: /Qualifier/ },
    { name: 'bad Qualifier param', fn: 'hello', q: 'a/b', msg: /Qualifier/ },
    { name: 'malformed ARN', fn: 'arn:aws:s3:::bucket', q: undefined, msg: /not a valid function ARN/ },
    {
      name: 'ARN missing function segment',
      fn: 'arn:aws:lambda:us-east-1:shop:resize',
      q: undefined,
      msg: /not a valid function ARN/,
    },
    { name: 'namespace not a DNS label', fn: 'Shop_1:function:resize', q: undefined, msg: /namespace/ },
    { name: 'too many colons', fn: 'a:b:c', q: undefined, msg: /invalid/ },
    { name: 'bad name characters', fn: 'hel.lo', q: undefined, msg: /Function name/ },
  ])('rejects $name', ({ fn, q, msg }) => {
    expect(() => parseFunctionRef(fn, q, 'default')).toThrow(InvalidParameterError);
    expect(() => parseFunctionRef(fn, q, 'default')).toThrow(msg);
  });
});

describe('inCallerAccount', () => {
  const bare = parseFunctionRef('hello', undefined, 'default');
  const full = parseFunctionRef('shop:function:hello', undefined, 'default');
  it.each([
    {
      name: 'a bare name, a ServiceAccount: its namespace',
      ref: bare,
      who: { kind: 'serviceaccount', namespace: 'team-a', name: 'ci' },
      want: 'team-a',
    },
    {
      name: 'a bare name, anonymous: the default namespace',
      ref: bare,
      who: { kind: 'anonymous' },
      want: 'default',
    },
    {
      name: 'a function URL names its namespace in the path: kept, whoever calls',
      ref: parseUrlFunctionRef('hello', 'shop'),
      who: { kind: 'serviceaccount', namespace: 'team-a', name: 'ci' },
      want: 'shop',
    },
    {
      name: 'a named account is kept, whoever calls',
      ref: full,
      who: { kind: 'serviceaccount', namespace: 'team-a', name: 'ci' },
      want: 'shop',
    },
  ] as const)('$name', ({ ref, who, want }) => {
    expect(inCallerAccount(ref, who as never).namespace).toBe(want);
  });
});
