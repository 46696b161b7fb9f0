import type { InvokeResult } from './invoker.js';

/** What one invocation of a batch means for its records. */
export type BatchOutcome =
  | { kind: 'success' }
  /** ReportBatchItemFailures: the identifiers the function listed (all of them in the batch). */
  | { kind: 'partial'; failed: string[] }
  | { kind: 'function_error'; reason: string; timedOut: boolean }
  /** 429: back off; does not use up retries. */
  | { kind: 'throttled'; retryAfterMs?: number; reason: string }
  /** The platform failed (unreachable, 5xx): back off; does not use up retries. */
  | { kind: 'error'; reason: string }
  /** The request can never succeed as it is (e.g. too large): the records take the failure path. */
  | { kind: 'rejected'; reason: string };

/**
 * Reads an invocation result the way Lambda's pollers do (lambda.md §6): with
 * ReportBatchItemFailures, an empty or null list (or an empty/null response) is full success;
 * invalid JSON, an empty or null `itemIdentifier` or one that is not in the batch is full
 * failure; a function error is full failure.
 */
export function classifyResult(
  result: InvokeResult,
  reportItemFailures: boolean,
  batchIds: ReadonlySet<string>,
): BatchOutcome {
  switch (result.kind) {
    case 'function_error':
      return {
        kind: 'function_error',
        reason: describeFunctionError(result.payload, result.errorType),
        timedOut: result.timedOut,
      };
    case 'throttled':
      return { kind: 'throttled', reason: result.message, retryAfterMs: result.retryAfterMs };
    case 'error':
      return result.retryable
        ? { kind: 'error', reason: result.message }
        : { kind: 'rejected', reason: result.message };
    case 'success':
      return reportItemFailures ? parsePartial(result.payload, batchIds) : { kind: 'success' };
  }
}

function parsePartial(payload: Buffer, ids: ReadonlySet<string>): BatchOutcome {
  const text = payload.toString('utf8').trim();
  if (text === '' || text === 'null') return { kind: 'success' };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: 'function_error', reason: 'batch response is not valid JSON', timedOut: false };
  }
  if (body === null || typeof body !== 'object') return { kind: 'success' };
  const list = (body as { batchItemFailures?: unknown }).batchItemFailures;
  if (list === undefined || list === null) return { kind: 'success' };
  if (!Array.isArray(list)) {
    return { kind: 'function_error', reason: 'batchItemFailures is not a list', timedOut: false };
  }
  if (list.length === 0) return { kind: 'success' };
  const failed: string[] = [];
  for (const item of list as unknown[]) {
    const id = (item as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !ids.has(id)) {
      return {
        kind: 'function_error',
        reason: `batchItemFailures names an unknown itemIdentifier ${JSON.stringify(id ?? null)}`,
        timedOut: false,
      };
    }
    failed.push(id);
  }
  return { kind: 'partial', failed: [...new Set(failed)] };
}

function describeFunctionError(payload: Buffer, errorType?: string): string {
  try {
    const e = JSON.parse(payload.toString('utf8')) as { errorType?: string; errorMessage?: string };
    return `${e.errorType ?? errorType ?? 'Unhandled'}: ${e.errorMessage ?? ''}`.slice(0, 512);
  } catch {
    return `${errorType ?? 'Unhandled'}: ${payload.toString('utf8').slice(0, 256)}`;
  }
}

/** A stretch of an ordered batch still to deliver: records [from, to) and the retries it used. */
export interface Segment {
  from: number;
  to: number;
  retries: number;
}

export interface StreamStep {
  /** Records [.., doneThrough] are finished (delivered or sent to onFailure): checkpoint after them. */
  doneThrough?: number;
  /** Records sent to the onFailure destination, as a range, with Lambda's condition. */
  failed?: { from: number; to: number; condition: 'RetryAttemptsExhausted' };
  /** What to deliver next, in order, before anything after this segment. */
  next: Segment[];
  /** Wait before the next attempt (a retry, not a split). */
  backoff: boolean;
}

/**
 * The ordered (Kinesis-like) failure plan, as a pure step: after a segment's outcome, what is
 * done, what goes to onFailure and what is tried next. A reported item failure checkpoints
 * before the lowest failed record and retries from it; a full failure with bisection splits the
 * segment in two (splitting uses no retry); a single record, or a batch without bisection,
 * retries until `maxRetries` (-1: forever) and then goes to onFailure. Throttles and platform
 * errors retry without using retries.
 */
export function planStreamStep(
  seg: Segment,
  outcome: BatchOutcome,
  opts: { bisect: boolean; maxRetries: number; firstFailedIndex?: number },
): StreamStep {
  const exhausted = (retries: number): boolean => opts.maxRetries >= 0 && retries >= opts.maxRetries;
  switch (outcome.kind) {
    case 'success':
      return { doneThrough: seg.to - 1, next: [], backoff: false };
    case 'throttled':
    case 'error':
      return { next: [seg], backoff: true };
    case 'rejected':
      return exhaust(seg);
    case 'partial': {
      const at = Math.max(seg.from, Math.min(opts.firstFailedIndex ?? seg.from, seg.to - 1));
      const rest: Segment = { from: at, to: seg.to, retries: seg.retries + 1 };
      const doneThrough = at > seg.from ? at - 1 : undefined;
      if (exhausted(seg.retries)) return exhaust(rest);
      return { ...(doneThrough !== undefined ? { doneThrough } : {}), next: [rest], backoff: true };
    }
    case 'function_error': {
      const len = seg.to - seg.from;
      if (opts.bisect && len > 1) {
        const mid = seg.from + Math.ceil(len / 2);
        return {
          next: [
            { from: seg.from, to: mid, retries: seg.retries },
            { from: mid, to: seg.to, retries: seg.retries },
          ],
          backoff: false,
        };
      }
      if (exhausted(seg.retries)) return exhaust(seg);
      return { next: [{ ...seg, retries: seg.retries + 1 }], backoff: true };
    }
  }
}

function exhaust(seg: Segment): StreamStep {
  return {
    doneThrough: seg.to - 1,
    failed: { from: seg.from, to: seg.to, condition: 'RetryAttemptsExhausted' },
    next: [],
    backoff: false,
  };
}
