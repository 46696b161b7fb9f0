import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import {
  InvokeCommand,
  LambdaClient,
  PublishVersionCommand,
  type InvokeCommandInput,
} from '@aws-sdk/client-lambda';
import { trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayAuthenticator, MapAccessKeys, type TokenReviewer } from '../../gateway/auth/authenticator.js';
import type { Principal } from '../../gateway/auth/principal.js';
import { MemoryCatalog } from '../../gateway/catalog/catalog.js';
import { buildGateway, DEFAULT_SETTINGS, type Gateway } from '../../gateway/gateway.js';
import { HttpPodClient } from '../../gateway/invoke/pod-client.js';
import { StaticPeers } from '../../gateway/limits/limiter.js';
import { EndpointTable, workloadKey } from '../../gateway/routing/router.js';
import {
  aliasResource,
  FakeScaler,
  fnResource,
  ListPublishAuthorizer,
  MemoryVersionStore,
  silentLogger,
  versionResource,
} from '../support/gateway/fakes.js';
import { budget, until } from '../support/time.js';
import { makeWorkspace, startRuntime, type RuntimeProcess } from './gateway-harness.js';

// The gateway's express app in-process, fakes for the Kubernetes-facing interfaces, and REAL
// sluice-runtime processes behind it, driven by the official @aws-sdk/client-lambda.

const CODE = `
exports.echo = async (event, context) => {
  console.log('echo called');
  if (event.fail) throw new TypeError('asked to fail');
  return { event, arn: context.invokedFunctionArn, version: process.env.AWS_LAMBDA_FUNCTION_VERSION };
};
exports.slow = async (event) => {
  console.log('slow call waiting for ' + event.gate);
  while (!require('node:fs').existsSync(event.gate)) await new Promise((r) => setTimeout(r, 10));
  return { through: event.gate };
};
exports.web = async (event) => ({
  statusCode: 201,
  headers: { 'content-type': 'application/json', 'x-raw-path': event.rawPath },
  cookies: ['session=abc; Path=/'],
  body: JSON.stringify({ method: event.requestContext.http.method, query: event.queryStringParameters, body: event.body }),
});
`;

const ACCESS_KEY = { id: 'AKIDSLUICETEST', secret: 'sluice-test-secret' };
const TESTER: Principal = { kind: 'serviceaccount', namespace: 'default', name: 'tester' };

class FakeTokens implements TokenReviewer {
  review(token: string): Promise<Principal | undefined> {
    return Promise.resolve(token === 'default-sa-token' ? TESTER : undefined);
  }
}

const echo = fnResource('echo', { timeoutSeconds: 5 });
const echoV2 = versionResource(echo, '2');
// A slow call waits for the test to open its gate; the timeout leaves room for any machine's pace.
const slow = fnResource('slow', { timeoutSeconds: 60, concurrency: { reserved: 1 } });
const cold = fnResource('cold', { timeoutSeconds: 5 });
const web = fnResource('web', { timeoutSeconds: 5, invokePolicy: [{ principal: '*' }] });
const privateFn = fnResource('private', { invokePolicy: [{ principal: 'serviceaccount:ops:deployer' }] });

let ws: ReturnType<typeof makeWorkspace>;
const runtimes: Record<string, RuntimeProcess> = {};
let gateway: Gateway;
let registry: Registry;
let table: EndpointTable;
let scaler: FakeScaler;
let versions: MemoryVersionStore;
let base: string;
let lambda: LambdaClient;

const client = (secret = ACCESS_KEY.secret): LambdaClient =>
  new LambdaClient({
    region: 'us-east-1',
    endpoint: base,
    credentials: { accessKeyId: ACCESS_KEY.id, secretAccessKey: secret },
    maxAttempts: 1,
  });

const invoke = (input: InvokeCommandInput, c = lambda) => c.send(new InvokeCommand(input));
const json = (payload: Uint8Array | undefined): any =>
  JSON.parse(Buffer.from(payload ?? []).toString('utf8'));
const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));

async function sdkError(
  p: Promise<unknown>,
): Promise<{ name: string; status?: number; message: string; raw: any }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message, raw: err };
  }
  throw new Error('expected the call to fail');
}

/** A raw HTTP request (for inputs the SDK would never send). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body = '',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: url.pathname + url.search,
        headers: { ...headers, connection: 'close' },
      },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

beforeAll(async () => {
  ws = makeWorkspace(CODE);
  const start = (
    name: string,
    fn: string,
    handler: string,
    extra: { version?: string; concurrency?: number; timeoutSeconds?: number } = {},
  ) =>
    startRuntime({
      functionName: fn,
      handler,
      taskRoot: ws.taskRoot,
      nodeWrapper: ws.nodeWrapper,
      ...extra,
    }).then((r) => (runtimes[name] = r));
  await Promise.all([
    start('echo', 'echo', 'index.echo'),
    start('echo-v2', 'echo', 'index.echo', { version: '2' }),
    start('slow', 'slow', 'index.slow', { timeoutSeconds: 60 }),
    start('cold', 'cold', 'index.echo', { concurrency: 2 }),
    start('web', 'web', 'index.web'),
  ]);

  const catalog = new MemoryCatalog([
    echo,
    echoV2,
    aliasResource(echo, 'prod', { version: '2' }),
    slow,
    cold,
    web,
    privateFn,
  ]);
  table = new EndpointTable();
  table.set(workloadKey('default', 'echo', '$LATEST'), [runtimes.echo!.address]);
  table.set(workloadKey('default', 'echo', '2'), [runtimes['echo-v2']!.address]);
  table.set(workloadKey('default', 'slow', '$LATEST'), [runtimes.slow!.address]);
  table.set(workloadKey('default', 'web', '$LATEST'), [runtimes.web!.address]);
  // "cold" has no ready endpoint: the first call activates it; its runtime is already up, so the
  // fake scaler publishes its address a little later, as the EndpointSlice watch would.
  scaler = new FakeScaler(table, (_ns, fn) => (runtimes[fn] ? [runtimes[fn].address] : []), 300);
  const keys = new MapAccessKeys();
  keys.set(ACCESS_KEY.id, { secretAccessKey: ACCESS_KEY.secret, principal: TESTER });
  versions = new MemoryVersionStore();
  registry = new Registry();
  gateway = buildGateway(
    {
      catalog,
      router: table,
      scaler,
      peers: new StaticPeers(),
      auth: new GatewayAuthenticator({ tokens: new FakeTokens(), keys }),
      pods: new HttpPodClient(),
      versions,
      publishAuthorizer: new ListPublishAuthorizer((p) => p.kind === 'serviceaccount' && p.name === 'tester'),
      registry,
      tracer: trace.getTracer('test'),
      log: silentLogger(),
    },
    { ...DEFAULT_SETTINGS, defaultNamespace: 'default', region: 'us-east-1', activationPollMs: 50 },
  );
  await new Promise<void>((r) => gateway.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}`;
  lambda = client();
}, budget(120_000));

afterAll(async () => {
  lambda?.destroy();
  await new Promise<void>((r) => (gateway ? gateway.server.close(() => r()) : r()));
  gateway?.server.closeAllConnections();
  await Promise.all(Object.values(runtimes).map((r) => r.stop()));
  ws?.cleanup();
});

describe('gateway + real runtimes, driven by @aws-sdk/client-lambda', () => {
  it('invokes synchronously', async () => {
    const r = await invoke({ FunctionName: 'echo', Payload: enc({ hello: 'world' }) });
    expect(r.StatusCode).toBe(200);
    expect(r.FunctionError).toBeUndefined();
    expect(r.ExecutedVersion).toBe('$LATEST');
    expect(json(r.Payload)).toMatchObject({ event: { hello: 'world' }, version: '$LATEST' });
  });

  it('reports function errors as 200 + X-Amz-Function-Error', async () => {
    const r = await invoke({ FunctionName: 'echo', Payload: enc({ fail: true }) });
    expect(r.StatusCode).toBe(200);
    expect(r.FunctionError).toBe('Unhandled');
    expect(json(r.Payload)).toMatchObject({ errorType: 'TypeError', errorMessage: 'asked to fail' });
  });

  it('returns the log tail with LogType Tail', async () => {
    const r = await invoke({ FunctionName: 'echo', LogType: 'Tail', Payload: enc({}) });
    const log = Buffer.from(r.LogResult ?? '', 'base64').toString('utf8');
    expect(log).toContain('START RequestId:');
    expect(log).toContain('echo called');
    expect(log).toContain('REPORT RequestId:');
  });

  it('answers DryRun with 204 without running the function', async () => {
    const r = await invoke({ FunctionName: 'echo', InvocationType: 'DryRun', Payload: enc({}) });
    expect(r.StatusCode).toBe(204);
  });

  it.each([
    { name: 'alias in the name', input: { FunctionName: 'echo:prod' }, version: '2', arnSuffix: 'echo:prod' },
    {
      name: 'Qualifier parameter (version)',
      input: { FunctionName: 'echo', Qualifier: '2' },
      version: '2',
      arnSuffix: 'echo:2',
    },
    {
      name: 'explicit $LATEST',
      input: { FunctionName: 'echo', Qualifier: '$LATEST' },
      version: '$LATEST',
      arnSuffix: 'echo:$LATEST',
    },
    {
      name: 'partial ARN',
      input: { FunctionName: 'default:function:echo:2' },
      version: '2',
      arnSuffix: 'echo:2',
    },
    {
      name: 'full ARN',
      input: { FunctionName: 'arn:aws:lambda:us-east-1:default:function:echo' },
      version: '$LATEST',
      arnSuffix: 'function:echo',
    },
    {
      name: 'full ARN with alias',
      input: { FunctionName: 'arn:aws:lambda:us-east-1:default:function:echo:prod' },
      version: '2',
      arnSuffix: 'echo:prod',
    },
  ])('resolves qualifiers and ARNs: $name', async ({ input, version, arnSuffix }) => {
    const r = await invoke({ ...input, Payload: enc({}) });
    expect(r.ExecutedVersion).toBe(version);
    const body = json(r.Payload);
    expect(body.version).toBe(version);
    expect(body.arn.endsWith(arnSuffix)).toBe(true);
  });

  it.each([
    {
      name: 'unknown function',
      input: { FunctionName: 'nope' },
      error: 'ResourceNotFoundException',
      status: 404,
    },
    {
      name: 'unknown alias',
      input: { FunctionName: 'echo:stage' },
      error: 'ResourceNotFoundException',
      status: 404,
    },
    {
      name: 'unknown version',
      input: { FunctionName: 'echo', Qualifier: '9' },
      error: 'ResourceNotFoundException',
      status: 404,
    },
    {
      name: 'conflicting qualifiers',
      input: { FunctionName: 'echo:prod', Qualifier: '2' },
      error: 'InvalidParameterValueException',
      status: 400,
    },
    {
      name: 'payload over 6 MB',
      input: { FunctionName: 'echo', Payload: enc({ s: 'x'.repeat(6 * 1024 * 1024) }) },
      error: 'RequestTooLargeException',
      status: 413,
    },
    {
      name: 'Event without an async queue',
      input: { FunctionName: 'echo', InvocationType: 'Event' as const },
      error: 'NotImplementedException',
      status: 501,
    },
    {
      name: 'policy denies the caller',
      input: { FunctionName: 'private' },
      error: 'AccessDeniedException',
      status: 403,
    },
  ])('service error: $name → $error', async ({ input, error, status }) => {
    const e = await sdkError(invoke({ Payload: enc({}), ...input }));
    expect(e.name).toBe(error);
    expect(e.status).toBe(status);
  });

  it('rejects a wrong secret with 403 InvalidSignatureException', async () => {
    const bad = client('not-the-secret');
    const e = await sdkError(invoke({ FunctionName: 'echo', Payload: enc({}) }, bad));
    bad.destroy();
    expect(e.name).toBe('InvalidSignatureException');
    expect(e.status).toBe(403);
  });

  it('throttles beyond reserved concurrency with TooManyRequestsException and a Reason', async () => {
    const gate = join(ws.taskRoot, 'slow-gate');
    const first = invoke({ FunctionName: 'slow', Payload: enc({ gate }) });
    // The first call runs on the pod (it holds the one reserved slot) until the gate opens.
    await until(
      () => runtimes.slow!.output().includes(`slow call waiting for ${gate}`),
      'the first call on the pod',
    );
    const e = await sdkError(invoke({ FunctionName: 'slow', Payload: enc({ gate }) }));
    expect(e.name).toBe('TooManyRequestsException');
    expect(e.status).toBe(429);
    expect(e.raw.Reason).toBe('ReservedFunctionConcurrentInvocationLimitExceeded');
    writeFileSync(gate, '');
    expect((await first).StatusCode).toBe(200);
  });

  it('scales from zero: 20 concurrent cold calls all succeed with one activation', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => invoke({ FunctionName: 'cold', Payload: enc({ i }) })),
    );
    expect(results.map((r) => r.StatusCode)).toEqual(Array(20).fill(200));
    expect(results.map((r) => json(r.Payload).event.i).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(scaler.scaledUp).toBe(1);
    const cold = (await registry.getSingleMetric('sluice_cold_starts_total')!.get()).values;
    expect(cold.find((v) => v.labels.function === 'cold')?.labels.outcome).toBe('success');
  });

  it('publishes versions (PublishVersion), idempotently when nothing changed', async () => {
    const first = await lambda.send(new PublishVersionCommand({ FunctionName: 'web', Description: 'first' }));
    expect(first.Version).toBe('1');
    expect(first.FunctionArn).toBe('arn:aws:lambda:us-east-1:default:function:web:1');
    const again = await lambda.send(new PublishVersionCommand({ FunctionName: 'web' }));
    expect(again.Version).toBe('1');
    expect([...versions.objects.values()].map((v) => v.spec.version)).toEqual(['1']);
    const e = await sdkError(
      lambda.send(new PublishVersionCommand({ FunctionName: 'web', CodeSha256: 'abc' })),
    );
    expect(e.name).toBe('PreconditionFailedException');
  });

  it('counts invocations by outcome in Prometheus metrics', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(
      /sluice_invocations_total\{namespace="default",function="echo",version="\$LATEST",type="sync",outcome="success"\} \d+/,
    );
    expect(text).toMatch(/sluice_invocations_total\{[^}]*function="echo"[^}]*outcome="function_error"\} 1/);
    expect(text).toMatch(
      /sluice_throttles_total\{[^}]*function="slow"[^}]*reason="ReservedFunctionConcurrentInvocationLimitExceeded"\} 1/,
    );
    expect(text).toContain('sluice_invocation_duration_seconds_bucket');
  });
});

describe('internal invocations (for the async dispatcher and event sources)', () => {
  it.each([
    {
      name: 'success through an alias',
      req: { function: 'echo', qualifier: 'prod', payload: enc({ x: 1 }) },
      kind: 'success',
      version: '2',
    },
    {
      name: 'function error',
      req: { function: 'echo', payload: enc({ fail: true }) },
      kind: 'function_error',
      version: '$LATEST',
    },
    {
      name: 'unknown function',
      req: { function: 'nope', payload: enc({}) },
      kind: 'not_found',
      version: undefined,
    },
  ])('$name', async ({ req, kind, version }) => {
    const out = await gateway.invoke({
      namespace: 'default',
      requestId: `internal-${kind}`,
      type: 'async',
      ...req,
      payload: Buffer.from(req.payload),
    });
    expect(out.kind).toBe(kind);
    if (out.kind === 'success' || out.kind === 'function_error') expect(out.executedVersion).toBe(version);
    if (out.kind === 'function_error') expect(out.errorType).toBe('TypeError');
  });
});

describe('function URLs', () => {
  it('maps a public function URL request and response (no credentials)', async () => {
    const r = await fetch(`${base}/url/default/web/orders/42?a=1&a=2`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', cookie: 'x=1' },
      body: 'hello',
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('x-raw-path')).toBe('/orders/42');
    expect(r.headers.get('set-cookie')).toBe('session=abc; Path=/');
    expect(await r.json()).toEqual({ method: 'POST', query: { a: '1,2' }, body: 'hello' });
  });

  it.each([
    { name: 'no token on a private function → 403', headers: {}, status: 403 },
    { name: 'invalid token → 403', headers: { authorization: 'Bearer nope' }, status: 403 },
    {
      name: 'a service account of the namespace → 200',
      headers: { authorization: 'Bearer default-sa-token' },
      status: 200,
    },
  ])('$name', async ({ headers, status }) => {
    const r = await fetch(`${base}/url/default/echo/`, { headers: headers as Record<string, string> });
    expect(r.status).toBe(status);
  });
});

describe('malformed input gets the right 4xx and the gateway keeps serving', () => {
  const signedless = { authorization: 'Bearer default-sa-token', 'content-type': 'application/json' };
  it.each([
    {
      name: 'bad JSON',
      path: '/2015-03-31/functions/echo/invocations',
      headers: signedless,
      body: '{not json',
      status: 400,
      code: 'InvalidRequestContentException',
    },
    {
      name: 'bad ARN',
      path: '/2015-03-31/functions/arn%3Aaws%3As3%3A%3A%3Abucket/invocations',
      headers: signedless,
      body: '{}',
      status: 400,
      code: 'InvalidParameterValueException',
    },
    {
      name: 'unknown invocation type',
      path: '/2015-03-31/functions/echo/invocations',
      headers: { ...signedless, 'x-amz-invocation-type': 'Sometimes' },
      body: '{}',
      status: 400,
      code: 'InvalidParameterValueException',
    },
    {
      name: 'bad log type',
      path: '/2015-03-31/functions/echo/invocations',
      headers: { ...signedless, 'x-amz-log-type': 'All' },
      body: '{}',
      status: 400,
      code: 'InvalidParameterValueException',
    },
    {
      name: 'oversized headers',
      path: '/2015-03-31/functions/echo/invocations',
      headers: { ...signedless, 'x-big': 'x'.repeat(20_000) },
      body: '{}',
      status: 431,
      code: 'InvalidRequestContentException',
    },
    {
      name: 'garbage SigV4 header',
      path: '/2015-03-31/functions/echo/invocations',
      headers: { authorization: 'AWS4-HMAC-SHA256 nonsense' },
      body: '{}',
      status: 403,
      code: 'InvalidSignatureException',
    },
    {
      name: 'unknown route',
      path: '/2015-03-31/nothing',
      headers: {},
      body: '',
      status: 404,
      code: 'ResourceNotFoundException',
    },
  ])('$name → $status $code', async ({ path, headers, body, status, code }) => {
    const r = await raw('POST', path, headers as Record<string, string>, body);
    expect(r.status).toBe(status);
    expect(r.headers['x-amzn-errortype']).toBe(code);
    // …and the gateway still serves.
    const ok = await invoke({ FunctionName: 'echo', Payload: enc({ after: code }) });
    expect(ok.StatusCode).toBe(200);
  });

  it('serves /healthz and /readyz', async () => {
    expect((await raw('GET', '/healthz')).status).toBe(200);
    expect((await raw('GET', '/readyz')).status).toBe(200);
  });
});
