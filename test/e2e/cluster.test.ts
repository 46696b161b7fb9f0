/**
 * The local cluster itself (test/cluster/): a real API server, scheduler, kubelet, containerd,
 * kube-proxy, CoreDNS and NetworkPolicy enforcement, running pods from locally built images in
 * a network namespace without uplink. Also: the CRDs apply and the example manifests are judged
 * by the real API server. (Start/stop idempotence and cleanup: test/cluster/selftest.sh.)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppsV1Api, CoreV1Api, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { loadExamples } from '../../api/examples.js';
import {
  REPO,
  clusterEnv,
  eventually,
  forward,
  kubeConfig,
  kubectl,
  kubectlOk,
  testNamespace,
} from './helpers/cluster.js';

const env = clusterEnv(); // throws (fails the file) when the cluster is not up
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const objects = KubernetesObjectApi.makeApiClient(kc);
const ns = testNamespace('e2e-cluster');
const testbox = env.images.TESTBOX;

const restricted = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Runs the testbox CLI inside the client pod; returns its output line and exit status. */
function inClient(...args: string[]): { ok: boolean; out: string; ms: number } {
  const t0 = Date.now();
  const r = kubectl(['-n', ns, 'exec', 'client', '--', 'node', ...args], { timeoutMs: 30_000 });
  return { ok: r.code === 0, out: (r.stdout + r.stderr).trim(), ms: Date.now() - t0 };
}
function get(url: string, timeoutMs = 3000): { ok: boolean; out: string } {
  return inClient('/testbox/server.mjs', 'get', url, String(timeoutMs));
}
const webUrl = () => `http://web.${ns}.svc.cluster.local/`;

function apiMessage(e: unknown): string {
  const body = (e as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return String((JSON.parse(body) as { message?: string }).message ?? body);
    } catch {
      return body;
    }
  }
  if (body && typeof body === 'object' && 'message' in body) return String(body.message);
  return String(e);
}

beforeAll(async () => {
  if (!testbox) throw new Error('SLUICE_IMAGE_TESTBOX missing from .cluster/images.env: run make images');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              {
                name: 'web',
                image: testbox,
                imagePullPolicy: 'Never',
                ports: [{ containerPort: 8080 }],
                securityContext: restricted,
                readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    },
  });
  await core.createNamespacedService({
    namespace: ns,
    body: {
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
  });
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'client', labels: { app: 'client' } },
      spec: {
        containers: [
          { name: 'client', image: testbox, imagePullPolicy: 'Never', securityContext: restricted },
        ],
      },
    },
  });
  kubectlOk(['-n', ns, 'rollout', 'status', 'deploy/web', '--timeout=120s'], { timeoutMs: 130_000 });
  kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=120s'], {
    timeoutMs: 130_000,
  });
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

describe('local cluster', () => {
  it('has its node Ready, running the pinned Kubernetes version', async () => {
    const node = await core.readNode({ name: env.node });
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.status).toBe('True');
    expect(node.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.34\./);
    expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
  });

  it('runs CoreDNS (a Deployment from the locally built image)', async () => {
    const d = await apps.readNamespacedDeployment({ namespace: 'kube-system', name: 'coredns' });
    expect(d.status?.readyReplicas).toBe(1);
    expect(d.spec?.template.spec?.containers[0]?.image).toBe(env.images.COREDNS);
    const pods = await core.listNamespacedPod({
      namespace: 'kube-system',
      labelSelector: 'k8s-app=kube-dns',
    });
    expect(pods.items.map((p) => p.status?.phase)).toContain('Running');
  });

  it('runs kube-proxy and the NetworkPolicy enforcer (node daemons, healthy)', async () => {
    // Both run as processes in the cluster's namespace; their health ports are reached through
    // the loopback forwarder like everything else.
    for (const [name, target] of [
      ['kube-proxy-health', '127.0.0.1:10256'],
      ['kube-router-health', '127.0.0.1:20244'],
    ] as const) {
      const f = forward(`e2e-${name}`, target);
      try {
        const res = await eventually(async () => {
          const r = await fetch(`${f.url}/healthz`);
          if (r.status !== 200) throw new Error(`${name}: HTTP ${r.status}`);
          return r;
        });
        expect(res.status).toBe(200);
      } finally {
        f.stop();
      }
    }
  });

  it('serves HTTP from a locally built image through a Service, by DNS name from another pod', async () => {
    const r = await eventually(
      () => {
        const res = get(webUrl());
        if (!res.ok) throw new Error(res.out);
        return res;
      },
      { timeoutMs: 60_000 },
    );
    const body = JSON.parse(r.out) as { hostname: string };
    expect(body.hostname).toMatch(/^web-/);
  });

  it('serves the same Service to the test process through the loopback forwarder', async () => {
    const f = forward('e2e-web', `svc/${ns}/web:80`);
    try {
      const body = await eventually(async () => {
        const res = await fetch(`${f.url}/hello`);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return (await res.json()) as { hostname: string; url: string };
      });
      expect(body.hostname).toMatch(/^web-/);
      expect(body.url).toBe('/hello');
    } finally {
      f.stop();
    }
  });

  it('enforces a NetworkPolicy that denies ingress (and lifts it when removed)', async () => {
    expect(get(webUrl()).ok).toBe(true);
    await objects.create({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny-web-ingress', namespace: ns },
      spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] },
    } as KubernetesObject);
    const blocked = await eventually(
      () => {
        const res = get(webUrl(), 2000);
        if (res.ok) throw new Error('still reachable');
        return res;
      },
      { timeoutMs: 60_000 },
    );
    expect(blocked.out).toMatch(/ECONNREFUSED|timeout|ECONNRESET/);
    // Stays blocked, also straight to the pod IP (not only through the Service).
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
    const podIP = pods.items[0]?.status?.podIP;
    expect(podIP).toBeTruthy();
    expect(get(`http://${podIP}:8080/`, 2000).ok).toBe(false);
    expect(get(webUrl(), 2000).ok).toBe(false);

    await objects.delete({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny-web-ingress', namespace: ns },
    });
    await eventually(
      () => {
        const res = get(webUrl());
        if (!res.ok) throw new Error(res.out);
      },
      { timeoutMs: 60_000 },
    );
  });

  it('gives pods no default route: an outside address is "network unreachable" at once', () => {
    const routes = inClient(
      '-e',
      "process.stdout.write(require('fs').readFileSync('/proc/net/route','utf8'))",
    );
    expect(routes.ok).toBe(true);
    const destinations = routes.out
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/)[1])
      .filter(Boolean);
    expect(destinations.length).toBeGreaterThan(0);
    expect(destinations).not.toContain('00000000'); // 0.0.0.0/0: the default route

    const r = inClient('/testbox/server.mjs', 'connect', '203.0.113.1', '443', '10000');
    expect(r.ok).toBe(false);
    expect(r.out).toContain('ENETUNREACH'); // "network unreachable", from connect(2) itself
    const ms = Number(/after (\d+)ms/.exec(r.out)?.[1]);
    expect(ms).toBeLessThan(100); // no packet, no waiting
  });

  it('has no upstream DNS: names outside the cluster do not resolve, cluster names do', () => {
    const lookup = (name: string) =>
      inClient(
        '-e',
        `const t=Date.now();require('dns').lookup(${JSON.stringify(name)},(e,a)=>{console.log(e?e.code:a, Date.now()-t)})`,
      ).out;
    const [outside, outsideMs] = lookup('example.com').split(' ');
    expect(outside).toBe('ENOTFOUND');
    expect(Number(outsideMs)).toBeLessThan(2000);
    expect(lookup('kubernetes.default.svc.cluster.local').split(' ')[0]).toBe('10.96.0.1');
  });

  it('fails an image pull at once at the loopback proxy (no registry is ever contacted)', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'pull' },
        spec: {
          containers: [{ name: 'c', image: 'registry.invalid/sluice/none:1', securityContext: restricted }],
        },
      },
    });
    const message = await eventually(
      async () => {
        const pod = await core.readNamespacedPod({ namespace: ns, name: 'pull' });
        const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
        if (!waiting?.message) throw new Error('not failed yet');
        return waiting.message;
      },
      { timeoutMs: 30_000 },
    );
    expect(message).toContain('proxyconnect tcp: dial tcp 127.0.0.1:9');
  });

  it('reports itself healthy: what a second cluster-up reuses as it is', () => {
    // Non-destructive (other suites share the cluster); the full up/up/down cycle is
    // test/cluster/selftest.sh (make test-cluster-lifecycle).
    const out = execFileSync(join(REPO, 'test/cluster/up.sh'), ['--status'], { encoding: 'utf8' });
    expect(out.trim()).toBe('healthy');
    expect(kubectlOk(['get', '--raw', '/readyz'])).toBe('ok');
  });
});

describe('CRDs and example manifests on the real API server', () => {
  const { valid, invalid } = loadExamples(REPO);
  const exNs = `${ns}-examples`;

  beforeAll(async () => {
    const crdDir = join(REPO, 'charts/sluice/crds');
    const files = readdirSync(crdDir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', crdDir]);
    kubectlOk(['wait', '--for=condition=Established', '-f', crdDir, '--timeout=60s']);
    await core.createNamespace({ body: { metadata: { name: exNs } } });
  });

  afterAll(async () => {
    await core.deleteNamespace({ name: exNs }).catch(() => undefined);
  });

  it('has examples to check', () => {
    expect(valid.length).toBeGreaterThan(0);
    expect(invalid.length).toBeGreaterThan(0);
  });

  it.each(valid.map((v) => [v.file.replace(`${REPO}/`, ''), v] as const))('accepts %s', async (_, ex) => {
    for (const doc of ex.docs) {
      const obj = { ...doc, metadata: { ...(doc.metadata as object), namespace: exNs } } as KubernetesObject;
      await objects.create(obj).catch((e: unknown) => {
        throw new Error(`${obj.kind}/${obj.metadata?.name} rejected: ${apiMessage(e)}`);
      });
    }
  });

  it.each(invalid.map((v) => [v.file.replace(`${REPO}/`, ''), v] as const))('rejects %s', async (_, ex) => {
    const obj = {
      ...ex.doc,
      metadata: { ...(ex.doc.metadata as object), namespace: exNs },
    } as KubernetesObject;
    let message: string | undefined;
    try {
      await objects.create(obj, undefined, 'All');
    } catch (e) {
      message = apiMessage(e);
    }
    expect(message, 'the API server accepted an invalid example').toBeDefined();
    for (const want of ex.expect) expect(message).toContain(want);
  });
});
