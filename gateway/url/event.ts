/**
 * Function URL events: API Gateway HTTP API payload format 2.0, as Lambda function URLs send them.
 */
export interface UrlRequest {
  method: string;
  /** The path below the function's URL prefix, starting with `/`, still percent-encoded. */
  rawPath: string;
  /** The raw query string without `?`. */
  rawQueryString: string;
  /** Header values by lower-case name. */
  headers: Record<string, string[]>;
  body: Buffer;
  sourceIp: string;
  /** Host the caller used. */
  domainName: string;
  protocol: string;
  requestId: string;
  /** `accountId` of the event: the function's namespace. */
  accountId: string;
  /** `apiId`: a stable id of the function URL. */
  apiId: string;
  time: Date;
  /** Set when the caller authenticated (AWS_IAM-style URL). */
  caller?: string;
}

export interface UrlEvent {
  version: '2.0';
  routeKey: '$default';
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: Record<string, unknown>;
  body?: string;
  isBase64Encoded: boolean;
}

const TEXT_TYPES = [
  /^text\//,
  /^application\/(.+\+)?json/,
  /^application\/(.+\+)?xml/,
  /^application\/javascript/,
  /^application\/x-www-form-urlencoded/,
  /^application\/graphql/,
];

/** Whether a body of this content type is passed as text (else base64). */
export function isTextContent(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType === '') return true;
  const t = contentType.toLowerCase();
  return TEXT_TYPES.some((re) => re.test(t));
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `12/Mar/2020:19:03:58 +0000`, the requestContext.time format. */
export function clfTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(
    d.getUTCMinutes(),
  )}:${p(d.getUTCSeconds())} +0000`;
}

function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Query parameters; repeated names are joined with commas, as payload 2.0 does. */
export function queryParameters(raw: string): Record<string, string> | undefined {
  if (raw === '') return undefined;
  const out: Record<string, string> = {};
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decodeComponent(eq < 0 ? part : part.slice(0, eq));
    const v = decodeComponent(eq < 0 ? '' : part.slice(eq + 1));
    out[k] = k in out ? `${out[k]},${v}` : v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Hop-by-hop headers, and `cookie` (the event carries cookies in `cookies`). */
const DROPPED = new Set([
  'cookie',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
]);

/**
 * The caller's credentials and signing headers: the gateway authenticated them, the function
 * never sees them — neither in a synchronous event nor in an async event stored in JetStream (and
 * from there in dead letters and destination records). A stolen bearer token or session token
 * must not outlive the call in a queue, a log or a record.
 */
const CREDENTIALS = new Set([
  'authorization',
  'proxy-authorization',
  'x-amz-security-token',
  'x-amz-date',
  'x-amz-content-sha256',
  'x-amz-credential',
  'x-amz-signature',
  'x-amz-signedheaders',
  'x-amz-algorithm',
  'x-amz-expires',
]);

/** Whether a request header may be passed to the function in its event. */
export function isPassedToFunction(name: string): boolean {
  return !DROPPED.has(name) && !CREDENTIALS.has(name) && !name.startsWith('proxy-');
}

export function buildUrlEvent(r: UrlRequest): UrlEvent {
  const headers: Record<string, string> = {};
  for (const [k, values] of Object.entries(r.headers)) {
    if (isPassedToFunction(k)) headers[k] = values.join(',');
  }
  const cookies = (r.headers.cookie ?? [])
    .flatMap((c) => c.split(';'))
    .map((c) => c.trim())
    .filter(Boolean);
  const text = isTextContent(r.headers['content-type']?.[0]);
  const query = queryParameters(r.rawQueryString);
  const event: UrlEvent = {
    version: '2.0',
    routeKey: '$default',
    rawPath: r.rawPath,
    rawQueryString: r.rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(query ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: r.accountId,
      apiId: r.apiId,
      ...(r.caller
        ? { authorizer: { iam: { userArn: r.caller, userId: r.caller, callerId: r.caller } } }
        : {}),
      domainName: r.domainName,
      domainPrefix: r.domainName.split('.')[0] ?? r.domainName,
      http: {
        method: r.method,
        path: r.rawPath,
        protocol: r.protocol,
        sourceIp: r.sourceIp,
        userAgent: r.headers['user-agent']?.[0] ?? '',
      },
      requestId: r.requestId,
      routeKey: '$default',
      stage: '$default',
      time: clfTime(r.time),
      timeEpoch: r.time.getTime(),
    },
    isBase64Encoded: !text && r.body.length > 0,
  };
  if (r.body.length > 0) event.body = text ? r.body.toString('utf8') : r.body.toString('base64');
  return event;
}
