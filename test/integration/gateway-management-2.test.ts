/**
 * The function-wide settings through the gateway in-process, driven by the official
 * @aws-sdk/client-lambda: Put/Get/DeleteFunctionConcurrency, Put/Get/Update/
 * DeleteFunctionEventInvokeConfig, AddPermission/RemovePermission/GetPolicy (and what they change
 * for Invoke), GetAccountSettings; the error codes (404, 409, 412, 403, 400). Functions live in a
 * memory store that feeds the catalog, as the watches would (same harness as
 * gateway-management.test.ts).
 */
import {
  AddPermissionCommand,
  CreateFunctionCommand,
  DeleteFunctionConcurrencyCommand,
  DeleteFunctionEventInvokeConfigCommand,
  GetAccountSettingsCommand,
  GetFunctionConcurrencyCommand,
  GetFunctionEventInvokeConfigCommand,
  GetPolicyCommand,
  InvokeCommand,
  LambdaClient,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
  RemovePermissionCommand,
  UpdateFunctionEventInvokeConfigCommand,
} from '@aws-sdk/client-lambda';
import { trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AliasResource, FunctionResource, LayerVersionResource } from '../../api/types.js';
import { GatewayAuthenticator, MapAccessKeys } from '../../gateway/auth/authenticator.js';
import type { AccessReviewer, ResourceAttributes } from '../../gateway/auth/kube-rbac.js';
import type { Principal } from '../../gateway/auth/principal.js';
import { MemoryCatalog } from '../../gateway/catalog/catalog.js';
import { buildGateway, DEFAULT_SETTINGS, type Gateway } from '../../gateway/gateway.js';
import { HttpPodClient } from '../../gateway/invoke/pod-client.js';
import { StaticPeers } from '../../gateway/limits/limiter.js';
import {
  AlreadyExistsError,
  ConflictError,
  type FunctionObjectStore,
  type ManagementStore,
} from '../../gateway/management/store.js';
import type { PackageStore } from '../../gateway/packages/store.js';
import { EndpointTable } from '../../gateway/routing/router.js';
import {
  FakeScaler,
  ListPublishAuthorizer,
  MemoryVersionStore,
  silentLogger,
} from '../support/gateway/fakes.js';

const NS = 'shop';
const keys = new MapAccessKeys();
keys.set('AKIDDEV', { secretAccessKey: 'dev-secret', principal: { kind: 'user', name: 'dev' } });
keys.set('AKIDNOBODY', { secretAccessKey: 'nobody-secret', principal: { kind: 'user', name: 'nobody' } });
keys.set('AKIDSHOPCI', {
  secretAccessKey: 'ci-secret',
  principal: { kind: 'serviceaccount', namespace: NS, name: 'ci' },
});
keys.set('AKIDREADER', { secretAccessKey: 'reader-secret', principal: { kind: 'user', name: 'reader' } });
keys.set('AKIDWEB', {
  secretAccessKey: 'web-secret',
  principal: { kind: 'serviceaccount', namespace: 'web', name: 'app' },
});

/**
 * RBAC as a list: dev may do everything in shop and default, shop's ServiceAccounts in shop,
 * reader get/list in shop; nobody (and web's ServiceAccount) nothing.
 */
class ListReviewer implements AccessReviewer {
  readonly asked: ResourceAttributes[] = [];
  allowed(p: Principal, attrs: ResourceAttributes): Promise<boolean> {
    this.asked.push(attrs);
    if (p.kind === 'user' && p.name === 'dev')
      return Promise.resolve([NS, 'default'].includes(attrs.namespace));
    if (p.kind === 'user' && p.name === 'reader')
      return Promise.resolve(attrs.namespace === NS && ['get', 'list'].includes(attrs.verb));
    return Promise.resolve(p.kind === 'serviceaccount' && p.namespace === NS && attrs.namespace === NS);
  }
}

/** Functions and Aliases in memory with resourceVersion/generation, mirrored into the catalog. */
class MemoryObjects implements ManagementStore, FunctionObjectStore {
  readonly fns = new Map<string, FunctionResource>();
  readonly aliases = new Map<string, AliasResource>();
  private rv = 1;
  constructor(private readonly catalog: MemoryCatalog) {}
  getFunction(ns: string, name: string): Promise<FunctionResource | undefined> {
    return Promise.resolve(this.fns.get(`${ns}/${name}`));
  }
  createFunction(fn: FunctionResource): Promise<FunctionResource> {
    const k = `${fn.metadata.namespace}/${fn.metadata.name}`;
    if (this.fns.has(k)) throw new AlreadyExistsError(k);
    return this.put({
      ...fn,
      metadata: { ...fn.metadata, uid: k, generation: 1, creationTimestamp: new Date() },
    });
  }
  replaceFunction(fn: FunctionResource): Promise<FunctionResource> {
    const cur = this.fns.get(`${fn.metadata.namespace}/${fn.metadata.name}`);
    if (!cur || cur.metadata.resourceVersion !== fn.metadata.resourceVersion)
      throw new ConflictError('changed');
    return this.put({ ...fn, metadata: { ...fn.metadata, generation: (cur.metadata.generation ?? 1) + 1 } });
  }
  /** What the controller writes: the current generation is Ready and Updated. */
  settle(ns: string, name: string): void {
    const fn = this.fns.get(`${ns}/${name}`)!;
    const c = (type: string) => ({
      type,
      status: 'True' as const,
      reason: 'X',
      observedGeneration: fn.metadata.generation,
    });
    void this.put({ ...fn, status: { conditions: [c('Ready'), c('Updated')] } });
  }
  private put(fn: FunctionResource): Promise<FunctionResource> {
    const stored = { ...fn, metadata: { ...fn.metadata, resourceVersion: String(++this.rv) } };
    this.fns.set(`${fn.metadata.namespace}/${fn.metadata.name}`, stored);
    this.catalog.upsert(stored);
    return Promise.resolve(stored);
  }
  deleteFunction(ns: string, name: string): Promise<boolean> {
    return Promise.resolve(this.fns.delete(`${ns}/${name}`));
  }
  listLayerVersions(): Promise<LayerVersionResource[]> {
    return Promise.resolve([]);
  }
  createLayerVersion(lv: LayerVersionResource): Promise<LayerVersionResource> {
    return Promise.resolve(lv);
  }
  deleteLayerVersion(): Promise<boolean> {
    return Promise.resolve(false);
  }
  listFunctions(ns: string): Promise<FunctionResource[]> {
    return Promise.resolve([...this.fns.values()].filter((f) => f.metadata.namespace === ns));
  }
  listAliases(ns: string, fn: string): Promise<AliasResource[]> {
    return Promise.resolve(
      [...this.aliases.values()].filter((a) => a.metadata.namespace === ns && a.spec.function === fn),
    );
  }
  createAlias(a: AliasResource): Promise<AliasResource> {
    const k = `${a.metadata.namespace}/${a.metadata.name}`;
    if (this.aliases.has(k)) throw new AlreadyExistsError(k);
    return this.putAlias(a);
  }
  replaceAlias(a: AliasResource): Promise<AliasResource> {
    const cur = this.aliases.get(`${a.metadata.namespace}/${a.metadata.name}`);
    if (!cur || cur.metadata.resourceVersion !== a.metadata.resourceVersion)
      throw new ConflictError('changed');
    return this.putAlias(a);
  }
  private putAlias(a: AliasResource): Promise<AliasResource> {
    const stored = { ...a, metadata: { ...a.metadata, resourceVersion: String(++this.rv) } };
    this.aliases.set(`${a.metadata.namespace}/${a.metadata.name}`, stored);
    this.catalog.upsert(stored);
    return Promise.resolve(stored);
  }
  deleteAlias(ns: string, name: string): Promise<boolean> {
    const a = this.aliases.get(`${ns}/${name}`);
    if (a) this.catalog.remove(a);
    return Promise.resolve(this.aliases.delete(`${ns}/${name}`));
  }
}

/** Image functions here; the package store only lists what shop stored (for GetAccountSettings). */
const packages: PackageStore = {
  put: () => Promise.reject(new Error('no uploads in this test')),
  get: () => Promise.resolve(undefined),
  has: () => Promise.resolve(false),
  delete: () => Promise.resolve(false),
  list: (ns?: string) =>
    Promise.resolve(
      ns === NS
        ? [
            { namespace: NS, digest: `sha256:${'a'.repeat(64)}`, size: 1000, storedAt: new Date() },
            { namespace: NS, digest: `sha256:${'b'.repeat(64)}`, size: 234, storedAt: new Date() },
          ]
        : [],
    ),
};

let gateway: Gateway;
let base: string;
let ci: LambdaClient;
let nobody: LambdaClient;
let reader: LambdaClient;
let web: LambdaClient;
const catalog = new MemoryCatalog();
const objects = new MemoryObjects(catalog);
const reviewer = new ListReviewer();

const client = (id: string, secret: string): LambdaClient =>
  new LambdaClient({
    region: 'us-east-1',
    endpoint: base,
    credentials: { accessKeyId: id, secretAccessKey: secret },
    maxAttempts: 1,
  });

beforeAll(async () => {
  const table = new EndpointTable();
  gateway = buildGateway(
    {
      catalog,
      router: table,
      scaler: new FakeScaler(table, () => [], 0),
      peers: new StaticPeers(2),
      auth: new GatewayAuthenticator({ tokens: { review: () => Promise.resolve(undefined) }, keys }),
      pods: new HttpPodClient(),
      versions: new MemoryVersionStore(),
      publishAuthorizer: new ListPublishAuthorizer(() => true),
      packages: {
        catalog,
        store: packages,
        management: objects,
        objects,
        reviewer,
        codeStorageQuotaBytes: 10 * 1024 * 1024,
      },
      registry: new Registry(),
      tracer: trace.getTracer('test'),
      log: silentLogger(),
    },
    { ...DEFAULT_SETTINGS, maxInFlight: 500, defaultNamespace: 'default', region: 'us-east-1' },
  );
  await new Promise<void>((r) => gateway.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}`;
  ci = client('AKIDSHOPCI', 'ci-secret');
  nobody = client('AKIDNOBODY', 'nobody-secret');
  reader = client('AKIDREADER', 'reader-secret');
  web = client('AKIDWEB', 'web-secret');
  await ci.send(
    new CreateFunctionCommand({
      FunctionName: 'app',
      Role: `arn:aws:iam::${NS}:role/default`,
      Code: { ImageUri: 'registry.example/fn:1' },
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
    }),
  );
});

afterAll(async () => {
  for (const c of [ci, nobody, reader, web]) c?.destroy();
  await new Promise<void>((r) => (gateway ? gateway.server.close(() => r()) : r()));
  gateway?.server.closeAllConnections();
});

const errorOf = async (p: Promise<unknown>): Promise<{ name: string; status?: number }> => {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the call to fail');
};

const spec = () => objects.fns.get(`${NS}/app`)!.spec;
const FN = `${NS}:function:app`;

describe('reserved concurrency', () => {
  it('Put, Get, Delete on spec.concurrency.reserved', async () => {
    expect(await ci.send(new GetFunctionConcurrencyCommand({ FunctionName: 'app' }))).not.toHaveProperty(
      'ReservedConcurrentExecutions',
    );
    const put = await ci.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'app', ReservedConcurrentExecutions: 7 }),
    );
    expect(put.ReservedConcurrentExecutions).toBe(7);
    expect(spec().concurrency).toEqual({ reserved: 7 });
    const got = await reader.send(new GetFunctionConcurrencyCommand({ FunctionName: FN }));
    expect(got.ReservedConcurrentExecutions).toBe(7);
    const del = await ci.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'app' }));
    expect(del.$metadata.httpStatusCode).toBe(204);
    expect(spec().concurrency).toBeUndefined();
    expect(reviewer.asked).toContainEqual(
      expect.objectContaining({ namespace: NS, verb: 'update', resource: 'functions' }),
    );
  });

  it('refuses: 400 out of range, 404 unknown, 403 without update RBAC', async () => {
    expect(
      await errorOf(
        ci.send(new PutFunctionConcurrencyCommand({ FunctionName: 'app', ReservedConcurrentExecutions: -1 })),
      ),
    ).toEqual({ name: 'InvalidParameterValueException', status: 400 });
    expect(
      await errorOf(
        ci.send(new PutFunctionConcurrencyCommand({ FunctionName: 'nope', ReservedConcurrentExecutions: 1 })),
      ),
    ).toEqual({ name: 'ResourceNotFoundException', status: 404 });
    expect(
      await errorOf(
        reader.send(new PutFunctionConcurrencyCommand({ FunctionName: FN, ReservedConcurrentExecutions: 1 })),
      ),
    ).toEqual({ name: 'AccessDeniedException', status: 403 });
    expect(await errorOf(nobody.send(new GetFunctionConcurrencyCommand({ FunctionName: FN })))).toEqual({
      name: 'AccessDeniedException',
      status: 403,
    });
  });
});

describe('event invoke config', () => {
  it('Get is 404 before any config', async () => {
    expect(await errorOf(ci.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'app' })))).toEqual({
      name: 'ResourceNotFoundException',
      status: 404,
    });
  });

  it('Put replaces, Update merges, Get reads, Delete removes', async () => {
    const put = await ci.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: 'app',
        MaximumRetryAttempts: 1,
        MaximumEventAgeInSeconds: 300,
        DestinationConfig: {
          OnFailure: { Destination: `arn:aws:lambda:us-east-1:${NS}:function:dlq` },
          OnSuccess: { Destination: 'nats:orders.done' },
        },
      }),
    );
    expect(put.FunctionArn).toBe(`arn:aws:lambda:us-east-1:${NS}:function:app:$LATEST`);
    expect(put.LastModified).toBeInstanceOf(Date);
    expect(spec().async).toEqual({
      maxRetryAttempts: 1,
      maxEventAgeSeconds: 300,
      onFailure: 'function:dlq',
      onSuccess: 'nats:orders.done',
    });
    const up = await ci.send(
      new UpdateFunctionEventInvokeConfigCommand({
        FunctionName: 'app',
        MaximumRetryAttempts: 0,
        DestinationConfig: { OnSuccess: {} },
      }),
    );
    expect(up).toMatchObject({
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 300,
      DestinationConfig: { OnFailure: { Destination: `arn:aws:lambda:us-east-1:${NS}:function:dlq` } },
    });
    expect(up.DestinationConfig?.OnSuccess?.Destination).toBeUndefined();
    const again = await ci.send(
      new PutFunctionEventInvokeConfigCommand({ FunctionName: 'app', MaximumEventAgeInSeconds: 60 }),
    );
    expect(again.MaximumRetryAttempts).toBeUndefined();
    expect(spec().async).toEqual({ maxEventAgeSeconds: 60 });
    const got = await reader.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: FN }));
    expect(got.MaximumEventAgeInSeconds).toBe(60);
    const del = await ci.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'app' }));
    expect(del.$metadata.httpStatusCode).toBe(204);
    expect(spec().async).toBeUndefined();
    expect(
      await errorOf(ci.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'app' }))),
    ).toEqual({ name: 'ResourceNotFoundException', status: 404 });
  });

  it('refuses: 400 bad values, another namespace’s function, SQS, a qualifier; 403; 404', async () => {
    for (const bad of [
      { MaximumRetryAttempts: 3 },
      { MaximumEventAgeInSeconds: 30 },
      { DestinationConfig: { OnFailure: { Destination: 'arn:aws:lambda:us-east-1:other:function:x' } } },
      { DestinationConfig: { OnFailure: { Destination: 'arn:aws:sqs:us-east-1:1:q' } } },
      { DestinationConfig: { OnFailure: { Destination: 'nats:sluice.events' } } },
      { Qualifier: 'prod', MaximumRetryAttempts: 1 },
    ]) {
      expect(
        await errorOf(ci.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'app', ...bad }))),
        JSON.stringify(bad),
      ).toEqual({ name: 'InvalidParameterValueException', status: 400 });
    }
    expect(spec().async).toBeUndefined();
    expect(
      await errorOf(
        reader.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: FN, MaximumRetryAttempts: 1 })),
      ),
    ).toEqual({ name: 'AccessDeniedException', status: 403 });
    expect(
      await errorOf(
        ci.send(
          new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'nope', MaximumRetryAttempts: 1 }),
        ),
      ),
    ).toEqual({ name: 'ResourceNotFoundException', status: 404 });
  });
});

describe('resource policy', () => {
  const dryRun = (c: LambdaClient) =>
    c.send(new InvokeCommand({ FunctionName: FN, InvocationType: 'DryRun' }));
  const policy = async (c: LambdaClient) => {
    const r = await c.send(new GetPolicyCommand({ FunctionName: FN }));
    expect(typeof r.Policy).toBe('string');
    return { doc: JSON.parse(r.Policy!) as { Statement: Record<string, unknown>[] }, revision: r.RevisionId };
  };

  it('GetPolicy shows the default: the ServiceAccounts of the namespace', async () => {
    const { doc, revision } = await policy(reader);
    expect(doc.Statement).toEqual([
      {
        Sid: 'default',
        Effect: 'Allow',
        Principal: { AWS: `namespace:${NS}` },
        Action: 'lambda:InvokeFunction',
        Resource: `arn:aws:lambda:us-east-1:${NS}:function:app`,
      },
    ]);
    expect(revision).toBe(objects.fns.get(`${NS}/app`)!.metadata.resourceVersion);
    expect(await errorOf(dryRun(web))).toEqual({ name: 'AccessDeniedException', status: 403 });
  });

  it('AddPermission lets another namespace’s caller invoke, keeping the default; RemovePermission stops it', async () => {
    const added = await ci.send(
      new AddPermissionCommand({
        FunctionName: 'app',
        StatementId: 'web-app',
        Action: 'lambda:InvokeFunction',
        Principal: 'serviceaccount:web:app',
      }),
    );
    expect(added.$metadata.httpStatusCode).toBe(201);
    expect(JSON.parse(added.Statement!)).toMatchObject({
      Sid: 'web-app',
      Principal: { AWS: 'serviceaccount:web:app' },
    });
    expect(spec().invokePolicy).toEqual([
      { principal: `namespace:${NS}` },
      { principal: 'serviceaccount:web:app' },
    ]);
    expect((await dryRun(web)).StatusCode).toBe(204);
    expect((await dryRun(ci)).StatusCode).toBe(204);
    const { doc } = await policy(ci);
    expect(doc.Statement.map((s) => s.Sid)).toEqual(['default', 'web-app']);

    await ci.send(new RemovePermissionCommand({ FunctionName: 'app', StatementId: 'web-app' }));
    expect(spec().invokePolicy).toEqual([{ principal: `namespace:${NS}` }]);
    expect(await errorOf(dryRun(web))).toEqual({ name: 'AccessDeniedException', status: 403 });
    expect((await dryRun(ci)).StatusCode).toBe(204);
  });

  it('refuses: 409 taken Sid, 404 unknown Sid, 412 stale RevisionId, 400 bad input, 403 without update RBAC', async () => {
    const add = (c: LambdaClient, extra: Record<string, unknown> = {}) =>
      c.send(
        new AddPermissionCommand({
          FunctionName: FN,
          StatementId: 'x',
          Action: 'lambda:InvokeFunction',
          Principal: 'namespace:web',
          ...extra,
        }),
      );
    expect(await errorOf(add(ci, { StatementId: 'default' }))).toEqual({
      name: 'ResourceConflictException',
      status: 409,
    });
    expect(await errorOf(add(ci, { RevisionId: 'stale' }))).toEqual({
      name: 'PreconditionFailedException',
      status: 412,
    });
    for (const bad of [
      { Principal: 's3.amazonaws.com' },
      { Action: 'lambda:*' },
      { SourceArn: 'arn:aws:s3:::bucket' },
      { Qualifier: 'prod' },
    ]) {
      expect(await errorOf(add(ci, bad)), JSON.stringify(bad)).toEqual({
        name: 'InvalidParameterValueException',
        status: 400,
      });
    }
    // a caller who may read functions but not update them cannot widen who invokes
    expect(await errorOf(add(reader, { Principal: '*' }))).toEqual({
      name: 'AccessDeniedException',
      status: 403,
    });
    expect(await errorOf(add(web, { Principal: 'serviceaccount:web:app' }))).toEqual({
      name: 'AccessDeniedException',
      status: 403,
    });
    expect(
      await errorOf(reader.send(new RemovePermissionCommand({ FunctionName: FN, StatementId: 'default' }))),
    ).toEqual({ name: 'AccessDeniedException', status: 403 });
    expect(spec().invokePolicy).toEqual([{ principal: `namespace:${NS}` }]);
    expect(
      await errorOf(ci.send(new RemovePermissionCommand({ FunctionName: 'app', StatementId: 'nope' }))),
    ).toEqual({ name: 'ResourceNotFoundException', status: 404 });
    expect(await errorOf(ci.send(new GetPolicyCommand({ FunctionName: 'nope' })))).toEqual({
      name: 'ResourceNotFoundException',
      status: 404,
    });
    expect(await errorOf(nobody.send(new GetPolicyCommand({ FunctionName: FN })))).toEqual({
      name: 'AccessDeniedException',
      status: 403,
    });
    await add(ci);
    expect(await errorOf(add(ci))).toEqual({ name: 'ResourceConflictException', status: 409 });
    const { revision } = await policy(ci);
    expect(
      await errorOf(
        ci.send(new RemovePermissionCommand({ FunctionName: 'app', StatementId: 'x', RevisionId: 'stale' })),
      ),
    ).toEqual({ name: 'PreconditionFailedException', status: 412 });
    await ci.send(
      new RemovePermissionCommand({ FunctionName: 'app', StatementId: 'x', RevisionId: revision }),
    );
    expect(spec().invokePolicy).toEqual([{ principal: `namespace:${NS}` }]);
  });
});

describe('GetAccountSettings', () => {
  it('the caller’s namespace: quota, limits, usage', async () => {
    await ci.send(
      new PutFunctionConcurrencyCommand({ FunctionName: 'app', ReservedConcurrentExecutions: 100 }),
    );
    const r = await ci.send(new GetAccountSettingsCommand({}));
    expect(r.AccountLimit).toEqual({
      TotalCodeSize: 10 * 1024 * 1024,
      CodeSizeUnzipped: 262144000,
      CodeSizeZipped: 52428800,
      ConcurrentExecutions: 1000,
      UnreservedConcurrentExecutions: 900,
    });
    expect(r.AccountUsage).toEqual({ TotalCodeSize: 1234, FunctionCount: 1 });
    expect(await errorOf(nobody.send(new GetAccountSettingsCommand({})))).toEqual({
      name: 'AccessDeniedException',
      status: 403,
    });
  });
});
