import { AuthenticationV1Api, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../../lib/index.js';
import { startWatch, type RunningWatch } from '../../lib/kube/watch.js';
import type { AccessKey, AccessKeyStore, TokenReviewer } from './authenticator.js';
import { parsePrincipal, principalFromUsername, type Principal } from './principal.js';

/** The label that marks a Secret as a Sluice access key. */
export const ACCESS_KEY_LABEL = 'sluice.dev/access-key';

/**
 * Kubernetes ServiceAccount (or any) bearer tokens, verified with a TokenReview for one
 * dedicated audience (`sluice` by default): only tokens issued for the gateway
 * (`kubectl create token SA --audience sluice`, a projected token with that audience) pass. A
 * pod's ordinary token (audience: the API server) does not — so a function that forwards its
 * caller's token, or a pod whose token leaks, does not hand out a credential for Sluice — and a
 * token issued for Sluice is no API-server credential. The answer must name the audience
 * (an API server that ignored audiences would not).
 */
export class KubeTokenReviewer implements TokenReviewer {
  private readonly api: AuthenticationV1Api;

  constructor(
    kc: KubeConfig,
    private readonly audience: string,
  ) {
    this.api = kc.makeApiClient(AuthenticationV1Api);
  }

  async review(token: string): Promise<Principal | undefined> {
    const r = await this.api.createTokenReview({
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [this.audience] },
      },
    });
    const user = r.status?.user?.username;
    const forUs = r.status?.audiences?.includes(this.audience) ?? false;
    return r.status?.authenticated && forUs && user ? principalFromUsername(user) : undefined;
  }
}

const text = (s: V1Secret, k: string): string | undefined => {
  const b64 = s.data?.[k];
  if (b64 !== undefined) return Buffer.from(b64, 'base64').toString('utf8').trim();
  return s.stringData?.[k]?.trim();
};

/** An access key from a Secret's `accessKeyId`, `secretAccessKey` and `principal` keys; undefined when incomplete. */
export function accessKeyFromSecret(s: V1Secret): ({ id: string } & AccessKey) | undefined {
  const id = text(s, 'accessKeyId');
  const secretAccessKey = text(s, 'secretAccessKey');
  const principal = parsePrincipal(text(s, 'principal') ?? '');
  if (!id || !secretAccessKey || !principal) return undefined;
  return { id, secretAccessKey, principal };
}

/**
 * Access keys from Secrets labelled `sluice.dev/access-key=true` in one namespace (the
 * gateway's own: whoever may create Secrets there may mint keys).
 */
export class KubeAccessKeys implements AccessKeyStore {
  private readonly bySecret = new Map<string, { id: string } & AccessKey>();
  private readonly byId = new Map<string, AccessKey>();
  private readonly watch: RunningWatch;

  constructor(
    kc: KubeConfig,
    namespace: string,
    private readonly log: Logger,
  ) {
    const api = kc.makeApiClient(CoreV1Api);
    const labelSelector = `${ACCESS_KEY_LABEL}=true`;
    this.watch = startWatch<V1Secret>({
      kc,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      labelSelector,
      list: () => api.listNamespacedSecret({ namespace, labelSelector }),
      handlers: { upsert: (s) => this.upsert(s), remove: (s) => this.remove(s) },
      log,
    });
  }

  private upsert(s: V1Secret): void {
    this.remove(s);
    const key = accessKeyFromSecret(s);
    if (!key) {
      this.log.warn(
        { secret: s.metadata?.name },
        'access-key Secret lacks accessKeyId, secretAccessKey or a valid principal',
      );
      return;
    }
    this.bySecret.set(s.metadata?.name ?? '', key);
    this.byId.set(key.id, key);
  }

  private remove(s: V1Secret): void {
    const before = this.bySecret.get(s.metadata?.name ?? '');
    if (!before) return;
    this.bySecret.delete(s.metadata?.name ?? '');
    this.byId.delete(before.id);
  }

  get(id: string): AccessKey | undefined {
    return this.byId.get(id);
  }

  ready(): boolean {
    return this.watch.isSynced();
  }

  stop(): Promise<void> {
    return this.watch.stop();
  }
}
