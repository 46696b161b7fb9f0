/**
 * What the API server itself refuses (CRD validation), against a real kube-apiserver: the rules
 * a tenant cannot get around by writing objects directly.
 */
import { ApiException, KubernetesObjectApi, CoreV1Api, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from './support/apiserver.js';

const API = 'sluice.dev/v1alpha1';
const NS = 'tenant-a';

let kas: ApiServer;
let objects: KubernetesObjectApi;

beforeAll(async () => {
  kas = await startApiServer();
  const kc = kas.kubeConfig();
  objects = KubernetesObjectApi.makeApiClient(kc);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
}, 120_000);

afterAll(async () => {
  await kas?.stop();
});

/** The API server's message when it refuses `obj`; undefined when it stores it. */
async function refusal(obj: KubernetesObject): Promise<string | undefined> {
  try {
    await objects.create(obj, undefined, 'All');
    return undefined;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    return String((JSON.parse(String(err.body)) as { message?: string }).message ?? err.body);
  }
}

const fn = (name: string, spec: Record<string, unknown> = {}): KubernetesObject =>
  ({
    apiVersion: API,
    kind: 'Function',
    metadata: { name, namespace: NS },
    spec: { runtime: 'nodejs22', code: { inline: 'exports.handler = async () => 1' }, ...spec },
  }) as KubernetesObject;

describe('Function names (they become Deployment and Service names and label values)', () => {
  it.each([
    { name: '63 characters', value: `f${'x'.repeat(62)}`, refused: false },
    { name: '64 characters', value: `f${'x'.repeat(63)}`, refused: true },
    { name: 'a leading digit', value: '1st', refused: true },
    { name: 'a dot', value: 'a.b', refused: true },
  ])('$name', async ({ value, refused }) => {
    const message = await refusal(fn(value));
    if (!refused) expect(message).toBeUndefined();
    else {
      expect(message).toContain('metadata.name must be a DNS label of at most 63 characters');
    }
  });
});

describe('reserved environment variables', () => {
  it.each([
    { name: "sluice-runtime's own setting", key: 'SLUICE_FUNCTION_NAMESPACE' },
    { name: 'a Lambda runtime variable', key: 'AWS_LAMBDA_FUNCTION_NAME' },
    { name: 'any LAMBDA_ variable', key: 'LAMBDA_RUNTIME_DIR' },
    { name: 'the handler', key: '_HANDLER' },
    { name: 'the trace header', key: '_X_AMZN_TRACE_ID' },
    { name: 'the region', key: 'AWS_REGION' },
  ])('refuses $name, naming it', async ({ key }) => {
    const message = await refusal(
      fn(`env-${key.toLowerCase().replace(/_/g, '-')}`.replace(/-+$/, ''), {
        environment: { OK: '1', [key]: 'x' },
      }),
    );
    expect(message).toContain(`spec.environment.${key} is reserved`);
  });

  it('stores ordinary variables, NODE_OPTIONS included', async () => {
    expect(
      await refusal(
        fn('env-ok', { environment: { NODE_OPTIONS: '--enable-source-maps', TZ: 'Europe/Paris' } }),
      ),
    ).toBeUndefined();
  });
});
