/**
 * The configuration, version and alias calls through the gateway in-process, driven by the
 * official @aws-sdk/client-lambda: GetFunctionConfiguration, UpdateFunctionConfiguration,
 * ListFunctions, ListVersionsByFunction, CreateAlias/GetAlias/UpdateAlias/DeleteAlias/ListAliases,
 * a bare name in the caller's account, and the error codes (404, 409, 412, 403, 400). Functions and
 * Aliases live in a memory store that feeds the catalog, as the watches would.
 */
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  DeleteAliasCommand,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListAliasesCommand,
  ListFunctionsCommand,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  type Runtime,
  UpdateAliasCommand,
  UpdateFunctionConfigurationCommand,
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

/** RBAC as a list: dev may do everything in shop and default, shop's ServiceAccounts in shop; nobody nothing. */
class ListReviewer implements AccessReviewer {
  readonly asked: ResourceAttributes[] = [];
  allowed(p: Principal, attrs: ResourceAttributes): Promise<boolean> {
    this.asked.push(attrs);
    if (p.kind === 'user' && p.name === 'dev')
      return Promise.resolve([NS, 'default'].includes(attrs.namespace));
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

/** Image functions only here: no package is stored. */
const noPackages: PackageStore = {
  put: () => Promise.reject(new Error('no packages in this test')),
  get: () => Promise.resolve(undefined),
  has: () => Promise.resolve(false),
  delete: () => Promise.resolve(false),
  list: () => Promise.resolve([]),
};

let gateway: Gateway;
let base: string;
let dev: LambdaClient;
let ci: LambdaClient;
let nobody: LambdaClient;
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
  const versions = new MemoryVersionStore();
  gateway = buildGateway(
    {
      catalog,
      router: table,
      scaler: new FakeScaler(table, () => [], 0),
      peers: new StaticPeers(),
      auth: new GatewayAuthenticator({ tokens: { review: () => Promise.resolve(undefined) }, keys }),
      pods: new HttpPodClient(),
      versions,
      publishAuthorizer: new ListPublishAuthorizer(() => true),
      packages: { catalog, store: noPackages, management: objects, objects, reviewer },
      registry: new Registry(),
      tracer: trace.getTracer('test'),
      log: silentLogger(),
    },
    { ...DEFAULT_SETTINGS, defaultNamespace: 'default', region: 'us-east-1' },
  );
  await new Promise<void>((r) => gateway.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}`;
  dev = client('AKIDDEV', 'dev-secret');
  ci = client('AKIDSHOPCI', 'ci-secret');
  nobody = client('AKIDNOBODY', 'nobody-secret');
});

afterAll(async () => {
  for (const c of [dev, ci, nobody]) c?.destroy();
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

const create = (c: LambdaClient, name: string) =>
  c.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Role: `arn:aws:iam::${NS}:role/default`,
      Code: { ImageUri: 'registry.example/fn:1' },
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
    }),
  );

describe('a bare function name is in the caller’s account', () => {
  it('a ServiceAccount key creates in its namespace; a user in the default namespace', async () => {
    await create(ci, 'app');
    expect(objects.fns.has(`${NS}/app`)).toBe(true);
    await dev.send(
      new CreateFunctionCommand({
        FunctionName: 'mine',
        Role: 'arn:aws:iam::default:role/default',
        Code: { ImageUri: 'registry.example/fn:1' },
        Runtime: 'nodejs22.x',
      }),
    );
    expect(objects.fns.has('default/mine')).toBe(true);
    // The same bare name from the ServiceAccount reads shop's.
    const r = await ci.send(new GetFunctionConfigurationCommand({ FunctionName: 'app' }));
    expect(r.FunctionArn).toBe(`arn:aws:lambda:us-east-1:${NS}:function:app`);
  });
});

describe('configuration', () => {
  it('GetFunctionConfiguration: Pending until the controller settles, then Active/Successful', async () => {
    const before = await ci.send(new GetFunctionConfigurationCommand({ FunctionName: 'app' }));
    expect(before.State).toBe('Pending');
    expect(before.LastUpdateStatus).toBe('InProgress');
    objects.settle(NS, 'app');
    const r = await ci.send(new GetFunctionConfigurationCommand({ FunctionName: 'app' }));
    expect(r).toMatchObject({ State: 'Active', LastUpdateStatus: 'Successful', MemorySize: 128 });
    expect(r.RevisionId).toBe(objects.fns.get(`${NS}/app`)!.metadata.resourceVersion);
    expect(r.$metadata.httpStatusCode).toBe(200);
  });

  it('UpdateFunctionConfiguration writes the spec; InProgress until settled', async () => {
    const { RevisionId } = await ci.send(new GetFunctionConfigurationCommand({ FunctionName: 'app' }));
    const r = await ci.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'app',
        RevisionId,
        MemorySize: 512,
        Timeout: 30,
        Description: 'new',
        Environment: { Variables: { MODE: 'fast' } },
        EphemeralStorage: { Size: 1024 },
        Role: `arn:aws:iam::${NS}:role/runner`,
      }),
    );
    expect(r).toMatchObject({
      MemorySize: 512,
      Timeout: 30,
      Description: 'new',
      LastUpdateStatus: 'InProgress',
    });
    expect(r.RevisionId).not.toBe(RevisionId);
    expect(objects.fns.get(`${NS}/app`)!.spec).toMatchObject({
      memoryMB: 512,
      timeoutSeconds: 30,
      environment: { MODE: 'fast' },
      ephemeralStorageMB: 1024,
      executionRole: { serviceAccountName: 'runner' },
    });
    objects.settle(NS, 'app');
    expect(
      (await ci.send(new GetFunctionConfigurationCommand({ FunctionName: 'app' }))).LastUpdateStatus,
    ).toBe('Successful');
    expect(reviewer.asked).toContainEqual(
      expect.objectContaining({ namespace: NS, verb: 'update', resource: 'functions' }),
    );
  });

  it('refuses: stale RevisionId 412, unknown 404, no RBAC 403, bad values 400', async () => {
    expect(
      await errorOf(
        ci.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'app', RevisionId: '1', Timeout: 5 })),
      ),
    ).toEqual({ name: 'PreconditionFailedException', status: 412 });
    expect(await errorOf(ci.send(new GetFunctionConfigurationCommand({ FunctionName: 'nope' })))).toEqual({
      name: 'ResourceNotFoundException',
      status: 404,
    });
    expect(
      await errorOf(ci.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'nope', Timeout: 5 }))),
    ).toEqual({
      name: 'ResourceNotFoundException',
      status: 404,
    });
    expect(
      await errorOf(nobody.send(new GetFunctionConfigurationCommand({ FunctionName: `${NS}:function:app` }))),
    ).toEqual({ name: 'AccessDeniedException', status: 403 });
    expect(
      await errorOf(
        nobody.send(
          new UpdateFunctionConfigurationCommand({ FunctionName: `${NS}:function:app`, Timeout: 5 }),
        ),
      ),
    ).toEqual({ name: 'AccessDeniedException', status: 403 });
    for (const bad of [
      { MemorySize: 64 },
      { Timeout: 0 },
      { Runtime: 'python3.12' as Runtime },
      { Environment: { Variables: { AWS_REGION: 'x' } } },
    ]) {
      expect(
        await errorOf(ci.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'app', ...bad }))),
      ).toEqual({
        name: 'InvalidParameterValueException',
        status: 400,
      });
    }
  });

  it('ListFunctions pages through the caller’s namespace only', async () => {
    for (const n of ['b1', 'b2', 'b3']) await create(ci, n);
    const names: string[] = [];
    let Marker: string | undefined;
    for (let i = 0; i < 10; i++) {
      const r = await ci.send(new ListFunctionsCommand({ MaxItems: 2, ...(Marker ? { Marker } : {}) }));
      expect(r.Functions!.length).toBeLessThanOrEqual(2);
      names.push(...r.Functions!.map((f) => f.FunctionName!));
      if (!r.NextMarker) break;
      Marker = r.NextMarker;
    }
    expect(names).toEqual(['app', 'b1', 'b2', 'b3']);
    expect((await dev.send(new ListFunctionsCommand({}))).Functions!.map((f) => f.FunctionName)).toEqual([
      'mine',
    ]);
    expect(await errorOf(nobody.send(new ListFunctionsCommand({})))).toEqual({
      name: 'AccessDeniedException',
      status: 403,
    });
    expect(await errorOf(ci.send(new ListFunctionsCommand({ Marker: '***' })))).toEqual({
      name: 'InvalidParameterValueException',
      status: 400,
    });
  });

  it('ListVersionsByFunction: $LATEST first, then the versions', async () => {
    await ci.send(new PublishVersionCommand({ FunctionName: 'app' }));
    const r = await ci.send(new ListVersionsByFunctionCommand({ FunctionName: 'app' }));
    expect(r.Versions!.map((v) => v.Version)).toEqual(['$LATEST', '1']);
    expect(r.Versions![1]!.FunctionArn).toBe(`arn:aws:lambda:us-east-1:${NS}:function:app:1`);
    expect(await errorOf(ci.send(new ListVersionsByFunctionCommand({ FunctionName: 'nope' })))).toEqual({
      name: 'ResourceNotFoundException',
      status: 404,
    });
    expect(
      await errorOf(nobody.send(new ListVersionsByFunctionCommand({ FunctionName: `${NS}:function:app` }))),
    ).toEqual({ name: 'AccessDeniedException', status: 403 });
  });
});

describe('aliases', () => {
  it('CreateAlias 201 → an Alias object the catalog routes by; taken 409', async () => {
    const r = await ci.send(
      new CreateAliasCommand({
        FunctionName: 'app',
        Name: 'prod',
        FunctionVersion: '1',
        Description: 'live',
      }),
    );
    expect(r.$metadata.httpStatusCode).toBe(201);
    expect(r).toMatchObject({ Name: 'prod', FunctionVersion: '1', Description: 'live' });
    expect(r.AliasArn).toBe(`arn:aws:lambda:us-east-1:${NS}:function:app:prod`);
    expect(objects.aliases.get(`${NS}/app-prod`)!.spec).toEqual({
      function: 'app',
      name: 'prod',
      version: '1',
      description: 'live',
    });
    expect(catalog.getAlias(NS, 'app', 'prod')?.spec.version).toBe('1');
    expect(
      await errorOf(
        ci.send(new CreateAliasCommand({ FunctionName: 'app', Name: 'prod', FunctionVersion: '1' })),
      ),
    ).toEqual({
      name: 'ResourceConflictException',
      status: 409,
    });
    expect(reviewer.asked.at(-1)).toMatchObject({ verb: 'create', resource: 'aliases', namespace: NS });
  });

  it('UpdateAlias sets RoutingConfig; stale RevisionId 412', async () => {
    await ci.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'app', Timeout: 9 }));
    const v2 = await ci.send(new PublishVersionCommand({ FunctionName: 'app' }));
    expect(v2.Version).toBe('2');
    const cur = await ci.send(new GetAliasCommand({ FunctionName: 'app', Name: 'prod' }));
    const r = await ci.send(
      new UpdateAliasCommand({
        FunctionName: 'app',
        Name: 'prod',
        RevisionId: cur.RevisionId,
        RoutingConfig: { AdditionalVersionWeights: { '2': 0.25 } },
      }),
    );
    expect(r.RoutingConfig).toEqual({ AdditionalVersionWeights: { '2': 0.25 } });
    expect(objects.aliases.get(`${NS}/app-prod`)!.spec.additionalVersionWeights).toEqual({ '2': 0.25 });
    expect(
      await errorOf(
        ci.send(
          new UpdateAliasCommand({
            FunctionName: 'app',
            Name: 'prod',
            RevisionId: cur.RevisionId,
            FunctionVersion: '2',
          }),
        ),
      ),
    ).toEqual({ name: 'PreconditionFailedException', status: 412 });
  });

  it('ListAliases, GetAlias, DeleteAlias 204', async () => {
    await ci.send(new CreateAliasCommand({ FunctionName: 'app', Name: 'beta', FunctionVersion: '$LATEST' }));
    const page1 = await ci.send(new ListAliasesCommand({ FunctionName: 'app', MaxItems: 1 }));
    expect(page1.Aliases!.map((a) => a.Name)).toEqual(['beta']);
    const page2 = await ci.send(new ListAliasesCommand({ FunctionName: 'app', Marker: page1.NextMarker! }));
    expect(page2.Aliases!.map((a) => a.Name)).toEqual(['prod']);
    expect(page2.NextMarker).toBeUndefined();
    const del = await ci.send(new DeleteAliasCommand({ FunctionName: 'app', Name: 'beta' }));
    expect(del.$metadata.httpStatusCode).toBe(204);
    expect(await errorOf(ci.send(new GetAliasCommand({ FunctionName: 'app', Name: 'beta' })))).toEqual({
      name: 'ResourceNotFoundException',
      status: 404,
    });
  });

  it('refuses: unknown function or version 404, no RBAC 403, invalid 400', async () => {
    // Each call is made only when its turn comes (a rejection nobody awaits yet is unhandled).
    const cases: [() => Promise<unknown>, string, number][] = [
      [
        () => ci.send(new CreateAliasCommand({ FunctionName: 'nope', Name: 'a', FunctionVersion: '1' })),
        'ResourceNotFoundException',
        404,
      ],
      [
        () => ci.send(new CreateAliasCommand({ FunctionName: 'app', Name: 'a', FunctionVersion: '9' })),
        'ResourceNotFoundException',
        404,
      ],
      [
        () => ci.send(new GetAliasCommand({ FunctionName: 'nope', Name: 'prod' })),
        'ResourceNotFoundException',
        404,
      ],
      [
        () => ci.send(new UpdateAliasCommand({ FunctionName: 'app', Name: 'gone', FunctionVersion: '1' })),
        'ResourceNotFoundException',
        404,
      ],
      [() => ci.send(new ListAliasesCommand({ FunctionName: 'nope' })), 'ResourceNotFoundException', 404],
      [
        () => ci.send(new DeleteAliasCommand({ FunctionName: 'nope', Name: 'prod' })),
        'ResourceNotFoundException',
        404,
      ],
      [
        () => nobody.send(new GetAliasCommand({ FunctionName: `${NS}:function:app`, Name: 'prod' })),
        'AccessDeniedException',
        403,
      ],
      [
        () =>
          nobody.send(
            new CreateAliasCommand({ FunctionName: `${NS}:function:app`, Name: 'x', FunctionVersion: '1' }),
          ),
        'AccessDeniedException',
        403,
      ],
      [
        () => nobody.send(new DeleteAliasCommand({ FunctionName: `${NS}:function:app`, Name: 'prod' })),
        'AccessDeniedException',
        403,
      ],
      [
        () => nobody.send(new ListAliasesCommand({ FunctionName: `${NS}:function:app` })),
        'AccessDeniedException',
        403,
      ],
      [
        () => ci.send(new CreateAliasCommand({ FunctionName: 'app', Name: '12', FunctionVersion: '1' })),
        'InvalidParameterValueException',
        400,
      ],
      [
        () =>
          ci.send(
            new CreateAliasCommand({
              FunctionName: 'app',
              Name: 'w',
              FunctionVersion: '1',
              RoutingConfig: { AdditionalVersionWeights: { '2': 2 } },
            }),
          ),
        'InvalidParameterValueException',
        400,
      ],
      [
        () => ci.send(new UpdateAliasCommand({ FunctionName: 'app', Name: 'prod', FunctionVersion: 'x' })),
        'InvalidParameterValueException',
        400,
      ],
    ];
    for (const [p, name, status] of cases) expect(await errorOf(p())).toEqual({ name, status });
  });
});
