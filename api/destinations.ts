/**
 * The destination contract: where the records of async invocations (`spec.async.onSuccess`,
 * `spec.async.onFailure`) and of event-source mappings (`spec.onFailure`) may go. One parser and
 * one set of rules, used by the gateway's async pipeline, the poller and the controller; the CRD's
 * CEL rules (api/schema.ts) enforce the part the API server can check at admission.
 *
 *   function:NAME[:QUALIFIER]   an async invoke of a function in the SAME namespace
 *   nats:SUBJECT                a JetStream publish; plain tokens, no wildcards, nothing under the
 *                               platform's `sluice.` prefix, the server's `$` subjects or the
 *                               request-reply inboxes (`_INBOX…`)
 *   http(s)://URL               a POST to a public address: never loopback, private, link-local
 *                               (169.254.169.254), unique-local IPv6, the cluster's pod/service
 *                               ranges, nor localhost / *.svc / *.cluster.local / *.internal names —
 *                               checked on the literal here and on every resolved address at
 *                               delivery, connecting to the checked address (no second lookup) and
 *                               never following a redirect.
 */
import { lookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { ConfigError, SluiceError, ValidationError } from '../lib/errors.js';

export type Destination =
  | { kind: 'function'; name: string; qualifier?: string; uri: string }
  | { kind: 'nats'; subject: string; uri: string }
  | { kind: 'http'; url: string; uri: string };

/** A destination URI that breaks the contract (syntax, a reserved subject, a forbidden host). */
export class InvalidDestinationError extends ValidationError {
  override readonly name: string = 'InvalidDestinationError';
}

/** An http(s) destination whose host is, or resolves to, an address destinations may not reach. */
export class BlockedDestinationError extends InvalidDestinationError {
  override readonly name = 'BlockedDestinationError';
}

/** An http(s) destination's host could not be looked up (retryable: DNS may answer later). */
export class DestinationLookupError extends SluiceError {
  override readonly name = 'DestinationLookupError';
}

/** Subjects the platform keeps for itself: `sluice` and below (its streams), `$…` (JetStream's API, KV). */
export const RESERVED_SUBJECT_PREFIX = 'sluice';

/**
 * Request-reply inboxes (`_INBOX.…`, the platform's `_INBOX_sluice.…` in tenant accounts): a
 * record published there could answer another connection's request. Never a destination.
 */
export const INBOX_SUBJECT_PREFIX = '_INBOX';

/**
 * The cluster's pod and service ranges (configurable: `destinations.blockedCidrs` in the chart),
 * refused on top of the fixed rules below. The defaults cover the usual private ranges; add the
 * cluster's own when they are public addresses.
 */
export const DEFAULT_CLUSTER_CIDRS: readonly string[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
];

/** IPv4 ranges never reachable, whatever the configuration. */
const FIXED_V4: readonly (readonly [string, string])[] = [
  ['0.0.0.0/8', 'the "this network" range'],
  ['127.0.0.0/8', 'a loopback address'],
  ['169.254.0.0/16', 'a link-local address (cloud metadata services live there)'],
  ['10.0.0.0/8', 'a private address'],
  ['172.16.0.0/12', 'a private address'],
  ['192.168.0.0/16', 'a private address'],
  ['100.64.0.0/10', 'a shared (carrier-grade NAT) address'],
  ['192.0.0.0/24', 'an IETF protocol address'],
  ['198.18.0.0/15', 'a benchmarking address'],
  ['224.0.0.0/4', 'a multicast address'],
  ['240.0.0.0/4', 'a reserved address'],
];

/**
 * Regular expressions (RE2 and JavaScript alike) shared with the CRD's CEL rules (api/schema.ts).
 * An http(s) URL up to its host (a userinfo part may hold no slash, backslash or space).
 */
export const HTTP_AUTHORITY = String.raw`^https?://([^/?#\\\s]*@)?`;
/** What may follow the host: a port, then the path, query, fragment or the end. */
export const AUTHORITY_END = String.raw`(:[0-9]{1,5})?([/?#]|$)`;
/** A canonical dotted-quad IPv4 address (no octal, hex or shortened forms). */
export const DOTTED_QUAD = String.raw`((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])`;
/** An http(s) URL whose host is written plainly: ASCII name or dotted quad, or a bracketed IPv6 address. */
export const HTTP_PLAIN_HOST = `${HTTP_AUTHORITY}([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\])${AUTHORITY_END}`;

const PLAIN_HOST = new RegExp(HTTP_PLAIN_HOST);
const FUNCTION =
  /^function:([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(?::([0-9]+|\$LATEST|[A-Za-z][A-Za-z0-9_-]{0,127}))?$/;
const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** Host names that name the cluster or the machine, not the internet (a trailing dot is ignored). */
const INTERNAL_NAME = /(^|\.)(localhost|svc|cluster\.local|internal)$/i;

const FORMS = 'function:NAME[:QUALIFIER], nats:SUBJECT or http(s)://URL';

// ---- addresses -------------------------------------------------------------------------------

type Parsed = { v: 4; n: bigint } | { v: 6; n: bigint };

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    n = (n << 8n) | BigInt(p);
  }
  return n;
}

function parseV6(s: string): bigint | undefined {
  if (isIP(s) !== 6 || s.includes('%')) return undefined;
  let text = s.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = parseV4(dotted[1] as string);
    if (v4 === undefined) return undefined;
    text = `${text.slice(0, -(dotted[1] as string).length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function parseIp(s: string): Parsed | undefined {
  const v4 = parseV4(s);
  if (v4 !== undefined) return { v: 4, n: v4 };
  const v6 = parseV6(s);
  return v6 !== undefined ? { v: 6, n: v6 } : undefined;
}

/** An address range, e.g. 10.0.0.0/8 or fd00::/8. */
export class Cidr {
  private readonly v: 4 | 6;
  private readonly base: bigint;
  private readonly mask: bigint;

  constructor(readonly text: string) {
    const [addr, bits, extra] = text.split('/');
    const ip = addr === undefined ? undefined : parseIp(addr);
    const width = ip?.v === 4 ? 32 : 128;
    const len = bits !== undefined && /^[0-9]{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (!ip || extra !== undefined || !(len >= 0 && len <= width)) {
      throw new InvalidDestinationError(`"${text}" is not a CIDR range (e.g. 10.0.0.0/8 or fd00::/8)`);
    }
    this.v = ip.v;
    this.mask = ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - len)) - 1n);
    this.base = ip.n & this.mask;
  }

  contains(ip: string): boolean {
    const p = parseIp(ip);
    return p !== undefined && p.v === this.v && (p.n & this.mask) === this.base;
  }
}

/** Decides whether an address may receive destination records. */
export interface AddressCheck {
  /** Why `ip` may not be a destination address; undefined when it may. */
  blocked(ip: string): string | undefined;
}

/**
 * The address rules: IPv4 must be outside the fixed ranges (loopback, private, link-local,
 * shared, multicast, reserved); IPv6 must be global unicast (2000::/3) and not a 6to4 relay
 * (2002::/16, which would tunnel to any IPv4 address) — which leaves out loopback, unspecified,
 * IPv4-mapped, NAT64, link-local, unique-local and multicast addresses; neither may be in the
 * cluster's ranges.
 */
export class AddressPolicy implements AddressCheck {
  private readonly fixed: { cidr: Cidr; what: string }[];
  private readonly cluster: Cidr[];

  constructor(clusterCidrs: readonly string[] = DEFAULT_CLUSTER_CIDRS) {
    this.fixed = FIXED_V4.map(([c, what]) => ({ cidr: new Cidr(c), what }));
    this.cluster = clusterCidrs.map((c) => new Cidr(c.trim()));
  }

  blocked(ip: string): string | undefined {
    const p = parseIp(ip);
    if (!p) return `${ip} is not an IP address`;
    if (p.v === 4) {
      const hit = this.fixed.find((f) => f.cidr.contains(ip));
      if (hit) return `${ip} is ${hit.what}`;
    } else {
      if (p.n >> 125n !== 1n) {
        return `${ip} is not a global unicast IPv6 address (loopback, link-local, unique-local, multicast, IPv4-mapped or NAT64)`;
      }
      if (p.n >> 112n === 0x2002n) return `${ip} is a 6to4 relay address`;
    }
    const range = this.cluster.find((c) => c.contains(ip));
    return range ? `${ip} is in the cluster's range ${range.text}` : undefined;
  }
}

/** The rules with the default cluster ranges. */
export const DEFAULT_ADDRESS_POLICY: AddressCheck = new AddressPolicy();

/** Parses a comma-separated CIDR list (configuration); throws InvalidDestinationError on a bad entry. */
export function parseCidrList(list: string): string[] {
  const out = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const c of out) new Cidr(c);
  return out;
}

/** The address rules with the configured cluster ranges (`--destination-blocked-cidrs`); ConfigError on a bad entry. */
export function addressPolicyFromConfig(list: string): AddressPolicy {
  try {
    return new AddressPolicy(parseCidrList(list));
  } catch (cause) {
    throw new ConfigError(`--destination-blocked-cidrs: ${(cause as Error).message}`, { cause });
  }
}

// ---- parsing ---------------------------------------------------------------------------------

/** Whether `subject` is `prefix` or below it (token-wise: `sluice` and `sluice.x`, not `sluicex`). */
const under = (subject: string, prefix: string): boolean =>
  subject === prefix || subject.startsWith(`${prefix}.`);

function natsDestination(uri: string, reservedPrefixes: readonly string[]): Destination {
  const subject = uri.slice('nats:'.length);
  if (/[*>]/.test(subject)) {
    throw new InvalidDestinationError(
      `destination "${uri}": a NATS subject must not contain wildcards (* or >): records go to one subject`,
    );
  }
  const reserved = [...new Set([RESERVED_SUBJECT_PREFIX, ...reservedPrefixes])];
  if (subject.startsWith('$') || reserved.some((p) => under(subject, p))) {
    throw new InvalidDestinationError(
      `destination "${uri}": subjects under ${reserved.map((p) => `"${p}."`).join(', ')} and "$" are reserved for the platform`,
    );
  }
  if (subject.startsWith(INBOX_SUBJECT_PREFIX)) {
    throw new InvalidDestinationError(
      `destination "${uri}": subjects starting "${INBOX_SUBJECT_PREFIX}" are request-reply inboxes, not destinations`,
    );
  }
  if (!SUBJECT.test(subject)) {
    throw new InvalidDestinationError(
      `destination "${uri}": a NATS subject is tokens of letters, digits, - and _ separated by dots`,
    );
  }
  return { kind: 'nats', subject, uri };
}

/** The host of a URL without IPv6 brackets. */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

function httpDestination(uri: string, check: AddressCheck): Destination {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (cause) {
    throw new InvalidDestinationError(`destination "${uri}" is not a valid URL`, { cause });
  }
  if (/\s/.test(uri) || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InvalidDestinationError(`destination "${uri}" is not a valid http(s) URL`);
  }
  // As written, not as a URL parser would rewrite it (percent-decoding, IDNA mapping, "\" as "/").
  if (!PLAIN_HOST.test(uri)) {
    throw new InvalidDestinationError(
      `destination "${uri}" must write its host plainly: letters, digits, dots and dashes (IDNs in their xn-- form), or an IPv6 address in brackets`,
    );
  }
  const host = hostOf(url);
  if (!host) throw new InvalidDestinationError(`destination "${uri}" has no host`);
  if (isIP(host)) {
    const why = check.blocked(host);
    if (why) throw new BlockedDestinationError(`destination "${uri}" is refused: ${why}`);
  } else {
    const name = host.replace(/\.$/, '');
    if (INTERNAL_NAME.test(name) || !name.includes('.')) {
      throw new BlockedDestinationError(
        `destination "${uri}" is refused: "${host}" names a cluster-internal or local host (localhost, *.svc, *.cluster.local, *.internal or a name without a dot); destinations reach public hosts only`,
      );
    }
  }
  return { kind: 'http', url: url.toString(), uri };
}

/**
 * Parses and validates a destination URI against the contract (with the address rules of
 * `check` for literal IP hosts, and `reservedPrefixes` — an installation's own subject prefixes —
 * refused on top of `sluice.`, `$` and `_INBOX`). Throws InvalidDestinationError
 * (BlockedDestinationError for a forbidden host) with a message naming what is allowed.
 */
export function parseDestination(
  uri: string,
  check: AddressCheck = DEFAULT_ADDRESS_POLICY,
  reservedPrefixes: readonly string[] = [],
): Destination {
  const f = FUNCTION.exec(uri);
  if (f) {
    const name = f[1] as string;
    return f[3] ? { kind: 'function', name, qualifier: f[3], uri } : { kind: 'function', name, uri };
  }
  if (uri.startsWith('function:')) {
    throw new InvalidDestinationError(
      `destination "${uri}" must be function:NAME[:QUALIFIER] with NAME a function of the same namespace`,
    );
  }
  if (uri.startsWith('nats:')) return natsDestination(uri, reservedPrefixes);
  if (/^https?:\/\//.test(uri)) return httpDestination(uri, check);
  throw new InvalidDestinationError(`destination "${uri}" must be ${FORMS}`);
}

// ---- delivery over HTTP ----------------------------------------------------------------------

/** Resolves a host name to all its addresses (`dns.lookup` in production; a fake in tests). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true, verbatim: true });

/**
 * The address to connect to for an http(s) destination: the literal, or — for a name — the first
 * resolved address once EVERY resolved address passed the check (a name with one private address
 * among public ones is refused). Throws BlockedDestinationError.
 */
export async function resolveDestination(
  url: URL,
  check: AddressCheck,
  resolve: Resolver,
): Promise<{ address: string; family: 4 | 6 }> {
  const host = hostOf(url);
  const literal = isIP(host);
  if (literal) {
    const why = check.blocked(host);
    if (why) throw new BlockedDestinationError(`destination ${url.origin} is refused: ${why}`);
    return { address: host, family: literal as 4 | 6 };
  }
  let addresses: { address: string; family: number }[];
  try {
    addresses = await resolve(host);
  } catch (cause) {
    throw new DestinationLookupError(
      `destination host ${host} does not resolve: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  if (addresses.length === 0) throw new DestinationLookupError(`destination host ${host} has no address`);
  for (const a of addresses) {
    const why = check.blocked(a.address);
    if (why) throw new BlockedDestinationError(`destination host ${host} is refused: it resolves to ${why}`);
  }
  const first = addresses[0] as { address: string; family: number };
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}

export interface HttpDeliveryOptions {
  check?: AddressCheck;
  resolve?: Resolver;
  timeoutMs: number;
  /** Most response bytes read (the rest is discarded with the connection). */
  maxResponseBytes?: number;
}

/** A lookup that answers with the already checked address: the connection goes exactly there. */
function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address, family },
      ]);
    } else callback(null, address, family);
  };
}

/**
 * POSTs a record to an http(s) destination under the contract: the URI is validated, the host
 * resolved once and every address checked, the connection made to the checked address (TLS still
 * verifies the certificate for the host name), no redirect followed. Resolves with the status
 * (the caller decides what a non-2xx means); rejects on a refused destination or a network error.
 */
export async function postToDestination(
  uri: string,
  body: Buffer,
  headers: Record<string, string>,
  o: HttpDeliveryOptions,
): Promise<{ status: number }> {
  const check = o.check ?? DEFAULT_ADDRESS_POLICY;
  const dest = parseDestination(uri, check);
  if (dest.kind !== 'http') throw new InvalidDestinationError(`destination "${uri}" is not an http(s) URL`);
  const url = new URL(dest.url);
  const { address, family } = await resolveDestination(url, check, o.resolve ?? systemResolver);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const limit = o.maxResponseBytes ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        protocol: url.protocol,
        hostname: hostOf(url),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { ...headers, 'content-length': String(body.length) },
        agent: false,
        lookup: pinnedLookup(address, family),
        signal: AbortSignal.timeout(o.timeoutMs),
      },
      (res: IncomingMessage) => {
        let read = 0;
        res.on('data', (c: Buffer) => {
          read += c.length;
          if (read > limit) res.destroy();
        });
        res.on('close', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', () => undefined);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
