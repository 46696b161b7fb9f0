import { describe, expect, it } from 'vitest';
import { parseFunctionRef } from '../arn.js';
import { ResourceNotFoundError } from '../errors.js';
import { aliasResource, fnResource, versionResource } from '../../test/support/gateway/fakes.js';
import { FunctionResolver, MemoryCatalog } from './catalog.js';

const hello = fnResource('hello', { timeoutSeconds: 10 });
const shopResize = fnResource('resize', { memoryMB: 512 }, 'shop');
const v1 = versionResource(hello, '1', { timeoutSeconds: 5 });
const v2 = versionResource(hello, '2', { timeoutSeconds: 7 });
const prod = aliasResource(hello, 'prod', { version: '1' });
const canary = aliasResource(hello, 'canary', { version: '1', additionalVersionWeights: { '2': 0.25 } });
const latestAlias = aliasResource(hello, 'edge', { version: '$LATEST' });
const catalog = new MemoryCatalog([hello, shopResize, v1, v2, prod, canary, latestAlias]);
const resolve = (fn: string, q?: string, random = () => 0.5) =>
  new FunctionResolver(catalog, 'sluice-local', random).resolve(parseFunctionRef(fn, q, 'default'));

describe('FunctionResolver', () => {
  it.each([
    {
      name: 'bare name → $LATEST',
      fn: 'hello',
      q: undefined,
      version: '$LATEST',
      timeout: 10,
      alias: undefined,
    },
    {
      name: 'explicit $LATEST',
      fn: 'hello',
      q: '$LATEST',
      version: '$LATEST',
      timeout: 10,
      alias: undefined,
    },
    {
      name: 'numbered version uses its snapshot',
      fn: 'hello:2',
      q: undefined,
      version: '2',
      timeout: 7,
      alias: undefined,
    },
    { name: 'alias → its version', fn: 'hello', q: 'prod', version: '1', timeout: 5, alias: 'prod' },
    {
      name: 'alias to $LATEST',
      fn: 'hello:edge',
      q: undefined,
      version: '$LATEST',
      timeout: 10,
      alias: 'edge',
    },
    {
      name: 'partial ARN in another namespace',
      fn: 'shop:function:resize',
      q: undefined,
      version: '$LATEST',
      timeout: undefined,
      alias: undefined,
    },
    {
      name: 'full ARN with version',
      fn: 'arn:aws:lambda:us-east-1:default:function:hello:1',
      q: undefined,
      version: '1',
      timeout: 5,
      alias: undefined,
    },
  ])('$name', ({ fn, q, version, timeout, alias }) => {
    const t = resolve(fn, q);
    expect(t.version).toBe(version);
    expect(t.spec.timeoutSeconds).toBe(timeout);
    expect(t.alias).toBe(alias);
  });

  it.each([
    {
      name: 'unknown function',
      fn: 'nope',
      q: undefined,
      arn: 'arn:aws:lambda:sluice-local:default:function:nope',
    },
    {
      name: 'unknown version',
      fn: 'hello:9',
      q: undefined,
      arn: 'arn:aws:lambda:sluice-local:default:function:hello:9',
    },
    {
      name: 'unknown alias',
      fn: 'hello',
      q: 'stage',
      arn: 'arn:aws:lambda:sluice-local:default:function:hello:stage',
    },
    {
      name: 'function of another namespace',
      fn: 'resize',
      q: undefined,
      arn: 'arn:aws:lambda:sluice-local:default:function:resize',
    },
  ])('404 for $name', ({ fn, q, arn }) => {
    expect(() => resolve(fn, q)).toThrow(ResourceNotFoundError);
    expect(() => resolve(fn, q)).toThrow(`Function not found: ${arn}`);
  });

  it('routes a weighted alias within tolerance of its weights', () => {
    // A deterministic pseudo-random sequence (LCG), so the test never flakes.
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const resolver = new FunctionResolver(catalog, 'sluice-local', random);
    const counts: Record<string, number> = {};
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const v = resolver.resolve(parseFunctionRef('hello:canary', undefined, 'default')).version;
      counts[v] = (counts[v] ?? 0) + 1;
    }
    expect(Object.keys(counts).sort()).toEqual(['1', '2']);
    expect((counts['2'] ?? 0) / n).toBeGreaterThan(0.23);
    expect((counts['2'] ?? 0) / n).toBeLessThan(0.27);
  });

  it.each([
    { name: 'draw below the weight → additional version', draw: 0.1, version: '2' },
    { name: 'draw at the weight → primary version', draw: 0.25, version: '1' },
    { name: 'draw above the weight → primary version', draw: 0.9, version: '1' },
  ])('$name', ({ draw, version }) => {
    expect(resolve('hello:canary', undefined, () => draw).version).toBe(version);
  });

  it('follows updates and deletions', () => {
    const c = new MemoryCatalog([hello, prod]);
    const r = new FunctionResolver(c, 'r');
    c.upsert(versionResource(hello, '1'));
    c.upsert(versionResource(hello, '3'));
    c.upsert({ ...prod, spec: { ...prod.spec, version: '3' } });
    expect(r.resolve(parseFunctionRef('hello:prod', undefined, 'default')).version).toBe('3');
    c.remove(prod);
    expect(() => r.resolve(parseFunctionRef('hello:prod', undefined, 'default'))).toThrow(
      ResourceNotFoundError,
    );
    expect(
      c
        .listVersions('default', 'hello')
        .map((v) => v.spec.version)
        .sort(),
    ).toEqual(['1', '3']);
  });
});
