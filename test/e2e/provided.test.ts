/**
 * runtime: provided on the real cluster (issue 4): an unmodified custom runtime — AWS's Node.js
 * Runtime Interface Client from npm (`aws-lambda-ric`) as the entry point of a custom image built
 * by images/custom-runtime-example/build.sh — serves its handler through the Runtime API of the
 * pod's sluice-runtime sidecar. Invocations go straight to the pod's sidecar (:8080).
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import type { FunctionResource } from '../../api/types.js';
import { apply, cluster, createNamespace, dumpNamespace, kubectl, script, waitFor } from './support/kube.js';
import { invokeTokenOf, podInvoker, type Invoker } from './support/pod.js';

const API = 'sluice.dev/v1alpha1';
const FN = 'ric';

async function readyPod(ns: string): Promise<V1Pod> {
  return waitFor(`a ready pod of ${ns}/${FN}`, async () => {
    const pods = await cluster().core.listNamespacedPod({
      namespace: ns,
      labelSelector: `sluice.dev/function=${FN},sluice.dev/version=latest`,
    });
    return pods.items.find(
      (p) =>
        p.metadata?.deletionTimestamp === undefined &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  });
}

describe('runtime: provided with aws-lambda-ric in a custom image', () => {
  let ns = '';
  let image = '';
  let removeNs: () => Promise<void> = () => Promise.resolve();
  const stops: (() => Promise<void>)[] = [];
  let invoke: Invoker = () => Promise.reject(new Error('the function never became Ready (first test)'));
  let podName = '';

  beforeAll(async () => {
    // Builds (content-addressed: unchanged inputs give the same tag) and imports the image.
    image = (await script('images/custom-runtime-example/build.sh', [])).trim().split('\n').pop() ?? '';
    expect(image).toMatch(/^localhost\/sluice\/custom-runtime-example:[0-9a-f]{12}$/);
    const created = await createNamespace('e2e-provided');
    ns = created.name;
    removeNs = created.remove;
  });
  afterAll(async () => {
    await Promise.all(stops.map((s) => s()));
    await removeNs();
  });

  const dumpOnFailure = (): void => onTestFailed(() => dumpNamespace(ns));

  it('a Function with runtime provided and the custom image becomes Ready and answers through aws-lambda-ric', async () => {
    dumpOnFailure();
    const fn: FunctionResource = {
      apiVersion: API,
      kind: 'Function',
      metadata: { name: FN, namespace: ns },
      spec: {
        runtime: 'provided',
        handler: 'index.handler',
        code: { image },
        memoryMB: 256,
        timeoutSeconds: 2,
        scaling: { minReplicas: 1 },
      },
    };
    await apply(fn);
    await waitFor(`${FN} to be Ready`, async () => {
      const r = await kubectl(['-n', ns, 'get', 'fn', FN, '-o', 'json']);
      if (r.code !== 0) return undefined;
      const f = JSON.parse(r.stdout) as FunctionResource;
      const ready = f.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && ready.reason === 'Running' ? f : undefined;
    });

    const pod = await readyPod(ns);
    podName = pod.metadata?.name ?? '';
    expect(pod.spec?.shareProcessNamespace).toBe(true);
    // sluice-runtime is a native sidecar (restartable init container) beside the custom image.
    expect(pod.spec?.initContainers?.map((c) => [c.name, c.restartPolicy])).toEqual([
      ['sluice-runtime', 'Always'],
    ]);
    expect(pod.spec?.containers.map((c) => [c.name, c.image])).toEqual([['function', image]]);
    const fnEnv = Object.fromEntries((pod.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(fnEnv).toMatchObject({
      AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001',
      _HANDLER: 'index.handler',
      LAMBDA_TASK_ROOT: '/var/task',
    });

    invoke = await podInvoker(pod.status?.podIP, stops, await invokeTokenOf(ns, FN));

    const r = await invoke({ hello: 'ric' }, { 'x-amz-request-id': 'ric-e2e-1', 'x-amz-log-type': 'Tail' });
    expect(r.status).toBe(200);
    expect(r.functionError).toBeNull();
    expect(r.body).toMatchObject({
      from: 'aws-lambda-ric',
      event: { hello: 'ric' },
      requestId: 'ric-e2e-1',
      fn: FN,
    });
    expect(r.logTail).toMatch(/START RequestId: ric-e2e-1 Version: \$LATEST/);
    expect(r.logTail).toMatch(
      /REPORT RequestId: ric-e2e-1\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB/,
    );
  });

  it('a thrown error → 200 with X-Amz-Function-Error: Unhandled and its type; the same process serves the next call', async () => {
    dumpOnFailure();
    const before = await invoke({ n: 0 });
    expect(before.functionError).toBeNull();
    const r = await invoke({ fail: 'x' });
    expect(r.status).toBe(200);
    expect(r.functionError).toBe('Unhandled');
    expect(r.body.errorType, JSON.stringify(r.body)).toBe('TypeError');
    expect(r.body.errorMessage).toMatch(/custom failure: x/);
    const next = await invoke({ n: 1 });
    expect(next.functionError, JSON.stringify(next.body)).toBeNull();
    expect(next.body).toMatchObject({ from: 'aws-lambda-ric', event: { n: 1 }, pid: before.body.pid });
  });

  it('a timeout → Sandbox.Timedout; the sidecar resets the custom runtime and the next call works', async () => {
    dumpOnFailure();
    const before = await invoke({ n: 0 });
    expect(before.functionError).toBeNull();
    const r = await invoke({ sleepMs: 5000 });
    expect(r.status).toBe(200);
    expect(r.functionError).toBe('Unhandled');
    expect(r.body.errorType, JSON.stringify(r.body)).toBe('Sandbox.Timedout');
    expect(r.body.errorMessage).toMatch(/Task timed out after 2\.00 seconds/);
    // The next call waits for the fresh custom runtime (the kubelet restarts the function container).
    const next = await invoke({ n: 2 });
    expect(next.status).toBe(200);
    expect(next.functionError, JSON.stringify(next.body)).toBeNull();
    expect(next.body).toMatchObject({ from: 'aws-lambda-ric', event: { n: 2 } });
    expect(next.body.pid).not.toBe(before.body.pid);
    // Same pod: the function container was restarted; the sidecar kept running.
    const statuses = await waitFor('the function container restarted', async () => {
      const p = await cluster().core.readNamespacedPod({ namespace: ns, name: podName });
      const fnRestarts = p.status?.containerStatuses?.find((c) => c.name === 'function')?.restartCount ?? 0;
      return fnRestarts >= 1 ? (p.status?.initContainerStatuses ?? []) : undefined;
    });
    expect(statuses.find((c) => c.name === 'sluice-runtime')?.restartCount).toBe(0);
  });
});
