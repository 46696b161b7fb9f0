import { describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.js';
import { compileFilters } from './filter.js';

const ev = {
  body: {
    type: 'order',
    price: 12.5,
    qty: 3,
    region: 'eu-west-1',
    tags: ['new', 'vip'],
    empty: '',
    nothing: null,
    flag: true,
    nested: { a: { b: 'deep' } },
    items: [{ sku: 'x1' }, { sku: 'y2' }],
  },
};

describe('filter patterns', () => {
  it.each([
    { name: 'exact string', p: '{"body":{"type":["order"]}}', want: true },
    { name: 'exact string mismatch', p: '{"body":{"type":["refund"]}}', want: false },
    { name: 'OR of values', p: '{"body":{"type":["refund","order"]}}', want: true },
    { name: 'case-sensitive', p: '{"body":{"type":["Order"]}}', want: false },
    { name: 'number literal', p: '{"body":{"qty":[3]}}', want: true },
    { name: 'number vs string is no match', p: '{"body":{"qty":["3"]}}', want: false },
    { name: 'boolean', p: '{"body":{"flag":[true]}}', want: true },
    { name: 'null', p: '{"body":{"nothing":[null]}}', want: true },
    { name: 'empty string', p: '{"body":{"empty":[""]}}', want: true },
    { name: 'array value: any element', p: '{"body":{"tags":["vip"]}}', want: true },
    { name: 'prefix', p: '{"body":{"region":[{"prefix":"eu-"}]}}', want: true },
    { name: 'prefix mismatch', p: '{"body":{"region":[{"prefix":"us-"}]}}', want: false },
    { name: 'numeric range in', p: '{"body":{"price":[{"numeric":[">",10,"<=",20]}]}}', want: true },
    { name: 'numeric range out', p: '{"body":{"price":[{"numeric":[">",20]}]}}', want: false },
    { name: 'numeric equals', p: '{"body":{"qty":[{"numeric":["=",3]}]}}', want: true },
    { name: 'numeric on a string', p: '{"body":{"type":[{"numeric":[">",0]}]}}', want: false },
    { name: 'exists true', p: '{"body":{"price":[{"exists":true}]}}', want: true },
    { name: 'exists true on missing', p: '{"body":{"discount":[{"exists":true}]}}', want: false },
    { name: 'exists false on missing', p: '{"body":{"discount":[{"exists":false}]}}', want: true },
    { name: 'exists false on present', p: '{"body":{"price":[{"exists":false}]}}', want: false },
    { name: 'anything-but value', p: '{"body":{"type":[{"anything-but":"refund"}]}}', want: true },
    { name: 'anything-but list hit', p: '{"body":{"type":[{"anything-but":["order","x"]}]}}', want: false },
    { name: 'anything-but prefix', p: '{"body":{"region":[{"anything-but":{"prefix":"us-"}}]}}', want: true },
    { name: 'anything-but on missing', p: '{"body":{"discount":[{"anything-but":"x"}]}}', want: false },
    {
      name: 'nested objects AND',
      p: '{"body":{"type":["order"],"nested":{"a":{"b":["deep"]}}}}',
      want: true,
    },
    { name: 'AND fails on one key', p: '{"body":{"type":["order"],"qty":[4]}}', want: false },
    { name: 'array of objects', p: '{"body":{"items":{"sku":["y2"]}}}', want: true },
    { name: 'object pattern vs text body', p: '{"body":{"x":["y"]}}', event: { body: 'text' }, want: false },
    { name: 'string pattern vs text body', p: '{"body":["text"]}', event: { body: 'text' }, want: true },
  ])('$name', ({ p, want, event }) => {
    expect(compileFilters([p]).matches(event ?? ev)).toBe(want);
  });

  it.each([
    { name: 'no filters match everything', ps: [], want: true },
    { name: 'filters are ORed', ps: ['{"body":{"type":["x"]}}', '{"body":{"qty":[3]}}'], want: true },
    { name: 'none matches', ps: ['{"body":{"type":["x"]}}', '{"body":{"qty":[4]}}'], want: false },
  ])('$name', ({ ps, want }) => expect(compileFilters(ps).matches(ev)).toBe(want));

  it.each([
    { name: 'not JSON', p: '{body' },
    { name: 'leaf not an array', p: '{"body":{"type":"order"}}' },
    { name: 'unknown matcher', p: '{"body":{"type":[{"suffix":"x"}]}}' },
    { name: 'bad numeric', p: '{"body":{"qty":[{"numeric":["~",3]}]}}' },
    { name: 'empty list', p: '{"body":{"qty":[]}}' },
    { name: 'not an object', p: '["x"]' },
  ])('rejects $name', ({ p }) => expect(() => compileFilters([p])).toThrow(ValidationError));
});
