import { createHash } from 'node:crypto';
import { ValidationError } from '../lib/errors.js';

/**
 * Subjects and JetStream names of the async pipeline, derived from a function's namespace and
 * name. Kubernetes names are DNS labels (namespaces) and DNS subdomains (object names), so
 * they never contain `_`, `*`, `>` or whitespace; a `.` in an object name (a subject token
 * separator in NATS) becomes `_`, which keeps the mapping unambiguous.
 */

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** NATS stream and consumer names: printable, no `.`, `*`, `>`, whitespace or path separators. */
const NATS_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** How long a consumer name may get before it is shortened with a hash. */
const MAX_CONSUMER_NAME = 64;

export const DEFAULT_SUBJECT_PREFIX = 'sluice';
/** Prefix of every consumer the pipeline owns (garbage collection only touches these). */
export const CONSUMER_PREFIX = 'fn_';

export function hashOf(s: string, n = 16): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

/** Throws a ValidationError unless namespace/name can address a function. */
export function assertFunctionId(namespace: string, name: string): void {
  if (!NAMESPACE.test(namespace)) {
    throw new ValidationError(`namespace "${namespace}" is not a valid Kubernetes namespace name`);
  }
  if (name.length > 253 || !OBJECT_NAME.test(name)) {
    throw new ValidationError(`function name "${name}" is not a valid Kubernetes object name`);
  }
}

/** A subject token for a function name (dots would split it into several tokens). */
export function subjectToken(name: string): string {
  return name.replaceAll('.', '_');
}

/** Throws unless `name` is a valid NATS stream name. */
export function assertNatsName(name: string, what: string): void {
  if (!NATS_NAME.test(name)) {
    throw new ValidationError(`${what} "${name}" is not a valid NATS name (letters, digits, - and _, ≤ 64)`);
  }
}

/** Throws unless `prefix` is one or more plain subject tokens. */
export function assertSubjectPrefix(prefix: string): void {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) {
    throw new ValidationError(`subject prefix "${prefix}" must be plain subject tokens separated by dots`);
  }
}

/** The subjects of one deployment of the pipeline (one prefix per Sluice installation). */
export class Subjects {
  constructor(readonly prefix: string = DEFAULT_SUBJECT_PREFIX) {
    assertSubjectPrefix(prefix);
  }

  /** Where accepted events of a function wait: `<prefix>.async.<namespace>.<function>`. */
  async(namespace: string, name: string): string {
    assertFunctionId(namespace, name);
    return `${this.prefix}.async.${namespace}.${subjectToken(name)}`;
  }

  /** Every async subject (the stream binds it). */
  asyncAll(): string {
    return `${this.prefix}.async.>`;
  }

  /**
   * A scheduled retry of one event: `<prefix>.retry.<namespace>.<function>.<token>`. The server
   * keeps the message there until its time, then moves it to the function's async subject.
   */
  retry(namespace: string, name: string, token: string): string {
    assertFunctionId(namespace, name);
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new ValidationError(`retry token "${token}" is invalid`);
    return `${this.prefix}.retry.${namespace}.${subjectToken(name)}.${token}`;
  }

  retryAll(): string {
    return `${this.prefix}.retry.>`;
  }

  /** Dead letters of a function: `<prefix>.dlq.<namespace>.<function>`. */
  dlq(namespace: string, name: string): string {
    assertFunctionId(namespace, name);
    return `${this.prefix}.dlq.${namespace}.${subjectToken(name)}`;
  }

  dlqAll(): string {
    return `${this.prefix}.dlq.>`;
  }
}

/**
 * The durable consumer of one function: `fn_<namespace>_<name>` (dots in the name become `_`;
 * namespaces hold no `_`, so the first `_` after the prefix separates the two). Names longer
 * than 64 characters keep a readable start and end in a hash of the full identity.
 */
export function consumerName(namespace: string, name: string): string {
  assertFunctionId(namespace, name);
  const full = `${CONSUMER_PREFIX}${namespace}_${subjectToken(name)}`;
  if (full.length <= MAX_CONSUMER_NAME) return full;
  return `${full.slice(0, MAX_CONSUMER_NAME - 17).replace(/[-_]+$/, '')}-${hashOf(`${namespace}/${name}`)}`;
}
