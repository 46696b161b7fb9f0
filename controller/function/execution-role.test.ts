import type { V1ServiceAccount } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { executionRoleBlocker } from './execution-role.js';

const sa = (annotations?: Record<string, string>): V1ServiceAccount => ({
  metadata: { name: 'reader', namespace: 'shop', ...(annotations ? { annotations } : {}) },
});

describe('executionRoleBlocker', () => {
  it.each([
    { name: 'no execution role', role: undefined, account: undefined, reason: undefined },
    {
      name: 'an opted-in ServiceAccount',
      role: 'reader',
      account: sa({ 'sluice.dev/execution-role': 'true' }),
      reason: undefined,
    },
    {
      name: 'a missing ServiceAccount',
      role: 'reader',
      account: undefined,
      reason: 'ServiceAccountNotFound',
    },
    { name: 'no annotation', role: 'reader', account: sa(), reason: 'ExecutionRoleNotAllowed' },
    {
      name: 'the annotation set to anything but "true"',
      role: 'reader',
      account: sa({ 'sluice.dev/execution-role': 'yes' }),
      reason: 'ExecutionRoleNotAllowed',
    },
  ])('$name', ({ role, account, reason }) => {
    expect(executionRoleBlocker('shop', role, account)?.reason).toBe(reason);
  });

  it('names the field, the ServiceAccount and the annotation', () => {
    const b = executionRoleBlocker('shop', 'reader', sa(), 'spec.snapshot.executionRole.serviceAccountName');
    expect(b?.message).toContain('spec.snapshot.executionRole.serviceAccountName');
    expect(b?.message).toContain('ServiceAccount shop/reader');
    expect(b?.message).toContain('sluice.dev/execution-role="true"');
  });
});
