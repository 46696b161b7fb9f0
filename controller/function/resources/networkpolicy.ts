import type {
  V1NetworkPolicy,
  V1NetworkPolicyEgressRule,
  V1NetworkPolicyPeer,
} from '@kubernetes/client-node';
import {
  LABELS,
  MANAGED_BY,
  RUNTIME_INVOKE_PORT,
  RUNTIME_METRICS_PORT,
  dnsLabel,
} from '../../../api/naming.js';
import type { FunctionSpec } from '../../../api/types.js';
import type { V1OwnerReference } from '@kubernetes/client-node';
import { peerProblem } from '../peers.js';
import type { BuildOptions } from './types.js';

const NS_LABEL = 'kubernetes.io/metadata.name';

export function networkPolicyName(fn: string): string {
  return dnsLabel(`${fn}-function`);
}

function dnsRule(opts: BuildOptions): V1NetworkPolicyEgressRule {
  return {
    to: [
      {
        namespaceSelector: { matchLabels: { [NS_LABEL]: opts.dnsNamespace } },
        podSelector: { matchLabels: opts.dnsPodLabels },
      },
    ],
    // A policy's ports are the destination pod's (after the Service's translation): CoreDNS may
    // listen on another port than 53 (e.g. 1053, unprivileged), so its named ports count too.
    ports: [
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
      { protocol: 'UDP', port: 'dns' },
      { protocol: 'TCP', port: 'dns-tcp' },
    ],
  };
}

/**
 * The platform's gateway pods: their labels in the platform's namespace only. A pod anywhere else
 * carrying the same labels (any tenant may label its pods so) is not the gateway.
 */
function gatewayPeer(opts: BuildOptions): V1NetworkPolicyPeer {
  return {
    namespaceSelector: { matchLabels: { [NS_LABEL]: opts.platformNamespace } },
    podSelector: { matchLabels: opts.gatewayPodLabels },
  };
}

/** Functions may call the gateway (other functions, destinations). */
function gatewayRule(opts: BuildOptions): V1NetworkPolicyEgressRule {
  return { to: [gatewayPeer(opts)], ports: [{ protocol: 'TCP', port: 8080 }] };
}

function internetRule(opts: BuildOptions): V1NetworkPolicyEgressRule {
  return { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: opts.privateCidrs } }] };
}

/** Rules for the spec's peers; a peer the platform does not allow is left out (and its version runs no pod). */
function peerRules(namespace: string, spec: FunctionSpec, opts: BuildOptions): V1NetworkPolicyEgressRule[] {
  const allowed = (spec.network?.peers ?? []).filter((p) => !peerProblem(namespace, p, opts.peerPolicy));
  return allowed.map((p) => {
    const to: V1NetworkPolicyPeer = p.cidr
      ? { ipBlock: { cidr: p.cidr } }
      : {
          namespaceSelector: { matchLabels: { [NS_LABEL]: p.namespace ?? namespace } },
          podSelector: { matchLabels: p.podSelector ?? {} },
        };
    const rule: V1NetworkPolicyEgressRule = { to: [to] };
    if (p.ports?.length) rule.ports = p.ports.map((port) => ({ protocol: 'TCP', port }));
    return rule;
  });
}

/**
 * One NetworkPolicy per function (all its versions): ingress only from the platform's gateway
 * pods (in the platform's namespace) on the invoke port (and from the monitoring namespace on the runtime's metrics port); egress per network.mode — public: DNS, the gateway and the internet but no private
 * ranges (so no cluster-private peers); private: DNS, the gateway, the listed peers, and the
 * internet only with allowInternet.
 */
export function makeNetworkPolicy(
  namespace: string,
  fn: string,
  spec: FunctionSpec,
  owner: V1OwnerReference,
  opts: BuildOptions,
): V1NetworkPolicy {
  const mode = spec.network?.mode ?? 'public';
  const egress: V1NetworkPolicyEgressRule[] = [dnsRule(opts), gatewayRule(opts)];
  const collector = opts.telemetry?.collector;
  if (collector) {
    egress.push({
      to: [
        {
          namespaceSelector: { matchLabels: { [NS_LABEL]: collector.namespace } },
          podSelector: { matchLabels: collector.podLabels },
        },
      ],
      ports: [{ protocol: 'TCP', port: collector.port }],
    });
  }
  if (mode === 'public') egress.push(internetRule(opts));
  else {
    egress.push(...peerRules(namespace, spec, opts));
    if (spec.network?.allowInternet) egress.push(internetRule(opts));
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: networkPolicyName(fn),
      namespace,
      labels: { [LABELS.function]: fn, [LABELS.managedBy]: MANAGED_BY },
      annotations: { 'sluice.dev/network-mode': mode },
      ownerReferences: [owner],
    },
    spec: {
      podSelector: { matchLabels: { [LABELS.function]: fn, [LABELS.component]: 'function' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          _from: [gatewayPeer(opts)],
          ports: [{ protocol: 'TCP', port: RUNTIME_INVOKE_PORT }],
        },
        {
          _from: [{ namespaceSelector: { matchLabels: opts.metricsNamespaceLabels } }],
          ports: [{ protocol: 'TCP', port: RUNTIME_METRICS_PORT }],
        },
      ],
      egress,
    },
  };
}
