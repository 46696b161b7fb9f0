/**
 * The gateway's TokenReview against a real kube-apiserver: only tokens issued for the audience
 * `sluice` authenticate; a pod's ordinary API-server token does not.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeTokenReviewer } from '../../gateway/auth/kube-auth.js';
import { ApiServer } from '../support/apiserver.js';

let kas: ApiServer;
let core: CoreV1Api;

async function token(audiences?: string[]): Promise<string> {
  const r = await core.createNamespacedServiceAccountToken({
    name: 'checkout',
    namespace: 'shop',
    body: { spec: { audiences: audiences ?? [], expirationSeconds: 600 } },
  });
  return r.status?.token ?? '';
}

beforeAll(async () => {
  kas = await ApiServer.start();
  core = kas.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'shop' } } });
  await core.createNamespacedServiceAccount({ namespace: 'shop', body: { metadata: { name: 'checkout' } } });
}, 120_000);

afterAll(async () => {
  await kas?.stop();
});

describe('TokenReview with the audience sluice', () => {
  it('accepts a token issued for sluice (kubectl create token checkout --audience sluice)', async () => {
    const reviewer = new KubeTokenReviewer(kas.kubeConfig(), 'sluice');
    expect(await reviewer.review(await token(['sluice']))).toEqual({
      kind: 'serviceaccount',
      namespace: 'shop',
      name: 'checkout',
    });
  });

  it.each([
    { name: "a pod's ordinary token (the API server's audience)", audiences: undefined },
    { name: 'a token for another audience', audiences: ['vault'] },
  ])('refuses $name', async ({ audiences }) => {
    const reviewer = new KubeTokenReviewer(kas.kubeConfig(), 'sluice');
    const t = await token(audiences);
    expect(t).not.toBe('');
    expect(await reviewer.review(t)).toBeUndefined();
  });

  it('the audience is configurable', async () => {
    const reviewer = new KubeTokenReviewer(kas.kubeConfig(), 'faas.example.com');
    expect(await reviewer.review(await token(['faas.example.com']))).toMatchObject({ name: 'checkout' });
    expect(await reviewer.review(await token(['sluice']))).toBeUndefined();
  });
});
