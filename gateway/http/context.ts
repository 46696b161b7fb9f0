import type { Span } from '@opentelemetry/api';
import type { Request, Response } from 'express';
import type { RequestHead } from '../auth/sigv4.js';
import type { ByteBudget } from '../limits/bytes.js';

/** Per-call state the middleware sets up for the handlers (kept in `res.locals`). */
export interface CallContext {
  /** The request id: `x-amzn-RequestId` to the caller, `X-Amz-Request-Id` to the runtime. */
  requestId: string;
  /** When the gateway received the call (ms since epoch). */
  started: number;
  /** The server span of this call. */
  span?: Span;
  /**
   * Reads the raw body, at most `limitBytes` (413 beyond, 429 when the replica's byte budget is
   * spent); once read, every call returns the same body. Set by the bodyReader middleware. A
   * route with large bodies (code uploads) reads under its own `budget` instead of the replica's.
   */
  readBody: (limitBytes: number, budget?: ByteBudget) => Promise<Buffer>;
}

export function callContext(res: Response): CallContext {
  return res.locals as CallContext;
}

/** Header values by lower-case name in the order received (from rawHeaders: duplicates kept apart). */
export function headerLists(req: Request): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = (raw[i] as string).toLowerCase();
    (out[k] ??= []).push(raw[i + 1] as string);
  }
  return out;
}

/** The request as the authenticator sees it before its body: method, path and query exactly as on the request line, headers, peer. */
export function requestHeadOf(req: Request): RequestHead & { remoteAddress?: string } {
  const url = req.originalUrl;
  const q = url.indexOf('?');
  return {
    method: req.method,
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q + 1),
    headers: headerLists(req),
    ...(req.socket.remoteAddress ? { remoteAddress: req.socket.remoteAddress } : {}),
  };
}

/** First value of a header. */
export function headerOf(req: Request, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
