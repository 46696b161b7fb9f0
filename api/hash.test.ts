import { describe, expect, it } from 'vitest';
import { canonicalJson, specHash } from './hash.js';
import type { FunctionSpec } from './generated/types.js';

const base: FunctionSpec = {
  runtime: 'nodejs22',
  code: { inline: 'exports.handler = async () => 1' },
  memoryMB: 128,
};

describe('specHash', () => {
  it.each([
    {
      name: 'key order does not matter',
      a: base,
      b: { memoryMB: 128, code: { inline: 'exports.handler = async () => 1' }, runtime: 'nodejs22' },
      same: true,
    },
    {
      name: 'versioning does not count',
      a: base,
      b: { ...base, versioning: { autoPublish: true } },
      same: true,
    },
    {
      name: 'code counts',
      a: base,
      b: { ...base, code: { inline: 'exports.handler = async () => 2' } },
      same: false,
    },
    { name: 'configuration counts', a: base, b: { ...base, memoryMB: 256 }, same: false },
    { name: 'environment counts', a: base, b: { ...base, environment: { A: '1' } }, same: false },
  ] as { name: string; a: FunctionSpec; b: FunctionSpec; same: boolean }[])('$name', ({ a, b, same }) => {
    expect(specHash(a) === specHash(b)).toBe(same);
  });

  it('canonical JSON sorts keys and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: undefined }] })).toBe('{"a":[{"d":1}],"b":1}');
  });
});
