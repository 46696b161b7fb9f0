import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesObjectApi } from '@kubernetes/client-node';
import { ApiServer, binary } from '../../support/apiserver.js';
import { until } from '../../support/time.js';

export { ApiServer };

const API = 'sluice.dev/v1alpha1';
const KINDS = ['Function', 'FunctionVersion', 'Alias', 'EventSourceMapping', 'LayerVersion'];

/**
 * A real kube-apiserver with Sluice's CRDs, once every kind answers: a new CRD's storage may answer
 * 429 ("storage is (re)initializing") for a moment after it is served.
 */
export async function startApiServer(...args: Parameters<typeof ApiServer.start>): Promise<ApiServer> {
  const kas = await ApiServer.start(...args);
  const objects = KubernetesObjectApi.makeApiClient(kas.kubeConfig());
  await until(
    async () => {
      try {
        for (const kind of KINDS) await objects.list(API, kind, 'default');
        return true;
      } catch {
        return false;
      }
    },
    'every Sluice kind to be served',
    30_000,
    200,
  );
  return kas;
}

/**
 * kube-controller-manager running only its ClusterRole aggregation controller against `kas`: what
 * fills the rules of admin, edit and view from ClusterRoles labelled aggregate-to-*. Stop it with
 * the returned function.
 */
export function startRoleAggregation(kas: ApiServer): () => Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-kcm-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kas.kubeConfig().exportConfig());
  const kcm = spawn(
    binary('k8s-', 'kube-controller-manager'),
    [
      '--kubeconfig',
      kubeconfig,
      '--controllers',
      'clusterrole-aggregation',
      '--leader-elect=false',
      '--secure-port',
      '0',
    ],
    { stdio: 'ignore' },
  );
  return () =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (kcm.exitCode !== null || kcm.signalCode !== null) return done();
      kcm.once('exit', done);
      kcm.kill('SIGTERM');
      setTimeout(() => kcm.kill('SIGKILL'), 5000).unref();
    });
}
