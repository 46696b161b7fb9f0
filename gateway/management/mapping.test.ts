import { describe, expect, it } from 'vitest';
import { fnResource } from '../../test/support/gateway/fakes.js';
import { InvalidParameterError } from '../errors.js';
import {
  checkLayers,
  functionConfigurationOf,
  functionFromCreate,
  layerVersionFrom,
  layerVersionOf,
  listLayersOf,
  serviceAccountOfRole,
  sluiceRuntime,
  withCode,
} from './mapping.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('runtime names', () => {
  it.each([
    { name: 'nodejs22.x', lambda: 'nodejs22.x', sluice: 'nodejs22' },
    { name: 'nodejs24.x', lambda: 'nodejs24.x', sluice: 'nodejs24' },
    { name: 'provided.al2023', lambda: 'provided.al2023', sluice: 'provided' },
    { name: 'provided.al2', lambda: 'provided.al2', sluice: 'provided' },
  ])('$name', ({ lambda, sluice }) => expect(sluiceRuntime(lambda)).toBe(sluice));

  it.each(['python2.7', 'nodejs22', 'java21'])('refuses %s', (r) =>
    expect(() => sluiceRuntime(r)).toThrow(InvalidParameterError),
  );
});

describe('Role', () => {
  it.each([
    { name: 'a role of the namespace', role: 'arn:aws:iam::shop:role/runner', sa: 'runner' },
    { name: 'a role with a path', role: 'arn:aws:iam::shop:role/team/runner', sa: 'runner' },
    { name: 'another namespace', role: 'arn:aws:iam::other:role/runner', sa: undefined },
    { name: 'an account number', role: 'arn:aws:iam::123456789012:role/Runner', sa: undefined },
    { name: 'not an ARN', role: 'runner', sa: undefined },
  ])('$name', ({ role, sa }) => {
    if (sa) expect(serviceAccountOfRole(role, 'shop')).toBe(sa);
    else expect(() => serviceAccountOfRole(role, 'shop')).toThrow(InvalidParameterError);
  });
});

describe('layers', () => {
  const arn = (name: string, v = 1, ns = 'shop'): string =>
    `arn:aws:lambda:us-east-1:${ns}:layer:${name}:${v}`;
  it.each([
    { name: 'five layers', layers: ['a', 'b', 'c', 'd', 'e'].map((l) => arn(l)), ok: true },
    { name: 'six layers', layers: ['a', 'b', 'c', 'd', 'e', 'f'].map((l) => arn(l)), ok: false },
    { name: 'another namespace', layers: [arn('a', 1, 'other')], ok: false },
    { name: 'two versions of one layer', layers: [arn('a', 1), arn('a', 2)], ok: false },
    { name: 'not an ARN', layers: ['a:1'], ok: false },
  ])('$name', ({ layers, ok }) => {
    if (ok) checkLayers(layers, 'shop');
    else expect(() => checkLayers(layers, 'shop')).toThrow(InvalidParameterError);
  });
});

describe('CreateFunction ⇄ Function', () => {
  it('maps the Lambda input onto the spec', () => {
    const fn = functionFromCreate(
      {
        name: 'hello',
        runtime: 'nodejs24.x',
        handler: 'app.main',
        role: 'arn:aws:iam::shop:role/runner',
        timeout: 10,
        memorySize: 256,
        ephemeralStorage: 1024,
        environment: { A: '1' },
        layers: ['arn:aws:lambda:us-east-1:shop:layer:deps:3'],
      },
      'shop',
      { package: DIGEST },
    );
    expect(fn.metadata).toEqual({ name: 'hello', namespace: 'shop' });
    expect(fn.spec).toEqual({
      runtime: 'nodejs24',
      handler: 'app.main',
      code: { package: DIGEST },
      timeoutSeconds: 10,
      memoryMB: 256,
      ephemeralStorageMB: 1024,
      environment: { A: '1' },
      layers: ['arn:aws:lambda:us-east-1:shop:layer:deps:3'],
      executionRole: { serviceAccountName: 'runner' },
    });
  });

  it.each([
    { name: 'an upper-case name', input: { name: 'Hello', runtime: 'nodejs22.x' } },
    { name: 'a zip without a runtime', input: { name: 'hello' } },
  ])('refuses $name', ({ input }) =>
    expect(() => functionFromCreate(input, 'shop', { package: DIGEST })).toThrow(InvalidParameterError),
  );

  it('Role role/default asks for no execution role, and a function without one reports it', () => {
    const fn = functionFromCreate(
      { name: 'plain', runtime: 'nodejs22.x', role: 'arn:aws:iam::shop:role/default' },
      'shop',
      { package: DIGEST },
    );
    expect(fn.spec.executionRole).toBeUndefined();
    expect(functionConfigurationOf('sluice', fn, 0, () => 0).Role).toBe('arn:aws:iam::shop:role/default');
  });

  it('an image without a runtime is a custom runtime', () => {
    expect(functionFromCreate({ name: 'img' }, 'shop', { image: 'r/x:1' }).spec.runtime).toBe('provided');
  });

  it('reports the configuration as Lambda does', () => {
    const fn = withCode(
      fnResource('hello', { runtime: 'provided', executionRole: { serviceAccountName: 'runner' } }, 'shop'),
      { package: DIGEST },
    );
    const c = functionConfigurationOf(
      'eu-west-1',
      { ...fn, spec: { ...fn.spec, layers: ['arn:x'] as never } },
      1234,
      () => 7,
    );
    expect(c).toMatchObject({
      FunctionName: 'hello',
      FunctionArn: 'arn:aws:lambda:eu-west-1:shop:function:hello',
      Runtime: 'provided.al2023',
      Role: 'arn:aws:iam::shop:role/runner',
      CodeSize: 1234,
      CodeSha256: Buffer.from('ab'.repeat(32), 'hex').toString('base64'),
      Version: '$LATEST',
      PackageType: 'Zip',
      Layers: [{ Arn: 'arn:x', CodeSize: 7 }],
    });
    expect(c).not.toHaveProperty('Handler');
  });
});

describe('LayerVersion ⇄ Lambda', () => {
  const lv = layerVersionFrom('shop', 'My_Deps', 2, { digest: DIGEST, size: 99 }, { description: 'd' });
  const stored = { ...lv, metadata: { ...lv.metadata, creationTimestamp: new Date('2026-01-01T00:00:00Z') } };

  it('names the object from the layer name and keeps the real one in spec', () => {
    expect(lv.metadata.name).toMatch(/^my-deps-[0-9a-f]{8}-v2$/);
    expect(lv.spec).toEqual({
      layerName: 'My_Deps',
      version: 2,
      package: DIGEST,
      codeSize: 99,
      description: 'd',
    });
  });

  it('answers GetLayerVersion’s shape', () => {
    expect(layerVersionOf('us-east-1', stored, 'http://gw/x')).toEqual({
      Content: {
        Location: 'http://gw/x',
        CodeSha256: Buffer.from('ab'.repeat(32), 'hex').toString('base64'),
        CodeSize: 99,
      },
      LayerArn: 'arn:aws:lambda:us-east-1:shop:layer:My_Deps',
      LayerVersionArn: 'arn:aws:lambda:us-east-1:shop:layer:My_Deps:2',
      Version: 2,
      Description: 'd',
      CreatedDate: '2026-01-01T00:00:00.000Z',
    });
  });

  it('ListLayers shows each layer’s latest version', () => {
    const v1 = { ...stored, spec: { ...stored.spec, version: 1 } };
    const layers = listLayersOf('us-east-1', [v1, stored]);
    expect(layers).toHaveLength(1);
    expect(layers[0]).toMatchObject({ LayerName: 'My_Deps', LatestMatchingVersion: { Version: 2 } });
  });

  it('refuses a bad layer name', () =>
    expect(() => layerVersionFrom('shop', 'a.b', 1, { digest: DIGEST, size: 1 }, {})).toThrow(
      InvalidParameterError,
    ));
});
