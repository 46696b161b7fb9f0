import { isIP } from 'node:net';
import type { FunctionSpec } from '../../api/types.js';
import type { Blocker } from './execution-role.js';

/**
 * What a private function's `network.peers` may name (the chart's ValidatingAdmissionPolicy refuses
 * the same at admission; the controller checks again, for objects stored before the policy or on a
 * cluster without it). Pure: the lists come from the chart's values.
 */
export interface PeerPolicy {
  /** Namespaces no peer may name: the platform's and kube-system, less those the admin allowed. */
  deniedNamespaces: string[];
  /** Ranges no cidr peer may overlap: link-local (cloud metadata) and the cluster's own networks. */
  deniedCidrs: string[];
  /** Ranges a cidr peer may name anyway (the admin's exceptions). */
  allowedCidrs: string[];
  /** The platform's namespace and the gateway's policy canary port (runtime/policy-wait.ts). */
  platformNamespace: string;
  canaryPort?: number | undefined;
}

/** Link-local ranges: 169.254.169.254 is the cloud metadata service (credentials of the node). */
export const LINK_LOCAL_CIDRS = ['169.254.0.0/16', 'fe80::/10'];

interface Cidr {
  family: 4 | 6;
  bits: bigint;
  prefix: number;
}

function ipv4(s: string): bigint {
  return s.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n);
}

function ipv6(s: string): bigint {
  let text = s;
  const tail: string[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const n = ipv4(v4[1]);
    tail.push(((n >> 16n) & 0xffffn).toString(16), (n & 0xffffn).toString(16));
    text = text.slice(0, -v4[1].length);
    if (!text.endsWith('::')) text = text.replace(/:$/, '');
  }
  const [head = '', rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = [...(rest ? rest.split(':') : []), ...tail];
  const groups =
    rest === undefined && tail.length === 0
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.slice(0, 8).reduce((n, g) => (n << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

/** Parses `address/prefix` (a bare address is a /32 or /128); undefined when it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr = '', p] = text.trim().split('/');
  const family = isIP(addr);
  if (family !== 4 && family !== 6) return undefined;
  // IPv4-mapped IPv6 addresses are not CIDRs to Kubernetes (its CEL isCIDR): nor here.
  if (family === 6 && /^::ffff:/i.test(addr) && /\./.test(addr)) return undefined;
  const width = family === 4 ? 32 : 128;
  const prefix = p === undefined ? width : Number(p);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width) return undefined;
  return { family, bits: family === 4 ? ipv4(addr) : ipv6(addr), prefix };
}

function top(c: Cidr, n: number): bigint {
  return c.bits >> BigInt((c.family === 4 ? 32 : 128) - n);
}

/** Whether two ranges share an address (for prefix-aligned ranges: one contains the other). */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (!x || !y || x.family !== y.family) return false;
  const n = Math.min(x.prefix, y.prefix);
  return top(x, n) === top(y, n);
}

/** Whether `outer` contains all of `inner`. */
export function cidrContains(outer: string, inner: string): boolean {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  if (!o || !i || o.family !== i.family || o.prefix > i.prefix) return false;
  return top(o, o.prefix) === top(i, o.prefix);
}

type Peer = NonNullable<NonNullable<FunctionSpec['network']>['peers']>[number];

/** Why one peer is not allowed, or undefined. `namespace`: the function's (a peer's default). */
export function peerProblem(namespace: string, peer: Peer, policy: PeerPolicy): string | undefined {
  if (peer.cidr !== undefined) {
    if (!parseCidr(peer.cidr)) return `cidr ${peer.cidr} is not a CIDR`;
    if (policy.allowedCidrs.some((a) => cidrContains(a, peer.cidr ?? ''))) return undefined;
    const hit = policy.deniedCidrs.find((d) => cidrsOverlap(d, peer.cidr ?? ''));
    return hit
      ? `cidr ${peer.cidr} overlaps ${hit} (link-local addresses, among them the cloud metadata service 169.254.169.254, and the cluster's own networks are not peers; name pods by namespace and podSelector)`
      : undefined;
  }
  const ns = peer.namespace ?? namespace;
  if (policy.deniedNamespaces.includes(ns))
    return `namespace ${ns} is not allowed (the platform's and kube-system's pods are not peers)`;
  if (ns === policy.platformNamespace && policy.canaryPort !== undefined) {
    const ports = peer.ports ?? [];
    if (ports.length === 0 || ports.includes(policy.canaryPort))
      return `a peer in the platform's namespace ${ns} must list its ports, and not ${policy.canaryPort} (the NetworkPolicy canary, which every function must be denied)`;
  }
  return undefined;
}

/** Ready=False for a spec whose peers are not all allowed (public functions have no peers). */
export function peersBlocker(
  namespace: string,
  spec: FunctionSpec,
  policy: PeerPolicy,
  field = 'spec.network.peers',
): Blocker | undefined {
  if ((spec.network?.mode ?? 'public') !== 'private') return undefined;
  const problems = (spec.network?.peers ?? []).flatMap((p, i) => {
    const why = peerProblem(namespace, p, policy);
    return why ? [`${field}[${i}]: ${why}`] : [];
  });
  if (problems.length === 0) return undefined;
  return {
    reason: 'PeerNotAllowed',
    message: `${problems.join('; ')} (the cluster admin may allow them: chart values functions.network.allowedPeerNamespaces, allowedPeerCidrs)`,
  };
}
