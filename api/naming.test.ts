import { describe, expect, it } from 'vitest';
import { codeConfigMapName, dnsLabel, functionArn, workloadLabels, workloadName } from './naming.js';

describe('naming', () => {
  it.each([
    { name: '$LATEST', fn: 'hello', version: '$LATEST', want: 'hello-latest' },
    { name: 'a numbered version', fn: 'hello', version: '12', want: 'hello-v12' },
  ])('workloadName: $name', ({ fn, version, want }) => {
    expect(workloadName(fn, version)).toBe(want);
  });

  it('shortens long names to a DNS label, deterministically and distinctly', () => {
    const a = dnsLabel('a'.repeat(70));
    const b = dnsLabel('a'.repeat(71));
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(a).toBe(dnsLabel('a'.repeat(70)));
    expect(a).not.toBe(b);
  });

  it('labels $LATEST as latest (label values cannot hold $)', () => {
    expect(workloadLabels('f', '$LATEST')['sluice.dev/version']).toBe('latest');
  });

  it('names code ConfigMaps by content hash', () => {
    expect(codeConfigMapName('f', 'abcdef0123456789')).toBe('f-code-abcdef0123');
  });

  it('builds ARNs with the namespace as the account', () => {
    expect(functionArn('sluice-local', 'shop', 'resize', 'prod')).toBe(
      'arn:aws:lambda:sluice-local:shop:function:resize:prod',
    );
    expect(functionArn('sluice-local', 'shop', 'resize')).toBe(
      'arn:aws:lambda:sluice-local:shop:function:resize',
    );
  });
});
