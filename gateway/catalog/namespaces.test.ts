import { describe, expect, it } from 'vitest';
import type { FunctionVersionResource } from '../../api/types.js';
import { parseFunctionRef, parseUrlFunctionRef } from '../arn.js';
import { InvalidParameterError, ResourceNotFoundError } from '../errors.js';
import { aliasResource, fnResource, versionResource } from '../../test/support/gateway/fakes.js';
import { FunctionResolver, MemoryCatalog } from './catalog.js';

// A namespace is an account: no name form resolves a function in a namespace other than the one
// the caller stated (the path of a function URL, the account of an ARN) or, for a bare name, the
// gateway's default namespace.

const vaultSecret = fnResource('secret', {}, 'vault');
const shopWeb = fnResource('web', {}, 'shop');
/** Objects another tenant made in its own namespace, naming shop's and vault's functions. */
const evilVersion = versionResource(fnResource('web', {}, 'evil'), '7');
const evilAlias = aliasResource(fnResource('web', {}, 'evil'), 'prod', { version: '$LATEST' });
const slashy: FunctionVersionResource = {
  ...versionResource(fnResource('web', {}, 'shop'), '1'),
  metadata: { name: 'slashy', namespace: 'shop', uid: 'slashy' },
  spec: { function: 'web/1', version: '2', snapshot: shopWeb.spec },
};
const catalog = new MemoryCatalog([vaultSecret, shopWeb, evilVersion, evilAlias, slashy]);
const resolver = new FunctionResolver(catalog, 'r');

describe('function URL names stay in the path’s namespace', () => {
  it.each([
    {
      name: 'NAME',
      fn: 'web',
      want: { namespace: 'shop', name: 'web', qualifier: '$LATEST', qualified: false },
    },
    {
      name: 'NAME:ALIAS',
      fn: 'web:prod',
      want: { namespace: 'shop', name: 'web', qualifier: 'prod', qualified: true },
    },
  ])('$name', ({ fn, want }) => {
    expect(parseUrlFunctionRef(fn, 'shop')).toEqual(want);
  });

  it.each([
    { name: 'a partial ARN of another namespace', fn: 'vault:function:secret' },
    { name: 'a partial ARN of the same namespace', fn: 'shop:function:web' },
    { name: 'a full ARN', fn: 'arn:aws:lambda:r:vault:function:secret' },
    { name: 'a full ARN with a qualifier', fn: 'arn:aws:lambda:r:vault:function:secret:1' },
    { name: 'a name with a slash', fn: 'vault/secret' },
  ])('refuses $name', ({ fn }) => {
    expect(() => parseUrlFunctionRef(fn, 'shop')).toThrow(InvalidParameterError);
  });

  it.each(['Shop', 'shop/x', 'vault%2Fx', ''])('refuses the namespace %j', (ns) => {
    expect(() => parseUrlFunctionRef('web', ns)).toThrow(InvalidParameterError);
  });
});

describe('Invoke API names resolve only in the namespace they state', () => {
  it.each([
    { fn: 'secret', ns: 'default' },
    { fn: 'secret:1', ns: 'default' },
    { fn: 'function:secret', ns: 'default' },
    { fn: 'vault:function:secret', ns: 'vault' },
    { fn: 'arn:aws:lambda:r:vault:function:secret:prod', ns: 'vault' },
  ])('$fn → $ns', ({ fn, ns }) => {
    expect(parseFunctionRef(fn, undefined, 'default').namespace).toBe(ns);
  });

  it.each([
    'vault:function:secret:1:x',
    'arn:aws:lambda:r:vault:function:secret:1:x',
    'arn:aws:lambda:r:Vault:function:secret',
    'vault%3Afunction%3Asecret',
    'vault/function/secret',
    'a:b:c',
  ])('refuses %j', (fn) => {
    expect(() => parseFunctionRef(fn, undefined, 'default')).toThrow(InvalidParameterError);
  });
});

describe('the catalog never mixes namespaces', () => {
  it("a bare name in the default namespace does not find another namespace's function", () => {
    expect(() => resolver.resolve(parseFunctionRef('secret', undefined, 'default'))).toThrow(
      ResourceNotFoundError,
    );
    expect(resolver.resolve(parseFunctionRef('vault:function:secret', undefined, 'default')).namespace).toBe(
      'vault',
    );
  });

  it("versions and aliases another namespace made for a function of the same name are not this function's", () => {
    expect(() => resolver.resolve(parseFunctionRef('shop:function:web:7', undefined, 'default'))).toThrow(
      ResourceNotFoundError,
    );
    expect(() => resolver.resolve(parseFunctionRef('shop:function:web:prod', undefined, 'default'))).toThrow(
      ResourceNotFoundError,
    );
  });

  it('lists only the versions of exactly this function, whatever its versions’ names hold', () => {
    expect(catalog.listVersions('shop', 'web')).toEqual([]);
    expect(catalog.listVersions('evil', 'web').map((v) => v.spec.version)).toEqual(['7']);
    expect(catalog.getVersion('shop', 'web', '1/2')).toBeUndefined();
  });
});
