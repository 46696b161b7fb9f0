import { describe, expect, it } from 'vitest';
import { errorBody } from './environment.js';
import { Capture, FunctionLog } from './function-log.js';

describe('errorBody (POST /invocation/{id}/error)', () => {
  it.each([
    {
      name: 'JSON body passed through',
      body: '{"errorType":"TypeError","errorMessage":"x","trace":["TypeError: x"]}',
      type: 'TypeError',
      want: { errorType: 'TypeError', errorMessage: 'x', trace: ['TypeError: x'] },
    },
    {
      name: 'empty body from the header',
      body: '',
      type: 'Custom.Failure',
      want: { errorType: 'Custom.Failure', errorMessage: 'Unknown application error occurred' },
    },
    {
      name: 'text body',
      body: 'it broke',
      type: 'Custom.Failure',
      want: { errorType: 'Custom.Failure', errorMessage: 'it broke' },
    },
    {
      name: 'no header, no body',
      body: '',
      type: undefined,
      want: { errorType: 'Runtime.Unknown', errorMessage: 'Unknown application error occurred' },
    },
  ])('$name', ({ body, type, want }) => {
    const headers = type ? { 'lambda-runtime-function-error-type': type } : {};
    expect(JSON.parse(errorBody(Buffer.from(body), headers).toString())).toEqual(want);
  });
});

describe('FunctionLog', () => {
  it('writes whole lines to the pod log and to open captures only', () => {
    const out: string[] = [];
    const log = new FunctionLog({ write: (s) => out.push(s) });
    log.line('before');
    const c = log.open();
    log.line('during');
    log.close(c);
    log.line('after');
    expect(out).toEqual(['before\n', 'during\n', 'after\n']);
    expect(c.bytes().toString()).toBe('during\n');
  });

  it.each([
    { name: 'small', lines: 3, limit: 100, keepsFirst: true },
    { name: 'bounded', lines: 1000, limit: 100, keepsFirst: false },
  ])('keeps a $name capture within its limit and ends with the last line', ({ lines, limit, keepsFirst }) => {
    const c = new Capture(limit);
    for (let i = 0; i < lines; i++) c.add(`line ${i}`);
    const text = c.bytes().toString();
    expect(text.endsWith(`line ${lines - 1}\n`)).toBe(true);
    expect(text.startsWith('line 0\n')).toBe(keepsFirst);
    expect(c.bytes().length).toBeLessThan(limit + 20);
  });
});
