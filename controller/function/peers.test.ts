import { describe, expect, it } from 'vitest';
import type { FunctionSpec } from '../../api/types.js';
import {
  cidrContains,
  cidrsOverlap,
  LINK_LOCAL_CIDRS,
  parseCidr,
  peerProblem,
  peersBlocker,
  type PeerPolicy,
} from './peers.js';

describe('CIDR arithmetic', () => {
  it.each([
    { a: '10.0.0.0/8', b: '10.244.1.0/24', overlap: true },
    { a: '10.244.1.0/24', b: '10.0.0.0/8', overlap: true },
    { a: '10.0.0.0/16', b: '10.1.0.0/16', overlap: false },
    { a: '0.0.0.0/0', b: '169.254.169.254/32', overlap: true },
    { a: '169.254.0.0/16', b: '169.254.169.254', overlap: true },
    { a: '203.0.113.0/24', b: '169.254.0.0/16', overlap: false },
    { a: 'fe80::/10', b: 'fe80::1/128', overlap: true },
    { a: 'fe80::/10', b: '2001:db8::/32', overlap: false },
    { a: '::/0', b: 'fe80::/10', overlap: true },
    { a: '10.0.0.0/8', b: 'fe80::/10', overlap: false },
  ])('$a and $b overlap: $overlap', ({ a, b, overlap }) => expect(cidrsOverlap(a, b)).toBe(overlap));

  it.each([
    { outer: '10.0.0.0/8', inner: '10.1.2.0/24', contains: true },
    { outer: '10.1.2.0/24', inner: '10.0.0.0/8', contains: false },
    { outer: '10.0.0.0/8', inner: '10.0.0.0/8', contains: true },
  ])('$outer contains $inner: $contains', ({ outer, inner, contains }) =>
    expect(cidrContains(outer, inner)).toBe(contains),
  );

  it.each(['10.0.0.0/33', 'not-an-ip/8', '10.0.0/8', 'fe80::/129', '::ffff:169.254.169.254/128'])(
    '%s is not a CIDR',
    (c) => expect(parseCidr(c)).toBeUndefined(),
  );
});

const policy: PeerPolicy = {
  deniedNamespaces: ['sluice-system', 'kube-system'],
  deniedCidrs: [...LINK_LOCAL_CIDRS, '10.244.0.0/16', '10.96.0.0/12', '192.168.1.0/24'],
  allowedCidrs: ['10.96.5.0/24'],
  platformNamespace: 'sluice-system',
  canaryPort: 8070,
};

describe('peerProblem', () => {
  it.each([
    { name: 'a database in the function’s namespace', peer: { podSelector: { app: 'pg' } }, bad: undefined },
    { name: 'pods of another tenant namespace', peer: { namespace: 'billing' }, bad: undefined },
    { name: 'an external range', peer: { cidr: '203.0.113.0/24' }, bad: undefined },
    {
      name: 'the platform’s namespace',
      peer: { namespace: 'sluice-system', ports: [4222] },
      bad: 'sluice-system',
    },
    { name: 'kube-system', peer: { namespace: 'kube-system' }, bad: 'kube-system' },
    { name: 'the metadata service', peer: { cidr: '169.254.169.254/32' }, bad: '169.254.0.0/16' },
    { name: 'everything (covers link-local)', peer: { cidr: '0.0.0.0/0' }, bad: '169.254.0.0/16' },
    { name: 'the pod network', peer: { cidr: '10.0.0.0/8' }, bad: '10.244.0.0/16' },
    { name: 'a node address', peer: { cidr: '192.168.1.10/32' }, bad: '192.168.1.0/24' },
    { name: 'IPv6 link-local', peer: { cidr: 'fe80::1/128' }, bad: 'fe80::/10' },
    {
      name: 'a range the admin allowed inside a denied one',
      peer: { cidr: '10.96.5.10/32' },
      bad: undefined,
    },
    { name: 'not a CIDR', peer: { cidr: '10.0.0.0/40' }, bad: 'not a CIDR' },
  ])('$name', ({ peer, bad }) => {
    const why = peerProblem('shop', peer, policy);
    if (bad === undefined) expect(why).toBeUndefined();
    else expect(why).toContain(bad);
  });

  it('the default namespace of a peer is the function’s own', () => {
    expect(peerProblem('kube-system', { podSelector: { k8s: 'x' } }, policy)).toContain('kube-system');
  });

  it.each([
    { name: 'no ports', peer: { namespace: 'sluice-system' }, bad: true },
    { name: 'the canary port', peer: { namespace: 'sluice-system', ports: [4222, 8070] }, bad: true },
    { name: 'other ports', peer: { namespace: 'sluice-system', ports: [4222] }, bad: false },
  ])('the platform’s namespace allowed by the admin, a peer with $name', ({ peer, bad }) => {
    const allowed = { ...policy, deniedNamespaces: ['kube-system'] };
    const why = peerProblem('shop', peer, allowed);
    expect(why === undefined).toBe(!bad);
    if (bad) expect(why).toContain('8070');
  });
});

describe('peersBlocker', () => {
  const spec = (network: FunctionSpec['network']): FunctionSpec => ({
    runtime: 'nodejs22',
    code: { inline: 'x' },
    network,
  });

  it('names the field, the peer and what the admin may allow', () => {
    const b = peersBlocker(
      'shop',
      spec({ mode: 'private', peers: [{ namespace: 'db' }, { cidr: '169.254.169.254/32' }] }),
      policy,
    );
    expect(b?.reason).toBe('PeerNotAllowed');
    expect(b?.message).toContain('spec.network.peers[1]: cidr 169.254.169.254/32 overlaps 169.254.0.0/16');
    expect(b?.message).not.toContain('peers[0]');
    expect(b?.message).toContain('functions.network.allowedPeerNamespaces');
  });

  it('public functions have no peers to check', () => {
    expect(
      peersBlocker('shop', spec({ mode: 'public', peers: [{ namespace: 'kube-system' }] }), policy),
    ).toBeUndefined();
  });
});
