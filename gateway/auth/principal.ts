import type { InvokePermission } from '../../api/types.js';

/** Who is calling. */
export type Principal =
  | { kind: 'serviceaccount'; namespace: string; name: string }
  | { kind: 'user'; name: string }
  | { kind: 'anonymous' };

export const ANONYMOUS: Principal = { kind: 'anonymous' };

/** The principal as written in invokePolicy: `serviceaccount:NS:NAME`, `user:NAME`, or `anonymous`. */
export function formatPrincipal(p: Principal): string {
  switch (p.kind) {
    case 'serviceaccount':
      return `serviceaccount:${p.namespace}:${p.name}`;
    case 'user':
      return `user:${p.name}`;
    case 'anonymous':
      return 'anonymous';
  }
}

/** Parses an access key's `principal` (`serviceaccount:NS:NAME` or `user:NAME`); undefined when invalid. */
export function parsePrincipal(s: string): Principal | undefined {
  const sa = /^serviceaccount:([a-z0-9-]+):([a-z0-9.-]+)$/.exec(s);
  if (sa) return { kind: 'serviceaccount', namespace: sa[1] as string, name: sa[2] as string };
  const user = /^user:([A-Za-z0-9_.@-]+)$/.exec(s);
  if (user) return { kind: 'user', name: user[1] as string };
  return undefined;
}

/** A Kubernetes username (from TokenReview) as a principal. */
export function principalFromUsername(username: string): Principal {
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (sa) return { kind: 'serviceaccount', namespace: sa[1] as string, name: sa[2] as string };
  return { kind: 'user', name: username };
}

/** The policy in force: the function's invokePolicy, or by default its namespace's service accounts. */
export function effectivePolicy(policy: InvokePermission[] | undefined, fnNamespace: string): string[] {
  return policy && policy.length > 0 ? policy.map((p) => p.principal) : [`namespace:${fnNamespace}`];
}

/** Whether one invokePolicy entry admits the principal. */
export function matches(entry: string, p: Principal): boolean {
  if (entry === '*') return true;
  if (p.kind === 'serviceaccount') {
    return entry === `namespace:${p.namespace}` || entry === `serviceaccount:${p.namespace}:${p.name}`;
  }
  if (p.kind === 'user') return entry === `user:${p.name}`;
  return false;
}

/** Authorization: does the function's invokePolicy allow this principal to invoke it? */
export function isAllowed(
  policy: InvokePermission[] | undefined,
  fnNamespace: string,
  p: Principal,
): boolean {
  return effectivePolicy(policy, fnNamespace).some((e) => matches(e, p));
}
