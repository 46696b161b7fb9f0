import { describe, expect, it } from 'vitest';
import { formatLogLine, minLevel } from './console.js';

const T = new Date('2025-06-07T08:09:10.111Z');

describe('formatLogLine', () => {
  it.each([
    {
      name: 'plain message',
      id: 'r-1',
      level: 'INFO' as const,
      args: ['hello'],
      want: '2025-06-07T08:09:10.111Z\tr-1\tINFO\thello\n',
    },
    {
      name: 'format arguments',
      id: 'r-1',
      level: 'WARN' as const,
      args: ['%s=%d', 'n', 3],
      want: '2025-06-07T08:09:10.111Z\tr-1\tWARN\tn=3\n',
    },
    {
      name: 'objects inspected',
      id: 'r-2',
      level: 'INFO' as const,
      args: ['got', { a: 1 }],
      want: '2025-06-07T08:09:10.111Z\tr-2\tINFO\tgot { a: 1 }\n',
    },
    {
      name: 'during init',
      id: undefined,
      level: 'ERROR' as const,
      args: ['init failed'],
      want: '2025-06-07T08:09:10.111Z\tundefined\tERROR\tinit failed\n',
    },
    {
      name: 'multi-line message on one line',
      id: 'r-3',
      level: 'DEBUG' as const,
      args: ['a\nb\nc'],
      want: '2025-06-07T08:09:10.111Z\tr-3\tDEBUG\ta\rb\rc\n',
    },
  ])('$name', ({ id, level, args, want }) => expect(formatLogLine(T, id, level, args)).toBe(want));
});

describe('minLevel', () => {
  it.each([
    { name: 'default', env: {}, want: 'TRACE' },
    { name: 'set', env: { AWS_LAMBDA_LOG_LEVEL: 'warn' }, want: 'WARN' },
    { name: 'unknown', env: { AWS_LAMBDA_LOG_LEVEL: 'loud' }, want: 'TRACE' },
  ])('$name', ({ env, want }) => expect(minLevel(env)).toBe(want));
});
