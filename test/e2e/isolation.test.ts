/**
 * A namespace is an account, on the real cluster (the pod side of tenant isolation): only the
 * platform's gateway invokes function pods; a new pod runs no code before its NetworkPolicy is in
 * force; execution roles are opt-in; peers and reserved variables are refused at admission; a
 * namespace's edit users manage Sluice's kinds there and nowhere else.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { RUNTIME_INVOKE_PATH } from '../../api/naming.js';
import {
  fnManifest,
  forwardGateway,
  getFn,
  serviceAccountToken,
  SYSTEM_NS,
  waitReady,
  type Forward,
} from './support/gateway.js';
import { apply, cluster, createNamespace, dumpNamespace, forward, kubectl, waitFor } from './support/kube.js';
import { imageRef } from './support/env.js';
import { invokeTokenOf, podInvoker } from './support/pod.js';

const restricted = {
  runAsNonRoot: true,
  runAsUser: 65532,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

async function readyPod(ns: string, fn: string): Promise<V1Pod> {
  return waitFor(`a ready pod of ${ns}/${fn}`, async () => {
    const pods = await cluster().core.listNamespacedPod({
      namespace: ns,
      labelSelector: `sluice.dev/function=${fn},sluice.dev/version=latest`,
    });
    return pods.items.find(
      (p) =>
        !p.metadata?.deletionTimestamp &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  });
}

/** The API server's refusal of `obj` (server-side dry run), or '' when it would store it. */
async function refusal(obj: object): Promise<string> {
  const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], JSON.stringify(obj));
  return r.code === 0 ? '' : r.stderr;
}

describe('tenant isolation on the real cluster', () => {
  let a = '';
  let b = '';
  const removers: (() => Promise<void>)[] = [];
  const stops: (() => Promise<void>)[] = [];
  let gw: Forward | undefined;

  beforeAll(async () => {
    for (const prefix of ['e2e-iso-a', 'e2e-iso-b']) {
      const created = await createNamespace(prefix);
      removers.push(created.remove);
      if (!a) a = created.name;
      else b = created.name;
    }
    gw = await forwardGateway();
  });
  afterAll(async () => {
    await Promise.all(stops.map((s) => s()));
    await gw?.stop();
    await Promise.all(removers.map((r) => r()));
  });
  const dumpOnFailure = (): void =>
    onTestFailed(async () => {
      await dumpNamespace(a);
      await dumpNamespace(b);
    });

  it('a pod labelled like the gateway in a tenant namespace cannot connect to a function pod; without the token nothing runs', async () => {
    dumpOnFailure();
    await apply(fnManifest(a, 'target', { scaling: { minReplicas: 1 } }));
    await waitReady(a, 'target');
    const pod = await readyPod(a, 'target');
    const testbox = imageRef(cluster().env, 'testbox');
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'impostor', namespace: b, labels: { 'app.kubernetes.io/name': 'sluice-gateway' } },
      spec: {
        containers: [{ name: 'c', image: testbox, imagePullPolicy: 'Never', securityContext: restricted }],
      },
    });
    await kubectl(['-n', b, 'wait', '--for=condition=Ready', 'pod/impostor', '--timeout=120s']);
    const connect = await kubectl([
      '-n',
      b,
      'exec',
      'impostor',
      '--',
      'node',
      '/testbox/server.mjs',
      'connect',
      pod.status?.podIP ?? '',
      '8080',
      '3000',
    ]);
    expect(connect.code, connect.stdout + connect.stderr).not.toBe(0);
    expect(connect.stdout + connect.stderr).toMatch(/ECONNREFUSED|timeout|EHOSTUNREACH/);

    // From the node (which NetworkPolicies let through, as the kubelet's probes): the runtime's own check.
    const fwd = await forward(`${pod.status?.podIP}:8080`);
    stops.push(fwd.stop);
    const bare = await fetch(`${fwd.base}${RUNTIME_INVOKE_PATH}`, { method: 'POST', body: '{}' });
    expect(bare.status).toBe(403);
    expect(bare.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    const invoke = await podInvoker(pod.status?.podIP, stops, await invokeTokenOf(a, 'target'));
    expect((await invoke({ hi: 1 })).status).toBe(200);
    // Another function's token does not open it.
    await apply(fnManifest(b, 'other', {}));
    await waitFor('the token Secret of b/other', async () =>
      (await invokeTokenOf(b, 'other').catch(() => '')) ? true : undefined,
    );
    const wrong = await podInvoker(pod.status?.podIP, stops, await invokeTokenOf(b, 'other'));
    expect((await wrong({ hi: 2 })).status).toBe(403);
  });

  it('a new public function pod cannot reach NATS even in its first milliseconds (policy before code)', async () => {
    dumpOnFailure();
    const { core } = cluster();
    const svc = await core.readNamespacedService({ namespace: SYSTEM_NS, name: 'sluice-nats' });
    const natsPods = await core.listNamespacedPod({
      namespace: SYSTEM_NS,
      labelSelector: 'app.kubernetes.io/name=sluice-nats',
    });
    const targets = [
      [svc.spec?.clusterIP, 4222],
      ...natsPods.items.map((p) => [p.status?.podIP, 4222]),
    ].filter(([host]) => host && host !== 'None');
    expect(targets.length).toBeGreaterThanOrEqual(2);
    // Connections opened while the module loads: the earliest code of the function.
    const code = `
const net = require('node:net');
const probe = ([host, port]) => new Promise((resolve) => {
  const s = net.connect({ host, port });
  const t = setTimeout(() => { s.destroy(); resolve('timeout'); }, 1500);
  s.on('connect', () => { clearTimeout(t); s.destroy(); resolve('connected'); });
  s.on('error', (e) => { clearTimeout(t); resolve(e.code); });
});
const atInit = Promise.all(JSON.parse(process.env.TARGETS).map(probe));
exports.handler = async () => ({ atInit: await atInit });`;
    await apply(
      fnManifest(a, 'early', { code: { inline: code }, environment: { TARGETS: JSON.stringify(targets) } }),
    );
    await waitReady(a, 'early');
    const token = await serviceAccountToken(a, 'caller');
    const res = await fetch(`${gw?.base}/2015-03-31/functions/${a}:function:early/invocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: '{}',
    });
    const body = (await res.json()) as { atInit: string[] };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.atInit).toHaveLength(targets.length);
    for (const r of body.atInit) expect(r).not.toBe('connected');
    // The pod says what the wait was.
    const logs = await kubectl(['-n', a, 'logs', '-l', 'sluice.dev/function=early', '--tail=-1']);
    expect(logs.stdout).toContain('NetworkPolicy in force');
  });

  it('runs no pod as a ServiceAccount that has not opted in to being an execution role', async () => {
    dumpOnFailure();
    await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'powerful', namespace: a } });
    await apply(
      fnManifest(a, 'borrower', {
        executionRole: { serviceAccountName: 'powerful' },
        scaling: { minReplicas: 1 },
      }),
    );
    const refused = await waitFor('borrower to be refused', async () => {
      const c = (await getFn(a, 'borrower'))?.status?.conditions?.find((x) => x.type === 'Ready');
      return c?.reason === 'ExecutionRoleNotAllowed' ? c : undefined;
    });
    expect(refused.status).toBe('False');
    expect(refused.message).toContain('sluice.dev/execution-role');
    expect((await kubectl(['-n', a, 'get', 'deploy', 'borrower-latest'])).code).not.toBe(0);
    await kubectl(['-n', a, 'annotate', 'serviceaccount', 'powerful', 'sluice.dev/execution-role=true']);
    await waitReady(a, 'borrower');
    expect((await readyPod(a, 'borrower')).spec?.serviceAccountName).toBe('powerful');
  });

  it.each([
    {
      name: 'a peer in kube-system',
      spec: { network: { mode: 'private', peers: [{ namespace: 'kube-system' }] } },
      want: 'spec.network.peers[].namespace: kube-system is not allowed',
    },
    {
      name: 'the cloud metadata address',
      spec: { network: { mode: 'private', peers: [{ cidr: '169.254.169.254/32' }] } },
      want: '169.254.169.254/32 is not allowed',
    },
    {
      name: 'the pod network (test/install.sh lists it)',
      spec: { network: { mode: 'private', peers: [{ cidr: '10.244.0.0/16' }] } },
      want: '10.244.0.0/16 is not allowed',
    },
    {
      name: "a variable of sluice-runtime's",
      spec: { environment: { SLUICE_FUNCTION_NAMESPACE: 'victim' } },
      want: 'spec.environment.SLUICE_FUNCTION_NAMESPACE is reserved',
    },
  ])('the API server refuses $name', async ({ spec, want }) => {
    expect(await refusal(fnManifest(a, 'refused', spec as never))).toContain(want);
  });

  it("a namespace's edit users manage Sluice's kinds there and nowhere else; view only reads", async () => {
    await kubectl(['-n', a, 'create', 'rolebinding', 'alice-edit', '--clusterrole=edit', '--user=alice']);
    await kubectl(['-n', a, 'create', 'rolebinding', 'victor-view', '--clusterrole=view', '--user=victor']);
    const can = async (
      verb: string,
      what: string,
      ns: string,
      user: string,
      ...more: string[]
    ): Promise<string> =>
      (await kubectl(['auth', 'can-i', verb, what, '-n', ns, `--as=${user}`, ...more])).stdout.trim();
    for (const kind of ['functions', 'functionversions', 'aliases', 'eventsourcemappings']) {
      await waitFor(`alice to be able to create ${kind} in ${a}`, async () =>
        (await can('create', `${kind}.sluice.dev`, a, 'alice')) === 'yes' ? true : undefined,
      );
      expect(await can('create', `${kind}.sluice.dev`, b, 'alice')).toBe('no');
      expect(await can('list', `${kind}.sluice.dev`, a, 'victor')).toBe('yes');
      expect(await can('create', `${kind}.sluice.dev`, a, 'victor')).toBe('no');
    }
    // TYPE/NAME would ask about a Function named "status"; the subresource is a flag.
    expect(await can('update', 'functions.sluice.dev', a, 'alice', '--subresource=status')).toBe('no');
    expect(await can('update', 'functions.sluice.dev', a, 'alice')).toBe('yes');
  });
});
