import { randomBytes } from 'node:crypto';
import { RUNTIME_PAYLOAD_LIMIT } from '../api/limits.js';

/**
 * Pure builders for the strings Sluice's runtime shows to callers and writes to the pod log. Each
 * follows the wire and log formats of the reference (`shared/reference/lambda.md` §1–§3).
 */

/** Largest sync request or response body, as the reference's emulator enforces it (api/limits.ts). */
export const MAX_PAYLOAD_BYTES = RUNTIME_PAYLOAD_LIMIT;

/** How much of an invocation's log `X-Amz-Log-Type: Tail` returns. */
export const TAIL_BYTES = 4096;

export interface ArnParts {
  region: string;
  namespace: string;
  name: string;
  qualifier?: string | undefined;
}

/** `arn:aws:lambda:<region>:<namespace>:function:<name>[:<qualifier>]` — the namespace is the account field. */
export function functionArn(p: ArnParts): string {
  const base = `arn:aws:lambda:${p.region}:${p.namespace}:function:${p.name}`;
  return p.qualifier ? `${base}:${p.qualifier}` : base;
}

const QUALIFIER = /^(\$LATEST|[A-Za-z0-9_-]{1,128})$/;

/** A version number, an alias name or `$LATEST`. */
export function isValidQualifier(q: string): boolean {
  return QUALIFIER.test(q);
}

export function startLine(requestId: string, version: string): string {
  return `START RequestId: ${requestId} Version: ${version}`;
}

export function endLine(requestId: string): string {
  return `END RequestId: ${requestId}`;
}

export interface ReportFields {
  requestId: string;
  durationMs: number;
  memorySizeMB: number;
  maxMemoryUsedMB: number;
  /** Only on the first invocation an environment serves (a cold start). */
  initDurationMs?: number | undefined;
}

/** Billed duration: the duration rounded up to the next millisecond (at least 1). */
export function billedDurationMs(durationMs: number): number {
  return Math.max(1, Math.ceil(Number(durationMs.toFixed(2))));
}

/** The tab-separated REPORT line; every field, the last one included, ends with a tab. */
export function reportLine(r: ReportFields): string {
  let line =
    `REPORT RequestId: ${r.requestId}\t` +
    `Duration: ${r.durationMs.toFixed(2)} ms\t` +
    `Billed Duration: ${billedDurationMs(r.durationMs)} ms\t` +
    `Memory Size: ${r.memorySizeMB} MB\t` +
    `Max Memory Used: ${r.maxMemoryUsedMB} MB\t`;
  if (r.initDurationMs !== undefined) line += `Init Duration: ${r.initDurationMs.toFixed(2)} ms\t`;
  return line;
}

/** The platform's timeout line in the function log: `<ISO-ts> <id> Task timed out after 3.00 seconds`. */
export function timeoutLogLine(requestId: string, timeoutSeconds: number, now: Date): string {
  return `${now.toISOString()} ${requestId} Task timed out after ${timeoutSeconds.toFixed(2)} seconds`;
}

/** A function error body as callers receive it (`trace` only for errors the function reported). */
export interface FunctionErrorBody {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

export function timeoutError(requestId: string, timeoutSeconds: number): FunctionErrorBody {
  return {
    errorType: 'Sandbox.Timedout',
    errorMessage: `RequestId: ${requestId} Error: Task timed out after ${timeoutSeconds.toFixed(2)} seconds`,
  };
}

/** How a runtime process ended, in the words of Go's `exec.ExitError` (which the reference quotes). */
export function exitReason(code: number | null, signal: NodeJS.Signals | null): string | undefined {
  if (signal) return `signal: ${SIGNAL_WORDS[signal] ?? signal.toLowerCase()}`;
  if (code !== null && code !== 0) return `exit status ${code}`;
  return undefined;
}

const SIGNAL_WORDS: Partial<Record<NodeJS.Signals, string>> = {
  SIGKILL: 'killed',
  SIGABRT: 'aborted',
  SIGSEGV: 'segmentation fault',
  SIGTERM: 'terminated',
  SIGBUS: 'bus error',
  SIGILL: 'illegal instruction',
  SIGFPE: 'floating point exception',
  SIGINT: 'interrupt',
  SIGHUP: 'hangup',
  SIGPIPE: 'broken pipe',
  SIGTRAP: 'trace/breakpoint trap',
};

/** `Runtime.ExitError`; a `reason` of undefined means the process ended with status 0. */
export function exitError(requestId: string, reason: string | undefined): FunctionErrorBody {
  return {
    errorType: 'Runtime.ExitError',
    errorMessage: reason
      ? `RequestId: ${requestId} Error: Runtime exited with error: ${reason}`
      : `RequestId: ${requestId} Error: Runtime exited without providing a reason`,
  };
}

export function responseTooLargeError(): FunctionErrorBody {
  return {
    errorType: 'Function.ResponseSizeTooLarge',
    errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_PAYLOAD_BYTES} bytes).`,
  };
}

/** The last `TAIL_BYTES` of an invocation's log, base64-encoded for `X-Amz-Log-Result`. */
export function tailLogResult(log: Buffer, limit = TAIL_BYTES): string {
  return (log.length > limit ? log.subarray(log.length - limit) : log).toString('base64');
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Converts a W3C `traceparent` into the `Root=1-…;Parent=…;Sampled=…` form the Runtime API carries
 * (the first 8 hex digits of the trace id are the epoch part). Undefined when it is not valid.
 */
export function traceHeaderFromTraceparent(traceparent: string): string | undefined {
  const m = TRACEPARENT.exec(traceparent.trim().toLowerCase());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags] = m as unknown as [string, string, string, string, string];
  if (version === 'ff' || /^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  const sampled = (parseInt(flags, 16) & 1) === 1 ? '1' : '0';
  return `Root=1-${traceId.slice(0, 8)}-${traceId.slice(8)};Parent=${spanId};Sampled=${sampled}`;
}

/** A fresh trace header for a call that carried none. */
export function newTraceHeader(now: Date = new Date()): string {
  const epoch = Math.floor(now.getTime() / 1000)
    .toString(16)
    .padStart(8, '0');
  return `Root=1-${epoch}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
}

/** `YYYY/MM/DD/[<version>]<instance>`, the shape of a log stream name. */
export function logStreamName(version: string, instance: string, now: Date): string {
  const d = now.toISOString().slice(0, 10).replaceAll('-', '/');
  return `${d}/[${version}]${instance}`;
}
