import { describe, expect, it } from 'vitest';
import { FUNCTION_NAME_PATTERN, isReservedEnv, KINDS } from './schema.js';

describe('isReservedEnv', () => {
  it.each([
    { name: 'a Lambda runtime variable', key: 'AWS_LAMBDA_FUNCTION_NAME', reserved: true },
    { name: 'a future AWS_LAMBDA_ variable', key: 'AWS_LAMBDA_LOG_LEVEL', reserved: true },
    { name: 'the handler', key: '_HANDLER', reserved: true },
    { name: 'the trace header', key: '_X_AMZN_TRACE_ID', reserved: true },
    { name: 'the task root', key: 'LAMBDA_TASK_ROOT', reserved: true },
    { name: 'the region', key: 'AWS_REGION', reserved: true },
    { name: 'execution-role credentials', key: 'AWS_SESSION_TOKEN', reserved: true },
    { name: "sluice-runtime's settings", key: 'SLUICE_FUNCTION_NAMESPACE', reserved: true },
    { name: 'an ordinary variable', key: 'BUCKET', reserved: false },
    { name: 'NODE_OPTIONS (Lambda lets functions set it)', key: 'NODE_OPTIONS', reserved: false },
    { name: 'TZ (unreserved in Lambda)', key: 'TZ', reserved: false },
    { name: 'AWS_XRAY_ variables (unreserved)', key: 'AWS_XRAY_CONTEXT_MISSING', reserved: false },
  ])('$name: $key', ({ key, reserved }) => expect(isReservedEnv(key)).toBe(reserved));
});

describe('Function names', () => {
  const re = new RegExp(FUNCTION_NAME_PATTERN);
  it.each([
    { name: 'a DNS label', value: 'resize-images', ok: true },
    { name: 'digits after the first letter', value: 'a1', ok: true },
    { name: 'a leading digit (Service names must start with a letter)', value: '1st', ok: false },
    { name: 'a dot (not a label)', value: 'a.b', ok: false },
    { name: 'upper case', value: 'Resize', ok: false },
    { name: 'a trailing dash', value: 'a-', ok: false },
  ])('$name', ({ value, ok }) => expect(re.test(value)).toBe(ok));

  it('are limited to 63 characters at admission (CEL on metadata.name)', () => {
    const fn = KINDS.find((k) => k.kind === 'Function');
    const rule = fn?.rootValidations?.[0]?.rule ?? '';
    expect(rule).toContain('self.metadata.name.size() <= 63');
    expect(rule).toContain(FUNCTION_NAME_PATTERN);
  });
});
