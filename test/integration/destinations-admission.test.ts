import { KubernetesObjectApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDestination } from '../../api/destinations.js';
import { loadExamples } from '../../api/examples.js';
import { ApiServer } from '../support/apiserver.js';

// The destination contract at admission: the CRDs' CEL rules on a real kube-apiserver (the
// one the e2e suite's cluster runs), checked against the same table as api/destinations.ts.

let api: ApiServer;
let objects: KubernetesObjectApi;

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

/** Creates the object with dryRun=All; the API server's rejection message, or undefined when accepted. */
async function admit(obj: Record<string, unknown>): Promise<string | undefined> {
  try {
    await objects.create(
      { ...obj, metadata: { ...(obj.metadata as object), namespace: 'default' } },
      undefined,
      'All',
    );
    return undefined;
  } catch (e) {
    return apiMessage(e);
  }
}

const fnWith = (uri: string): Record<string, unknown> => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'Function',
  metadata: { name: 'dest' },
  spec: { runtime: 'nodejs22', code: { inline: 'x' }, async: { onFailure: uri } },
});

beforeAll(async () => {
  api = await ApiServer.start();
  objects = KubernetesObjectApi.makeApiClient(api.kubeConfig());
}, 120_000);

afterAll(async () => {
  await api?.stop();
});

describe('destination URIs: the API server and api/destinations.ts agree', () => {
  it.each([
    'function:audit',
    'function:audit:prod',
    'nats:orders.failed',
    'nats:sluiceworks.failed',
    'https://hooks.example.com/in?x=1',
    'http://203.0.113.7:8080/in',
    'https://[2001:db8::7]/in',
    'function:Audit',
    'nats:orders.*',
    'nats:orders.>',
    'nats:sluice.async.shop.fn',
    'nats:sluice',
    'nats:$KV.sluice-poller.x',
    'nats:_INBOX.abc.1',
    'nats:_INBOX_sluice.abc.1',
    'ftp://example.com/x',
    'http://localhost:8080/x',
    'http://a.localhost/x',
    'http://receiver.shop.svc/x',
    'http://receiver.shop.svc.cluster.local./x',
    'http://RECEIVER.SHOP.SVC.CLUSTER.LOCAL/x',
    'http://metadata.google.internal/x',
    'http://sluice-nats:8222/',
    'http://127.0.0.1/x',
    'http://2130706433/x',
    'http://127.1/x',
    'http://0x7f.0.0.1/x',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.96.0.1/x',
    'http://172.20.1.1/x',
    'http://192.168.1.1/x',
    'http://100.100.100.200/x',
    'http://0.0.0.0:8080/',
    'http://[::1]:8080/',
    'http://[::]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[fe80::1]/',
    'http://[fd00:10:96::1]/',
    'http://[64:ff9b::a00:1]/',
    'http://[2002:a00:1::1]/',
    'http://%6c%6fcalhost.example.com/',
    'http://\u24dbocalhost.example.com/',
    'http://localhost\\@hooks.example.com/',
    'http://x@y@localhost/x',
    'HTTP://hooks.example.com/',
  ])('%s', async (uri) => {
    let parsed = true;
    try {
      parseDestination(uri);
    } catch {
      parsed = false;
    }
    const message = await admit(fnWith(uri));
    expect(
      message === undefined,
      message ?? `accepted; api/destinations.ts ${parsed ? 'accepts' : 'refuses'} it`,
    ).toBe(parsed);
    if (message) expect(message).toContain('spec.async.onFailure');
  });
});

describe('invalid example manifests are rejected with their message', () => {
  const { invalid } = loadExamples();
  it.each(invalid.map((i) => [i.file.split('/').pop() as string, i] as const))('%s', async (_name, ex) => {
    const message = await admit(ex.doc);
    expect(message, 'the API server accepted an invalid example').toBeDefined();
    for (const want of ex.expect) expect(message).toContain(want);
  });
});
