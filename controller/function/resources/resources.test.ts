import { describe, expect, it } from 'vitest';
import type { FunctionSpec } from '../../../api/types.js';
import { specHash } from '../../../api/hash.js';
import { makeDeployment, cpuMillis, cpuQuantity } from './deployment.js';
import { makeService } from './service.js';
import { makeNetworkPolicy } from './networkpolicy.js';
import { inlineCodeFile, makeCodeConfigMap } from './configmap.js';
import { makeInvokeTokenSecret } from './secret.js';
import { invokeToken } from '../../../api/invoke-token.js';
import {
  DEFAULT_BUILD_OPTIONS,
  endpointPort,
  functionTelemetry,
  parseLabels,
  type BuildOptions,
  type VersionPlan,
} from './types.js';

const owner = {
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'Function',
  name: 'hello',
  uid: 'u-1',
  controller: true,
  blockOwnerDeletion: true,
};

/** A plan from options, as knative's test builders do. */
function plan(spec: Partial<FunctionSpec> = {}, extra: Partial<VersionPlan> = {}): VersionPlan {
  const s: FunctionSpec = {
    runtime: 'nodejs22',
    code: { inline: 'exports.handler = async () => 1' },
    ...spec,
  };
  return {
    namespace: 'ns1',
    functionName: 'hello',
    version: '$LATEST',
    spec: s,
    specHash: specHash(s),
    owner,
    codeConfigMap: 'hello-code-abc',
    ...extra,
  };
}

const opts = DEFAULT_BUILD_OPTIONS;
const envOf = (
  c: { env?: { name: string; value?: string }[] } | undefined,
): Record<string, string | undefined> => Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));

describe('makeDeployment', () => {
  it.each([
    {
      name: '128 MB → 73m CPU requested, limit raised to the 1000m floor (+64 MiB for sluice-runtime)',
      memoryMB: 128,
      floor: 1000,
      cpu: '73m',
      limit: '1',
      memory: '192Mi',
    },
    {
      name: '128 MB, floor 0: limit = request',
      memoryMB: 128,
      floor: 0,
      cpu: '73m',
      limit: '73m',
      memory: '192Mi',
    },
    {
      name: '1769 MB → one vCPU',
      memoryMB: 1769,
      floor: 1000,
      cpu: '1',
      limit: '1',
      memory: '1833Mi',
    },
    {
      name: '10240 MB → 5.79 vCPU',
      memoryMB: 10240,
      floor: 1000,
      cpu: '5789m',
      limit: '5789m',
      memory: '10304Mi',
    },
  ])('resources: $name', ({ memoryMB, floor, cpu, limit, memory }) => {
    const d = makeDeployment(plan({ memoryMB }), { ...opts, cpuLimitFloorMillis: floor }, 0);
    const c = d.spec?.template.spec?.containers[0];
    expect(c?.resources).toEqual({ requests: { memory, cpu }, limits: { memory, cpu: limit } });
    expect(cpuQuantity(cpuMillis(memoryMB))).toBe(cpu);
  });

  it.each([
    {
      name: 'inline code: content-hashed ConfigMap at /var/task as the handler file',
      spec: { handler: 'src/app.main' },
      volume: { configMap: { name: 'hello-code-abc', items: [{ key: 'code', path: 'src/app.js' }] } },
    },
    {
      name: 'ConfigMap code: its files become /var/task',
      spec: { code: { configMap: { name: 'mycode' } } },
      volume: { configMap: { name: 'mycode' } },
    },
  ])('code: $name', ({ spec, volume }) => {
    const d = makeDeployment(plan(spec), opts, 0);
    const pod = d.spec?.template.spec;
    expect(pod?.volumes?.find((v) => v.name === 'code')).toMatchObject(volume);
    expect(pod?.containers[0]?.volumeMounts).toContainEqual({
      name: 'code',
      mountPath: '/var/task',
      readOnly: true,
    });
  });

  it('a code image for a Node.js runtime is the container image (built FROM the runtime image)', () => {
    const d = makeDeployment(
      plan({ code: { image: 'localhost/my/code:1' } }, { codeConfigMap: undefined }),
      opts,
      0,
    );
    expect(d.spec?.template.spec?.containers.map((c) => c.image)).toEqual(['localhost/my/code:1']);
    expect(d.spec?.template.spec?.volumes?.map((v) => v.name)).toEqual(['tmp']);
  });

  it('runtime provided: custom image beside a sluice-runtime sidecar sharing the process namespace', () => {
    const d = makeDeployment(
      plan(
        { runtime: 'provided', code: { image: 'localhost/custom:1' }, memoryMB: 512 },
        { codeConfigMap: undefined },
      ),
      opts,
      0,
    );
    const pod = d.spec?.template.spec;
    expect(pod?.shareProcessNamespace).toBe(true);
    // sluice-runtime is a native sidecar: listening before the custom runtime starts.
    expect(pod?.initContainers?.map((c) => [c.name, c.image, c.restartPolicy])).toEqual([
      ['sluice-runtime', 'localhost/sluice/runtime-nodejs22:dev', 'Always'],
    ]);
    expect(pod?.initContainers?.[0]?.startupProbe?.httpGet?.path).toBe('/healthz');
    expect(pod?.initContainers?.[0]?.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(pod?.containers.map((c) => [c.name, c.image])).toEqual([['function', 'localhost/custom:1']]);
    expect(envOf(pod?.containers[0])).toMatchObject({
      AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      _HANDLER: 'index.handler',
    });
    expect(pod?.containers[0]?.env?.find((e) => e.name === 'AWS_LAMBDA_LOG_STREAM_NAME')?.valueFrom).toEqual({
      fieldRef: { fieldPath: 'metadata.name' },
    });
    expect(envOf(pod?.initContainers?.[0])).toMatchObject({ SLUICE_RUNTIME: 'provided' });
    expect(pod?.containers[0]?.resources?.limits?.memory).toBe('512Mi');
  });

  it.each([
    { name: 'nodejs22', runtime: 'nodejs22', image: 'localhost/sluice/runtime-nodejs22:dev' },
    { name: 'nodejs24', runtime: 'nodejs24', image: 'localhost/sluice/runtime-nodejs24:dev' },
  ])('runtime image: $name', ({ runtime, image }) => {
    const d = makeDeployment(plan({ runtime: runtime as FunctionSpec['runtime'] }), opts, 0);
    expect(d.spec?.template.spec?.containers[0]?.image).toBe(image);
  });

  it('restricted pod security: non-root, read-only root, no capabilities, RuntimeDefault seccomp', () => {
    const d = makeDeployment(plan(), opts, 0);
    const pod = d.spec?.template.spec;
    expect(pod?.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    for (const c of pod?.containers ?? []) {
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
    }
  });

  it.each([
    { name: 'no execution role: default account, no token', role: undefined, sa: 'default', token: false },
    { name: 'execution role: its account and token', role: 'reader', sa: 'reader', token: true },
  ])('identity: $name', ({ role, sa, token }) => {
    const d = makeDeployment(plan(role ? { executionRole: { serviceAccountName: role } } : {}), opts, 0);
    expect(d.spec?.template.spec?.serviceAccountName).toBe(sa);
    expect(d.spec?.template.spec?.automountServiceAccountToken).toBe(token);
  });

  it('/tmp is an emptyDir limited to ephemeralStorageMB', () => {
    const d = makeDeployment(plan({ ephemeralStorageMB: 1024 }), opts, 0);
    expect(d.spec?.template.spec?.volumes?.find((v) => v.name === 'tmp')).toEqual({
      name: 'tmp',
      emptyDir: { sizeLimit: '1024Mi' },
    });
  });

  it('names, labels, owner and runtime settings follow the version', () => {
    const d = makeDeployment(
      plan({ timeoutSeconds: 30, environment: { A: '1' } }, { version: '3' }),
      opts,
      2,
    );
    expect(d.metadata?.name).toBe('hello-v3');
    expect(d.spec?.replicas).toBe(2);
    expect(d.metadata?.ownerReferences).toEqual([owner]);
    expect(d.spec?.selector.matchLabels).toEqual({
      'sluice.dev/function': 'hello',
      'sluice.dev/version': '3',
    });
    expect(d.spec?.template.metadata?.labels).toMatchObject({
      'sluice.dev/function': 'hello',
      'sluice.dev/version': '3',
      'app.kubernetes.io/component': 'function',
    });
    expect(envOf(d.spec?.template.spec?.containers[0])).toMatchObject({
      SLUICE_FUNCTION_VERSION: '3',
      SLUICE_TIMEOUT_SECONDS: '30',
      SLUICE_ENV_A: '1',
    });
    expect(d.spec?.template.spec?.terminationGracePeriodSeconds).toBe(35);
  });
});

describe('invoke token', () => {
  const keyed = { ...opts, invokeKey: Buffer.from('k'.repeat(64)) };
  const holders = (spec: Partial<FunctionSpec>, o: BuildOptions = keyed): string[] => {
    const pod = makeDeployment(plan(spec, { codeConfigMap: undefined }), o, 0).spec?.template.spec;
    return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]
      .filter((c) => c.volumeMounts?.some((m) => m.name === 'invoke-token' && m.readOnly))
      .filter((c) => envOf(c).SLUICE_INVOKE_TOKEN_FILE === '/var/run/sluice/invoke/token')
      .map((c) => c.name);
  };

  it.each([
    { name: 'built-in runtime: its one container, sluice-runtime', spec: {}, want: ['function'] },
    {
      name: 'custom runtime: the sluice-runtime sidecar, never the custom container',
      spec: { runtime: 'provided', code: { image: 'r/custom:1' } },
      want: ['sluice-runtime'],
    },
  ])('$name', ({ spec, want }) => {
    expect(holders(spec as Partial<FunctionSpec>)).toEqual(want);
  });

  it('is the function’s own Secret, readable by the pod’s group only', () => {
    const pod = makeDeployment(plan(), keyed, 0).spec?.template.spec;
    expect(pod?.volumes?.find((v) => v.name === 'invoke-token')?.secret).toEqual({
      secretName: 'sluice-invoke-hello',
      defaultMode: 0o440,
    });
  });

  it('without a platform key: no token, no check', () => {
    expect(holders({}, opts)).toEqual([]);
    const env = envOf(makeDeployment(plan(), opts, 0).spec?.template.spec?.containers[0]);
    expect(env.SLUICE_INVOKE_TOKEN_FILE).toBeUndefined();
  });

  it('the Secret holds HMAC-SHA256(key, "invoke:NAMESPACE/NAME") and belongs to the Function', () => {
    const secret = makeInvokeTokenSecret('ns1', 'hello', keyed.invokeKey, owner);
    expect(secret.metadata).toMatchObject({
      name: 'sluice-invoke-hello',
      namespace: 'ns1',
      ownerReferences: [owner],
    });
    expect(Buffer.from(secret.data?.token ?? '', 'base64').toString()).toBe(
      invokeToken(keyed.invokeKey, 'ns1', 'hello'),
    );
    expect(Object.keys(secret.data ?? {})).toEqual(['token']);
  });
});

describe('policy before code', () => {
  const waiting: BuildOptions = {
    ...opts,
    policyWait: {
      canary: 'sluice-policy-canary.sluice-system.svc:8070',
      controlPort: 8080,
      budgetSeconds: 45,
    },
  };
  const pod = (spec: Partial<FunctionSpec>, o = waiting) =>
    makeDeployment(plan(spec, { codeConfigMap: undefined }), o, 0).spec?.template.spec;
  const policyEnv = {
    SLUICE_POLICY_CANARY: 'sluice-policy-canary.sluice-system.svc:8070',
    SLUICE_POLICY_CONTROL_PORT: '8080',
    SLUICE_POLICY_WAIT_SECONDS: '45',
  };

  it('built-in runtime: sluice-runtime waits before it starts the handler; no extra container', () => {
    const p = pod({});
    expect(p?.initContainers).toBeUndefined();
    expect(envOf(p?.containers[0])).toMatchObject(policyEnv);
    expect(p?.containers[0]?.terminationMessagePolicy).toBe('FallbackToLogsOnError');
  });

  it('custom runtime: the sidecar waits before it serves /healthz, which holds the custom container back', () => {
    const p = pod({ runtime: 'provided', code: { image: 'r/custom:1' } });
    expect(envOf(p?.initContainers?.[0])).toMatchObject(policyEnv);
    expect(Object.keys(envOf(p?.containers[0])).filter((k) => k.startsWith('SLUICE_POLICY'))).toEqual([]);
    // Its startup probe outlasts the budget.
    expect(p?.initContainers?.[0]?.startupProbe?.failureThreshold).toBeGreaterThanOrEqual(45 + 60);
  });

  it('a Node.js code image (the tenant’s own build of sluice-runtime): the platform’s image waits first, as an init container', () => {
    const p = pod({ code: { image: 'registry.example/team/code:1' } });
    expect(p?.initContainers?.map((c) => [c.name, c.image, c.args, c.restartPolicy])).toEqual([
      [
        'sluice-policy-wait',
        'localhost/sluice/runtime-nodejs22:dev',
        ['/app/dist/runtime/policy-main.js'],
        undefined,
      ],
    ]);
    expect(envOf(p?.initContainers?.[0])).toEqual(policyEnv);
    expect(p?.initContainers?.[0]?.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
    });
  });

  it('no canary configured: no wait', () => {
    const p = pod({ code: { image: 'registry.example/team/code:1' } }, opts);
    expect(p?.initContainers).toBeUndefined();
    expect(envOf(p?.containers[0]).SLUICE_POLICY_CANARY).toBeUndefined();
  });

  it.each([
    { name: 'public', spec: {} },
    { name: 'private', spec: { network: { mode: 'private' } } },
    { name: 'private with internet', spec: { network: { mode: 'private', allowInternet: true } } },
  ])(
    '$name: the gateway pods are reachable on the invoke port only, never on the canary port',
    ({ spec }) => {
      const egress = makeNetworkPolicy(
        'ns1',
        'hello',
        plan(spec as Partial<FunctionSpec>).spec,
        owner,
        waiting,
      ).spec?.egress;
      const toPlatform = (egress ?? []).filter((r) =>
        (r.to ?? []).some(
          (p) => p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'sluice-system',
        ),
      );
      expect(toPlatform.map((r) => r.ports?.map((p) => p.port))).toEqual([[8080]]);
      for (const r of egress ?? [])
        for (const p of r.to ?? [])
          if (p.ipBlock)
            expect(p.ipBlock.except).toEqual(
              expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']),
            );
    },
  );
});

describe('image pull policy', () => {
  const trusted = { ...opts, trustedImagePrefixes: ['registry.example.com/platform/', 'localhost/'] };
  const policies = (spec: Partial<FunctionSpec>, o = opts): string[] => {
    const pod = makeDeployment(plan(spec, { codeConfigMap: undefined }), o, 0).spec?.template.spec;
    return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])].map(
      (c) => `${c.name}=${c.imagePullPolicy}`,
    );
  };

  it.each([
    { name: 'built-in runtime: the platform image', spec: {}, o: opts, want: ['function=IfNotPresent'] },
    {
      name: 'a tenant code image: Always (the kubelet checks this pod may pull it)',
      spec: { code: { image: 'registry.example.com/team-b/secret:1' } },
      o: opts,
      want: ['function=Always'],
    },
    {
      name: 'a custom runtime image: Always, its sidecar (the platform image) not',
      spec: { runtime: 'provided', code: { image: 'registry.example.com/team-b/custom:1' } },
      o: opts,
      want: ['sluice-runtime=IfNotPresent', 'function=Always'],
    },
    {
      name: 'an image under a trusted prefix',
      spec: { runtime: 'provided', code: { image: 'localhost/sluice/custom-runtime-example:dev' } },
      o: trusted,
      want: ['sluice-runtime=IfNotPresent', 'function=IfNotPresent'],
    },
    {
      name: 'a prefix is matched as written: another repository that merely starts alike is not trusted',
      spec: { code: { image: 'registry.example.com/platform-evil/x:1' } },
      o: trusted,
      want: ['function=Always'],
    },
  ])('$name', ({ spec, o, want }) => {
    expect(policies(spec as Partial<FunctionSpec>, o)).toEqual(want);
  });
});

describe('function environment', () => {
  const names = (c: { env?: { name: string }[] } | undefined): string[] => (c?.env ?? []).map((e) => e.name);

  it("built-in runtime: the function's variables reach sluice-runtime only as SLUICE_ENV_*, never as its own", () => {
    const d = makeDeployment(
      plan({ environment: { NODE_OPTIONS: '--require /var/task/x.js', A: '1' } }),
      opts,
      0,
    );
    const c = d.spec?.template.spec?.containers[0];
    expect(envOf(c)).toMatchObject({
      SLUICE_ENV_NODE_OPTIONS: '--require /var/task/x.js',
      SLUICE_ENV_A: '1',
    });
    expect(names(c)).not.toContain('NODE_OPTIONS');
    expect(names(c)).not.toContain('A');
  });

  it.each([
    { name: 'built-in runtime', spec: {}, container: 'function' },
    {
      name: 'Node.js code image',
      spec: { code: { image: 'registry.example/code:1' } },
      container: 'function',
    },
    {
      name: 'custom runtime',
      spec: { runtime: 'provided', code: { image: 'registry.example/custom:1' } },
      container: 'function',
    },
  ])("$name: the platform's variables come last and once, whatever the spec holds", ({ spec, container }) => {
    // Reserved names the API server rejects; a spec stored before that rule must still lose.
    const environment = {
      SLUICE_FUNCTION_NAMESPACE: 'victim',
      SLUICE_FUNCTION_NAME: 'other',
      AWS_LAMBDA_FUNCTION_NAME: 'other',
      _HANDLER: 'evil.handler',
    };
    const d = makeDeployment(
      plan({ ...(spec as Partial<FunctionSpec>), environment }, { codeConfigMap: undefined }),
      opts,
      0,
    );
    const c = d.spec?.template.spec?.containers.find((x) => x.name === container);
    const list = names(c);
    expect(new Set(list).size).toBe(list.length);
    const env = envOf(c);
    for (const [k, v] of Object.entries(environment)) expect(env[k], k).not.toBe(v);
  });
});

describe('makeService', () => {
  it('is headless, selects the version, and exposes the invoke port', () => {
    const s = makeService(plan({}, { version: '2' }));
    expect(s.metadata?.name).toBe('hello-v2');
    expect(s.spec?.clusterIP).toBe('None');
    expect(s.spec?.selector).toEqual({ 'sluice.dev/function': 'hello', 'sluice.dev/version': '2' });
    expect(s.spec?.ports?.[0]).toMatchObject({ name: 'http', port: 8080 });
    expect(s.metadata?.labels?.['sluice.dev/function']).toBe('hello');
  });
});

describe('makeNetworkPolicy', () => {
  const egressOf = (spec: Partial<FunctionSpec>): unknown[] =>
    makeNetworkPolicy('ns1', 'hello', plan(spec).spec, owner, opts).spec?.egress ?? [];
  const hasInternet = (rules: unknown[]): boolean => JSON.stringify(rules).includes('0.0.0.0/0');

  it.each([
    {
      name: 'public (default): DNS, gateway, internet without private ranges',
      spec: {},
      internet: true,
      peers: 0,
    },
    {
      name: 'private: DNS, gateway, listed peers only',
      spec: {
        network: { mode: 'private', peers: [{ namespace: 'db', podSelector: { app: 'pg' }, ports: [5432] }] },
      },
      internet: false,
      peers: 1,
    },
    {
      name: 'private with allowInternet',
      spec: { network: { mode: 'private', allowInternet: true } },
      internet: true,
      peers: 0,
    },
  ])('egress: $name', ({ spec, internet, peers }) => {
    const rules = egressOf(spec as Partial<FunctionSpec>);
    expect(hasInternet(rules)).toBe(internet);
    expect(rules.length).toBe(2 + peers + (internet ? 1 : 0));
    if (internet) expect(JSON.stringify(rules)).toContain('10.0.0.0/8');
  });

  it('ingress only from the platform namespace’s gateway pods on the invoke port, and from the monitoring namespace on the metrics port', () => {
    const np = makeNetworkPolicy('ns1', 'hello', plan().spec, owner, opts);
    expect(np.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec?.ingress).toEqual([
      {
        _from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'sluice-system' } },
            podSelector: { matchLabels: opts.gatewayPodLabels },
          },
        ],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
      {
        _from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
        ports: [{ protocol: 'TCP', port: 9091 }],
      },
    ]);
    expect(np.spec?.podSelector?.matchLabels).toEqual({
      'sluice.dev/function': 'hello',
      'app.kubernetes.io/component': 'function',
    });
  });
});

describe('function telemetry', () => {
  const settings = {
    functionOtlpEndpoint: 'http://otel-collector.observability:4318',
    functionOtlpProtocol: 'http/json' as const,
    otlpCollectorNamespace: 'observability',
    otlpCollectorSelector: 'app=otel-collector',
  };
  const traced = { ...opts, ...functionTelemetry(settings) };

  it('none without an endpoint: no OTEL_* variables, no collector egress', () => {
    expect(functionTelemetry({ ...settings, functionOtlpEndpoint: '' })).toEqual({});
    const env = envOf(makeDeployment(plan(), opts, 0).spec?.template.spec?.containers[0]);
    expect(Object.keys(env).filter((k) => k.startsWith('OTEL_'))).toEqual([]);
  });

  it('sluice-runtime exports to the endpoint, as a service named after the function', () => {
    const env = envOf(
      makeDeployment(plan({}, { version: '3' }), traced, 0).spec?.template.spec?.containers[0],
    );
    expect(env).toMatchObject({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'hello',
      OTEL_RESOURCE_ATTRIBUTES: 'faas.name=hello,faas.version=3,k8s.namespace.name=ns1,cloud.region=sluice',
    });
  });

  it('a custom runtime: the variables go to the sluice-runtime sidecar', () => {
    const d = makeDeployment(plan({ runtime: 'provided', code: { image: 'example/fn:1' } }), traced, 0);
    const sidecar = d.spec?.template.spec?.initContainers?.find((c) => c.name === 'sluice-runtime');
    expect(envOf(sidecar).OTEL_SERVICE_NAME).toBe('hello');
  });

  it.each([
    { name: 'public', spec: {} },
    { name: 'private', spec: { network: { mode: 'private' } } },
  ])('$name functions may reach the collector pods on the endpoint port', ({ spec }) => {
    const egress = makeNetworkPolicy('ns1', 'hello', plan(spec as Partial<FunctionSpec>).spec, owner, traced)
      .spec?.egress;
    expect(egress).toContainEqual({
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } },
          podSelector: { matchLabels: { app: 'otel-collector' } },
        },
      ],
      ports: [{ protocol: 'TCP', port: 4318 }],
    });
  });

  it('no collector egress without both its namespace and selector', () => {
    expect(
      functionTelemetry({ ...settings, otlpCollectorSelector: '' }).telemetry?.collector,
    ).toBeUndefined();
  });

  it.each([
    ['http://c:4318', 4318],
    ['https://c.example', 443],
    ['http://c/v1', 80],
  ])('endpointPort(%s) = %d', (url, port) => expect(endpointPort(url)).toBe(port));
});

describe('code ConfigMap', () => {
  it.each([
    { name: 'plain module', handler: 'index.handler', file: 'index.js' },
    { name: 'nested path', handler: 'src/app.main', file: 'src/app.js' },
    { name: 'explicit .mjs', handler: 'index.mjs.handler', file: 'index.mjs' },
  ])('file for handler: $name', ({ handler, file }) => {
    expect(inlineCodeFile(handler)).toBe(file);
  });

  it('is immutable and named by the content hash', () => {
    const a = makeCodeConfigMap('ns1', 'hello', 'code A', owner);
    const b = makeCodeConfigMap('ns1', 'hello', 'code B', owner);
    expect(a.immutable).toBe(true);
    expect(a.metadata?.name).not.toBe(b.metadata?.name);
    expect(a.metadata?.name).toBe(makeCodeConfigMap('ns1', 'hello', 'code A', owner).metadata?.name);
  });
});

describe('parseLabels', () => {
  it('parses a k=v selector', () => {
    expect(parseLabels('a=b, c=d')).toEqual({ a: 'b', c: 'd' });
  });
});
