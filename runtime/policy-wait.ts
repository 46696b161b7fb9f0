import { lookup } from 'node:dns/promises';
import { connect, isIP } from 'node:net';
import { SluiceError } from '../lib/index.js';

/**
 * "Policy before code": no code of the function may run in a pod before the pod's NetworkPolicy is
 * enforced (a new pod's first seconds are otherwise open: its first call reached NATS, which its
 * policy denies, until the enforcer caught up). The check: every function policy denies the
 * *canary* (the gateway's canary port, which accepts and closes every connection) and allows the
 * *control* (the gateway's invoke port); both are probed on the same gateway pod's address.
 *
 * - canary connects → the policy is not in force yet: wait and try again;
 * - canary refused or unreachable (kube-router REJECTs with icmp-port-unreachable) and the control
 *   connects → in force;
 * - canary silent (a CNI that DROPs) and the control connects, twice in a row → in force;
 * - anything else (DNS not answering, the gateway unreachable: nothing can be concluded) → try again.
 *
 * Bounded by a budget: past it, the init fails rather than run the code unprotected.
 */

/** What one connection attempt found ('error': the name did not resolve, or another failure). */
export type ProbeResult = 'connected' | 'refused' | 'timeout' | 'error';

/** Name resolution and one TCP connection (opened and closed) to `ip:port`. */
export interface Connector {
  resolve(host: string): Promise<string[]>;
  probe(ip: string, port: number, timeoutMs: number): Promise<ProbeResult>;
}

export type PolicyVerdict = 'open' | 'enforced' | 'unknown';

/** What one round of probes says (pure). `silentBefore`: the previous round saw a silent canary. */
export function policyVerdict(
  canary: ProbeResult,
  control: ProbeResult | undefined,
  silentBefore: boolean,
): PolicyVerdict {
  if (canary === 'connected') return 'open';
  if (canary === 'error') return 'unknown';
  // Without a control port the canary's refusal is taken as the answer.
  const controlOk = control === undefined || control === 'connected';
  if (!controlOk) return 'unknown';
  if (canary === 'refused') return 'enforced';
  return silentBefore ? 'enforced' : 'unknown';
}

export interface PolicyWaitOptions {
  /**
   * `host:port` every function policy denies. The host should name the canary's pods themselves
   * (a headless Service): the canary and the control are probed on the same pod address, so a pod
   * that is going away (both refused) is never taken for a policy in force.
   */
  canary: string;
  /** A port of the same pods every function policy allows; none: the canary alone decides. */
  controlPort?: number | undefined;
  budgetMs: number;
  intervalMs: number;
  probeTimeoutMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called while the policy is found not in force (once per round). */
  onOpen?: (attempt: number) => void;
}

export interface PolicyWaitResult {
  waitedMs: number;
  attempts: number;
}

export class PolicyNotEnforcedError extends SluiceError {
  override readonly name = 'PolicyNotEnforcedError';
}

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** Waits until the pod's NetworkPolicy is in force; throws PolicyNotEnforcedError past the budget. */
export async function waitForPolicy(c: Connector, o: PolicyWaitOptions): Promise<PolicyWaitResult> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? sleepMs;
  const { host, port } = splitAddress(o.canary);
  const start = now();
  let silentBefore = false;
  let last = '';
  // Resolved once and kept while it gives answers (no query per round during a long wait).
  let ips: string[] = [];
  for (let attempt = 1; ; attempt++) {
    if (ips.length === 0) ips = await c.resolve(host).catch(() => []);
    const ip = ips[attempt % Math.max(1, ips.length)];
    const canary = ip === undefined ? 'error' : await c.probe(ip, port, o.probeTimeoutMs);
    const control =
      ip === undefined || canary === 'connected' || canary === 'error' || o.controlPort === undefined
        ? undefined
        : await c.probe(ip, o.controlPort, o.probeTimeoutMs);
    const verdict = policyVerdict(canary, control, silentBefore);
    if (verdict === 'enforced') return { waitedMs: now() - start, attempts: attempt };
    if (verdict === 'open') o.onOpen?.(attempt);
    else ips = []; // nothing concluded: the pod may be gone; ask DNS again
    silentBefore = canary === 'timeout' && control === 'connected';
    last = `canary ${host}${ip && ip !== host ? ` (${ip})` : ''}:${port} ${ip ? canary : 'did not resolve'}${
      control ? `, control port ${o.controlPort} ${control}` : ''
    }`;
    if (now() - start >= o.budgetMs) {
      throw new PolicyNotEnforcedError(
        `the pod's NetworkPolicy was not in force after ${Math.round(o.budgetMs / 1000)} s (last: ${last}); ` +
          'refusing to run the function unprotected (the container restarts and checks again)',
      );
    }
    await sleep(o.intervalMs);
  }
}

const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EACCES', 'EPERM']);

/** The real connector: the system resolver and node:net, each socket closed as soon as the outcome is known. */
export const netConnector: Connector = {
  async resolve(host) {
    if (isIP(host)) return [host];
    return (await lookup(host, { all: true })).map((a) => a.address);
  },
  probe(ip, port, timeoutMs) {
    return new Promise<ProbeResult>((resolve) => {
      const socket = connect({ host: ip, port });
      const done = (r: ProbeResult): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => done('timeout'), timeoutMs);
      socket.once('connect', () => done('connected'));
      socket.once('error', (err: NodeJS.ErrnoException) =>
        done(REFUSED.has(err.code ?? '') ? 'refused' : 'error'),
      );
    });
  },
};
