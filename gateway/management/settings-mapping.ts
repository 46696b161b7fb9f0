import { parseDestination } from '../../api/destinations.js';
import { LATEST } from '../../api/naming.js';
import type { AsyncConfig, FunctionResource } from '../../api/types.js';
import { InvalidParameterError } from '../errors.js';

/**
 * Lambda's concurrency and event-invoke-config shapes ↔ a Function's `spec.concurrency.reserved`
 * and `spec.async` (pure; settings.ts serves them).
 *
 * Destinations: Lambda takes ARNs; Sluice's CRD takes `function:NAME[:QUALIFIER]` (a function of
 * the same namespace), `nats:SUBJECT` and `http(s)://URL` (api/destinations.ts). A Lambda ARN of a
 * function (`arn:aws:lambda:REGION:NAMESPACE:function:NAME[:QUALIFIER]`, NAMESPACE the function's
 * own) is written `function:NAME[:QUALIFIER]` and read back as that ARN; `nats:…` and `http(s)://…`
 * are taken and answered as the CRD writes them. SQS, SNS, EventBridge and S3 ARNs are refused (400).
 */

/** Annotation holding when the event invoke config was last written (ISO 8601): Lambda's LastModified. */
export const EVENT_INVOKE_CONFIG_MODIFIED = 'sluice.dev/event-invoke-config-modified';

/** The Lambda-visible part of spec.async (retryDelaySeconds is Sluice's own and survives Put/Delete). */
export interface EventInvokeConfig {
  maxRetryAttempts?: number;
  maxEventAgeSeconds?: number;
  onSuccess?: string;
  onFailure?: string;
}

const FUNCTION_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]*:([^:]+):function:([^:]+)(?::([^:]+))?$/;

/** A DestinationConfig destination as the CRD writes it; 400 when it is no Sluice destination. */
export function destinationToCrd(destination: string, namespace: string): string {
  const arn = FUNCTION_ARN.exec(destination);
  let uri = destination;
  if (arn) {
    if (arn[1] !== namespace) {
      throw new InvalidParameterError(
        `The destination ${destination} is a function of namespace ${arn[1] as string}: destinations are functions of the function's own namespace (${namespace})`,
      );
    }
    uri = `function:${arn[2] as string}${arn[3] ? `:${arn[3]}` : ''}`;
  } else if (destination.startsWith('arn:')) {
    throw new InvalidParameterError(
      `The destination ${destination} is not supported: Sluice takes a Lambda function ARN of the same namespace, nats:SUBJECT or http(s)://URL`,
    );
  }
  parseDestination(uri); // InvalidDestinationError (a ValidationError): 400
  return uri;
}

/** A CRD destination as Lambda answers it: a function's ARN, the others as written. */
export function destinationFromCrd(uri: string, region: string, namespace: string): string {
  const f = /^function:([^:]+)(?::(.+))?$/.exec(uri);
  if (!f) return uri;
  return `arn:aws:lambda:${region}:${namespace}:function:${f[1] as string}${f[2] ? `:${f[2]}` : ''}`;
}

/** Whether the Function has an event invoke config (any Lambda-visible field of spec.async). */
export function hasEventInvokeConfig(fn: FunctionResource): boolean {
  const a = fn.spec.async;
  return (
    a !== undefined &&
    (a.maxRetryAttempts !== undefined ||
      a.maxEventAgeSeconds !== undefined ||
      a.onSuccess !== undefined ||
      a.onFailure !== undefined)
  );
}

/**
 * The request's settings (Put and Update take the same body). `undefined` for a field not given;
 * `null` for a destination given empty (`OnSuccess: {}`: removed).
 */
export interface EventInvokeInput {
  maxRetryAttempts?: number;
  maxEventAgeSeconds?: number;
  onSuccess?: string | null;
  onFailure?: string | null;
}

function intIn(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidParameterError(
      `1 validation error detected: Value '${JSON.stringify(v)}' at '${key[0]?.toLowerCase()}${key.slice(1)}' failed to satisfy constraint: Member must have value between ${min} and ${max} inclusive`,
    );
  }
  return v;
}

function destinationIn(
  config: Record<string, unknown>,
  key: 'OnSuccess' | 'OnFailure',
  namespace: string,
): string | null | undefined {
  const v = config[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidParameterError(`${key} must be an object`);
  const d = (v as Record<string, unknown>).Destination;
  if (d === undefined || d === null || d === '') return null;
  if (typeof d !== 'string') throw new InvalidParameterError(`${key}.Destination must be a string`);
  return destinationToCrd(d, namespace);
}

/** Reads Put/UpdateFunctionEventInvokeConfig's body (400 on a wrong type, range or destination). */
export function eventInvokeInput(body: Record<string, unknown>, namespace: string): EventInvokeInput {
  const input: EventInvokeInput = {};
  const retries = intIn(body, 'MaximumRetryAttempts', 0, 2);
  const age = intIn(body, 'MaximumEventAgeInSeconds', 60, 21600);
  if (retries !== undefined) input.maxRetryAttempts = retries;
  if (age !== undefined) input.maxEventAgeSeconds = age;
  const dc = body.DestinationConfig;
  if (dc !== undefined && dc !== null) {
    if (typeof dc !== 'object' || Array.isArray(dc))
      throw new InvalidParameterError('DestinationConfig must be an object');
    const success = destinationIn(dc as Record<string, unknown>, 'OnSuccess', namespace);
    const failure = destinationIn(dc as Record<string, unknown>, 'OnFailure', namespace);
    if (success !== undefined) input.onSuccess = success;
    if (failure !== undefined) input.onFailure = failure;
  }
  return input;
}

/** spec.async with the Lambda-visible fields replaced by `next` (retryDelaySeconds kept); undefined when empty. */
function asyncWith(current: AsyncConfig | undefined, next: EventInvokeConfig): AsyncConfig | undefined {
  const a: AsyncConfig = {};
  if (current?.retryDelaySeconds !== undefined) a.retryDelaySeconds = current.retryDelaySeconds;
  if (next.maxRetryAttempts !== undefined) a.maxRetryAttempts = next.maxRetryAttempts;
  if (next.maxEventAgeSeconds !== undefined) a.maxEventAgeSeconds = next.maxEventAgeSeconds;
  if (next.onSuccess !== undefined) a.onSuccess = next.onSuccess;
  if (next.onFailure !== undefined) a.onFailure = next.onFailure;
  return Object.keys(a).length ? a : undefined;
}

function withAsync(fn: FunctionResource, a: AsyncConfig | undefined, modified?: string): FunctionResource {
  const { async: _old, ...spec } = fn.spec;
  const annotations = { ...(fn.metadata.annotations ?? {}) };
  if (modified) annotations[EVENT_INVOKE_CONFIG_MODIFIED] = modified;
  else delete annotations[EVENT_INVOKE_CONFIG_MODIFIED];
  return {
    ...fn,
    metadata: { ...fn.metadata, annotations },
    spec: { ...spec, ...(a ? { async: a } : {}) },
  };
}

const given = (v: string | null | undefined): string | undefined => (v === null ? undefined : v);

/** PutFunctionEventInvokeConfig: the Lambda-visible settings become exactly the input's. */
export function withEventInvokePut(
  fn: FunctionResource,
  input: EventInvokeInput,
  now: Date,
): FunctionResource {
  const next: EventInvokeConfig = {};
  if (input.maxRetryAttempts !== undefined) next.maxRetryAttempts = input.maxRetryAttempts;
  if (input.maxEventAgeSeconds !== undefined) next.maxEventAgeSeconds = input.maxEventAgeSeconds;
  const s = given(input.onSuccess);
  const f = given(input.onFailure);
  if (s !== undefined) next.onSuccess = s;
  if (f !== undefined) next.onFailure = f;
  return withAsync(fn, asyncWith(fn.spec.async, next), now.toISOString());
}

/** UpdateFunctionEventInvokeConfig: the input's fields over the current ones (an empty destination removes it). */
export function withEventInvokeUpdate(
  fn: FunctionResource,
  input: EventInvokeInput,
  now: Date,
): FunctionResource {
  const cur = fn.spec.async ?? {};
  const next: EventInvokeConfig = {};
  const retries = input.maxRetryAttempts ?? cur.maxRetryAttempts;
  const age = input.maxEventAgeSeconds ?? cur.maxEventAgeSeconds;
  const s = input.onSuccess === undefined ? cur.onSuccess : given(input.onSuccess);
  const f = input.onFailure === undefined ? cur.onFailure : given(input.onFailure);
  if (retries !== undefined) next.maxRetryAttempts = retries;
  if (age !== undefined) next.maxEventAgeSeconds = age;
  if (s !== undefined) next.onSuccess = s;
  if (f !== undefined) next.onFailure = f;
  return withAsync(fn, asyncWith(fn.spec.async, next), now.toISOString());
}

/** DeleteFunctionEventInvokeConfig: the Lambda-visible settings go (Sluice's retryDelaySeconds stays). */
export function withoutEventInvokeConfig(fn: FunctionResource): FunctionResource {
  return withAsync(fn, asyncWith(fn.spec.async, {}));
}

/** Lambda's FunctionEventInvokeConfig of a Function (LastModified in epoch seconds, as AWS sends it). */
export function eventInvokeConfigOf(region: string, fn: FunctionResource): Record<string, unknown> {
  const ns = fn.metadata.namespace ?? 'default';
  const a = fn.spec.async ?? {};
  const modified =
    fn.metadata.annotations?.[EVENT_INVOKE_CONFIG_MODIFIED] ?? fn.metadata.creationTimestamp ?? new Date(0);
  const ms = new Date(modified).getTime();
  const dest = (uri: string | undefined): Record<string, string> =>
    uri === undefined ? {} : { Destination: destinationFromCrd(uri, region, ns) };
  return {
    LastModified: Number.isFinite(ms) ? ms / 1000 : 0,
    FunctionArn: `arn:aws:lambda:${region}:${ns}:function:${fn.metadata.name ?? ''}:${LATEST}`,
    ...(a.maxRetryAttempts !== undefined ? { MaximumRetryAttempts: a.maxRetryAttempts } : {}),
    ...(a.maxEventAgeSeconds !== undefined ? { MaximumEventAgeInSeconds: a.maxEventAgeSeconds } : {}),
    DestinationConfig: { OnSuccess: dest(a.onSuccess), OnFailure: dest(a.onFailure) },
  };
}

/** The largest reserved concurrency the CRD takes (spec.concurrency.reserved). */
export const MAX_RESERVED_CONCURRENCY = 100_000;

/** PutFunctionConcurrency's ReservedConcurrentExecutions (required, 0..100000). */
export function reservedInput(body: Record<string, unknown>): number {
  const v = body.ReservedConcurrentExecutions;
  if (v === undefined || v === null)
    throw new InvalidParameterError('ReservedConcurrentExecutions is required');
  const n = intIn(body, 'ReservedConcurrentExecutions', 0, MAX_RESERVED_CONCURRENCY);
  return n as number;
}

/** The Function with spec.concurrency.reserved set, or removed when `reserved` is undefined. */
export function withReserved(fn: FunctionResource, reserved: number | undefined): FunctionResource {
  const { concurrency, ...spec } = fn.spec;
  const { reserved: _old, ...rest } = concurrency ?? {};
  const next = reserved === undefined ? rest : { ...rest, reserved };
  return { ...fn, spec: { ...spec, ...(Object.keys(next).length ? { concurrency: next } : {}) } };
}

/** GetFunctionConcurrency / PutFunctionConcurrency's answer: {} when nothing is reserved, as Lambda's. */
export function concurrencyOf(fn: FunctionResource): Record<string, unknown> {
  const r = fn.spec.concurrency?.reserved;
  return r === undefined ? {} : { ReservedConcurrentExecutions: r };
}

/** GetAccountSettings of a namespace (Lambda's account is the namespace). */
export function accountSettingsOf(a: {
  quotaBytes: number;
  unzippedLimit: number;
  zippedLimit: number;
  concurrentExecutions: number;
  functions: FunctionResource[];
  storedBytes: number;
}): Record<string, unknown> {
  const reserved = a.functions.reduce((n, f) => n + (f.spec.concurrency?.reserved ?? 0), 0);
  return {
    AccountLimit: {
      TotalCodeSize: a.quotaBytes,
      CodeSizeUnzipped: a.unzippedLimit,
      CodeSizeZipped: a.zippedLimit,
      ConcurrentExecutions: a.concurrentExecutions,
      UnreservedConcurrentExecutions: Math.max(0, a.concurrentExecutions - reserved),
    },
    AccountUsage: { TotalCodeSize: a.storedBytes, FunctionCount: a.functions.length },
  };
}
