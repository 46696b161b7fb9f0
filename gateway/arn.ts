import { LATEST } from '../api/naming.js';
import type { Principal } from './auth/principal.js';
import { InvalidParameterError } from './errors.js';

/**
 * Parsing of the Invoke API's `FunctionName` and `Qualifier` (lambda.md §1). The account field
 * of an ARN is the Kubernetes namespace; a bare name lives in the gateway's default namespace.
 *
 *   NAME | NAME:QUALIFIER
 *   NAMESPACE:function:NAME[:QUALIFIER]                       (partial ARN)
 *   arn:PARTITION:lambda:REGION:NAMESPACE:function:NAME[:QUALIFIER]   (full ARN)
 */
export interface FunctionRef {
  namespace: string;
  name: string;
  /** `$LATEST`, a version number, or an alias name. */
  qualifier: string;
  /** Whether the caller named a qualifier (ARN suffix or `Qualifier`); false means the default `$LATEST`. */
  qualified: boolean;
  /** The name carried no account (NAME or NAME:QUALIFIER): `namespace` is the default one. */
  bare?: boolean;
}

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const QUALIFIER = /^(\$LATEST|[0-9]{1,16}|[a-zA-Z0-9_-]{1,128})$/;
const FULL_ARN = /^arn:([a-z-]+):lambda:([a-z0-9-]*):([^:]+):function:([^:]+)(?::([^:]+))?$/;
const PARTIAL_ARN = /^([^:]+):function:([^:]+)(?::([^:]+))?$/;
const MAX_FUNCTION_NAME = 170;

function checkQualifier(q: string): string {
  if (!QUALIFIER.test(q)) {
    throw new InvalidParameterError(
      `Qualifier "${q}" is invalid: expected $LATEST, a version number or an alias name ([a-zA-Z0-9_-], 1-128 characters)`,
    );
  }
  return q;
}

function split(
  functionName: string,
  defaultNamespace: string,
): { ns: string; name: string; q?: string; bare?: boolean } {
  const full = FULL_ARN.exec(functionName);
  if (full) return { ns: full[3] as string, name: full[4] as string, q: full[5] };
  if (functionName.startsWith('arn:')) {
    throw new InvalidParameterError(
      `FunctionName "${functionName}" is not a valid function ARN: expected arn:aws:lambda:REGION:NAMESPACE:function:NAME[:QUALIFIER]`,
    );
  }
  const partial = PARTIAL_ARN.exec(functionName);
  if (partial) return { ns: partial[1] as string, name: partial[2] as string, q: partial[3] };
  const parts = functionName.split(':');
  if (parts.length > 2) {
    throw new InvalidParameterError(
      `FunctionName "${functionName}" is invalid: expected NAME, NAME:QUALIFIER, NAMESPACE:function:NAME[:QUALIFIER] or a function ARN`,
    );
  }
  return { ns: defaultNamespace, name: parts[0] as string, q: parts[1], bare: true };
}

/** Parses `FunctionName` (already percent-decoded) and the optional `Qualifier` parameter. */
export function parseFunctionRef(
  functionName: string,
  qualifierParam: string | undefined,
  defaultNamespace: string,
): FunctionRef {
  if (functionName.length === 0 || functionName.length > MAX_FUNCTION_NAME) {
    throw new InvalidParameterError(`FunctionName must be 1-${MAX_FUNCTION_NAME} characters long`);
  }
  const { ns, name, q, bare } = split(functionName, defaultNamespace);
  if (!NAMESPACE.test(ns)) {
    throw new InvalidParameterError(
      `The account field "${ns}" of "${functionName}" must be a Kubernetes namespace name`,
    );
  }
  if (!NAME.test(name)) {
    throw new InvalidParameterError(
      `Function name "${name}" is invalid: expected 1-64 characters of [a-zA-Z0-9_-]`,
    );
  }
  if (q !== undefined) checkQualifier(q);
  const param =
    qualifierParam === undefined || qualifierParam === '' ? undefined : checkQualifier(qualifierParam);
  if (q !== undefined && param !== undefined && q !== param) {
    throw new InvalidParameterError(
      `The derived qualifier from the function name ("${q}") does not match the specified qualifier ("${param}")`,
    );
  }
  const qualifier = q ?? param;
  return {
    namespace: ns,
    name,
    qualifier: qualifier ?? LATEST,
    qualified: qualifier !== undefined,
    ...(bare ? { bare } : {}),
  };
}

/**
 * A bare name resolves in the caller's account, as on Lambda: a ServiceAccount's namespace (also
 * an access key bound to one); anyone else keeps the gateway's default namespace.
 */
export function inCallerAccount(ref: FunctionRef, principal: Principal): FunctionRef {
  return ref.bare && principal.kind === 'serviceaccount' ? { ...ref, namespace: principal.namespace } : ref;
}

/** True for a version qualifier (`$LATEST` or a number), false for an alias name. */
export function isVersionQualifier(q: string): boolean {
  return q === LATEST || /^[0-9]+$/.test(q);
}

/**
 * Parses the `{name}` of a function URL, `/url/{namespace}/{name}`: `NAME` or `NAME:QUALIFIER`,
 * always in the namespace the path states. The ARN forms the Invoke API takes name a namespace of
 * their own, so they are refused here: a path under `/url/shop/` (which an ingress may expose) can
 * never reach another namespace's function.
 */
export function parseUrlFunctionRef(name: string, namespace: string): FunctionRef {
  if (!NAMESPACE.test(namespace)) {
    throw new InvalidParameterError(`"${namespace}" is not a namespace name`);
  }
  const parts = name.split(':');
  if (parts.length > 2) {
    throw new InvalidParameterError(
      `"${name}" is not a function URL name: expected NAME or NAME:QUALIFIER (the namespace is the path's, ${namespace})`,
    );
  }
  const { bare: _bare, ...ref } = parseFunctionRef(name, undefined, namespace);
  if (ref.namespace !== namespace) {
    throw new InvalidParameterError(`"${name}" names a function outside namespace ${namespace}`);
  }
  // The path names the account: never the caller's (inCallerAccount leaves it alone).
  return ref;
}
