import { createHash } from 'node:crypto';
import type { FunctionResource, InvokePermission } from '../../api/types.js';
import { InvalidParameterError, ResourceConflictError, ResourceNotFoundError } from '../errors.js';

/**
 * Lambda's resource policy (AddPermission, RemovePermission, GetPolicy) ↔ a Function's
 * `spec.invokePolicy` (pure; policy.ts serves it). invokePolicy is the truth: one statement per
 * entry, `Principal` the entry's Sluice principal (`{"AWS": "serviceaccount:NS:NAME"}`,
 * `{"AWS": "namespace:NS"}`, `{"AWS": "user:NAME"}`, or `"*"`), Action `lambda:InvokeFunction`.
 *
 * invokePolicy entries have no field for a statement id, so the ids AddPermission was given live
 * in the annotation `sluice.dev/policy-statement-ids` (JSON `{principal: Sid}`). An entry the
 * annotation does not name (written with kubectl) gets a derived Sid (`serviceaccount.NS.NAME`,
 * `namespace.NS`, `user.NAME`, `public` for "*"). The annotation only names statements: it grants
 * nothing, and names of principals no longer in invokePolicy are dropped at the next write.
 *
 * An absent (or empty) invokePolicy means the default — the ServiceAccounts of the function's
 * namespace — and shows as one statement `default` for `namespace:NS`. AddPermission writes that
 * default out as an explicit entry before adding, so the grant only adds a principal; removing the
 * last statement is refused when the default it would fall back to admits someone the statement
 * did not (only `"*"` and `namespace:NS` fall back safely).
 */

export const POLICY_STATEMENT_IDS = 'sluice.dev/policy-statement-ids';
export const DEFAULT_SID = 'default';
export const INVOKE_ACTION = 'lambda:InvokeFunction';
/** invokePolicy's maxItems (api/schema.ts). */
export const MAX_STATEMENTS = 64;

const PRINCIPAL = /^(\*|serviceaccount:[a-z0-9-]+:[a-z0-9.-]+|namespace:[a-z0-9-]+|user:[A-Za-z0-9_.@-]+)$/;
const SID = /^[a-zA-Z0-9._-]{1,100}$/;

export interface Statement {
  sid: string;
  principal: string;
}

function storedIds(fn: FunctionResource): Record<string, string> {
  const raw = fn.metadata.annotations?.[POLICY_STATEMENT_IDS];
  if (!raw) return {};
  try {
    const o = JSON.parse(raw) as unknown;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return {};
    return Object.fromEntries(
      Object.entries(o as Record<string, unknown>).filter(
        (e): e is [string, string] => typeof e[1] === 'string' && SID.test(e[1]),
      ),
    );
  } catch {
    return {};
  }
}

/** The Sid of an entry nobody named: readable, one per principal. */
export function derivedSid(principal: string): string {
  if (principal === '*') return 'public';
  const s = principal.replaceAll(':', '.');
  return SID.test(s) ? s : `principal-${createHash('sha256').update(principal).digest('hex').slice(0, 16)}`;
}

/** Whether the Function relies on the default policy (no entries). */
export function isDefaultPolicy(fn: FunctionResource): boolean {
  return !fn.spec.invokePolicy?.length;
}

/** The policy's statements in invokePolicy's order (the default as one statement when it has none). */
export function statementsOf(fn: FunctionResource): Statement[] {
  const ns = fn.metadata.namespace ?? 'default';
  if (isDefaultPolicy(fn)) return [{ sid: DEFAULT_SID, principal: `namespace:${ns}` }];
  const ids = storedIds(fn);
  const seen = new Set<string>();
  const out: Statement[] = [];
  for (const { principal } of fn.spec.invokePolicy ?? []) {
    let sid = ids[principal] ?? derivedSid(principal);
    // Two entries may not share a Sid (a hand-written annotation, a duplicated entry).
    if (seen.has(sid)) sid = `${sid}-${out.length}`;
    seen.add(sid);
    out.push({ sid, principal });
  }
  return out;
}

/** The Function with invokePolicy and the Sid annotation written from `statements`. */
export function withStatements(fn: FunctionResource, statements: Statement[]): FunctionResource {
  const annotations = { ...(fn.metadata.annotations ?? {}) };
  const ids = Object.fromEntries(
    statements.filter((s) => s.sid !== derivedSid(s.principal)).map((s) => [s.principal, s.sid]),
  );
  if (Object.keys(ids).length) annotations[POLICY_STATEMENT_IDS] = JSON.stringify(ids);
  else delete annotations[POLICY_STATEMENT_IDS];
  const { invokePolicy: _old, ...spec } = fn.spec;
  const policy: InvokePermission[] = statements.map((s) => ({ principal: s.principal }));
  return {
    ...fn,
    metadata: { ...fn.metadata, annotations },
    spec: { ...spec, ...(policy.length ? { invokePolicy: policy } : {}) },
  };
}

/** AddPermission's body, checked: what Sluice cannot enforce is refused, never dropped. */
export function permissionInput(body: Record<string, unknown>): Statement {
  for (const k of [
    'SourceArn',
    'SourceAccount',
    'EventSourceToken',
    'PrincipalOrgID',
    'FunctionUrlAuthType',
    'InvokedViaFunctionUrl',
  ]) {
    if (body[k] !== undefined && body[k] !== null) {
      throw new InvalidParameterError(
        `${k} is not supported by Sluice: a statement admits its principal without conditions`,
      );
    }
  }
  const str = (k: string): string => {
    const v = body[k];
    if (typeof v !== 'string' || v === '') throw new InvalidParameterError(`${k} is required`);
    return v;
  };
  const sid = str('StatementId');
  const action = str('Action');
  const principal = str('Principal');
  if (!SID.test(sid)) {
    throw new InvalidParameterError(
      `1 validation error detected: Value '${sid}' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)`,
    );
  }
  if (action !== INVOKE_ACTION) {
    throw new InvalidParameterError(
      `Action must be ${INVOKE_ACTION}: Sluice's invokePolicy grants invocation only`,
    );
  }
  if (!PRINCIPAL.test(principal)) {
    throw new InvalidParameterError(
      `Principal ${principal} is not a Sluice principal: serviceaccount:NAMESPACE:NAME, namespace:NAME, user:NAME or "*"`,
    );
  }
  return { sid, principal };
}

/** The policy with the statement added (the default made explicit first); 409 for a taken Sid or principal. */
export function addStatement(fn: FunctionResource, s: Statement): Statement[] {
  const current = statementsOf(fn);
  const taken = current.find((c) => c.sid === s.sid);
  if (taken) {
    throw new ResourceConflictError(
      `The statement id (${s.sid}) provided already exists. Please provide a new statement id, or remove the existing statement.`,
    );
  }
  const same = current.find((c) => c.principal === s.principal);
  if (same) {
    throw new ResourceConflictError(
      `The principal ${s.principal} is already allowed by the statement ${same.sid}; remove it first to rename it.`,
    );
  }
  if (current.length >= MAX_STATEMENTS) {
    throw new InvalidParameterError(`The policy holds at most ${MAX_STATEMENTS} statements`);
  }
  return [...current, s];
}

/** The policy without the statement; 404 when unknown, 409 when the fallback would admit more. */
export function removeStatement(fn: FunctionResource, sid: string, region: string): Statement[] {
  const ns = fn.metadata.namespace ?? 'default';
  const current = statementsOf(fn);
  const gone = current.find((c) => c.sid === sid);
  if (!gone || (isDefaultPolicy(fn) && sid === DEFAULT_SID)) {
    if (gone) {
      // The default is not a statement one can remove: nothing would change.
      throw new ResourceConflictError(
        `The statement ${DEFAULT_SID} is Sluice's default policy (the ServiceAccounts of namespace ${ns}); add another principal, then remove it`,
      );
    }
    throw new ResourceNotFoundError(
      `Statement ${sid} is not found in resource policy of arn:aws:lambda:${region}:${ns}:function:${fn.metadata.name ?? ''}.`,
    );
  }
  const rest = current.filter((c) => c !== gone);
  if (!rest.length && gone.principal !== '*' && gone.principal !== `namespace:${ns}`) {
    throw new ResourceConflictError(
      `The statement ${sid} is the policy's last: without it the default policy applies (the ServiceAccounts of namespace ${ns}), which admits more than ${gone.principal}; add the principals you want first`,
    );
  }
  return rest;
}

function principalOf(p: string): unknown {
  return p === '*' ? '*' : { AWS: p };
}

/** One statement in Lambda's policy-document shape. */
export function statementDocument(
  region: string,
  fn: FunctionResource,
  s: Statement,
): Record<string, unknown> {
  return {
    Sid: s.sid,
    Effect: 'Allow',
    Principal: principalOf(s.principal),
    Action: INVOKE_ACTION,
    Resource: `arn:aws:lambda:${region}:${fn.metadata.namespace ?? 'default'}:function:${fn.metadata.name ?? ''}`,
  };
}

/** GetPolicy's answer: the document as a JSON string (as AWS sends it) and the RevisionId. */
export function policyOf(region: string, fn: FunctionResource): Record<string, unknown> {
  const doc = {
    Version: '2012-10-17',
    Id: 'default',
    Statement: statementsOf(fn).map((s) => statementDocument(region, fn, s)),
  };
  return { Policy: JSON.stringify(doc), RevisionId: fn.metadata.resourceVersion ?? '' };
}
