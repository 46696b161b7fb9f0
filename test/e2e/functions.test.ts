/**
 * Functions run (issue: controller + runtime): a Function becomes a Ready, versioned, secured
 * workload on the real cluster whose code behaves as on Lambda. Invocations go straight to the
 * pod's runtime (the gateway's public path is tested in gateway.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import type { FunctionResource, FunctionVersionResource, AliasResource } from '../../api/types.js';
import { publishVersion } from '../../controller/function/publish.js';
import { makeKube } from '../../controller/kube/client.js';
import { invokeTokenOf, podInvoker, type Invoker } from './support/pod.js';
import { apply, cluster, createNamespace, dumpNamespace, kubectl, waitFor } from './support/kube.js';

const API = 'sluice.dev/v1alpha1';

const code = `
const fs = require('node:fs');
let cold = true;
exports.handler = async (event, context) => {
  const wasCold = cold; cold = false;
  switch (event.action) {
    case 'sleep': await new Promise((r) => setTimeout(r, event.ms)); return { slept: event.ms };
    case 'throw': { const e = new TypeError('bad input: ' + event.what); throw e; }
    case 'oom': { const keep = []; for (;;) keep.push(Buffer.alloc(16 * 1024 * 1024, 1)); }
    case 'exit': process.exit(3);
    case 'fs': {
      fs.writeFileSync('/tmp/a.bin', Buffer.alloc(8 * 1024 * 1024, 1));
      let rootWrite = 'allowed';
      try { fs.writeFileSync('/var/task/x', 'x'); } catch (e) { rootWrite = e.code; }
      let etcWrite = 'allowed';
      try { fs.writeFileSync('/etc/x', 'x'); } catch (e) { etcWrite = e.code; }
      return { tmpSize: fs.statSync('/tmp/a.bin').size, rootWrite, etcWrite, uid: process.getuid(), gid: process.getgid() };
    }
    default:
      return { echo: event, cold: wasCold, requestId: context.awsRequestId, fn: context.functionName,
               version: context.functionVersion, arn: context.invokedFunctionArn, memory: context.memoryLimitInMB,
               remaining: context.getRemainingTimeInMillis() };
  }
};`;

function fnManifest(ns: string, name: string, spec: Partial<FunctionResource['spec']>): FunctionResource {
  return {
    apiVersion: API,
    kind: 'Function',
    metadata: { name, namespace: ns },
    spec: {
      runtime: 'nodejs22',
      code: { inline: code },
      memoryMB: 256,
      timeoutSeconds: 3,
      scaling: { minReplicas: 1 },
      ...spec,
    },
  };
}

async function getFn(ns: string, name: string): Promise<FunctionResource | undefined> {
  const r = await kubectl(['-n', ns, 'get', 'fn', name, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as FunctionResource) : undefined;
}

async function readyPod(ns: string, fn: string, version = 'latest'): Promise<V1Pod> {
  return waitFor(`a ready pod of ${ns}/${fn} (${version})`, async () => {
    const pods = await cluster().core.listNamespacedPod({
      namespace: ns,
      labelSelector: `sluice.dev/function=${fn},sluice.dev/version=${version}`,
    });
    return pods.items.find(
      (p) =>
        p.metadata?.deletionTimestamp === undefined &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  });
}

async function podInvokerOf(ns: string, fn: string, stops: (() => Promise<void>)[]): Promise<Invoker> {
  return podInvoker((await readyPod(ns, fn)).status?.podIP, stops, await invokeTokenOf(ns, fn));
}

describe('functions on the real cluster', () => {
  let ns = '';
  let removeNs: () => Promise<void> = () => Promise.resolve();
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const created = await createNamespace('e2e-fn');
    ns = created.name;
    removeNs = created.remove;
  });
  afterAll(async () => {
    await Promise.all(stops.map((s) => s()));
    await removeNs();
  });

  const dumpOnFailure = (): void => onTestFailed(() => dumpNamespace(ns));

  it('a Function with inline code becomes Ready with a running pod and answers an invocation', async () => {
    dumpOnFailure();
    await apply(fnManifest(ns, 'hello', {}));
    const fn = await waitFor('hello to be Ready', async () => {
      const f = await getFn(ns, 'hello');
      const ready = f?.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && ready.reason === 'Running' ? f : undefined;
    });
    expect(fn.status?.observedGeneration).toBe(fn.metadata.generation);
    expect(fn.status?.replicaSummary).toBe('1/1');
    const cols = await kubectl(['-n', ns, 'get', 'fn', 'hello']);
    expect(cols.stdout).toMatch(/NAME\s+RUNTIME\s+LATEST\s+REPLICAS\s+READY\s+AGE/);
    expect(cols.stdout).toMatch(/hello\s+nodejs22\s+\S*\s+1\/1\s+True/);

    const invoke = await podInvokerOf(ns, 'hello', stops);
    const r = await invoke({ name: 'sluice' }, { 'x-amz-log-type': 'Tail' });
    expect(r.status).toBe(200);
    expect(r.functionError).toBeNull();
    expect(r.body).toMatchObject({
      echo: { name: 'sluice' },
      fn: 'hello',
      version: '$LATEST',
      memory: '256',
    });
    expect(r.body.arn).toMatch(new RegExp(`^arn:aws:lambda:[^:]+:${ns}:function:hello$`));
    expect(r.body.remaining).toBeGreaterThan(1000);
    expect(r.body.remaining).toBeLessThanOrEqual(3000);
    expect(r.logTail).toMatch(/START RequestId: \S+ Version: \$LATEST/);
    expect(r.logTail).toMatch(
      /REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: \d+ MB/,
    );
  });

  it('timeout, thrown error, crash and out-of-memory give Lambda error types, and the next call works', async () => {
    dumpOnFailure();
    const invoke = await podInvokerOf(ns, 'hello', stops);
    const cases = [
      {
        event: { action: 'sleep', ms: 5000 },
        type: 'Sandbox.Timedout',
        message: /Task timed out after 3\.00 seconds/,
      },
      { event: { action: 'throw', what: 'x' }, type: 'TypeError', message: /bad input: x/ },
      {
        event: { action: 'exit' },
        type: 'Runtime.ExitError',
        message: /Runtime exited with error: exit status 3/,
      },
      { event: { action: 'oom' }, type: 'Runtime.ExitError', message: /Runtime exited with error/ },
    ];
    for (const c of cases) {
      const r = await invoke(c.event);
      expect(r.status, JSON.stringify(c.event)).toBe(200);
      expect(r.functionError, JSON.stringify(c.event)).toBe('Unhandled');
      expect(r.body.errorType, JSON.stringify(r.body)).toBe(c.type);
      expect(r.body.errorMessage).toMatch(c.message);
      const next = await invoke({ n: 1 });
      expect(next.functionError, `call after ${c.type}: ${JSON.stringify(next.body)}`).toBeNull();
      expect(next.body.echo).toEqual({ n: 1 });
    }
    // The pod survived all of it: the runtime reset its execution environment instead.
    const pod = await readyPod(ns, 'hello');
    expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  });

  it.each([
    {
      name: 'syntax error in the module',
      inline: 'exports.handler = async (e) => { return e',
      type: 'Runtime.UserCodeSyntaxError',
    },
    {
      name: 'missing handler export',
      inline: 'exports.other = async () => 1;',
      type: 'Runtime.HandlerNotFound',
    },
    {
      name: 'module that fails to import',
      inline: "require('does-not-exist'); exports.handler = async () => 1;",
      type: 'Runtime.ImportModuleError',
    },
  ])('init error: $name → $type, on every call, without killing the pod', async ({ name, inline, type }) => {
    dumpOnFailure();
    const fnName = `init-${name.split(' ')[0]}`.toLowerCase();
    await apply(fnManifest(ns, fnName, { code: { inline } }));
    const invoke = await podInvokerOf(ns, fnName, stops);
    for (let i = 0; i < 2; i++) {
      const r = await invoke({});
      expect(r.status).toBe(200);
      expect(r.functionError).toBe('Unhandled');
      expect(r.body.errorType).toBe(type);
    }
  });

  it('pods run as non-root with a read-only root filesystem and a writable, size-limited /tmp', async () => {
    dumpOnFailure();
    const invoke = await podInvokerOf(ns, 'hello', stops);
    const r = await invoke({ action: 'fs' });
    expect(r.functionError).toBeNull();
    expect(r.body).toMatchObject({ tmpSize: 8 * 1024 * 1024, uid: 65532, gid: 65532, etcWrite: 'EROFS' });
    expect(['EROFS', 'EACCES']).toContain(r.body.rootWrite);
    const pod = await readyPod(ns, 'hello');
    expect(pod.spec?.volumes?.find((v) => v.name === 'tmp')?.emptyDir?.sizeLimit).toBe('512Mi');
    expect(pod.spec?.automountServiceAccountToken).toBe(false);
    const c = pod.spec?.containers[0];
    expect(c?.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    // CPU: requested in proportion to memory (256 MB → 145m); limited at the chart's floor (1000m).
    expect(c?.resources?.requests).toMatchObject({ memory: '320Mi', cpu: '145m' });
    expect(c?.resources?.limits).toMatchObject({ memory: '320Mi', cpu: '1' });
  });

  it('versions: publish twice with a change → 1 and 2, immutable; unchanged → no 3; a weighted alias resolves', async () => {
    dumpOnFailure();
    const kube = makeKube(cluster().kc);
    await apply(fnManifest(ns, 'ver', { scaling: { minReplicas: 0 }, environment: { STAGE: 'one' } }));
    const fn1 = await waitFor('ver to exist', () => getFn(ns, 'ver'));
    const p1 = await publishVersion(kube, fn1);
    expect(p1).toMatchObject({ created: true, version: { spec: { version: '1' } } });
    await apply(fnManifest(ns, 'ver', { scaling: { minReplicas: 0 }, environment: { STAGE: 'two' } }));
    const fn2 = await waitFor('ver to change', async () => {
      const f = await getFn(ns, 'ver');
      return f?.spec.environment?.STAGE === 'two' ? f : undefined;
    });
    const p2 = await publishVersion(kube, fn2);
    expect(p2).toMatchObject({ created: true, version: { spec: { version: '2' } } });
    const p3 = await publishVersion(kube, fn2);
    expect(p3).toMatchObject({ created: false, version: { spec: { version: '2' } } });
    const versions = JSON.parse((await kubectl(['-n', ns, 'get', 'fnv', '-o', 'json'])).stdout)
      .items as FunctionVersionResource[];
    expect(versions.map((v) => v.spec.version).sort()).toEqual(['1', '2']);
    expect(versions.find((v) => v.spec.version === '1')?.spec.snapshot.environment).toEqual({ STAGE: 'one' });

    const patch = await kubectl([
      '-n',
      ns,
      'patch',
      'fnv',
      'ver-v1',
      '--type=merge',
      '-p',
      '{"spec":{"description":"changed"}}',
    ]);
    expect(patch.code).not.toBe(0);
    expect(patch.stderr).toContain('spec is immutable: a published FunctionVersion cannot change');

    const alias: AliasResource = {
      apiVersion: API,
      kind: 'Alias',
      metadata: { name: 'prod', namespace: ns },
      spec: { function: 'ver', version: '1', additionalVersionWeights: { '2': 0.25 } },
    };
    await apply(alias);
    const resolved = await waitFor('alias prod to resolve', async () => {
      const a = JSON.parse(
        (await kubectl(['-n', ns, 'get', 'alias', 'prod', '-o', 'json'])).stdout,
      ) as AliasResource;
      return a.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? a : undefined;
    });
    expect(resolved.status).toMatchObject({ resolvedVersion: '1', routing: '1=75%,2=25%' });
    // Both versions the alias names get a workload; the version's code is its snapshot.
    await waitFor('deployments for versions 1 and 2', async () => {
      const names = (
        await kubectl(['-n', ns, 'get', 'deploy', '-l', 'sluice.dev/function=ver', '-o', 'name'])
      ).stdout
        .split('\n')
        .filter(Boolean)
        .sort();
      return names.join(',') === 'deployment.apps/ver-latest,deployment.apps/ver-v1,deployment.apps/ver-v2'
        ? names
        : undefined;
    });
    const v1env = (
      await kubectl([
        '-n',
        ns,
        'get',
        'deploy',
        'ver-v1',
        '-o',
        'jsonpath={.spec.template.spec.containers[0].env}',
      ])
    ).stdout;
    // The function's variables reach sluice-runtime as SLUICE_ENV_<NAME> (the handler sees STAGE).
    expect(v1env).toContain('"name":"SLUICE_ENV_STAGE","value":"one"');
    const fnStatus = await waitFor('latestVersion 2 in status', async () => {
      const f = await getFn(ns, 'ver');
      return f?.status?.latestVersion === '2' ? f : undefined;
    });
    expect(fnStatus.status?.latestVersion).toBe('2');
  });

  it('deleting a Function removes everything it owns', async () => {
    dumpOnFailure();
    const gone = await kubectl(['-n', ns, 'delete', 'fn', 'ver', '--wait=true']);
    expect(gone.code).toBe(0);
    await waitFor(
      'no object of ver left',
      async () => {
        const left = (
          await kubectl([
            '-n',
            ns,
            'get',
            'deploy,svc,cm,netpol,fnv,pods',
            '-l',
            'sluice.dev/function=ver',
            '-o',
            'name',
          ])
        ).stdout.trim();
        const fnv = (await kubectl(['-n', ns, 'get', 'fnv', '-o', 'name'])).stdout.trim();
        return left === '' && fnv === '' ? true : undefined;
      },
      90_000,
    );
  });
});
