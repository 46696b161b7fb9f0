import { validateHeaderName, validateHeaderValue } from 'node:http';

/** What a function URL answers the HTTP caller. */
export interface UrlResponse {
  status: number;
  headers: Record<string, string>;
  cookies: string[];
  body: Buffer;
}

const json = (status: number, body: string): UrlResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  cookies: [],
  body: Buffer.from(body),
});

/** The answer when the function failed or answered something unusable (Lambda URLs: 502). */
export const BAD_GATEWAY: UrlResponse = {
  status: 502,
  headers: { 'content-type': 'application/json' },
  cookies: [],
  body: Buffer.from(JSON.stringify({ Message: 'Internal Server Error' })),
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Headers the gateway owns: framing (the gateway sets the length of the body it sends) and
 * hop-by-hop headers, which describe the connection between two hops, not the response. A
 * function setting them could desynchronise the connection (a wrong Content-Length, a
 * Transfer-Encoding) and smuggle a second response to the next caller on it.
 */
const GATEWAY_OWNED = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
]);

/** Whether a header's name and value can be sent as they are (a token name; no CR, LF or NUL). */
function isValidHeader(name: string, value: string): boolean {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

/** Whether a function may set this response header. */
export function isFunctionHeader(name: string, value: string): boolean {
  return !GATEWAY_OWNED.has(name) && !name.startsWith('proxy-') && isValidHeader(name, value);
}

function headersOf(raw: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!isRecord(raw)) return headers;
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
    const name = k.toLowerCase();
    if (isFunctionHeader(name, String(v))) headers[name] = String(v);
  }
  return headers;
}

function bodyOf(raw: unknown, base64: boolean): Buffer {
  if (typeof raw === 'string') return base64 ? Buffer.from(raw, 'base64') : Buffer.from(raw);
  if (raw === undefined || raw === null) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(raw));
}

/**
 * Maps the function's result (payload format 2.0): an object with `statusCode` is a structured
 * response (`headers`, `cookies`, `body`, `isBase64Encoded`); anything else is a 200 with
 * `content-type: application/json`, a string as is and other JSON as its text.
 */
export function mapUrlResult(raw: Buffer): UrlResponse {
  let result: unknown;
  try {
    result = raw.length === 0 ? null : JSON.parse(raw.toString('utf8'));
  } catch {
    return BAD_GATEWAY;
  }
  if (!isRecord(result) || !('statusCode' in result)) {
    if (typeof result === 'string') return json(200, result);
    return json(200, raw.length === 0 ? '' : JSON.stringify(result));
  }
  const status = result.statusCode;
  // 1xx are interim answers, not a response: a function cannot switch protocols or continue.
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599)
    return BAD_GATEWAY;
  const headers = headersOf(result.headers);
  const cookies = Array.isArray(result.cookies)
    ? result.cookies.filter((c): c is string => typeof c === 'string' && isValidHeader('set-cookie', c))
    : [];
  const body = bodyOf(result.body, result.isBase64Encoded === true);
  if (body.length > 0 && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  return { status, headers, cookies, body };
}
