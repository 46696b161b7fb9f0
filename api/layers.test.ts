import { describe, expect, it } from 'vitest';
import { layerVersionArn, layerVersionName, parseLayerVersionArn } from './layers.js';

describe('parseLayerVersionArn', () => {
  it.each([
    {
      name: 'a layer version ARN',
      arn: 'arn:aws:lambda:us-east-1:shop:layer:deps:3',
      want: { region: 'us-east-1', namespace: 'shop', layerName: 'deps', version: 3 },
    },
    {
      name: 'a name with upper case and _',
      arn: 'arn:aws:lambda:eu-west-1:team-a:layer:My_Layer:12',
      want: { region: 'eu-west-1', namespace: 'team-a', layerName: 'My_Layer', version: 12 },
    },
    { name: 'no version', arn: 'arn:aws:lambda:us-east-1:shop:layer:deps', want: undefined },
    { name: 'version 0', arn: 'arn:aws:lambda:us-east-1:shop:layer:deps:0', want: undefined },
    { name: 'a function ARN', arn: 'arn:aws:lambda:us-east-1:shop:function:deps:1', want: undefined },
    { name: 'an upper-case namespace', arn: 'arn:aws:lambda:us-east-1:Shop:layer:deps:1', want: undefined },
  ])('$name', ({ arn, want }) => expect(parseLayerVersionArn(arn)).toEqual(want));

  it('reads back what layerVersionArn writes', () => {
    expect(parseLayerVersionArn(layerVersionArn('us-east-1', 'shop', 'deps', 7))).toEqual({
      region: 'us-east-1',
      namespace: 'shop',
      layerName: 'deps',
      version: 7,
    });
  });
});

describe('layerVersionName', () => {
  it.each([
    { name: 'a plain name stays readable', layer: 'deps', version: 2, want: 'deps-v2' },
    { name: 'a changed name gets a hash', layer: 'My_Layer', version: 1, want: /^my-layer-[0-9a-f]{8}-v1$/ },
    { name: 'a long name is shortened', layer: 'x'.repeat(140), version: 1, want: /^x{54}-[0-9a-f]{8}-v1$/ },
  ])('$name', ({ layer, version, want }) => {
    const got = layerVersionName(layer, version);
    if (typeof want === 'string') expect(got).toBe(want);
    else expect(got).toMatch(want);
  });

  it('keeps names that differ only in case or _ apart', () => {
    const names = ['my-layer', 'My-Layer', 'my_layer', 'MY_LAYER'].map((l) => layerVersionName(l, 1));
    expect(new Set(names).size).toBe(4);
  });
});
