import { describe, expect, it } from 'vitest';
import { fnResource } from '../../test/support/gateway/fakes.js';
import { isAllowed, type Principal } from '../auth/principal.js';
import { InvalidParameterError, ResourceConflictError, ResourceNotFoundError } from '../errors.js';
import {
  addStatement,
  derivedSid,
  permissionInput,
  policyOf,
  POLICY_STATEMENT_IDS,
  removeStatement,
  statementsOf,
  withStatements,
} from './policy-mapping.js';

const sa = (namespace: string, name: string): Principal => ({ kind: 'serviceaccount', namespace, name });

describe('AddPermission body', () => {
  it('takes a Sluice principal and lambda:InvokeFunction', () => {
    expect(
      permissionInput({ StatementId: 'web', Action: 'lambda:InvokeFunction', Principal: 'namespace:web' }),
    ).toEqual({ sid: 'web', principal: 'namespace:web' });
  });

  it.each([
    { StatementId: 'x', Action: 'lambda:InvokeFunction', Principal: 's3.amazonaws.com' },
    { StatementId: 'x', Action: 'lambda:GetFunction', Principal: '*' },
    { StatementId: 'a b', Action: 'lambda:InvokeFunction', Principal: '*' },
    { Action: 'lambda:InvokeFunction', Principal: '*' },
    // a condition Sluice cannot enforce is refused, never dropped (dropping it would widen the grant)
    { StatementId: 'x', Action: 'lambda:InvokeFunction', Principal: '*', SourceArn: 'arn:aws:s3:::b' },
    { StatementId: 'x', Action: 'lambda:InvokeFunction', Principal: '*', SourceAccount: '1' },
    { StatementId: 'x', Action: 'lambda:InvokeFunction', Principal: '*', PrincipalOrgID: 'o-1' },
  ])('refuses %j', (body) => {
    expect(() => permissionInput(body)).toThrow(InvalidParameterError);
  });
});

describe('invokePolicy as statements', () => {
  it('the default policy is one statement "default" for the namespace', () => {
    const fn = fnResource('f', {}, 'shop');
    expect(statementsOf(fn)).toEqual([{ sid: 'default', principal: 'namespace:shop' }]);
    const doc = JSON.parse(policyOf('us-east-1', fn).Policy as string) as Record<string, unknown>;
    expect(doc).toEqual({
      Version: '2012-10-17',
      Id: 'default',
      Statement: [
        {
          Sid: 'default',
          Effect: 'Allow',
          Principal: { AWS: 'namespace:shop' },
          Action: 'lambda:InvokeFunction',
          Resource: 'arn:aws:lambda:us-east-1:shop:function:f',
        },
      ],
    });
  });

  it('AddPermission on a default function keeps the default explicit: the grant only adds', () => {
    const fn = fnResource('f', {}, 'shop');
    const next = withStatements(fn, addStatement(fn, { sid: 'web', principal: 'serviceaccount:web:app' }));
    expect(next.spec.invokePolicy).toEqual([
      { principal: 'namespace:shop' },
      { principal: 'serviceaccount:web:app' },
    ]);
    expect(JSON.parse(next.metadata.annotations?.[POLICY_STATEMENT_IDS] ?? '')).toEqual({
      'namespace:shop': 'default',
      'serviceaccount:web:app': 'web',
    });
    // the same callers as before, plus the new one; nobody else
    expect(isAllowed(next.spec.invokePolicy, 'shop', sa('shop', 'any'))).toBe(true);
    expect(isAllowed(next.spec.invokePolicy, 'shop', sa('web', 'app'))).toBe(true);
    expect(isAllowed(next.spec.invokePolicy, 'shop', sa('web', 'other'))).toBe(false);
    expect(statementsOf(next).map((s) => s.sid)).toEqual(['default', 'web']);
  });

  it('a taken Sid or an allowed principal is 409; entries written by kubectl get derived Sids', () => {
    const fn = fnResource('f', { invokePolicy: [{ principal: 'user:ci@corp' }, { principal: '*' }] }, 'shop');
    expect(statementsOf(fn).map((s) => s.sid)).toEqual([derivedSid('user:ci@corp'), 'public']);
    expect(derivedSid('serviceaccount:a:b.c')).toBe('serviceaccount.a.b.c');
    expect(() => addStatement(fn, { sid: 'public', principal: 'namespace:x' })).toThrow(
      ResourceConflictError,
    );
    expect(() => addStatement(fn, { sid: 'new', principal: '*' })).toThrow(ResourceConflictError);
  });

  it('RemovePermission: 404 unknown; the last statement only when the default admits no more', () => {
    const one = fnResource('f', { invokePolicy: [{ principal: 'serviceaccount:shop:a' }] }, 'shop');
    expect(() => removeStatement(one, 'nope', 'r')).toThrow(ResourceNotFoundError);
    expect(() => removeStatement(one, 'serviceaccount.shop.a', 'r')).toThrow(ResourceConflictError);
    const pub = fnResource('f', { invokePolicy: [{ principal: '*' }] }, 'shop');
    expect(withStatements(pub, removeStatement(pub, 'public', 'r')).spec.invokePolicy).toBeUndefined();
    expect(() => removeStatement(fnResource('f', {}, 'shop'), 'default', 'r')).toThrow(ResourceConflictError);
    const two = withStatements(
      fnResource('f', {}, 'shop'),
      addStatement(fnResource('f', {}, 'shop'), { sid: 'web', principal: 'namespace:web' }),
    );
    const rest = withStatements(two, removeStatement(two, 'web', 'r'));
    expect(rest.spec.invokePolicy).toEqual([{ principal: 'namespace:shop' }]);
    expect(statementsOf(rest)).toEqual([{ sid: 'default', principal: 'namespace:shop' }]);
  });

  it('a forged annotation names statements but grants nothing', () => {
    const fn = fnResource('f', { invokePolicy: [{ principal: 'namespace:shop' }] }, 'shop');
    fn.metadata.annotations = {
      [POLICY_STATEMENT_IDS]: JSON.stringify({ '*': 'x', 'namespace:shop': 'ok' }),
    };
    expect(statementsOf(fn)).toEqual([{ sid: 'ok', principal: 'namespace:shop' }]);
    fn.metadata.annotations = { [POLICY_STATEMENT_IDS]: 'not json' };
    expect(statementsOf(fn)).toEqual([{ sid: 'namespace.shop', principal: 'namespace:shop' }]);
  });
});
