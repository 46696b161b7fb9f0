/**
 * Tenant isolation attacked (issue 13, "What must show"): an attacker suite run AS A TENANT — the
 * ServiceAccount `mallory`, bound to the ClusterRole `edit` in namespace A only, acting through
 * `kubectl --token` (a kubeconfig with the API server and its CA, no administrator certificate) and
 * through a pod it runs in A — against a victim in namespace B set up by an administrator. One test
 * per attack of the issue's first list; each asserts that the attack fails AND that the victim saw
 * nothing: its collector function received no foreign event (nor a replayed one), its stream and
 * consumers still exist, and its own calls, publishes and events still arrive. One more test runs
 * the victim's legitimate paths first, so no attack test passes because the setup was broken.
 *
 * The victim's collector (minReplicas = maxReplicas = concurrencyPerPod = 1: one process) keeps
 * every event it received in memory and answers `{dump: true}` with them and its process identity;
 * every legitimate event carries `legit-<tag>-<n>`, every attack `attack-<tag>-…`. "Nothing more
 * will arrive" is proven by a sentinel, not a sleep: the victim's async consumer takes one event at
 * a time in stream order and its mapping's work queue is FIFO, so a legitimate event sent after an
 * attack and received means the attack would have been received before it.
 *
 * test/e2e/isolation.test.ts covers the pod side as an administrator (the runtime refusing an
 * invoke without the function's token, checked from the node); this file does not repeat it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { jetstream, jetstreamManager, RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { invokeTokenSecretName } from '../../api/invoke-token.js';
import { RUNTIME_INVOKE_PATH, workloadName, LATEST } from '../../api/naming.js';
import type { EventSourceMappingResource, FunctionResource } from '../../api/types.js';
import { computeSignature } from '../../gateway/auth/sigv4.js';
import { consumerName, Subjects } from '../../api/nats-naming.js';
import type { InvocationRecord } from '../../api/records.js';
import { defaultConsumerName } from '../../poller/mapping.js';
import { RecordCollector } from '../integration/support/async-pipeline.js';
import { budget, sleep } from '../support/time.js';
import { imageRef } from './support/env.js';
import {
  API,
  createAccessKey,
  fnManifest,
  forwardGateway,
  gatewayPods,
  lambdaClient,
  serviceAccountToken,
  SYSTEM_NS,
  waitReady,
  type AccessKey,
  type Forward,
} from './support/gateway.js';
import {
  apply,
  cluster,
  createNamespace,
  dumpNamespace,
  forward,
  kubectl,
  waitFor,
  type RunResult,
} from './support/kube.js';
import { connectNats, platformCreds, tenantCreds } from './support/nats.js';

const restricted = {
  runAsNonRoot: true,
  runAsUser: 65532,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** The gateway and NATS as a pod inside the cluster reaches them. */
const GATEWAY_IN_CLUSTER = `http://sluice-gateway.${SYSTEM_NS}.svc.cluster.local:8080`;
const NATS_IN_CLUSTER = `sluice-nats.${SYSTEM_NS}.svc.cluster.local`;
/** Where the attacker pod's token for the gateway (audience sluice) and its ordinary token are. */
const SLUICE_TOKEN_FILE = '/var/run/sluice/token';
const POD_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The victim's collector: keeps what it received (one process: concurrencyPerPod 1). */
const COLLECTOR = `
const os = require('node:os');
const seen = [];
exports.handler = async (event) => {
  if (event && event.dump === true) return { host: os.hostname(), pid: process.pid, seen };
  seen.push(event);
  console.log('collector received ' + JSON.stringify(event).slice(0, 300));
  return { received: seen.length };
};`;

/** The attacker's function URL handler: logs and returns whatever it is given. */
const SPY = `
exports.handler = async (event) => {
  console.log('spy got ' + JSON.stringify(event));
  let body = {};
  try { body = JSON.parse(event.body || '{}'); } catch {}
  if (body.fail) throw new Error('spy fails on purpose');
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ got: event }) };
};`;

/** Succeeds on direct events (its async onSuccess is the SSRF attempt); fails every batch (onFailure). */
const RELAY = `
exports.handler = async (event) => {
  if (event && Array.isArray(event.Records)) throw new Error('relay fails every batch of ' + event.Records.length);
  return { relayed: event };
};`;

const OPEN = `exports.handler = async () => ({ statusCode: 200, body: 'open' });`;

/** Holds its one event for 25 s: the events behind it wait in the async queue. */
const HOG = `exports.handler = async () => { await new Promise((r) => setTimeout(r, 25000)); return { slow: true }; };`;

/** `probe([host, port])`: 'connected', an error code, 'timeout' or 'dns:<code>' (names resolved first). */
const PROBE = `
const net = require('node:net');
const dns = require('node:dns').promises;
const probe = async ([host, port]) => {
  let ip = host;
  if (!net.isIP(host)) {
    try { ip = (await dns.lookup(host)).address; } catch (e) { return 'dns:' + e.code; }
  }
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port });
    const t = setTimeout(() => { s.destroy(); resolve('timeout'); }, 2000);
    s.on('connect', () => { clearTimeout(t); s.destroy(); resolve('connected'); });
    s.on('error', (e) => { clearTimeout(t); resolve(e.code || e.message); });
  });
};`;

/** Probes opened while the module loads: the earliest code of a new pod (policy before code). */
const EARLY = `${PROBE}
const atInit = Promise.all(JSON.parse(process.env.TARGETS).map(probe));
exports.handler = async () => ({ atInit: await atInit });`;

const NOT_CONNECTED = /^(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|timeout)$/;

interface Dump {
  host: string;
  pid: number;
  seen: unknown[];
}

interface PodAnswer {
  status: number;
  type: string | null;
  body: string;
}

interface Condition {
  status?: string;
  reason?: string;
  message?: string;
  lastProcessingResult?: string;
}

interface DeadLetterItem {
  seq: number;
  reason: string;
  requestId: string;
  error?: string;
  destination?: string;
}

/** Each unit an event stands for: the records of a batch one by one, else the event itself. */
function units(event: unknown): string[] {
  const records = (event as { Records?: unknown[] } | null)?.Records;
  return Array.isArray(records) ? records.map((r) => JSON.stringify(r)) : [JSON.stringify(event)];
}

/** The x-amz-date form of a time. */
function amzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

describe('a tenant attacking another tenant on the real cluster (issue 13)', () => {
  let a = ''; // the attacker's namespace
  let b = ''; // the victim's
  const removers: (() => Promise<void>)[] = [];
  const stops: (() => Promise<void>)[] = [];
  const tag = randomBytes(3).toString('hex');
  const TAG = tag.toUpperCase();
  const victimStream = `VICTIM_${TAG}`;
  const victimSubject = `victim.${tag}.orders`;
  const spyStream = `SPY_${TAG}`;
  const spySubject = `spy.${tag}.ok`;
  const malStream = `MAL_${TAG}`;
  const malSubject = `mal.${tag}.jobs`;
  const subjects = new Subjects('sluice');
  let feedConsumer = '';
  let gw: Forward | undefined;
  let natsFwd: Forward | undefined;
  let tmp = '';
  let tenantConfig = '';
  let malloryApiToken = ''; // mallory's token for the API server (kubectl --token)
  let mallory = ''; // mallory's token for the gateway (audience sluice), read from its pod
  let client = ''; // the victim's caller: B's ServiceAccount client, audience sluice
  let ncAdmin: NatsConnection | undefined;
  let ncA: NatsConnection | undefined;
  let ncB: NatsConnection | undefined;
  let jsmAdmin: JetStreamManager | undefined;
  let jsmA: JetStreamManager | undefined;
  let jsmB: JetStreamManager | undefined;
  let spyRecords: RecordCollector | undefined;
  let key: AccessKey | undefined;
  let collectorPod: V1Pod | undefined;
  let collectorProcess = '';
  let natsTargets: [string, number][] = [];
  let gwEnv: Record<string, string> = {};
  let hogPrefilled = false;
  let n = 0;

  const dumpOnFailure = (): void =>
    onTestFailed(async () => {
      await dumpNamespace(a);
      await dumpNamespace(b);
    });

  /** kubectl as mallory: its token, a kubeconfig with the server and CA only (no admin client cert). */
  const asTenant = (args: string[], input?: string): Promise<RunResult> =>
    kubectl(['--kubeconfig', tenantConfig, `--token=${malloryApiToken}`, ...args], input);

  /** Applies an object as mallory; throws with the API server's answer when refused. */
  const tenantApply = async (obj: object): Promise<void> => {
    const r = await asTenant(['apply', '-f', '-'], JSON.stringify(obj));
    if (r.code !== 0)
      throw new Error(`mallory could not apply ${JSON.stringify(obj).slice(0, 200)}: ${r.stderr}`);
  };

  /** The API server's refusal of `obj` for mallory (server-side dry run), or '' when it would store it. */
  const tenantRefusal = async (obj: object): Promise<string> => {
    const r = await asTenant(['apply', '--dry-run=server', '-f', '-'], JSON.stringify(obj));
    return r.code === 0 ? '' : r.stderr;
  };

  /** Runs a Node.js script in mallory's pod (kubectl exec as mallory); its last line of output, parsed. */
  const inPod = async <T>(script: string): Promise<T> => {
    const r = await asTenant(['-n', a, 'exec', 'attacker', '--', 'node', '-e', script]);
    const last = r.stdout.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(last) as T;
    } catch {
      throw new Error(`the script in mallory's pod (exit ${r.code}) printed: ${r.stdout}${r.stderr}`);
    }
  };

  /** From mallory's pod: a POST to the gateway with the token in `tokenFile`. */
  const podCall = (path: string, tokenFile: string, body: unknown): Promise<PodAnswer> =>
    inPod<PodAnswer>(`
(async () => {
  const token = require('node:fs').readFileSync(${JSON.stringify(tokenFile)}, 'utf8').trim();
  const r = await fetch(${JSON.stringify(GATEWAY_IN_CLUSTER + path)}, {
    method: 'POST',
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: ${JSON.stringify(JSON.stringify(body))},
  });
  console.log(JSON.stringify({ status: r.status, type: r.headers.get('x-amzn-errortype'), body: await r.text() }));
})().catch((e) => console.log(JSON.stringify({ status: 0, type: String(e.cause?.code ?? e.message), body: '' })));`);

  /** The victim's Invoke API call to its collector, with its own token. */
  const invokeB = async (
    payload: unknown,
    headers: Record<string, string> = {},
    bearer = client,
  ): Promise<{ status: number; type: string | null; text: string }> => {
    const res = await fetch(`${gw?.base}/2015-03-31/functions/${b}:function:collector/invocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, ...headers },
      body: JSON.stringify(payload),
    });
    return { status: res.status, type: res.headers.get('x-amzn-errortype'), text: await res.text() };
  };

  /** Everything the collector received, and which process holds it. */
  const dump = async (): Promise<Dump & { units: string[] }> => {
    const r = await invokeB({ dump: true });
    if (r.status !== 200) throw new Error(`the victim's dump call answered ${r.status}: ${r.text}`);
    const d = JSON.parse(r.text) as Dump;
    return { ...d, units: d.seen.flatMap(units) };
  };

  /** How many units the collector received that carry `marker`. */
  const received = async (marker: string): Promise<number> =>
    (await dump()).units.filter((u) => u.includes(marker)).length;

  /** A legitimate event of the victim by one of its paths; resolves once the collector has it. */
  const legit = async (path: 'sync' | 'event' | 'stream' | 'sdk'): Promise<string> => {
    const id = `legit-${tag}-${String(++n).padStart(4, '0')}`; // fixed width: no id is a prefix of another
    if (path === 'sync') {
      const r = await invokeB({ legit: id });
      expect(r.status, r.text).toBe(200);
    } else if (path === 'event') {
      const r = await invokeB({ legit: id }, { 'x-amz-invocation-type': 'Event' });
      expect(r.status, r.text).toBe(202);
    } else if (path === 'stream') {
      await jetstream(ncB!).publish(victimSubject, JSON.stringify({ legit: id }));
    } else {
      const lambda = lambdaClient(gw!.base, key!);
      try {
        const out = await lambda.send(
          new InvokeCommand({
            FunctionName: `${b}:function:collector`,
            Payload: JSON.stringify({ legit: id }),
          }),
        );
        expect(out.StatusCode).toBe(200);
      } finally {
        lambda.destroy();
      }
    }
    await waitFor(
      `the victim's collector to receive ${id} (${path})`,
      async () => ((await received(id)) > 0 ? true : undefined),
      60_000,
      250,
    );
    return id;
  };

  /**
   * The victim saw nothing: its calls still succeed; the collector is the process that started
   * (nothing it held was lost) and every unit it received is a legitimate one; its stream, its
   * mapping's consumer and its function's async consumer still exist.
   */
  const victimUntouched = async (): Promise<void> => {
    await legit('sync');
    const d = await dump();
    expect(`${d.host}/${d.pid}`, "the victim's collector process (a restart would lose what it saw)").toBe(
      collectorProcess,
    );
    const foreign = d.units.filter((u) => !u.includes(`legit-${tag}-`) || u.includes('attack-'));
    expect(foreign, 'events the victim did not send').toEqual([]);
    expect((await jsmB!.streams.info(victimStream)).config.name).toBe(victimStream);
    expect((await jsmB!.consumers.info(victimStream, feedConsumer)).name).toBe(feedConsumer);
    const async = await jsmAdmin!.consumers.info('SLUICE_ASYNC', consumerName(b, 'collector'));
    expect(async.config.filter_subject).toBe(subjects.async(b, 'collector'));
  };

  /** The Ready condition (and last result) of one of mallory's objects, read as mallory. */
  const tenantCondition = async (kind: 'fn' | 'esm', name: string): Promise<Condition> => {
    const r = await asTenant(['-n', a, 'get', kind, name, '-o', 'json']);
    if (r.code !== 0) return {};
    const { status } = JSON.parse(r.stdout) as {
      status?: { conditions?: (Condition & { type: string })[]; lastProcessingResult?: string };
    };
    const c = status?.conditions?.find((x) => x.type === 'Ready');
    return { ...c, lastProcessingResult: status?.lastProcessingResult ?? '' };
  };

  /** mallory's dead letters of one of its functions, through the gateway (RBAC: edit in A). */
  const deadLetters = async (ns: string, fn: string, bearer = mallory): Promise<Response> =>
    fetch(`${gw?.base}/sluice/v1/namespaces/${ns}/functions/${fn}/dead-letters`, {
      headers: { authorization: `Bearer ${bearer}` },
    });

  const readyPod = (ns: string, fn: string): Promise<V1Pod> =>
    waitFor(`a ready pod of ${ns}/${fn}`, async () => {
      const pods = await cluster().core.listNamespacedPod({
        namespace: ns,
        labelSelector: `sluice.dev/function=${fn},sluice.dev/version=latest`,
      });
      return pods.items.find(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
    });

  /** A kubeconfig naming the cluster's API server and CA only: whoever uses it brings its own token. */
  const writeTenantKubeconfig = async (): Promise<string> => {
    const c = cluster().kc.getCurrentCluster();
    if (!c) throw new Error('the kubeconfig of .cluster/env has no current cluster');
    const trust = c.caData
      ? { 'certificate-authority-data': c.caData }
      : c.caFile
        ? { 'certificate-authority': c.caFile }
        : { 'insecure-skip-tls-verify': true };
    const file = join(tmp, 'tenant.kubeconfig');
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'sluice',
          cluster: {
            server: c.server,
            ...trust,
            ...(c.tlsServerName ? { 'tls-server-name': c.tlsServerName } : {}),
          },
        },
      ],
      users: [{ name: 'tenant', user: {} }],
      contexts: [{ name: 'tenant', context: { cluster: 'sluice', user: 'tenant' } }],
      'current-context': 'tenant',
    };
    await writeFile(file, JSON.stringify(config), { mode: 0o600 });
    return file;
  };

  /** The victim, set up by an administrator: collector, caller, NATS account, stream and mapping. */
  const setUpVictim = async (): Promise<void> => {
    await apply(
      fnManifest(b, 'collector', {
        code: { inline: COLLECTOR },
        timeoutSeconds: 10,
        scaling: { minReplicas: 1, maxReplicas: 1, concurrencyPerPod: 1 },
      }),
    );
    client = await serviceAccountToken(b, 'client');
    // The victim lends its caller as an execution role to its own functions (test 8 names it from A).
    await kubectl([
      '-n',
      b,
      'annotate',
      'serviceaccount',
      'client',
      'sluice.dev/execution-role=true',
      '--overwrite',
    ]);
    ncB = await connectNats(natsFwd!, await tenantCreds(b));
    jsmB = await jetstreamManager(ncB);
    await jsmB.streams.add({
      name: victimStream,
      subjects: [`victim.${tag}.>`],
      retention: RetentionPolicy.Workqueue,
    });
    feedConsumer = defaultConsumerName(b, 'feed');
    await apply<EventSourceMappingResource>({
      apiVersion: API,
      kind: 'EventSourceMapping',
      metadata: { name: 'feed', namespace: b },
      spec: {
        function: 'collector',
        source: { natsQueue: { stream: victimStream } },
        recordFormat: 'sqs',
        batchSize: 10,
      },
    });
  };

  /** mallory: a ServiceAccount with edit in A only, and its token for the API server. */
  const setUpMallory = async (): Promise<void> => {
    await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'mallory', namespace: a } });
    await apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'mallory-edit', namespace: a },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ kind: 'ServiceAccount', name: 'mallory', namespace: a }],
    });
    const t = await kubectl(['-n', a, 'create', 'token', 'mallory', '--duration=2h']);
    if (t.code !== 0) throw new Error(`kubectl create token mallory: ${t.stderr}`);
    malloryApiToken = t.stdout.trim();
    tenantConfig = await writeTenantKubeconfig();
    for (const what of [
      'functions.sluice.dev',
      'eventsourcemappings.sluice.dev',
      'pods',
      'serviceaccounts',
    ]) {
      await waitFor(`mallory to be able to create ${what} in ${a}`, async () =>
        (await asTenant(['auth', 'can-i', 'create', what, '-n', a])).stdout.trim() === 'yes'
          ? true
          : undefined,
      );
    }
    // Not an administrator (the kubeconfig carries no client certificate): nothing in B.
    expect((await asTenant(['auth', 'can-i', 'get', 'pods', '-n', b])).stdout.trim()).toBe('no');
    expect((await asTenant(['auth', 'can-i', 'create', 'functions.sluice.dev', '-n', b])).stdout.trim()).toBe(
      'no',
    );
  };

  /** What the platform side needs: the administrator's NATS, NATS's addresses, the gateway's settings. */
  const setUpPlatform = async (): Promise<void> => {
    ncAdmin = await connectNats(natsFwd!, await platformCreds());
    jsmAdmin = await jetstreamManager(ncAdmin);
    const { core } = cluster();
    const svc = await core.readNamespacedService({ namespace: SYSTEM_NS, name: 'sluice-nats' });
    const pods = await core.listNamespacedPod({
      namespace: SYSTEM_NS,
      labelSelector: 'app.kubernetes.io/name=sluice-nats',
    });
    natsTargets = [
      [svc.spec?.clusterIP ?? '', 4222] as [string, number],
      ...pods.items.map((p) => [p.status?.podIP ?? '', 4222] as [string, number]),
    ].filter(([host]) => host && host !== 'None');
    const deploy = await kubectl(['-n', SYSTEM_NS, 'get', 'deploy', 'sluice-gateway', '-o', 'json']);
    const containers = (
      JSON.parse(deploy.stdout) as {
        spec: {
          template: { spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] } };
        };
      }
    ).spec.template.spec.containers;
    const env = (containers.find((c) => c.name === 'gateway') ?? containers[0])?.env ?? [];
    gwEnv = Object.fromEntries(
      env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]),
    );
  };

  /** mallory's own resources in A, applied as mallory. */
  const malloryResources = (): object[] => [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'attacker',
        namespace: a,
        // Every label the platform's own pods carry (the gateway's, in the release namespace).
        labels: {
          'app.kubernetes.io/name': 'sluice-gateway',
          'app.kubernetes.io/instance': 'sluice',
          'app.kubernetes.io/part-of': 'sluice',
          'app.kubernetes.io/component': 'gateway',
        },
      },
      spec: {
        serviceAccountName: 'mallory',
        containers: [
          {
            name: 'c',
            image: imageRef(cluster().env, 'testbox'),
            imagePullPolicy: 'Never',
            securityContext: restricted,
            volumeMounts: [{ name: 'sluice-token', mountPath: '/var/run/sluice', readOnly: true }],
          },
        ],
        volumes: [
          {
            name: 'sluice-token',
            projected: {
              sources: [
                { serviceAccountToken: { audience: 'sluice', expirationSeconds: 7200, path: 'token' } },
              ],
            },
          },
        ],
      },
    },
    fnManifest(a, 'spy', {
      code: { inline: SPY },
      scaling: { minReplicas: 1, maxReplicas: 1 },
      invokePolicy: [{ principal: `namespace:${b}` }, { principal: `namespace:${a}` }],
      async: { maxRetryAttempts: 0, onSuccess: `nats:${spySubject}` },
    }),
    fnManifest(a, 'relay', {
      code: { inline: RELAY },
      scaling: { minReplicas: 1, maxReplicas: 1 },
      // A name, not an address: it passes admission; it resolves to the victim's pod.
      async: {
        maxRetryAttempts: 0,
        onSuccess: `http://${workloadName('collector', LATEST)}.${b}:8080${RUNTIME_INVOKE_PATH}`,
      },
    }),
    fnManifest(a, 'open', {
      code: { inline: OPEN },
      scaling: { minReplicas: 1, maxReplicas: 1 },
      invokePolicy: [{ principal: '*' }],
    }),
    fnManifest(a, 'hog', {
      code: { inline: HOG },
      timeoutSeconds: 30,
      scaling: { minReplicas: 0, maxReplicas: 1, concurrencyPerPod: 1 },
      invokePolicy: [{ principal: '*' }],
      async: { maxRetryAttempts: 0 },
    }),
  ];

  /**
   * mallory's function whose first code probes NATS and the victim's pod (by its headless Service's
   * name, which resolves once the victim's pod is ready: apply it after that).
   */
  const earlyManifest = (): FunctionResource =>
    fnManifest(a, 'early', {
      code: { inline: EARLY },
      scaling: { minReplicas: 1, maxReplicas: 1 },
      environment: {
        TARGETS: JSON.stringify([...natsTargets, [`${workloadName('collector', LATEST)}.${b}`, 8080]]),
      },
    });

  beforeAll(async () => {
    for (const prefix of ['e2e-atk-a', 'e2e-atk-b']) {
      const created = await createNamespace(prefix);
      removers.push(created.remove);
      if (!a) a = created.name;
      else b = created.name;
    }
    tmp = await mkdtemp(join(tmpdir(), 'sluice-attack-'));
    [gw, natsFwd] = await Promise.all([forwardGateway(), forward(`svc/${SYSTEM_NS}/sluice-nats:4222`)]);
    await Promise.all([setUpVictim(), setUpMallory(), setUpPlatform()]);
    for (const obj of malloryResources()) await tenantApply(obj);
    await Promise.all([
      (async () => {
        await waitReady(b, 'collector');
        await tenantApply(earlyManifest());
        await waitReady(a, 'early');
      })(),
      ...['spy', 'relay', 'open'].map((fn) => waitReady(a, fn)),
      asTenant(['-n', a, 'wait', '--for=condition=Ready', 'pod/attacker', `--timeout=${budget(120)}s`]).then(
        (r) => {
          if (r.code !== 0) throw new Error(`mallory's pod did not become Ready: ${r.stderr}`);
        },
      ),
      waitFor('the victim mapping feed to be Enabled', async () =>
        (await kubectl(['-n', b, 'get', 'esm', 'feed', '-o', 'jsonpath={.status.state}'])).stdout ===
        'Enabled'
          ? true
          : undefined,
      ),
    ]);
    collectorPod = await readyPod(b, 'collector');
    mallory = await waitFor('the token in mallory pod', async () => {
      const r = await asTenant([
        '-n',
        a,
        'exec',
        'attacker',
        '--',
        'node',
        '-e',
        `process.stdout.write(require('node:fs').readFileSync(${JSON.stringify(SLUICE_TOKEN_FILE)}, 'utf8'))`,
      ]);
      return r.code === 0 && r.stdout ? r.stdout.trim() : undefined;
    });
    // A's account exists (spy has a nats: destination): mallory reads its own namespace's creds.
    const credsA = await waitFor(`Secret ${a}/sluice-nats, read by mallory`, async () => {
      const r = await asTenant(['-n', a, 'get', 'secret', 'sluice-nats', '-o', 'jsonpath={.data.creds}']);
      return r.code === 0 && r.stdout.trim() ? Buffer.from(r.stdout.trim(), 'base64').toString() : undefined;
    });
    ncA = await connectNats(natsFwd, credsA);
    jsmA = await jetstreamManager(ncA);
    spyRecords = await RecordCollector.start(ncA, spyStream, [`spy.${tag}.>`]);
    await jsmA.streams.add({ name: malStream, subjects: [malSubject], retention: RetentionPolicy.Workqueue });
    key = await createAccessKey(`serviceaccount:${b}:client`);
    // The victim's paths work before any attack (else every attack would "fail" for nothing).
    const first = await waitFor('the victim collector to answer', () => dump().catch(() => undefined));
    collectorProcess = `${first.host}/${first.pid}`;
    await legit('stream');
  });

  afterAll(async () => {
    spyRecords?.stop();
    if (hogPrefilled && jsmAdmin) {
      // The flood of test 7c stays in the platform's queue unless purged (deleting a function keeps it).
      await kubectl(['-n', a, 'delete', 'fn', 'hog', '--wait=false', '--ignore-not-found']);
      for (const filter of [subjects.async(a, 'hog'), `sluice.retry.${a}.hog.>`]) {
        await jsmAdmin.streams.purge('SLUICE_ASYNC', { filter }).catch(() => undefined);
      }
    }
    // Mappings first (their finalizers clean up consumers), then the namespaces.
    for (const ns of [a, b].filter(Boolean)) {
      await kubectl(['-n', ns, 'delete', 'esm', '--all', '--wait=true', '--timeout=30s']);
    }
    for (const nc of [ncA, ncB, ncAdmin]) await nc?.close().catch(() => undefined);
    await key?.remove();
    await Promise.all(stops.map((s) => s()));
    await gw?.stop();
    await natsFwd?.stop();
    await Promise.all(removers.map((r) => r()));
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("the legitimate path: the victim's own publish, sync, SigV4 and async calls reach its function", async () => {
    dumpOnFailure();
    // B's own stream, with B's creds, through B's mapping.
    await legit('stream');
    // Through the gateway with a token issued for it, with an access key (the AWS SDK), and as an event.
    await legit('sync');
    await waitFor('the access key to be known to the gateway', () => legit('sdk').catch(() => undefined));
    await legit('event');
    const feed = await kubectl(['-n', b, 'get', 'esm', 'feed', '-o', 'json']);
    const status = (JSON.parse(feed.stdout) as EventSourceMappingResource).status;
    expect(status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    await victimUntouched();
  });

  it("1. a tenant pod without credentials is refused by NATS; with its own namespace's creds it sees no platform stream and none of the victim's", async () => {
    dumpOnFailure();
    // From mallory's pod, speaking the protocol by hand: no credentials, then a JetStream request
    // for the platform's stream and a publish onto the victim's async subject.
    const raw = await inPod<{ how: string; transcript: string }>(`
const s = require('node:net').connect({ host: ${JSON.stringify(NATS_IN_CLUSTER)}, port: 4222 });
let t = '';
let sent = false;
const end = (how) => { console.log(JSON.stringify({ how, transcript: t })); process.exit(0); };
setTimeout(() => end('timeout'), 5000);
s.on('error', (e) => end('error ' + e.code));
s.on('close', () => end('closed'));
s.on('data', (d) => {
  t += d.toString();
  if (!sent && t.includes('\\r\\n')) {
    sent = true;
    const attack = ${JSON.stringify(JSON.stringify({ attack: `attack-${tag}-nats` }))};
    s.write('CONNECT {"verbose":false,"pedantic":false,"protocol":1,"headers":true,"no_responders":true,"lang":"raw","version":"0"}\\r\\n'
      + 'SUB _INBOX.x 1\\r\\nPUB $JS.API.STREAM.INFO.SLUICE_ASYNC _INBOX.x 0\\r\\n\\r\\n'
      + 'PUB ${subjects.async(b, 'collector')} ' + attack.length + '\\r\\n' + attack + '\\r\\nPING\\r\\n');
  }
});`);
    expect(raw.transcript).toMatch(/^INFO \{.*"auth_required":true/);
    expect(raw.transcript).toContain("-ERR 'Authorization Violation'");
    expect(raw.transcript).not.toMatch(/PONG|\r\nMSG |\+OK/);

    // mallory reads its own namespace's creds (used below) but not the victim's or the platform's.
    for (const [ns, secret] of [
      [b, 'sluice-nats'],
      [SYSTEM_NS, 'sluice-nats-admin'],
      [SYSTEM_NS, 'sluice-nats-gateway'],
    ] as const) {
      const r = await asTenant(['-n', ns, 'get', 'secret', secret]);
      expect(r.code, `${ns}/${secret}`).not.toBe(0);
      expect(r.stderr).toMatch(/forbidden/i);
    }

    // With A's creds: the platform's streams, KV and the victim's stream are not in A's account
    // (read-only probes of the platform's; the victim's are also attempted destructively).
    for (const stream of [
      'SLUICE_ASYNC',
      'SLUICE_DLQ',
      'KV_sluice-esm-checkpoints',
      'KV_sluice-schedule-ticks',
      'KV_sluice-async-settle',
      'KV_sluice-concurrency',
    ]) {
      await expect(jsmA!.streams.info(stream), stream).rejects.toThrow(/stream not found/i);
    }
    await expect(jsmA!.consumers.info('SLUICE_ASYNC', consumerName(b, 'collector'))).rejects.toThrow(
      /stream not found/i,
    );
    await expect(jsmA!.streams.info(victimStream)).rejects.toThrow(/stream not found/i);
    await expect(jsmA!.consumers.info(victimStream, feedConsumer)).rejects.toThrow(/stream not found/i);
    await expect(jsmA!.consumers.delete(victimStream, feedConsumer)).rejects.toThrow(/stream not found/i);
    await expect(jsmA!.streams.purge(victimStream)).rejects.toThrow(/stream not found/i);
    await expect(jsmA!.streams.delete(victimStream)).rejects.toThrow(/stream not found/i);
    const names: string[] = [];
    for await (const name of jsmA!.streams.names()) names.push(name);
    expect(names.sort()).toEqual([malStream, spyStream].sort());
    // The platform's replies inside A's account are not A's to read.
    const inbox = ncA!.subscribe('_INBOX_sluice.>');
    const closed = await Promise.race([inbox.closed, sleep(budget(5000)).then(() => 'still open')]);
    expect(String(closed)).toMatch(/permissions violation/i);

    // Injection with A's creds: a JetStream publish finds no stream; a core publish goes nowhere.
    const attack = JSON.stringify({ attack: `attack-${tag}-creds` });
    await expect(jetstream(ncA!).publish(subjects.async(b, 'collector'), attack)).rejects.toThrow(
      /jetstream is not enabled|no responders/i,
    );
    await expect(jetstream(ncA!).publish(victimSubject, attack)).rejects.toThrow(
      /jetstream is not enabled|no responders/i,
    );
    const overheard: string[] = [];
    const everything = ncA!.subscribe('>', {
      callback: (_e, m) => void overheard.push(`${m.subject} ${m.string()}`),
    });
    ncA!.publish(subjects.async(b, 'collector'), attack);
    ncA!.publish(victimSubject, attack);
    await ncA!.flush();
    // The victim's own traffic meanwhile: A hears none of it.
    await legit('stream');
    await legit('event');
    everything.unsubscribe();
    // A hears its own two publishes (its account, its subscription) and nothing of the victim's.
    expect(
      overheard.filter((m) => m.includes('legit-') || (m.startsWith('victim.') && !m.includes(attack))),
    ).toEqual([]);
    await victimUntouched();
  });

  it("2. mappings in A cannot bind the platform's streams, the victim's stream or consumer, nor invoke the victim's function", async () => {
    dumpOnFailure();
    const mapping = (
      name: string,
      spec: Partial<EventSourceMappingResource['spec']>,
    ): EventSourceMappingResource => ({
      apiVersion: API,
      kind: 'EventSourceMapping',
      metadata: { name, namespace: a, labels: { 'e2e.sluice.dev/attack': 'steal' } },
      spec: { function: 'spy', source: { natsQueue: { stream: malStream } }, ...spec },
    });
    const attacks: { esm: EventSourceMappingResource; reason: string; message: RegExp }[] = [
      ...[
        ['steal-async', { natsQueue: { stream: 'SLUICE_ASYNC' } }],
        [
          'steal-async-consumer',
          { natsQueue: { stream: 'SLUICE_ASYNC', consumer: consumerName(b, 'collector') } },
        ],
        ['steal-dlq', { natsStream: { stream: 'SLUICE_DLQ' } }],
        ['steal-checkpoints', { natsStream: { stream: 'KV_sluice-esm-checkpoints' } }],
        ['steal-victim', { natsQueue: { stream: victimStream } }],
        ['steal-consumer', { natsQueue: { stream: victimStream, consumer: feedConsumer } }],
      ].map(([name, source]) => {
        const stream = Object.values(source as Record<string, { stream: string }>)[0]!.stream;
        return {
          esm: mapping(name as string, { source: source as EventSourceMappingResource['spec']['source'] }),
          reason: 'StreamNotFound',
          message: new RegExp(`stream ${stream} not found in the NATS account of namespace ${a}`),
        };
      }),
      {
        esm: mapping('steal-function', { function: `arn:aws:lambda:sluice:${b}:function:collector` }),
        reason: 'InvalidSpec',
        message: /must be NAME or NAME:QUALIFIER/,
      },
    ];
    for (const { esm } of attacks) await tenantApply(esm);
    for (const { esm, reason, message } of attacks) {
      const name = esm.metadata.name!;
      const c = await waitFor(
        `mallory's mapping ${name} to be refused (${reason})`,
        async () => {
          const cond = await tenantCondition('esm', name);
          return cond.reason === reason ? cond : undefined;
        },
        90_000,
        1000,
      );
      expect(c.status, name).toBe('False');
      expect(c.message, name).toMatch(message);
    }
    // The victim's own mapping is untouched and still delivers, its dead letters are not mallory's
    // to read, and nothing of B's can be written from A.
    const feed = JSON.parse(
      (await kubectl(['-n', b, 'get', 'esm', 'feed', '-o', 'json'])).stdout,
    ) as EventSourceMappingResource;
    expect(feed.status?.state).toBe('Enabled');
    await legit('stream');
    await legit('event');
    const theirs = await deadLetters(b, 'collector');
    expect(theirs.status, await theirs.text()).toBe(403);
    expect(theirs.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    expect((await asTenant(['-n', b, 'get', 'esm'])).stderr).toMatch(/forbidden/i);
    expect(await tenantRefusal({ ...mapping('in-b', {}), metadata: { name: 'in-b', namespace: b } })).toMatch(
      /forbidden/i,
    );

    // Deleting its mappings (their finalizers run in A's account) removes none of B's consumers.
    const del = await asTenant([
      '-n',
      a,
      'delete',
      'esm',
      '-l',
      'e2e.sluice.dev/attack=steal',
      '--wait=false',
    ]);
    expect(del.code, del.stderr).toBe(0);
    await waitFor("mallory's mappings to be gone (finalizers done)", async () =>
      (
        await asTenant(['-n', a, 'get', 'esm', '-l', 'e2e.sluice.dev/attack=steal', '-o', 'name'])
      ).stdout.trim() === ''
        ? true
        : undefined,
    );
    await legit('stream');
    await victimUntouched();
  });

  it('3. destinations: reserved subjects and private addresses are refused at admission; a name resolving into the cluster is refused at delivery, by the gateway and by the poller', async () => {
    dumpOnFailure();
    const podIP = collectorPod?.status?.podIP ?? '';
    expect(podIP).not.toBe('');
    const invokeUrl = (host: string): string => `http://${host}:8080${RUNTIME_INVOKE_PATH}`;
    const onFailure = (uri: string): EventSourceMappingResource => ({
      apiVersion: API,
      kind: 'EventSourceMapping',
      metadata: { name: 'ssrf', namespace: a },
      spec: {
        function: 'relay',
        source: { natsQueue: { stream: malStream } },
        maximumRetryAttempts: 0,
        onFailure: uri,
      },
    });
    const reserved = 'must not be a NATS subject under sluice. or $: those are reserved for the platform';
    const privateV4 =
      'must not be a loopback, private, link-local (169.254.0.0/16), shared (100.64.0.0/10), multicast or reserved IPv4 address';
    const refusals: [string, object, string][] = [
      [
        'mapping → victim async subject',
        onFailure(`nats:${subjects.async(b, 'collector')}`),
        `spec.onFailure ${reserved}`,
      ],
      [
        'mapping → victim dead letters',
        onFailure(`nats:sluice.dlq.${b}.collector`),
        `spec.onFailure ${reserved}`,
      ],
      ['mapping → victim pod IP', onFailure(invokeUrl(podIP)), `spec.onFailure ${privateV4}`],
      [
        'mapping → metadata service',
        onFailure('http://169.254.169.254/latest/meta-data/'),
        `spec.onFailure ${privateV4}`,
      ],
      [
        'mapping → victim Service name',
        onFailure(invokeUrl(`${workloadName('collector', LATEST)}.${b}.svc.cluster.local`)),
        'spec.onFailure must not name localhost, *.svc, *.cluster.local or *.internal',
      ],
      [
        'mapping → IPv4 as one number',
        onFailure(invokeUrl('167772161')),
        'spec.onFailure must write an IPv4 host as a plain dotted quad',
      ],
      [
        'mapping → IPv4-mapped IPv6',
        onFailure(invokeUrl(`[::ffff:${podIP}]`)),
        'spec.onFailure must be a global unicast IPv6 address',
      ],
      [
        'function onSuccess → victim pod IP',
        fnManifest(a, 'ssrf', { async: { onSuccess: invokeUrl(podIP) } }),
        `spec.async.onSuccess ${privateV4}`,
      ],
      [
        'function onFailure → victim async subject',
        fnManifest(a, 'ssrf', { async: { onFailure: `nats:${subjects.async(b, 'collector')}` } }),
        `spec.async.onFailure ${reserved}`,
      ],
    ];
    for (const [name, obj, want] of refusals) expect(await tenantRefusal(obj), name).toContain(want);

    // A name admission cannot judge (collector-latest.<B> resolves through the cluster's search
    // path to the victim's pod): the gateway's delivery refuses it after resolving.
    const sent = await fetch(`${gw?.base}/2015-03-31/functions/${a}:function:relay/invocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${mallory}`, 'x-amz-invocation-type': 'Event' },
      body: JSON.stringify({ attack: `attack-${tag}-relay` }),
    });
    expect(sent.status, await sent.text()).toBe(202);
    const requestId = sent.headers.get('x-amzn-requestid');
    const letter = await waitFor('the relay record to be a dead letter', async () => {
      const r = await deadLetters(a, 'relay');
      if (r.status !== 200) throw new Error(`dead letters answered ${r.status}: ${await r.text()}`);
      const page = (await r.json()) as { items: DeadLetterItem[] };
      return page.items.find((i) => i.requestId === requestId);
    });
    expect(letter.reason).toBe('DestinationDeliveryFailed');
    expect(letter.error).toMatch(/is refused: it resolves to/);

    // The poller's delivery of a mapping's onFailure: the same contract, the same refusal.
    await tenantApply(onFailure(invokeUrl(`${workloadName('collector', LATEST)}.${b}`)));
    await waitFor('mallory mapping ssrf to poll', async () =>
      (await tenantCondition('esm', 'ssrf')).status === 'True' ? true : undefined,
    );
    await jetstream(ncA!).publish(malSubject, JSON.stringify({ attack: `attack-${tag}-bounce` }));
    const refused = await waitFor('the poller to refuse the onFailure delivery', async () => {
      const c = await tenantCondition('esm', 'ssrf');
      return /DestinationDeliveryFailed/.test(c.lastProcessingResult ?? '')
        ? c.lastProcessingResult
        : undefined;
    });
    expect(refused).toMatch(/is refused: it resolves to/);
    await asTenant(['-n', a, 'delete', 'esm', 'ssrf', '--wait=false']);
    await legit('event');
    await victimUntouched();
  });

  it("4. a pod wearing the platform's labels reaches neither the victim's function pod nor NATS's monitoring port, and cannot read the victim's invoke token", async () => {
    dumpOnFailure();
    const podIP = collectorPod?.status?.podIP ?? '';
    const natsPodIP = natsTargets[1]?.[0] ?? '';
    const gatewayIP = (await gatewayPods())[0]?.ip ?? '';
    expect([podIP, natsPodIP, gatewayIP]).not.toContain('');
    const targets: [string, number][] = [
      [podIP, 8080], // the victim's runtime (invoke)
      [podIP, 9091], // its metrics
      [natsPodIP, 8222], // NATS monitoring: every account's streams and connections
      [natsPodIP, 4222], // control: NATS's client port is open to all (credentials protect it)
      [gatewayIP, 8080], // control: the gateway is open to all
    ];
    const got = await inPod<string[]>(`${PROBE}
Promise.all(${JSON.stringify(targets)}.map(probe)).then((r) => console.log(JSON.stringify(r)));`);
    const [invoke, metrics, monitoring, natsClient, gateway] = got;
    expect(invoke, 'victim pod :8080').toMatch(NOT_CONNECTED);
    expect(metrics, 'victim pod :9091').toMatch(NOT_CONNECTED);
    expect(monitoring, 'NATS :8222').toMatch(NOT_CONNECTED);
    expect([natsClient, gateway], 'controls: the probe reaches what is open').toEqual([
      'connected',
      'connected',
    ]);
    // Were it reachable, the runtime wants the victim function's token: mallory cannot read it,
    // nor list the victim's pods to find them.
    for (const args of [
      ['-n', b, 'get', 'secret', invokeTokenSecretName('collector')],
      ['-n', b, 'get', 'pods'],
      ['-n', b, 'exec', collectorPod?.metadata?.name ?? 'collector', '--', 'true'],
    ]) {
      const r = await asTenant(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(/forbidden/i);
    }
    await victimUntouched();
  });

  it("5. credentials: a tenant's function URL handler never sees its callers' credentials (response, async record, dead letter, logs); API-server tokens are refused", async () => {
    dumpOnFailure();
    const session = `session-${randomBytes(12).toString('hex')}`;
    const proxy = `proxy-${randomBytes(12).toString('hex')}`;
    const note = `note-${randomBytes(4).toString('hex')}`;
    const secrets = [client, session, proxy];
    const victimHeaders = {
      authorization: `Bearer ${client}`,
      'x-amz-security-token': session,
      'proxy-authorization': `Basic ${proxy}`,
      'x-victim-note': note,
      'content-type': 'application/json',
    };
    const leaks = (what: unknown): string[] => secrets.filter((s) => JSON.stringify(what).includes(s));

    // The victim's client calls mallory's function URL with its credentials.
    const sync = await fetch(`${gw?.base}/url/${a}/spy/hook`, {
      method: 'POST',
      headers: victimHeaders,
      body: JSON.stringify({ order: 1 }),
    });
    const syncText = await sync.text();
    expect(sync.status, syncText).toBe(200);
    const got = (JSON.parse(syncText) as { got: { headers: Record<string, string> } }).got;
    expect(got.headers['x-victim-note'], 'headers do reach the handler').toBe(note);
    for (const h of ['authorization', 'x-amz-security-token', 'proxy-authorization'])
      expect(got.headers).not.toHaveProperty(h);
    expect(leaks(got)).toEqual([]);

    // As events: a success record in A's stream, a failure in A's dead letters — mallory reads both.
    const event = async (body: unknown): Promise<string> => {
      const r = await fetch(`${gw?.base}/url/${a}/spy/hook`, {
        method: 'POST',
        headers: { ...victimHeaders, 'x-amz-invocation-type': 'Event' },
        body: JSON.stringify(body),
      });
      expect(r.status, await r.text()).toBe(202);
      return r.headers.get('x-amzn-requestid') ?? '';
    };
    const okId = await event({ order: 2 });
    const failId = await event({ order: 3, fail: true });
    const record = await waitFor('the spy success record in A', () =>
      Promise.resolve(spyRecords?.records.find((r: InvocationRecord) => r.requestContext.requestId === okId)),
    );
    expect((record.requestPayload as { headers: Record<string, string> }).headers['x-victim-note']).toBe(
      note,
    );
    expect(leaks(record)).toEqual([]);
    const seq = await waitFor('the spy failure in A dead letters', async () => {
      const r = await deadLetters(a, 'spy');
      if (r.status !== 200) throw new Error(`dead letters answered ${r.status}: ${await r.text()}`);
      return ((await r.json()) as { items: DeadLetterItem[] }).items.find((i) => i.requestId === failId)?.seq;
    });
    const letter = await fetch(`${gw?.base}/sluice/v1/namespaces/${a}/functions/spy/dead-letters/${seq}`, {
      headers: { authorization: `Bearer ${mallory}` },
    });
    const letterText = await letter.text();
    expect(letter.status, letterText).toBe(200);
    expect(letterText).toContain(note);
    expect(secrets.filter((s) => letterText.includes(s))).toEqual([]);
    const logs = await asTenant([
      '-n',
      a,
      'logs',
      '-l',
      'sluice.dev/function=spy',
      '--tail=-1',
      '--all-containers',
    ]);
    expect(logs.stdout).toContain(note);
    expect(secrets.filter((s) => logs.stdout.includes(s))).toEqual([]);

    // A pod's ordinary token (audience: the API server) is no credential for the gateway; the same
    // ServiceAccount's token for the audience sluice is.
    const byPodToken = await podCall(`/url/${a}/spy/probe`, POD_TOKEN_FILE, { order: 4 });
    expect(byPodToken.status, byPodToken.body).toBe(403);
    expect(byPodToken.type).toBe('UnrecognizedClientException');
    const bySluiceToken = await podCall(`/url/${a}/spy/probe`, SLUICE_TOKEN_FILE, { order: 5 });
    expect(bySluiceToken.status, bySluiceToken.body).toBe(200);
    // Nor is the victim's own API-server token (what a leak used to hand a function) for its function.
    const apiToken = await kubectl(['-n', b, 'create', 'token', 'client', '--duration=10m']);
    expect(apiToken.code, apiToken.stderr).toBe(0);
    const replayed = await invokeB({ attack: `attack-${tag}-apitoken` }, {}, apiToken.stdout.trim());
    expect(replayed.status, replayed.text).toBe(403);
    expect(replayed.type).toBe('UnrecognizedClientException');
    await victimUntouched();
  });

  it('6. SigV4: a captured signed request replayed at a dot-segment path, or with unsigned x-amz-* / Idempotency-Key headers, is refused', async () => {
    dumpOnFailure();
    await waitFor('the access key to be known to the gateway', () => legit('sdk').catch(() => undefined));
    const { hostname, port, host } = new URL(gw!.base);
    /** Sends a raw request (no path normalisation on the way). */
    const send = (
      path: string,
      headers: Record<string, string>,
      body: string,
    ): Promise<{ status: number; type: string; text: string }> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          { host: hostname, port: Number(port), method: 'POST', path, headers },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                type: String(res.headers['x-amzn-errortype'] ?? ''),
                text,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    /** The victim's signed request (what an attacker captures), as the gateway's signer makes it. */
    const signed = (
      path: string,
      body: string,
      extra: Record<string, string> = {},
    ): Record<string, string> => {
      const date = amzDate(new Date());
      const h: Record<string, string[]> = { host: [host], 'x-amz-date': [date] };
      for (const [k, v] of Object.entries(extra)) h[k] = [v];
      const signedHeaders = Object.keys(h).sort();
      const sig = computeSignature(
        { method: 'POST', path, query: '', headers: h, body: Buffer.from(body) },
        { date: date.slice(0, 8), region: 'us-east-1', service: 'lambda', signedHeaders },
        date,
        key!.secretAccessKey,
      );
      return {
        host,
        'x-amz-date': date,
        ...extra,
        'content-type': 'application/json',
        authorization: `AWS4-HMAC-SHA256 Credential=${key!.accessKeyId}/${date.slice(0, 8)}/us-east-1/lambda/aws4_request, SignedHeaders=${signedHeaders.join(';')}, Signature=${sig}`,
      };
    };

    // A function URL call, captured and replayed at paths SigV4 normalises to the signed one.
    const urlBody = JSON.stringify({ legit: `legit-${tag}-signed-url` });
    const urlPath = `/url/${b}/collector/orders`;
    const urlHeaders = signed(urlPath, urlBody);
    const original = await send(urlPath, urlHeaders, urlBody);
    expect(original.status, original.text).toBe(200);
    for (const path of [
      `/url/${b}/collector/x/../orders`,
      `/url/${b}/collector/./orders`,
      `/url/${b}/collector//orders`,
    ]) {
      const r = await send(path, urlHeaders, urlBody);
      expect(r.status, `${path}: ${r.text}`).toBe(403);
      expect(r.type).toBe('InvalidSignatureException');
      expect(r.text).toContain('SigV4 normalises');
    }

    // An Invoke API call, captured and replayed with headers its signature does not cover.
    const invokePath = `/2015-03-31/functions/${b}:function:collector/invocations`;
    const invokeBody = JSON.stringify({ legit: `legit-${tag}-signed-invoke` });
    const invokeHeaders = signed(invokePath, invokeBody);
    expect((await send(invokePath, invokeHeaders, invokeBody)).status).toBe(200);
    for (const [name, value] of [
      ['x-amz-invocation-type', 'Event'],
      ['x-amz-log-type', 'Tail'],
      ['x-amz-client-context', Buffer.from('{"custom":{"attack":1}}').toString('base64')],
      ['idempotency-key', `attack-${tag}`],
    ]) {
      const r = await send(invokePath, { ...invokeHeaders, [name!]: value! }, invokeBody);
      expect(r.status, `${name}: ${r.text}`).toBe(403);
      expect(r.type).toBe('InvalidSignatureException');
      expect(r.text).toContain(`'${name}' must be a signed header`);
    }
    // Signed, the same headers pass (the signer is right; only the replays are refused).
    const eventBody = JSON.stringify({ legit: `legit-${tag}-signed-event` });
    const asEvent = await send(
      invokePath,
      signed(invokePath, eventBody, { 'x-amz-invocation-type': 'Event' }),
      eventBody,
    );
    expect(asEvent.status, asEvent.text).toBe(202);
    await legit('event'); // after it, nothing replayed as an event can still be on its way
    await waitFor('the signed event', async () =>
      (await received(`legit-${tag}-signed-event`)) > 0 ? true : undefined,
    );
    for (const marker of [`legit-${tag}-signed-url`, `legit-${tag}-signed-invoke`]) {
      expect(await received(marker), `${marker}: received once, never replayed`).toBe(1);
    }
    await victimUntouched();
  });

  it('7a. anonymous callers of a non-public function are answered before their body is read', async () => {
    dumpOnFailure();
    const { hostname, port } = new URL(gw!.base);
    /** Declares a 6 MB body and never sends it: resolves with the answer the gateway gives without it. */
    const headOnly = (
      path: string,
      headers: Record<string, string>,
    ): Promise<{ status: number; type: string; continued: boolean; ms: number }> =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        let continued = false;
        const req = httpRequest({
          host: hostname,
          port: Number(port),
          method: 'POST',
          path,
          headers: { ...headers, 'content-type': 'application/json', 'content-length': String(6_000_000) },
        });
        const timer = setTimeout(() => {
          req.destroy();
          reject(
            new Error(
              `${path}: no answer without the body after ${budget(15_000)} ms (the gateway waits for it)`,
            ),
          );
        }, budget(15_000));
        req.on('continue', () => (continued = true));
        req.on('response', (res) => {
          clearTimeout(timer);
          res.resume();
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['x-amzn-errortype'] ?? ''),
            continued,
            ms: Date.now() - started,
          });
          req.destroy();
        });
        req.on('error', (e) => (continued ? undefined : reject(e)));
        req.flushHeaders();
      });
    for (const [path, headers] of [
      [`/url/${b}/collector/upload`, {}],
      [`/url/${b}/collector/upload`, { expect: '100-continue' }],
      [`/2015-03-31/functions/${b}:function:collector/invocations`, {}],
    ] as [string, Record<string, string>][]) {
      const r = await headOnly(path, headers);
      expect(r.status, path).toBe(403);
      expect(r.type).toBe('AccessDeniedException');
      expect(r.continued, 'no "100 Continue" for a refused caller').toBe(false);
      console.log(
        `anonymous 6 MB POST to ${path}${headers.expect ? ' (Expect: 100-continue)' : ''}: ${r.status} after ${r.ms} ms, body never sent`,
      );
    }
    await victimUntouched();
  });

  it('7b. anonymous calls of a public function URL are rate-limited per function; the victim is served meanwhile', async () => {
    dumpOnFailure();
    const perSecond = Number(gwEnv.SLUICE_ANONYMOUS_RATE_PER_SECOND);
    const burst = Number(gwEnv.SLUICE_ANONYMOUS_BURST);
    expect(perSecond, 'the gateway has an anonymous rate').toBeGreaterThan(0);
    expect(burst).toBeGreaterThan(0);
    const replicas = (await gatewayPods()).length;
    // Enough callers to outrun replicas × perSecond on this machine; the flood stops once the
    // limiter has answered 20 times (or after `total` calls, when it never did: a failure).
    const total = 4000;
    const clients = 48;
    const answers: { status: number; reason?: string }[] = [];
    let next = 0;
    const started = Date.now();
    const flood = Promise.all(
      Array.from({ length: clients }, async () => {
        while (
          next < total &&
          answers.filter((x) => x.reason === 'FunctionInvocationRateLimitExceeded').length < 20
        ) {
          next++;
          // Event calls: admitted (the limiter is part of admission) and answered 202 without
          // waiting for the one-at-a-time function, so the flood outruns the limit.
          const r = await fetch(`${gw?.base}/url/${a}/open/x`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' },
            body: '{}',
          });
          const text = await r.text();
          let reason: string | undefined;
          try {
            reason = (JSON.parse(text) as { Reason?: string }).Reason;
          } catch {
            reason = undefined;
          }
          answers.push({ status: r.status, ...(reason ? { reason } : {}) });
        }
      }),
    );
    const victimDuring = legit('sync');
    await flood;
    const seconds = (Date.now() - started) / 1000;
    await victimDuring;
    const ok = answers.filter((x) => x.status === 202).length;
    const limited = answers.filter((x) => x.reason === 'FunctionInvocationRateLimitExceeded').length;
    console.log(
      `${answers.length} anonymous calls in ${seconds.toFixed(1)} s over ${replicas} gateway replicas: ${ok} served, ${limited} rate-limited`,
    );
    expect(answers.filter((x) => x.status !== 202 && x.status !== 429)).toEqual([]);
    expect(limited).toBeGreaterThan(0);
    expect(ok).toBeLessThanOrEqual(replicas * Math.ceil(burst + perSecond * seconds));
    await victimUntouched();
  });

  it('7c. anonymous Event calls to a public URL cannot grow a function backlog in the shared queue past its limit', async () => {
    dumpOnFailure();
    const limit = Number(gwEnv.SLUICE_ASYNC_MAX_BACKLOG_PER_FUNCTION);
    expect(
      limit,
      'the gateway has a per-function backlog limit (chart nats.async.maxBacklogPerFunction)',
    ).toBeGreaterThan(0);
    expect(limit, 'a limit this test can fill (the chart default is 10,000)').toBeLessThanOrEqual(100_000);
    const replicas = (await gatewayPods()).length;
    const subject = subjects.async(a, 'hog');
    const backlog = async (): Promise<number> =>
      (await jsmAdmin!.streams.info('SLUICE_ASYNC', { subjects_filter: subject })).state.subjects?.[
        subject
      ] ?? 0;
    const anonymousEvent = (i: number): Promise<Response> =>
      fetch(`${gw?.base}/url/${a}/hog/x`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' },
        body: JSON.stringify({ attack: `attack-${tag}-flood-${i}` }),
      });
    await waitFor('the gateway to take events for hog', async () => {
      const r = await anonymousEvent(-1);
      await r.text();
      return r.status === 202 ? true : undefined;
    });
    // The flood up to just under the limit, published straight into the queue (as 10,000 anonymous
    // calls would, faster); the hog takes one event at a time and holds it 25 s.
    const headroom = 10;
    const fill = limit - headroom - (await backlog());
    hogPrefilled = true;
    for (let i = 0; i < fill; i++)
      ncAdmin!.publish(subject, JSON.stringify({ attack: `attack-${tag}-fill-${i}` }));
    await ncAdmin!.flush();
    await waitFor('the prefilled backlog', async () =>
      (await backlog()) >= limit - headroom - 3 ? true : undefined,
    );
    await sleep(1500); // each replica re-reads a function's count at most once a second (gateway/async/backlog.ts)
    const statuses: { status: number; text: string }[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await anonymousEvent(i);
      statuses.push({ status: r.status, text: await r.text() });
    }
    const accepted = statuses.filter((s) => s.status === 202).length;
    const refused = statuses.filter(
      (s) => s.status === 429 && s.text.includes('AsyncBacklogLimitExceeded'),
    ).length;
    console.log(
      `backlog limit ${limit}: of 40 anonymous events at ${limit - headroom}, ${accepted} accepted, ${refused} refused`,
    );
    expect(statuses.filter((s) => s.status !== 202 && s.status !== 429)).toEqual([]);
    expect(refused).toBeGreaterThan(0);
    expect(accepted).toBeLessThanOrEqual(replicas * (headroom + 3));
    expect(await backlog()).toBeLessThanOrEqual(limit + replicas * headroom);
    // Another tenant's events are still taken and run.
    await legit('event');
    await victimUntouched();
  });

  it('8. execution roles, images and private peers: a Function cannot borrow an identity, run a cached image unchecked, or reach the platform', async () => {
    dumpOnFailure();
    await tenantApply({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'powerful', namespace: a },
    });
    const foreignImage = 'registry.example.com/victim/private:1.0';
    for (const fn of [
      fnManifest(a, 'borrower', {
        executionRole: { serviceAccountName: 'powerful' },
        scaling: { minReplicas: 1 },
      }),
      // The victim's caller, opted in to being an execution role in B: not a role in A.
      fnManifest(a, 'crossrole', {
        executionRole: { serviceAccountName: 'client' },
        scaling: { minReplicas: 1 },
      }),
      fnManifest(a, 'image', { code: { image: foreignImage }, scaling: { minReplicas: 0 } }),
    ] as FunctionResource[]) {
      await tenantApply(fn);
    }
    for (const [fn, reason, message] of [
      ['borrower', 'ExecutionRoleNotAllowed', `ServiceAccount ${a}/powerful is not an execution role`],
      ['crossrole', 'ServiceAccountNotFound', `ServiceAccount ${a}/client does not exist`],
    ]) {
      const c = await waitFor(`${fn} to be refused (${reason})`, async () => {
        const cond = await tenantCondition('fn', fn!);
        return cond.reason === reason ? cond : undefined;
      });
      expect(c.status).toBe('False');
      expect(c.message).toContain(message);
      expect((await asTenant(['-n', a, 'get', 'deploy', workloadName(fn!, LATEST)])).code, fn).not.toBe(0);
    }
    // A tenant's code image is pulled with the pod's own credentials every time.
    const pull = await waitFor('the Deployment of image', async () => {
      const r = await asTenant(['-n', a, 'get', 'deploy', workloadName('image', LATEST), '-o', 'json']);
      if (r.code !== 0) return undefined;
      const d = JSON.parse(r.stdout) as {
        spec: {
          template: { spec: { containers: { name: string; image: string; imagePullPolicy: string }[] } };
        };
      };
      return d.spec.template.spec.containers.find((c) => c.image === foreignImage);
    });
    expect(pull.imagePullPolicy).toBe('Always');
    // Private peers naming the platform, kube-system or the metadata address: refused at admission.
    for (const [name, obj, want] of [
      [
        'the release namespace',
        fnManifest(a, 'peer', { network: { mode: 'private', peers: [{ namespace: SYSTEM_NS }] } }),
        `spec.network.peers[].namespace: ${SYSTEM_NS} is not allowed`,
      ],
      [
        'kube-system',
        fnManifest(a, 'peer', { network: { mode: 'private', peers: [{ namespace: 'kube-system' }] } }),
        'spec.network.peers[].namespace: kube-system is not allowed',
      ],
      [
        'the metadata address',
        fnManifest(a, 'peer', { network: { mode: 'private', peers: [{ cidr: '169.254.169.254/32' }] } }),
        'spec.network.peers[].cidr: 169.254.169.254/32 is not allowed',
      ],
      [
        'kube-system in a FunctionVersion written by hand',
        {
          apiVersion: API,
          kind: 'FunctionVersion',
          metadata: { name: 'peer-v1', namespace: a },
          spec: {
            function: 'peer',
            version: '1',
            snapshot: {
              runtime: 'nodejs22',
              code: { inline: 'exports.handler = async (e) => e' },
              network: { mode: 'private', peers: [{ namespace: 'kube-system' }] },
            },
          },
        },
        'spec.snapshot.network.peers[].namespace: kube-system is not allowed',
      ],
    ] as [string, object, string][]) {
      expect(await tenantRefusal(obj), name).toContain(want);
    }
    await victimUntouched();
  });

  it("9. policy before code, as the tenant: a new pod's first code reaches neither NATS nor the victim's pod", async () => {
    dumpOnFailure();
    // mallory's own function, applied by mallory and invoked with mallory's own token.
    const r = await podCall(`/2015-03-31/functions/${a}:function:early/invocations`, SLUICE_TOKEN_FILE, {});
    expect(r.status, r.body).toBe(200);
    const { atInit } = JSON.parse(r.body) as { atInit: string[] };
    expect(atInit).toHaveLength(natsTargets.length + 1);
    // NATS (open to every pod on 4222 once policies allow it): never reached by a new pod's code.
    for (const outcome of atInit.slice(0, -1)) expect(outcome).not.toBe('connected');
    // The victim's pod, found by name: resolved, and refused.
    expect(atInit.at(-1)).toMatch(NOT_CONNECTED);
    const logs = await asTenant(['-n', a, 'logs', '-l', 'sluice.dev/function=early', '--tail=-1']);
    expect(logs.stdout).toContain('NetworkPolicy in force');
    await victimUntouched();
  });
});
