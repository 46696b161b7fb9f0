import { describe, expect, it } from 'vitest';
import { toErrorResponse, toFormatted, wrapError } from './errors.js';

class PaymentError extends Error {
  override name = 'PaymentError';
}

describe('toErrorResponse', () => {
  it.each([
    { name: 'Error', value: new Error('boom'), type: 'Error', message: 'boom', trace0: 'Error: boom' },
    {
      name: 'TypeError',
      value: new TypeError('bad'),
      type: 'TypeError',
      message: 'bad',
      trace0: 'TypeError: bad',
    },
    {
      name: 'custom class',
      value: new PaymentError('declined'),
      type: 'PaymentError',
      message: 'declined',
      trace0: 'PaymentError: declined',
    },
    {
      name: 'error-like object',
      value: { name: 'Remote', message: 'm', stack: 'Remote: m\n    at x' },
      type: 'Remote',
      message: 'm',
      trace0: 'Remote: m',
    },
  ])('serialises an $name with its stack lines', ({ value, type, message, trace0 }) => {
    const r = toErrorResponse(value);
    expect(r.errorType).toBe(type);
    expect(r.errorMessage).toBe(message);
    expect(r.trace?.[0]).toBe(trace0);
    if (value instanceof Error) expect(r.trace?.length).toBeGreaterThan(1);
  });

  it.each([
    { name: 'string', value: 'nope', want: { errorType: 'string', errorMessage: 'nope', trace: [] } },
    { name: 'number', value: 42, want: { errorType: 'number', errorMessage: '42', trace: [] } },
    {
      name: 'plain object',
      value: { a: 1 },
      want: { errorType: 'object', errorMessage: '[object Object]', trace: [] },
    },
    { name: 'null', value: null, want: { errorType: 'object', errorMessage: 'null', trace: [] } },
  ])('serialises a $name by typeof', ({ value, want }) => expect(toErrorResponse(value)).toEqual(want));
});

describe('toFormatted', () => {
  it.each([
    {
      name: 'an Error with extra fields',
      value: Object.assign(new Error('down'), { code: 'ECONNREFUSED', port: 5432 }),
      want: { errorType: 'Error', errorMessage: 'down', code: 'ECONNREFUSED', port: 5432 },
    },
    { name: 'a string', value: 'plain', want: 'plain' },
  ])('formats $name as a tab and JSON', ({ value, want }) => {
    const s = toFormatted(value);
    expect(s.startsWith('\t')).toBe(true);
    const parsed: unknown = JSON.parse(s.slice(1));
    if (typeof want === 'string') expect(parsed).toBe(want);
    else expect(parsed).toMatchObject({ ...want, stack: expect.arrayContaining(['Error: down']) });
  });
});

describe('wrapError', () => {
  it.each([
    {
      name: 'import error',
      type: 'Runtime.ImportModuleError',
      original: new Error("Cannot find module 'x'"),
      message: "Error: Cannot find module 'x'",
    },
    {
      name: 'syntax error',
      type: 'Runtime.UserCodeSyntaxError',
      original: new SyntaxError('Unexpected token'),
      message: 'SyntaxError: Unexpected token',
    },
  ])('wraps an $name with the original as its message', ({ type, original, message }) => {
    const e = wrapError(type, original);
    expect(e.name).toBe(type);
    expect(e.message).toBe(message);
    expect(toErrorResponse(e).errorType).toBe(type);
  });
});
