import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { ROOT } from '../../api/paths.js';
import { findHelm } from '../support/helm.js';

const CHART = join(ROOT, 'charts/sluice');
const MONITORING = 'monitoring.coreos.com/v1';

const HELM = findHelm();

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
};

function helm(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(HELM, args, {
    encoding: 'utf8',
    env: { ...process.env, HELM_NAMESPACE: 'sluice-system' },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const sets = (values: string[]): string[] => values.flatMap((v) => ['--set', v]);

function template(values: string[] = [], extra: string[] = [], chart = CHART): Manifest[] {
  const r = helm(['template', 'sluice', chart, '--namespace', 'sluice-system', ...sets(values), ...extra]);
  expect(r.stderr, r.stderr).not.toMatch(/Error/);
  expect(r.status).toBe(0);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

const find = (ms: Manifest[], kind: string, name?: string): Manifest[] =>
  ms.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
const one = (ms: Manifest[], kind: string, name: string): Manifest => {
  const found = find(ms, kind, name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0]!;
};
const env = (m: Manifest, name: string): string | undefined =>
  (m.spec.template.spec.containers[0].env as { name: string; value?: string }[]).find((e) => e.name === name)
    ?.value;

const ALL_MONITORING = [
  'monitoring.platform.enabled=true',
  'monitoring.functions.enabled=true',
  'monitoring.rules.enabled=true',
  'monitoring.dashboards.enabled=true',
];

describe('helm lint', () => {
  it.each([
    ['default values', []],
    ['3 NATS replicas', ['nats.replicas=3']],
    ['an external NATS', ['nats.externalUrl=nats://nats.messaging:4222']],
    ['monitoring enabled', ALL_MONITORING],
  ])('passes with %s', (_name, values) => {
    // (helm lint has no --api-versions: the guarded templates are checked by helm template below.)
    const r = helm(['lint', CHART, '--strict', ...sets(values)]);
    expect(r.stdout + r.stderr).toContain('0 chart(s) failed');
    expect(r.status).toBe(0);
  });
});

describe('helm template', () => {
  it('renders the platform with default values and no monitoring objects', () => {
    const ms = template([], ['--api-versions', MONITORING]);
    for (const name of ['sluice-controller', 'sluice-gateway', 'sluice-poller']) one(ms, 'Deployment', name);
    expect(one(ms, 'StatefulSet', 'sluice-nats').spec.replicas).toBe(1);
    expect(ms.filter((m) => m.apiVersion === MONITORING)).toEqual([]);
    expect(find(ms, 'ConfigMap').filter((m) => m.metadata.labels?.grafana_dashboard)).toEqual([]);
  });

  it('runs a 3-server JetStream cluster with nats.replicas=3 and replicates streams to match', () => {
    const ms = template(['nats.replicas=3']);
    expect(one(ms, 'StatefulSet', 'sluice-nats').spec.replicas).toBe(3);
    expect(env(one(ms, 'Deployment', 'sluice-gateway'), 'SLUICE_NATS_REPLICAS')).toBe('3');
    expect(env(one(ms, 'Deployment', 'sluice-poller'), 'SLUICE_NATS_REPLICAS')).toBe('3');
  });

  describe('NATS durability: jetstream.sync_interval from nats.jetstream.syncInterval', () => {
    const natsConf = (ms: Manifest[]): string =>
      one(ms, 'ConfigMap', 'sluice-nats-config').data!['nats.conf']!;
    const checksum = (ms: Manifest[]): string =>
      one(ms, 'StatefulSet', 'sluice-nats').spec.template.metadata.annotations['checksum/config'];
    it.each([
      { name: 'the default (fsync before every acknowledgement)', values: [], want: 'always' },
      { name: 'a periodic sync of 10s', values: ['nats.jetstream.syncInterval=10s'], want: '10s' },
      { name: "NATS's own 2m", values: ['nats.jetstream.syncInterval=2m'], want: '2m' },
      {
        name: 'values of a release from before the setting (helm upgrade --reuse-values)',
        values: ['nats.jetstream.syncInterval=null'],
        want: 'always',
      },
    ])('renders sync_interval for $name', ({ values, want }) => {
      const ms = template(values);
      const conf = natsConf(ms);
      expect(conf).toMatch(new RegExp(`^\\s*jetstream \\{[^}]*^\\s*sync_interval: "${want}"$[^}]*\\}`, 'm'));
      if (values.length > 0)
        expect(checksum(ms), 'the servers restart into it').not.toBe(checksum(template()));
    });

    it('the default is fsync-always for the default single replica and for 3 replicas alike', () => {
      expect(natsConf(template(['nats.replicas=3']))).toMatch(/^\s*sync_interval: "always"$/m);
    });
  });

  it("gives the poller a projected token for the gateway's audience, and the gateway that audience", () => {
    const ms = template(['gateway.tokenAudience=faas.example.com']);
    const poller = one(ms, 'Deployment', 'sluice-poller');
    const pod = poller.spec.template.spec;
    expect(pod.volumes).toContainEqual({
      name: 'gateway-token',
      projected: {
        sources: [
          { serviceAccountToken: { audience: 'faas.example.com', expirationSeconds: 3600, path: 'token' } },
        ],
      },
    });
    expect(pod.containers[0].volumeMounts).toContainEqual({
      name: 'gateway-token',
      mountPath: '/var/run/secrets/sluice/gateway-token',
      readOnly: true,
    });
    expect(env(poller, 'SLUICE_TOKEN_FILE')).toBe('/var/run/secrets/sluice/gateway-token/token');
    expect(env(one(ms, 'Deployment', 'sluice-gateway'), 'SLUICE_TOKEN_AUDIENCE')).toBe('faas.example.com');
    expect(env(one(template(), 'Deployment', 'sluice-gateway'), 'SLUICE_TOKEN_AUDIENCE')).toBe('sluice');
  });

  it("passes the gateway's caps and the destinations' blocked ranges from values", () => {
    const ms = template([
      'gateway.limits.maxBufferedRequestBytes=16777216',
      'gateway.limits.maxConnections=512',
      'gateway.anonymousRateLimit.perSecond=5',
      'gateway.anonymousRateLimit.burst=7',
      'gateway.authFailureRateLimit.perMinute=6',
      'gateway.authFailureRateLimit.burst=3',
      'destinations.blockedCidrs={10.0.0.0/8,203.0.113.0/24}',
    ]);
    const gw = one(ms, 'Deployment', 'sluice-gateway');
    expect(
      Object.fromEntries(
        [
          'SLUICE_MAX_BUFFERED_REQUEST_BYTES',
          'SLUICE_MAX_CONNECTIONS',
          'SLUICE_ANONYMOUS_RATE_PER_SECOND',
          'SLUICE_ANONYMOUS_BURST',
          'SLUICE_AUTH_FAILURES_PER_MINUTE',
          'SLUICE_AUTH_FAILURE_BURST',
        ].map((k) => [k, env(gw, k)]),
      ),
    ).toEqual({
      SLUICE_MAX_BUFFERED_REQUEST_BYTES: '16777216',
      SLUICE_MAX_CONNECTIONS: '512',
      SLUICE_ANONYMOUS_RATE_PER_SECOND: '5',
      SLUICE_ANONYMOUS_BURST: '7',
      SLUICE_AUTH_FAILURES_PER_MINUTE: '6',
      SLUICE_AUTH_FAILURE_BURST: '3',
    });
    for (const name of ['sluice-gateway', 'sluice-poller', 'sluice-controller']) {
      expect(env(one(ms, 'Deployment', name), 'SLUICE_DESTINATION_BLOCKED_CIDRS')).toBe(
        '10.0.0.0/8,203.0.113.0/24',
      );
    }
  });

  it("passes the gateway's code storage quota and package garbage collection from values", () => {
    const pick = (gw: Manifest): Record<string, string | undefined> =>
      Object.fromEntries(
        [
          'SLUICE_CODE_STORAGE_QUOTA_MB',
          'SLUICE_PACKAGE_GC_INTERVAL_SECONDS',
          'SLUICE_PACKAGE_GC_GRACE_SECONDS',
        ].map((k) => [k, env(gw, k)]),
      );
    const defaults = {
      SLUICE_CODE_STORAGE_QUOTA_MB: '5120',
      SLUICE_PACKAGE_GC_INTERVAL_SECONDS: '600',
      SLUICE_PACKAGE_GC_GRACE_SECONDS: '3600',
    };
    expect(pick(one(template(), 'Deployment', 'sluice-gateway'))).toEqual(defaults);
    const set = template([
      'gateway.codeStorageQuotaMB=102400',
      'gateway.packageGc.intervalSeconds=0',
      'gateway.packageGc.graceSeconds=86400',
    ]);
    expect(pick(one(set, 'Deployment', 'sluice-gateway'))).toEqual({
      SLUICE_CODE_STORAGE_QUOTA_MB: '102400',
      SLUICE_PACKAGE_GC_INTERVAL_SECONDS: '0',
      SLUICE_PACKAGE_GC_GRACE_SECONDS: '86400',
    });
    // Values of a release from before the settings (helm upgrade --reuse-values).
    const old = template(['gateway.codeStorageQuotaMB=null', 'gateway.packageGc=null']);
    expect(pick(one(old, 'Deployment', 'sluice-gateway'))).toEqual(defaults);
  });

  it('renders the hardening settings with their defaults from values of an older release (helm upgrade --reuse-values)', () => {
    const ms = template([
      'gateway.limits=null',
      'gateway.anonymousRateLimit=null',
      'gateway.authFailureRateLimit=null',
      'gateway.tokenAudience=null',
      'destinations=null',
    ]);
    const gw = one(ms, 'Deployment', 'sluice-gateway');
    expect(env(gw, 'SLUICE_TOKEN_AUDIENCE')).toBe('sluice');
    expect(env(gw, 'SLUICE_MAX_BUFFERED_REQUEST_BYTES')).toBe('67108864');
    expect(env(gw, 'SLUICE_MAX_CONNECTIONS')).toBe('2048');
    expect(env(gw, 'SLUICE_ANONYMOUS_BURST')).toBe('100');
    expect(env(gw, 'SLUICE_AUTH_FAILURE_BURST')).toBe('10');
    expect(env(one(ms, 'Deployment', 'sluice-poller'), 'SLUICE_DESTINATION_BLOCKED_CIDRS')).toBe(
      '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10',
    );
    expect(one(ms, 'Deployment', 'sluice-poller').spec.template.spec.volumes[0].projected.sources[0]).toEqual(
      {
        serviceAccountToken: { audience: 'sluice', expirationSeconds: 3600, path: 'token' },
      },
    );
  });

  it.each([
    ['a buffer cap below one sync request', 'gateway.limits.maxBufferedRequestBytes=1024'],
    ['a CIDR that is not one', 'destinations.blockedCidrs={10.0.0.0}'],
    ['an audience with a comma', 'gateway.tokenAudience=a\\,b'],
    ['a code storage quota of 0', 'gateway.codeStorageQuotaMB=0'],
    ['a package grace period under a minute', 'gateway.packageGc.graceSeconds=5'],
  ])('values.schema.json rejects %s', (_name, value) => {
    const r = helm(['template', 'sluice', CHART, '--set', value]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema|schema/i);
  });

  it('gives each platform pod an ingress NetworkPolicy on the ports it serves', () => {
    const ms = template();
    const ports = (name: string): number[][] =>
      (one(ms, 'NetworkPolicy', name).spec.ingress as { ports: { port: number }[] }[]).map((r) =>
        r.ports.map((p) => p.port),
      );
    expect(ports('sluice-gateway')).toEqual([[8080], [8070], [9090]]);
    expect(ports('sluice-controller')).toEqual([[8081], [9090]]);
    expect(ports('sluice-poller')).toEqual([[8081], [9090]]);
    expect(ports('sluice-nats')).toEqual([[4222], [6222], [8222]]);
    // NATS routes only from NATS servers.
    expect(one(ms, 'NetworkPolicy', 'sluice-nats').spec.ingress[1].from).toEqual([
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'sluice-nats' } } },
    ]);
    for (const np of find(ms, 'NetworkPolicy')) expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(find(template(['networkPolicies.enabled=false']), 'NetworkPolicy')).toEqual([]);
  });

  it('lets only the monitoring namespace’s pods reach the metrics ports (platform 9090, NATS 8222, functions 9091)', () => {
    const ms = template(['networkPolicies.monitoringNamespaceLabels.team=observability']);
    const monitoring = [
      {
        namespaceSelector: {
          matchLabels: { 'kubernetes.io/metadata.name': 'monitoring', team: 'observability' },
        },
      },
    ];
    const fromFor = (np: string, port: number): unknown =>
      (one(ms, 'NetworkPolicy', np).spec.ingress as { from?: unknown; ports: { port: number }[] }[]).find(
        (r) => r.ports[0]?.port === port,
      )?.from;
    for (const name of ['sluice-gateway', 'sluice-controller', 'sluice-poller'])
      expect(fromFor(name, 9090)).toEqual(monitoring);
    // NATS's monitoring port: the platform's own pods too (they read it), and the monitoring namespace.
    expect(fromFor('sluice-nats', 8222)).toEqual([
      {
        podSelector: {
          matchLabels: { 'app.kubernetes.io/part-of': 'sluice', 'app.kubernetes.io/instance': 'sluice' },
        },
      },
      ...monitoring,
    ]);
    expect(env(one(ms, 'Deployment', 'sluice-controller'), 'SLUICE_METRICS_NAMESPACE_SELECTOR')).toBe(
      'kubernetes.io/metadata.name=monitoring,team=observability',
    );
  });

  it('confines the gateway’s and the poller’s Deployment writes to functions’ (ValidatingAdmissionPolicy)', () => {
    const ms = template();
    const vap = one(ms, 'ValidatingAdmissionPolicy', 'sluice-function-scaling');
    expect(vap.spec.matchConstraints.resourceRules[0]).toMatchObject({
      apiGroups: ['apps'],
      operations: ['UPDATE'],
      resources: ['deployments', 'deployments/scale'],
    });
    expect(vap.spec.matchConditions[0].expression).toContain(
      "'system:serviceaccount:sluice-system:sluice-gateway'",
    );
    expect(vap.spec.matchConditions[0].expression).toContain(
      "'system:serviceaccount:sluice-system:sluice-poller'",
    );
    expect(
      one(ms, 'ValidatingAdmissionPolicyBinding', 'sluice-function-scaling').spec.validationActions,
    ).toEqual(['Deny']);
  });

  it('NATS monitoring port: only the platform’s pods and natsMonitoringClients; the client port open (auth protects it)', () => {
    const np = (ms: Manifest[]) =>
      one(ms, 'NetworkPolicy', 'sluice-nats').spec.ingress as { from?: unknown[] }[];
    expect(np(template())[0]?.from).toBeUndefined();
    expect(np(template())[2]?.from).toEqual([
      {
        podSelector: {
          matchLabels: { 'app.kubernetes.io/part-of': 'sluice', 'app.kubernetes.io/instance': 'sluice' },
        },
      },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ]);
    const monitoring = {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
    };
    const withMon = template(
      [],
      ['--set-json', `networkPolicies.natsMonitoringClients=${JSON.stringify([monitoring])}`],
    );
    expect(np(withMon)[2]?.from).toContainEqual(monitoring);
  });

  it('NATS in operator mode: the bootstrap hook, the auth config, creds mounted, limits passed on', () => {
    const ms = template();
    const job = one(ms, 'Job', 'sluice-nats-bootstrap') as Manifest & {
      metadata: { annotations: Record<string, string> };
    };
    expect(job.metadata.annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    expect(job.spec.template.spec.containers[0].args).toEqual(['dist/controller/natsbootstrap/main.js']);
    // Its ServiceAccount, Role and RoleBinding are hooks that come first.
    for (const kind of ['ServiceAccount', 'Role', 'RoleBinding']) {
      const m = one(ms, kind, 'sluice-nats-bootstrap') as Manifest & {
        metadata: { annotations: Record<string, string> };
      };
      expect(m.metadata.annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
      expect(Number(m.metadata.annotations['helm.sh/hook-weight'])).toBeLessThan(0);
    }
    expect(one(ms, 'ConfigMap', 'sluice-nats-config').data?.['nats.conf']).toMatch(
      /^\s*include auth\.conf$/m,
    );
    const sources = one(ms, 'StatefulSet', 'sluice-nats').spec.template.spec.volumes.find(
      (v: { name: string }) => v.name === 'config',
    ).projected.sources;
    expect(sources).toContainEqual({ configMap: { name: 'sluice-nats-auth' } });
    for (const c of ['controller', 'gateway', 'poller']) {
      const d = one(ms, 'Deployment', `sluice-${c}`);
      expect(d.spec.template.spec.volumes).toContainEqual({
        name: 'nats-creds',
        secret: { secretName: `sluice-nats-${c}`, defaultMode: 0o444 },
      });
    }
    const ctl = one(ms, 'Deployment', 'sluice-controller');
    expect(env(ctl, 'SLUICE_NATS_TENANT_DISK_BYTES')).toBe(String(256 * 1024 * 1024));
    expect(env(ctl, 'SLUICE_NATS_BUDGET_DISK_BYTES')).toBe(String(4 * 1024 * 1024 * 1024));
    expect(env(one(ms, 'Deployment', 'sluice-gateway'), 'SLUICE_ASYNC_MAX_BACKLOG_PER_FUNCTION')).toBe(
      '10000',
    );
    // Without NATS, none of it.
    const none = template(['nats.enabled=false', 'poller.enabled=false']);
    expect(find(none, 'Job')).toEqual([]);
    const volumes = (one(none, 'Deployment', 'sluice-controller').spec.template.spec.volumes ?? []) as {
      name: string;
    }[];
    expect(volumes.map((v) => v.name)).not.toContain('nats-creds');
  });

  it('refuses a namespaces’ NATS budget larger than the server’s file store, naming both values', () => {
    const r = helm(['template', 'sluice', CHART, ...sets(['nats.tenants.budget.diskStorage=20Gi'])]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      /nats\.tenants\.budget\.diskStorage \(20Gi\) exceeds nats\.jetstream\.maxFileStore \(8Gi\)/,
    );
  });

  it('telemetry: OTLP settings for the platform and, through the controller, for function pods', () => {
    const off = template();
    for (const d of find(off, 'Deployment')) expect(env(d, 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBeUndefined();
    const ms = template([
      'telemetry.otlp.endpoint=http://otel-collector.observability:4318',
      'telemetry.collector.namespace=observability',
      'telemetry.collector.podLabels.app=otel-collector',
    ]);
    for (const name of ['sluice-controller', 'sluice-gateway', 'sluice-poller']) {
      const d = one(ms, 'Deployment', name);
      expect(env(d, 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe('http://otel-collector.observability:4318');
      expect(env(d, 'OTEL_EXPORTER_OTLP_PROTOCOL')).toBe('http/protobuf');
      expect(env(d, 'OTEL_TRACES_SAMPLER')).toBe('parentbased_always_on');
    }
    const ctl = one(ms, 'Deployment', 'sluice-controller');
    expect(env(ctl, 'SLUICE_FUNCTION_OTLP_ENDPOINT')).toBe('http://otel-collector.observability:4318');
    expect(env(ctl, 'SLUICE_OTLP_COLLECTOR_NAMESPACE')).toBe('observability');
    expect(env(ctl, 'SLUICE_OTLP_COLLECTOR_SELECTOR')).toBe('app=otel-collector');
  });

  it('makes a random invoke key and gives it to the gateway and the controller only', () => {
    const ms = template();
    const secret = one(ms, 'Secret', 'sluice-invoke-key');
    const key = Buffer.from(secret.data?.key ?? '', 'base64').toString();
    expect(key).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(
      Buffer.from(
        template().find((m) => m.kind === 'Secret' && m.metadata.name === 'sluice-invoke-key')?.data?.key ??
          '',
        'base64',
      ).toString(),
    ).not.toBe(key);
    const checksum = createHash('sha256')
      .update(secret.data?.key ?? '')
      .digest('hex')
      .slice(0, 16);
    const mounts = (d: Manifest): string[] =>
      (d.spec.template.spec.volumes ?? [])
        .filter((v: { secret?: { secretName: string } }) => v.secret?.secretName === 'sluice-invoke-key')
        .map((v: { name: string }) => v.name);
    for (const name of ['sluice-gateway', 'sluice-controller']) {
      const d = one(ms, 'Deployment', name);
      expect(env(d, 'SLUICE_INVOKE_KEY_FILE')).toBe('/var/run/sluice/invoke-key/key');
      expect(mounts(d)).toEqual(['invoke-key']);
      expect(d.spec.template.spec.containers[0].volumeMounts).toContainEqual({
        name: 'invoke-key',
        mountPath: '/var/run/sluice/invoke-key',
        readOnly: true,
      });
      // A new key (rotation) rolls them.
      expect(d.spec.template.metadata.annotations['checksum/invoke-key']).toBe(checksum);
    }
    expect(mounts(one(ms, 'Deployment', 'sluice-poller'))).toEqual([]);
    // Upgrades keep the key: the template reads the existing Secret first.
    expect(readFileSync(join(CHART, 'templates/_helpers.tpl'), 'utf8')).toContain(
      'lookup "v1" "Secret" .Release.Namespace "sluice-invoke-key"',
    );
  });

  it("leaves every mounted Secret readable by its pod's non-root user", () => {
    // Secret files belong to root; without an fsGroup only the 'other' read bit lets a
    // runAsUser process read them (a 0440 invoke key crash-looped the gateway and the controller).
    for (const d of [
      ...find(template(), 'Deployment'),
      ...find(template(), 'Job'),
      ...find(template(), 'StatefulSet'),
    ]) {
      const pod = d.spec.template.spec;
      const uid = pod.securityContext?.runAsUser ?? pod.containers[0].securityContext?.runAsUser;
      for (const v of (pod.volumes ?? []) as { name: string; secret?: { defaultMode?: number } }[]) {
        if (!v.secret || uid === 0 || pod.securityContext?.fsGroup !== undefined) continue;
        expect(`${d.metadata.name}/${v.name}: ${((v.secret.defaultMode ?? 0o644) & 0o004) !== 0}`).toBe(
          `${d.metadata.name}/${v.name}: true`,
        );
      }
    }
  });

  it('confines the controller’s Secret writes to invoke tokens (ValidatingAdmissionPolicy)', () => {
    const ms = template();
    const vap = one(ms, 'ValidatingAdmissionPolicy', 'sluice-controller-secrets');
    expect(vap.spec.matchConditions[0].expression).toBe(
      "request.userInfo.username == 'system:serviceaccount:sluice-system:sluice-controller'",
    );
    expect(vap.spec.failurePolicy).toBe('Fail');
    expect(one(ms, 'ValidatingAdmissionPolicyBinding', 'sluice-controller-secrets').spec).toEqual({
      policyName: 'sluice-controller-secrets',
      validationActions: ['Deny'],
    });
  });

  it('policy before code, on by default: the gateway’s canary, its headless Service, the controller’s settings', () => {
    const ms = template();
    const gw = one(ms, 'Deployment', 'sluice-gateway');
    expect(env(gw, 'SLUICE_POLICY_CANARY_PORT')).toBe('8070');
    expect(gw.spec.template.spec.containers[0].ports).toContainEqual({ name: 'canary', containerPort: 8070 });
    const svc = one(ms, 'Service', 'sluice-policy-canary');
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.selector).toEqual({
      'app.kubernetes.io/name': 'sluice-gateway',
      'app.kubernetes.io/instance': 'sluice',
    });
    expect(svc.spec.ports.map((p: { port: number }) => p.port)).toEqual([8070, 8080]);
    const ctl = one(ms, 'Deployment', 'sluice-controller');
    expect(env(ctl, 'SLUICE_POLICY_CANARY')).toBe('sluice-policy-canary.sluice-system.svc:8070');
    expect(env(ctl, 'SLUICE_POLICY_CONTROL_PORT')).toBe('8080');
    expect(env(ctl, 'SLUICE_POLICY_WAIT_SECONDS')).toBe('60');
    // Only the function pods' own policies may refuse the canary: the gateway's admits every pod.
    const ingress = one(ms, 'NetworkPolicy', 'sluice-gateway').spec.ingress as {
      from?: unknown;
      ports: { port: number }[];
    }[];
    expect(ingress.find((r) => r.ports[0]?.port === 8070)?.from).toBeUndefined();

    const off = template(['functions.policyWait.enabled=false']);
    expect(env(one(off, 'Deployment', 'sluice-controller'), 'SLUICE_POLICY_CANARY')).toBeUndefined();
    expect(env(one(off, 'Deployment', 'sluice-gateway'), 'SLUICE_POLICY_CANARY_PORT')).toBeUndefined();
    expect(find(off, 'Service', 'sluice-policy-canary')).toEqual([]);
  });

  it('refuses private peers in the platform’s namespace, kube-system, link-local and the cluster’s networks, for Functions and FunctionVersions', () => {
    const ms = template([
      'functions.network.clusterCidrs={10.244.0.0/16,10.96.0.0/12}',
      'functions.network.allowedPeerNamespaces={kube-system}',
      'functions.network.allowedPeerCidrs={10.96.5.0/24}',
    ]);
    for (const [name, resource] of [
      ['sluice-function-peers', 'functions'],
      ['sluice-functionversion-peers', 'functionversions'],
    ] as const) {
      const vap = one(ms, 'ValidatingAdmissionPolicy', name);
      expect(vap.spec.matchConstraints.resourceRules[0].resources).toEqual([resource]);
      const vars = Object.fromEntries(
        (vap.spec.variables as { name: string; expression: string }[]).map((v) => [v.name, v.expression]),
      );
      expect(vars.deniedNamespaces).toBe("['sluice-system']");
      expect(vars.deniedCidrs).toBe("['169.254.0.0/16','fe80::/10','10.244.0.0/16','10.96.0.0/12']");
      expect(vars.allowedCidrs).toBe("['10.96.5.0/24']");
      expect(one(ms, 'ValidatingAdmissionPolicyBinding', name).spec.validationActions).toEqual(['Deny']);
    }
    const ctl = one(ms, 'Deployment', 'sluice-controller');
    expect(env(ctl, 'SLUICE_PEER_CLUSTER_CIDRS')).toBe('10.244.0.0/16,10.96.0.0/12');
    expect(env(ctl, 'SLUICE_PEER_ALLOWED_NAMESPACES')).toBe('kube-system');
    expect(env(ctl, 'SLUICE_PEER_ALLOWED_CIDRS')).toBe('10.96.5.0/24');
    // With the platform's namespace allowed, its peers must still keep off the policy canary.
    const allowPlatform = template(['functions.network.allowedPeerNamespaces={sluice-system}']);
    const rules = one(allowPlatform, 'ValidatingAdmissionPolicy', 'sluice-function-peers').spec.validations;
    expect(JSON.stringify(rules)).toContain('!(8070 in p.ports)');
  });

  it('trusts no code image prefix unless the admin lists some (functions.trustedImagePrefixes)', () => {
    const ctl = (values: string[] = []): string | undefined =>
      env(one(template(values), 'Deployment', 'sluice-controller'), 'SLUICE_TRUSTED_IMAGE_PREFIXES');
    expect(ctl()).toBe('');
    expect(ctl(['functions.trustedImagePrefixes={localhost/,registry.example.com/platform/}'])).toBe(
      'localhost/,registry.example.com/platform/',
    );
  });

  it('uses an external NATS instead of the StatefulSet with nats.externalUrl', () => {
    const ms = template(['nats.externalUrl=nats://nats.messaging:4222']);
    expect(find(ms, 'StatefulSet')).toEqual([]);
    expect(env(one(ms, 'Deployment', 'sluice-gateway'), 'SLUICE_NATS_URL')).toBe(
      'nats://nats.messaging:4222',
    );
    expect(env(one(ms, 'Deployment', 'sluice-poller'), 'SLUICE_NATS_URL')).toBe('nats://nats.messaging:4222');
  });

  it('accepts the images test/install.sh sets (tags that look like numbers too)', () => {
    const ms = template([
      'image.repository=localhost/sluice/platform',
      'image.tag=6befb4bfed31',
      'runtimeImages.nodejs22=localhost/sluice/runtime-nodejs22:40af48035e94',
      'runtimeImages.nodejs24=localhost/sluice/runtime-nodejs24:4310592805ee',
      'nats.image=localhost/sluice/nats:7baa216cea3f',
      'nats.persistence.storageClassName=sluice-local',
    ]);
    expect(one(ms, 'Deployment', 'sluice-gateway').spec.template.spec.containers[0].image).toBe(
      'localhost/sluice/platform:6befb4bfed31',
    );
    expect(one(ms, 'StatefulSet', 'sluice-nats').spec.template.spec.containers[0].image).toBe(
      'localhost/sluice/nats:7baa216cea3f',
    );
    template(['image.tag=20261128']);
  });

  describe('with monitoring enabled', () => {
    let ms: Manifest[] = [];
    beforeAll(() => {
      ms = template(ALL_MONITORING, ['--api-versions', MONITORING]);
    });

    it('scrapes the gateway through its Service, keeping the metrics’ labels, as job sluice-gateway', () => {
      const sm = one(ms, 'ServiceMonitor', 'sluice-gateway');
      expect(sm.spec.selector.matchLabels['app.kubernetes.io/name']).toBe('sluice-gateway');
      const ep = sm.spec.endpoints[0];
      expect(ep).toMatchObject({ port: 'metrics', path: '/metrics', honorLabels: true });
      expect(ep.relabelings).toContainEqual({ targetLabel: 'job', replacement: 'sluice-gateway' });
      const svc = one(ms, 'Service', 'sluice-gateway');
      expect(svc.spec.ports).toContainEqual(expect.objectContaining({ name: 'metrics', port: 9090 }));
    });

    it('scrapes the controller and the poller pods, job from their name', () => {
      const pm = one(ms, 'PodMonitor', 'sluice-platform');
      expect(pm.spec.selector.matchExpressions[0].values).toEqual(['sluice-controller', 'sluice-poller']);
      expect(pm.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'metrics', honorLabels: true });
      for (const name of ['sluice-controller', 'sluice-poller']) {
        const ports = one(ms, 'Deployment', name).spec.template.spec.containers[0].ports;
        expect(ports).toContainEqual(expect.objectContaining({ name: 'metrics', containerPort: 9090 }));
      }
    });

    it('scrapes function pods in every namespace as job sluice-runtime', () => {
      const pm = one(ms, 'PodMonitor', 'sluice-functions');
      expect(pm.spec.selector.matchLabels).toMatchObject({ 'app.kubernetes.io/component': 'function' });
      expect(pm.spec.namespaceSelector).toEqual({ any: true });
      expect(pm.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'metrics', honorLabels: true });
      expect(pm.spec.podMetricsEndpoints[0].relabelings).toContainEqual({
        targetLabel: 'job',
        replacement: 'sluice-runtime',
      });
    });

    it('ships deploy/prometheus/rules.yaml as the PrometheusRule', () => {
      const rule = one(ms, 'PrometheusRule', 'sluice');
      expect(rule.spec).toEqual(parse(readFileSync(join(ROOT, 'deploy/prometheus/rules.yaml'), 'utf8')));
    });

    it('ships every dashboard of deploy/grafana/ as a ConfigMap for the Grafana sidecar', () => {
      const files = readdirSync(join(ROOT, 'deploy/grafana')).filter((f) => f.endsWith('.json'));
      expect(files.length).toBeGreaterThanOrEqual(5);
      const cms = find(ms, 'ConfigMap').filter((m) => m.metadata.labels?.grafana_dashboard === '1');
      expect(cms.map((m) => Object.keys(m.data ?? {})[0]).sort()).toEqual(files.sort());
      for (const cm of cms) {
        const [file, json] = Object.entries(cm.data ?? {})[0]!;
        expect(JSON.parse(json)).toEqual(
          JSON.parse(readFileSync(join(ROOT, 'deploy/grafana', file), 'utf8')),
        );
      }
    });
  });

  it('renders no Prometheus Operator objects where the cluster does not serve them', () => {
    const ms = template(ALL_MONITORING);
    expect(ms.filter((m) => m.apiVersion === MONITORING)).toEqual([]);
    expect(find(ms, 'ConfigMap').filter((m) => m.metadata.labels?.grafana_dashboard === '1')).toHaveLength(
      readdirSync(join(ROOT, 'deploy/grafana')).filter((f) => f.endsWith('.json')).length,
    );
  });
});

describe('values.schema.json', () => {
  it.each([
    ['nats.replicas=2', '/nats/replicas', 'one of 1, 3'],
    ['gateway.replicas=-1', '/gateway/replicas', 'minimum'],
    ['nats.pullPolicy=Sometimes', '/nats/pullPolicy', 'one of'],
    ['image.pullPolicy=always', '/image/pullPolicy', 'one of'],
    ['controller.logLevel=verbose', '/controller/logLevel', 'one of'],
    ['nats.externalUrl=http://nats:4222', '/nats/externalUrl', ''],
    ['gateway.replicaCount=3', '/gateway', "additional properties 'replicaCount' not allowed"],
    ['monitoring.rules.enable=true', '/monitoring/rules', "additional properties 'enable' not allowed"],
    ['monitoring.platform.interval=soon', '/monitoring/platform/interval', ''],
    ['gateway.resources.requests.cpu=lots', '/gateway/resources/requests/cpu', ''],
    ['functions.trustedImagePrefixes={a b}', '/functions/trustedImagePrefixes/0', 'does not match pattern'],
    ['functions.policyWait.canaryPort=8080', '/functions/policyWait/canaryPort', ''],
    [
      'functions.network.clusterCidrs={10.0.0.0}',
      '/functions/network/clusterCidrs/0',
      'does not match pattern',
    ],
    ['functions.policyWait.budgetSeconds=0', '/functions/policyWait/budgetSeconds', 'minimum'],
    ['nats.jetstream.syncInterval=sometimes', '/nats/jetstream/syncInterval', "value must be 'always'"],
    ['nats.jetstream.syncInterval=2', '/nats/jetstream/syncInterval', 'got number, want string'],
    ['nats.jetstream.syncInterval=0s', '/nats/jetstream/syncInterval', "'0s' does not match pattern '[1-9]'"],
    ['nats.jetstream.syncInterval=2 minutes', '/nats/jetstream/syncInterval', 'does not match pattern'],
  ])('rejects %s naming the field', (value, field, message) => {
    for (const cmd of [['template', 'sluice'], ['lint']]) {
      const r = helm([...cmd, CHART, '--set', value]);
      expect(r.status).not.toBe(0);
      const out = r.stdout + r.stderr;
      expect(out).toContain(`at '${field}'`);
      expect(out).toContain(message);
    }
  });

  it('covers every key of values.yaml', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    const missing: string[] = [];
    const walk = (v: unknown, s: any, path: string): void => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return;
      for (const [k, child] of Object.entries(v)) {
        const sub =
          s?.properties?.[k] ??
          (typeof s?.additionalProperties === 'object' ? s.additionalProperties : undefined);
        if (!sub) missing.push(`${path}${k}`);
        else walk(child, sub, `${path}${k}.`);
      }
    };
    walk(values, schema, '');
    expect(missing).toEqual([]);
  });
});

describe('NOTES.txt', () => {
  // helm template does not render NOTES.txt: render it through tpl in a copy of the chart.
  const dir = mkdtempSync(join(tmpdir(), 'sluice-chart-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const notes = (values: string[], extra: string[] = []): string => {
    const chart = join(dir, 'sluice');
    if (!existsSync(chart)) {
      cpSync(CHART, chart, { recursive: true });
      cpSync(join(chart, 'templates/NOTES.txt'), join(chart, 'NOTES.src'));
      writeFileSync(
        join(chart, 'templates/zz-notes.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes }\ndata:\n  notes: {{ tpl (.Files.Get "NOTES.src") . | toJson }}\n',
      );
    }
    const ms = template(values, ['--show-only', 'templates/zz-notes.yaml', ...extra], chart);
    return ms[0]!.data!.notes!;
  };

  it('shows how to reach the gateway and invoke with curl and the AWS CLI', () => {
    const text = notes([]);
    expect(text).toContain('kubectl -n sluice-system port-forward svc/sluice-gateway 8080:8080');
    expect(text).toContain('curl -s -X POST "$SLUICE_URL/2015-03-31/functions/hello/invocations"');
    expect(text).toContain('create token default --audience sluice');
    expect(text).toContain('sluice.dev/access-key=true');
    expect(text).toContain('aws --endpoint-url "$SLUICE_URL"');
    expect(text).toContain('README.md');
  });

  it('says when monitoring is enabled on a cluster without the Prometheus Operator', () => {
    expect(notes(['monitoring.rules.enabled=true'])).toContain('does not serve monitoring.coreos.com/v1');
    expect(notes(['monitoring.rules.enabled=true'], ['--api-versions', MONITORING])).toContain(
      'PrometheusRule',
    );
  });
});

describe('chart files', () => {
  it('keeps the dashboards of charts/sluice/dashboards and deploy/grafana identical', () => {
    const json = (dir: string): string[] =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort();
    const a = json(join(CHART, 'dashboards'));
    expect(a.length).toBeGreaterThan(0);
    expect(json(join(ROOT, 'deploy/grafana'))).toEqual(a);
    for (const f of a)
      expect(readFileSync(join(ROOT, 'deploy/grafana', f), 'utf8'), f).toBe(
        readFileSync(join(CHART, 'dashboards', f), 'utf8'),
      );
  });

  it('keeps charts/sluice/prometheus/rules.yaml and deploy/prometheus/rules.yaml identical', () => {
    expect(readFileSync(join(CHART, 'prometheus/rules.yaml'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'deploy/prometheus/rules.yaml'), 'utf8'),
    );
  });

  it('finds helm where the build caches it', () => {
    expect(execFileSync(HELM, ['version', '--short'], { encoding: 'utf8' })).toMatch(/^v3\./);
  });
});
