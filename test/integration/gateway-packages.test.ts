/**
 * Zip packages through the gateway in-process: the management API driven by the official
 * @aws-sdk/client-lambda (CreateFunction, GetFunction + Code.Location, UpdateFunctionCode, the
 * layer calls, DeleteFunction, the error codes), the package store on a real nats-server under
 * the gateway's own permissions, and the pod delivery endpoint with invoke tokens. Functions and
 * LayerVersions live in a memory store that feeds the catalog, as the watches would.
 */
import { createHash } from 'node:crypto';
import {
  CreateFunctionCommand,
  type CreateFunctionCommandInput,
  DeleteFunctionCommand,
  GetFunctionCommand,
  GetLayerVersionCommand,
  LambdaClient,
  ListLayersCommand,
  ListLayerVersionsCommand,
  PublishLayerVersionCommand,
  UpdateFunctionCodeCommand,
  DeleteLayerVersionCommand,
} from '@aws-sdk/client-lambda';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { invokeToken } from '../../api/invoke-token.js';
import type { FunctionResource, LayerVersionResource } from '../../api/types.js';
import { GatewayAuthenticator, MapAccessKeys } from '../../gateway/auth/authenticator.js';
import type { AccessReviewer, ResourceAttributes } from '../../gateway/auth/kube-rbac.js';
import type { Principal } from '../../gateway/auth/principal.js';
import { MemoryCatalog } from '../../gateway/catalog/catalog.js';
import { buildGateway, DEFAULT_SETTINGS, type Gateway } from '../../gateway/gateway.js';
import { HttpPodClient } from '../../gateway/invoke/pod-client.js';
import { StaticPeers } from '../../gateway/limits/limiter.js';
import { AlreadyExistsError, type ManagementStore } from '../../gateway/management/store.js';
import { makeSigner } from '../../gateway/packages/location.js';
import { NatsPackageStore } from '../../gateway/packages/store.js';
import { EndpointTable } from '../../gateway/routing/router.js';
import {
  FakeScaler,
  ListPublishAuthorizer,
  MemoryVersionStore,
  silentLogger,
} from '../support/gateway/fakes.js';
import { NatsServer } from './support/nats.js';

const KEY = Buffer.from('k'.repeat(40));
const NS = 'shop';
const DEV: Principal = { kind: 'user', name: 'dev' };
const keys = new MapAccessKeys();
keys.set('AKIDDEV', { secretAccessKey: 'dev-secret', principal: DEV });
keys.set('AKIDNOBODY', { secretAccessKey: 'nobody-secret', principal: { kind: 'user', name: 'nobody' } });
// An access key bound to a ServiceAccount of shop: its account is shop.
keys.set('AKIDSHOPCI', {
  secretAccessKey: 'ci-secret',
  principal: { kind: 'serviceaccount', namespace: NS, name: 'ci' },
});

/** RBAC as a list: dev and shop's ServiceAccounts may do everything in shop; nobody nothing. */
class ListReviewer implements AccessReviewer {
  readonly asked: ResourceAttributes[] = [];
  allowed(p: Principal, attrs: ResourceAttributes): Promise<boolean> {
    this.asked.push(attrs);
    const who =
      (p.kind === 'user' && p.name === 'dev') || (p.kind === 'serviceaccount' && p.namespace === NS);
    return Promise.resolve(who && attrs.namespace === NS);
  }
}

/** Functions and LayerVersions in memory, mirrored into the catalog as the watches would. */
class MemoryManagement implements ManagementStore {
  private readonly fns = new Map<string, FunctionResource>();
  private readonly layers = new Map<string, LayerVersionResource>();
  private rv = 1;
  constructor(private readonly catalog: MemoryCatalog) {}
  getFunction(ns: string, name: string): Promise<FunctionResource | undefined> {
    return Promise.resolve(this.fns.get(`${ns}/${name}`));
  }
  createFunction(fn: FunctionResource): Promise<FunctionResource> {
    const k = `${fn.metadata.namespace}/${fn.metadata.name}`;
    if (this.fns.has(k)) throw new AlreadyExistsError(k);
    return this.replaceFunction({
      ...fn,
      metadata: { ...fn.metadata, uid: k, creationTimestamp: new Date() },
    });
  }
  replaceFunction(fn: FunctionResource): Promise<FunctionResource> {
    const stored = { ...fn, metadata: { ...fn.metadata, resourceVersion: String(++this.rv) } };
    this.fns.set(`${fn.metadata.namespace}/${fn.metadata.name}`, stored);
    this.catalog.upsert(stored);
    return Promise.resolve(stored);
  }
  deleteFunction(ns: string, name: string): Promise<boolean> {
    const fn = this.fns.get(`${ns}/${name}`);
    if (fn) this.catalog.remove(fn);
    return Promise.resolve(this.fns.delete(`${ns}/${name}`));
  }
  listLayerVersions(ns: string, layerName?: string): Promise<LayerVersionResource[]> {
    return Promise.resolve(
      [...this.layers.values()].filter(
        (l) => l.metadata.namespace === ns && (layerName === undefined || l.spec.layerName === layerName),
      ),
    );
  }
  createLayerVersion(lv: LayerVersionResource): Promise<LayerVersionResource> {
    const k = `${lv.metadata.namespace}/${lv.metadata.name}`;
    if (this.layers.has(k)) throw new AlreadyExistsError(k);
    const stored = { ...lv, metadata: { ...lv.metadata, uid: k, creationTimestamp: new Date() } };
    this.layers.set(k, stored);
    this.catalog.upsert(stored);
    return Promise.resolve(stored);
  }
  deleteLayerVersion(ns: string, name: string): Promise<boolean> {
    const lv = this.layers.get(`${ns}/${name}`);
    if (lv) this.catalog.remove(lv);
    return Promise.resolve(this.layers.delete(`${ns}/${name}`));
  }
}

function zipOf(files: Record<string, string>): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const [name, text] of Object.entries(files)) z.addBuffer(Buffer.from(text), name);
  z.end();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    z.outputStream.on('data', (c: Buffer) => chunks.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    z.outputStream.on('error', reject);
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let server: NatsServer;
let nc: NatsConnection;
let gateway: Gateway;
let base: string;
let lambda: LambdaClient;
let nobody: LambdaClient;
let catalog: MemoryCatalog;
const reviewer = new ListReviewer();

const client = (id: string, secret: string): LambdaClient =>
  new LambdaClient({
    region: 'us-east-1',
    endpoint: base,
    credentials: { accessKeyId: id, secretAccessKey: secret },
    maxAttempts: 1,
  });

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await server.connect('gateway');
  const store = await NatsPackageStore.open(jetstream(nc), {
    bucket: 'sluice-packages',
    replicas: 1,
    quotaBytes: 64 * 1024 * 1024,
  });
  catalog = new MemoryCatalog();
  const table = new EndpointTable();
  gateway = buildGateway(
    {
      catalog,
      router: table,
      scaler: new FakeScaler(table, () => [], 0),
      peers: new StaticPeers(),
      auth: new GatewayAuthenticator({ tokens: { review: () => Promise.resolve(undefined) }, keys }),
      pods: new HttpPodClient(),
      versions: new MemoryVersionStore(),
      publishAuthorizer: new ListPublishAuthorizer(() => true),
      packages: {
        catalog,
        store,
        management: new MemoryManagement(catalog),
        reviewer,
        tokens: (ns, fn) => invokeToken(KEY, ns, fn),
        sign: makeSigner(KEY),
      },
      registry: new Registry(),
      tracer: trace.getTracer('test'),
      log: silentLogger(),
    },
    { ...DEFAULT_SETTINGS, defaultNamespace: 'default', region: 'us-east-1' },
  );
  await new Promise<void>((r) => gateway.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}`;
  lambda = client('AKIDDEV', 'dev-secret');
  nobody = client('AKIDNOBODY', 'nobody-secret');
}, 60_000);

afterAll(async () => {
  lambda?.destroy();
  nobody?.destroy();
  await new Promise<void>((r) => (gateway ? gateway.server.close(() => r()) : r()));
  gateway?.server.closeAllConnections();
  await nc?.close();
  await server?.cleanup();
});

const deliver = (fn: string, digest: string, token = invokeToken(KEY, NS, fn)): Promise<Response> =>
  fetch(`${base}/internal/v1/packages/${NS}/${fn}/${digest}`, {
    headers: { 'x-sluice-invoke-token': token },
  });

const errorOf = async (p: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> => {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the call to fail');
};

describe('functions from zip packages, through @aws-sdk/client-lambda', () => {
  let v1: Buffer;
  let v2: Buffer;

  it('CreateFunction stores the zip and writes the Function with its digest', async () => {
    v1 = await zipOf({ 'index.js': 'exports.handler = async () => 1', 'node_modules/dep/index.js': 'x' });
    const r = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: `arn:aws:lambda:us-east-1:${NS}:function:hello`,
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Role: `arn:aws:iam::${NS}:role/runner`,
        Code: { ZipFile: v1 },
        Environment: { Variables: { A: '1' } },
      }),
    );
    expect(r.FunctionName).toBe('hello');
    expect(r.Runtime).toBe('nodejs22.x');
    expect(r.CodeSize).toBe(v1.length);
    expect(r.CodeSha256).toBe(createHash('sha256').update(v1).digest('base64'));
    expect(r.Role).toBe(`arn:aws:iam::${NS}:role/runner`);
    const fn = catalog.getFunction(NS, 'hello')!;
    expect(fn.spec.code).toEqual({ package: `sha256:${sha(v1)}` });
    expect(fn.spec.executionRole).toEqual({ serviceAccountName: 'runner' });
    expect(reviewer.asked.at(-1)).toMatchObject({ namespace: NS, verb: 'create', resource: 'functions' });
  });

  it('GetFunction gives a Code.Location that downloads the same zip', async () => {
    const r = await lambda.send(new GetFunctionCommand({ FunctionName: `${NS}:function:hello` }));
    expect(r.Code?.RepositoryType).toBe('S3');
    const got = await fetch(r.Code!.Location!);
    expect(got.status).toBe(200);
    expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(v1));
    // A tampered or expired link opens nothing: 403 before anything is looked up, as S3 answers.
    const bad = await fetch(r.Code!.Location!.replace(/signature=[0-9a-f]/, 'signature=z'));
    expect(bad.status).toBe(403);
    expect(((await bad.json()) as { Type?: string; message?: string }).message).toMatch(
      /invalid or has expired/,
    );
    const expired = await fetch(r.Code!.Location!.replace(/expires=\d+/, 'expires=1000'));
    expect(expired.status).toBe(403);
  });

  it('delivers the package to the function’s pod with its token, and to nobody else', async () => {
    const digest = `sha256:${sha(v1)}`;
    const ok = await deliver('hello', digest);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-sluice-package-digest')).toBe(digest);
    expect(sha(Buffer.from(await ok.arrayBuffer()))).toBe(sha(v1));
    expect((await deliver('hello', digest, 'wrong')).status).toBe(404);
    expect((await deliver('hello', digest, invokeToken(KEY, NS, 'other'))).status).toBe(404);
    expect((await deliver('hello', `sha256:${'0'.repeat(64)}`)).status).toBe(404);
  });

  it('UpdateFunctionCode replaces the package; the old one is no longer delivered', async () => {
    v2 = await zipOf({ 'index.js': 'exports.handler = async () => 2' });
    const r = await lambda.send(
      new UpdateFunctionCodeCommand({ FunctionName: `${NS}:function:hello`, ZipFile: v2 }),
    );
    expect(r.CodeSha256).toBe(createHash('sha256').update(v2).digest('base64'));
    expect(catalog.getFunction(NS, 'hello')!.spec.code).toEqual({ package: `sha256:${sha(v2)}` });
    expect(catalog.getFunction(NS, 'hello')!.spec.environment).toEqual({ A: '1' });
    expect((await deliver('hello', `sha256:${sha(v2)}`)).status).toBe(200);
    expect((await deliver('hello', `sha256:${sha(v1)}`)).status).toBe(404);
  });

  it('publishes layers, lists them, and delivers a layer a function names', async () => {
    const layerZip = await zipOf({ 'nodejs/node_modules/lib/index.js': 'module.exports = 42' });
    const p = await lambda.send(
      new PublishLayerVersionCommand({
        LayerName: `arn:aws:lambda:us-east-1:${NS}:layer:deps`,
        Content: { ZipFile: layerZip },
        CompatibleRuntimes: ['nodejs22.x'],
        Description: 'shared deps',
      }),
    );
    expect(p.Version).toBe(1);
    expect(p.LayerVersionArn).toBe(`arn:aws:lambda:us-east-1:${NS}:layer:deps:1`);
    expect(p.Content?.CodeSize).toBe(layerZip.length);
    const again = await lambda.send(
      new PublishLayerVersionCommand({
        LayerName: `arn:aws:lambda:us-east-1:${NS}:layer:deps`,
        Content: { ZipFile: layerZip },
      }),
    );
    expect(again.Version).toBe(2);
    const got = await lambda.send(
      new GetLayerVersionCommand({
        LayerName: `arn:aws:lambda:us-east-1:${NS}:layer:deps`,
        VersionNumber: 1,
      }),
    );
    expect(got.Description).toBe('shared deps');
    expect(sha(Buffer.from(await (await fetch(got.Content!.Location!)).arrayBuffer()))).toBe(sha(layerZip));
    const versions = await lambda.send(
      new ListLayerVersionsCommand({ LayerName: `arn:aws:lambda:us-east-1:${NS}:layer:deps` }),
    );
    expect(versions.LayerVersions?.map((v) => v.Version)).toEqual([2, 1]);

    const fnZip = await zipOf({ 'index.js': 'exports.handler = async () => require("lib")' });
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: `${NS}:function:with-layer`,
        Runtime: 'nodejs22.x',
        Role: `arn:aws:iam::${NS}:role/runner`,
        Code: { ZipFile: fnZip },
        Layers: [p.LayerVersionArn!],
      }),
    );
    expect((await deliver('with-layer', `sha256:${sha(layerZip)}`)).status).toBe(200);
    // hello does not name the layer
    expect((await deliver('hello', `sha256:${sha(layerZip)}`)).status).toBe(404);
    await lambda.send(
      new DeleteLayerVersionCommand({
        LayerName: `arn:aws:lambda:us-east-1:${NS}:layer:deps`,
        VersionNumber: 2,
      }),
    );
    expect(catalog.listLayerVersions(NS, 'deps').map((l) => l.spec.version)).toEqual([1]);
  });

  it('a ServiceAccount’s bare layer names and ListLayers mean its own namespace (its account, as on Lambda)', async () => {
    const ci = client('AKIDSHOPCI', 'ci-secret');
    try {
      const zip = await zipOf({ 'bin/tool': '#!/bin/sh' });
      const p = await ci.send(
        new PublishLayerVersionCommand({ LayerName: 'tools', Content: { ZipFile: zip } }),
      );
      expect(p.LayerVersionArn).toBe(`arn:aws:lambda:us-east-1:${NS}:layer:tools:1`);
      expect(catalog.listLayerVersions(NS, 'tools').map((l) => l.spec.version)).toEqual([1]);
      expect(catalog.listLayerVersions('default')).toEqual([]);
      expect(reviewer.asked.at(-1)).toMatchObject({
        namespace: NS,
        verb: 'create',
        resource: 'layerversions',
      });

      const listed = await ci.send(new ListLayersCommand({}));
      expect(listed.Layers?.map((l) => l.LayerArn).sort()).toEqual([
        `arn:aws:lambda:us-east-1:${NS}:layer:deps`,
        `arn:aws:lambda:us-east-1:${NS}:layer:tools`,
      ]);
      expect(reviewer.asked.at(-1)).toMatchObject({ namespace: NS, verb: 'list', resource: 'layerversions' });

      const got = await ci.send(new GetLayerVersionCommand({ LayerName: 'tools', VersionNumber: 1 }));
      expect(got.LayerVersionArn).toBe(p.LayerVersionArn);
      const versions = await ci.send(new ListLayerVersionsCommand({ LayerName: 'tools' }));
      expect(versions.LayerVersions?.map((v) => v.Version)).toEqual([1]);
      await ci.send(new DeleteLayerVersionCommand({ LayerName: 'tools', VersionNumber: 1 }));
      expect(catalog.listLayerVersions(NS, 'tools')).toEqual([]);
      // An ARN still names its namespace: another one is refused by RBAC, not read from shop.
      expect(
        await errorOf(
          ci.send(new ListLayerVersionsCommand({ LayerName: 'arn:aws:lambda:us-east-1:blue:layer:deps' })),
        ),
      ).toMatchObject({ name: 'AccessDeniedException', status: 403 });
      expect(reviewer.asked.at(-1)).toMatchObject({ namespace: 'blue' });
    } finally {
      ci.destroy();
    }
  });

  it('ListLayers of a user lists the gateway’s default namespace: 403 for a caller without RBAC there', async () => {
    expect(await errorOf(lambda.send(new ListLayersCommand({})))).toMatchObject({
      name: 'AccessDeniedException',
      status: 403,
    });
    expect(reviewer.asked.at(-1)).toMatchObject({
      namespace: 'default',
      verb: 'list',
      resource: 'layerversions',
    });
  });

  it.each([
    {
      name: 'a corrupt zip',
      input: { Code: { ZipFile: Buffer.from('not a zip at all') }, Runtime: 'nodejs22.x' },
      error: 'InvalidParameterValueException',
      status: 400,
    },
    {
      name: 'an unknown runtime',
      input: { Code: { ZipFile: Buffer.from('x') }, Runtime: 'python2.7' },
      error: 'InvalidParameterValueException',
      status: 400,
    },
    {
      name: 'a role of another namespace',
      input: {
        Code: { ZipFile: Buffer.from('x') },
        Runtime: 'nodejs22.x',
        Role: 'arn:aws:iam::other:role/x',
      },
      error: 'InvalidParameterValueException',
      status: 400,
    },
    {
      name: 'a layer of another namespace',
      input: {
        Code: { ZipFile: Buffer.from('x') },
        Runtime: 'nodejs22.x',
        Layers: ['arn:aws:lambda:us-east-1:other:layer:x:1'],
      },
      error: 'InvalidParameterValueException',
      status: 400,
    },
  ])('CreateFunction refuses $name', async ({ input, error, status }) => {
    const e = await errorOf(
      lambda.send(
        new CreateFunctionCommand({
          FunctionName: `${NS}:function:bad`,
          ...({ Role: `arn:aws:iam::${NS}:role/r`, ...input } as Omit<
            CreateFunctionCommandInput,
            'FunctionName'
          >),
        }),
      ),
    );
    expect(e).toMatchObject({ name: error, status });
  });

  it('answers 409 for an existing function, 403 without RBAC, 404 after DeleteFunction', async () => {
    const zip = await zipOf({ 'index.js': '' });
    expect(
      await errorOf(
        lambda.send(
          new CreateFunctionCommand({
            FunctionName: `${NS}:function:hello`,
            Runtime: 'nodejs22.x',
            Role: `arn:aws:iam::${NS}:role/r`,
            Code: { ZipFile: zip },
          }),
        ),
      ),
    ).toMatchObject({ name: 'ResourceConflictException', status: 409 });
    expect(
      await errorOf(nobody.send(new GetFunctionCommand({ FunctionName: `${NS}:function:hello` }))),
    ).toMatchObject({
      name: 'AccessDeniedException',
      status: 403,
    });
    await lambda.send(new DeleteFunctionCommand({ FunctionName: `${NS}:function:hello` }));
    expect(
      await errorOf(lambda.send(new GetFunctionCommand({ FunctionName: `${NS}:function:hello` }))),
    ).toMatchObject({
      name: 'ResourceNotFoundException',
      status: 404,
    });
    expect((await deliver('hello', `sha256:${sha(v2)}`)).status).toBe(404);
  });
});
