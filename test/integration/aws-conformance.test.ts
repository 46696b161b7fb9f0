/**
 * Conformance of the gateway's Lambda API responses with responses real AWS sent, as recorded in
 * LocalStack's snapshot files (test/fixtures/aws-lambda/, README.md there): status, error code,
 * keys, JSON types and enum values of every call Sluice serves today, driven by the official
 * @aws-sdk/client-lambda (its requests, signed) with the raw response captured below the SDK.
 *
 * Where Sluice differs, KNOWN lists each difference and the test asserts that list EXACTLY: a
 * difference fixed or a new one fails the test until KNOWN is updated. Setup as in
 * gateway-packages.test.ts: a real nats-server for the package store, Functions and LayerVersions
 * in memory feeding the catalog.
 */
import {
  AddPermissionCommand,
  CreateFunctionCommand,
  DeleteFunctionCommand,
  DeleteFunctionConcurrencyCommand,
  DeleteLayerVersionCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConcurrencyCommand,
  GetFunctionEventInvokeConfigCommand,
  GetLayerVersionCommand,
  GetPolicyCommand,
  InvokeCommand,
  LambdaClient,
  ListLayerVersionsCommand,
  PublishLayerVersionCommand,
  PublishVersionCommand,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { HttpHandlerOptions, HttpRequest, HttpResponse } from '@smithy/types';
import { trace } from '@opentelemetry/api';
import { Readable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { invokeToken } from '../../api/invoke-token.js';
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
  type FunctionObjectStore,
  type ManagementStore,
} from '../../gateway/management/store.js';
import { makeSigner } from '../../gateway/packages/location.js';
import { NatsPackageStore } from '../../gateway/packages/store.js';
import { EndpointTable } from '../../gateway/routing/router.js';
import {
  compareResponse,
  enumsFor,
  formatDifference,
  loadRecorded,
  type OurResponse,
  type ShapeOptions,
} from '../support/aws-shape.js';
import {
  FakeScaler,
  fnResource,
  ListPublishAuthorizer,
  MemoryVersionStore,
  silentLogger,
} from '../support/gateway/fakes.js';
import { NatsServer } from './support/nats.js';

/**
 * Every known difference from AWS, by fixture. Each line is a formatDifference() of what
 * compareResponse found; the test fails if the list found is not exactly this one.
 */
const KNOWN: Record<string, string[]> = {
  CreateFunction: [
    'missing LoggingConfig',
    'missing RuntimeVersionConfig',
    'missing SnapStart',
    'missing TracingConfig',
    // AWS omits Environment when no variables were given; Sluice sends {"Variables":{}}.
    'extra Environment',
    // AWS's CreateFunction answer has no LastUpdateStatus yet.
    'extra LastUpdateStatus',
    'extra LastUpdateStatusReason',
    'extra LastUpdateStatusReasonCode',
  ],
  GetFunction: [
    'missing Configuration.LoggingConfig',
    'missing Configuration.RuntimeVersionConfig',
    'missing Configuration.SnapStart',
    'missing Configuration.TracingConfig',
  ],
  UpdateFunctionCode: [
    'missing LoggingConfig',
    'missing RuntimeVersionConfig',
    'missing SnapStart',
    'missing TracingConfig',
  ],
  PublishVersion: [
    'missing LoggingConfig',
    'missing RuntimeVersionConfig',
    'missing SnapStart',
    'missing TracingConfig',
    'extra Environment',
  ],
};

/** Enum values the Lambda API model lists and the recordings happen not to show. */
const MODEL_ENUMS: Record<string, string[]> = {
  // FunctionConfiguration.State / LastUpdateStatus (API reference, "State", "LastUpdateStatus")
  State: ['Inactive', 'Failed'],
  LastUpdateStatus: ['Failed'],
  // Error "Type": "Service" for 5xx errors (API reference, Errors)
  Type: ['Service'],
};

/**
 * Per operation: what AWS sends only sometimes (optional) and what Sluice may send that AWS does
 * not (allowedExtra), each with its reason. Keep these to genuinely conditional fields.
 */
/** The function stays Pending/InProgress here (no controller): the fields AWS sends in that state (with reasons). */
const WHILE_PENDING = (prefix: string): Record<string, string> => ({
  [`${prefix}StateReason`]:
    'AWS sends it while State is Pending (see its CreateFunction answer); no controller runs here, so the function stays Pending',
  [`${prefix}StateReasonCode`]: 'as StateReason',
  [`${prefix}LastUpdateStatusReason`]:
    'AWS sends it while LastUpdateStatus is InProgress (see its UpdateFunctionCode answer); it stays InProgress here',
  [`${prefix}LastUpdateStatusReasonCode`]: 'as LastUpdateStatusReason',
});

const OPTIONS: Record<string, ShapeOptions> = {
  GetFunction: { allowedExtra: WHILE_PENDING('Configuration.') },
  UpdateFunctionCode: { allowedExtra: WHILE_PENDING('') },
  // The version's pods never start here (no controller): State stays Pending, with its reason.
  // A statement's principal is Sluice's ({"AWS": "namespace:web"}; AWS writes {"AWS": ARN} for an
  // account, {"Service": …} for a service); Condition only comes with SourceArn/SourceAccount, which
  // Sluice refuses.
  AddPermission: {
    optional: {
      'Statement.Principal.Service': 'AWS sends it for a service principal; Sluice principals are {"AWS": …}',
      'Statement.Condition': 'AWS sends it with SourceArn/SourceAccount, which Sluice refuses (400)',
    },
    allowedExtra: { 'Statement.Principal.AWS': 'what AWS sends for an account or role principal' },
  },
  GetPolicy: {
    optional: {
      'Policy.Statement[].Principal.Service': 'as AddPermission',
      'Policy.Statement[].Condition': 'as AddPermission',
    },
    allowedExtra: { 'Policy.Statement[].Principal.AWS': 'as AddPermission' },
  },
  PublishVersion: {
    allowedExtra: {
      StateReason: WHILE_PENDING('').StateReason as string,
      StateReasonCode: 'as StateReason',
    },
  },
};

const KEY = Buffer.from('k'.repeat(40));
const NS = 'shop';
const keys = new MapAccessKeys();
keys.set('AKIDDEV', { secretAccessKey: 'dev-secret', principal: { kind: 'user', name: 'dev' } });
keys.set('AKIDNOBODY', { secretAccessKey: 'nobody-secret', principal: { kind: 'user', name: 'nobody' } });

/** RBAC as a list: dev may do everything in shop and default (its account); nobody nothing. */
class ListReviewer implements AccessReviewer {
  allowed(p: Principal, attrs: ResourceAttributes): Promise<boolean> {
    return Promise.resolve(
      p.kind === 'user' && p.name === 'dev' && [NS, 'default'].includes(attrs.namespace),
    );
  }
}

/** Functions and LayerVersions in memory, mirrored into the catalog as the watches would; no Aliases. */
class MemoryManagement implements ManagementStore, FunctionObjectStore {
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
  listFunctions(ns: string): Promise<FunctionResource[]> {
    return Promise.resolve([...this.fns.values()].filter((f) => f.metadata.namespace === ns));
  }
  listAliases(): Promise<AliasResource[]> {
    return Promise.resolve([]);
  }
  createAlias(a: AliasResource): Promise<AliasResource> {
    return Promise.resolve(a);
  }
  replaceAlias(a: AliasResource): Promise<AliasResource> {
    return Promise.resolve(a);
  }
  deleteAlias(): Promise<boolean> {
    return Promise.resolve(false);
  }
}

/** The SDK's own HTTP handler, keeping a copy of each raw response before the SDK parses it. */
class RecordingHandler {
  last: OurResponse | undefined;
  private readonly inner = new NodeHttpHandler();
  async handle(request: HttpRequest, options?: HttpHandlerOptions): Promise<{ response: HttpResponse }> {
    const { response } = await this.inner.handle(
      request as Parameters<NodeHttpHandler['handle']>[0],
      options,
    );
    const chunks: Buffer[] = [];
    for await (const c of response.body as Readable) chunks.push(Buffer.from(c as Uint8Array));
    const body = Buffer.concat(chunks);
    const type = response.headers['x-amzn-errortype'];
    this.last = {
      status: response.statusCode,
      errorCode: type === undefined ? undefined : type.split(':')[0],
      body: body.toString('utf8'),
    };
    response.body = Readable.from([body]);
    return { response };
  }
  updateHttpClientConfig(key: never, value: never): void {
    this.inner.updateHttpClientConfig(key, value);
  }
  httpHandlerConfigs(): Record<string, never> {
    return this.inner.httpHandlerConfigs() as Record<string, never>;
  }
  destroy(): void {
    this.inner.destroy();
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

let server: NatsServer;
let nc: NatsConnection;
let gateway: Gateway;
let catalog: MemoryCatalog;
const dev = new RecordingHandler();
const nobodyHandler = new RecordingHandler();
let lambda: LambdaClient;
let nobody: LambdaClient;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await server.connect('gateway');
  const store = await NatsPackageStore.open(jetstream(nc), {
    bucket: 'sluice-packages',
    replicas: 1,
    quotaBytes: 64 * 1024 * 1024,
  });
  catalog = new MemoryCatalog();
  const management = new MemoryManagement(catalog);
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
      publishAuthorizer: new ListPublishAuthorizer((p) => p.kind === 'user' && p.name === 'dev'),
      packages: {
        catalog,
        store,
        management,
        objects: management,
        reviewer: new ListReviewer(),
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
  const endpoint = `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}`;
  const client = (id: string, secret: string, requestHandler: RecordingHandler): LambdaClient =>
    new LambdaClient({
      region: 'us-east-1',
      endpoint,
      credentials: { accessKeyId: id, secretAccessKey: secret },
      maxAttempts: 1,
      requestHandler,
    });
  lambda = client('AKIDDEV', 'dev-secret', dev);
  nobody = client('AKIDNOBODY', 'nobody-secret', nobodyHandler);
}, 60_000);

afterAll(async () => {
  lambda?.destroy();
  nobody?.destroy();
  await new Promise<void>((r) => (gateway ? gateway.server.close(() => r()) : r()));
  gateway?.server.closeAllConnections();
  await nc?.close();
  await server?.cleanup();
});

/** Sends a call (an error is an answer too) and returns the raw response the handler kept. */
async function answer(handler: RecordingHandler, call: () => Promise<unknown>): Promise<OurResponse> {
  handler.last = undefined;
  await call().catch(() => undefined);
  if (!handler.last) throw new Error('no response recorded');
  return handler.last;
}

const found: Record<string, string[]> = {};

/** Compares with the fixture and records the differences; the KNOWN table is asserted at the end. */
function conform(fixture: string, ours: OurResponse): void {
  const recorded = loadRecorded(fixture);
  const enums = enumsFor(recorded.operation);
  for (const [k, extra] of Object.entries(MODEL_ENUMS)) enums[k] = [...(enums[k] ?? []), ...extra];
  const opts = OPTIONS[recorded.operation] ?? {};
  found[fixture] = compareResponse(recorded, ours, { ...opts, enums }).map(formatDifference);
  expect.soft(found[fixture], `${fixture} (${recorded.source})`).toEqual(KNOWN[fixture] ?? []);
}

const fn = `arn:aws:lambda:us-east-1:${NS}:function:conform`;
const layer = `arn:aws:lambda:us-east-1:${NS}:layer:conform-deps`;
const role = `arn:aws:iam::${NS}:role/runner`;

describe('Lambda API responses against recorded AWS responses', () => {
  it('CreateFunction', async () => {
    const zip = await zipOf({ 'index.js': 'exports.handler = async () => 1' });
    const ours = await answer(dev, () =>
      lambda.send(
        new CreateFunctionCommand({
          FunctionName: fn,
          Runtime: 'nodejs22.x',
          Handler: 'index.handler',
          Role: role,
          Code: { ZipFile: zip },
        }),
      ),
    );
    conform('CreateFunction', ours);
  });

  it('CreateFunction: an unknown runtime', async () => {
    const ours = await answer(dev, () =>
      lambda.send(
        new CreateFunctionCommand({
          FunctionName: `${NS}:function:bad`,
          Runtime: 'non-existent-runtime' as 'nodejs22.x',
          Role: role,
          Code: { ZipFile: Buffer.from('x') },
        }),
      ),
    );
    conform('CreateFunction.InvalidParameterValueException', ours);
  });

  it('GetFunction', async () => {
    conform(
      'GetFunction',
      await answer(dev, () => lambda.send(new GetFunctionCommand({ FunctionName: fn }))),
    );
  });

  it('GetFunction: an unknown function, a caller without RBAC', async () => {
    conform(
      'GetFunction.ResourceNotFoundException',
      await answer(dev, () => lambda.send(new GetFunctionCommand({ FunctionName: `${NS}:function:nope` }))),
    );
    conform(
      'GetFunction.AccessDeniedException',
      await answer(nobodyHandler, () => nobody.send(new GetFunctionCommand({ FunctionName: fn }))),
    );
  });

  it('UpdateFunctionCode, and with a stale RevisionId', async () => {
    const zip = await zipOf({ 'index.js': 'exports.handler = async () => 2' });
    conform(
      'UpdateFunctionCode',
      await answer(dev, () => lambda.send(new UpdateFunctionCodeCommand({ FunctionName: fn, ZipFile: zip }))),
    );
    conform(
      'UpdateFunctionCode.PreconditionFailedException',
      await answer(dev, () =>
        lambda.send(new UpdateFunctionCodeCommand({ FunctionName: fn, ZipFile: zip, RevisionId: 'stale' })),
      ),
    );
  });

  it('PublishVersion, and with a stale RevisionId', async () => {
    conform(
      'PublishVersion.PreconditionFailedException',
      await answer(dev, () =>
        lambda.send(new PublishVersionCommand({ FunctionName: fn, RevisionId: 'stale' })),
      ),
    );
    conform(
      'PublishVersion',
      await answer(dev, () =>
        lambda.send(new PublishVersionCommand({ FunctionName: fn, Description: 'v1' })),
      ),
    );
  });

  it('the layer calls', async () => {
    const zip = await zipOf({ 'nodejs/node_modules/lib/index.js': 'module.exports = 42' });
    const publish = (): Promise<unknown> =>
      lambda.send(
        new PublishLayerVersionCommand({
          LayerName: layer,
          Content: { ZipFile: zip },
          CompatibleRuntimes: ['nodejs22.x'],
          CompatibleArchitectures: ['x86_64'],
          Description: 'deps',
          LicenseInfo: 'MIT',
        }),
      );
    conform('PublishLayerVersion', await answer(dev, publish));
    await publish();
    conform(
      'GetLayerVersion',
      await answer(dev, () =>
        lambda.send(new GetLayerVersionCommand({ LayerName: layer, VersionNumber: 1 })),
      ),
    );
    conform(
      'GetLayerVersion.ResourceNotFoundException',
      await answer(dev, () =>
        lambda.send(new GetLayerVersionCommand({ LayerName: layer, VersionNumber: 9 })),
      ),
    );
    conform(
      'ListLayerVersions',
      await answer(dev, () => lambda.send(new ListLayerVersionsCommand({ LayerName: layer }))),
    );
    conform(
      'DeleteLayerVersion',
      await answer(dev, () =>
        lambda.send(new DeleteLayerVersionCommand({ LayerName: layer, VersionNumber: 2 })),
      ),
    );
  });

  it("Invoke's errors", async () => {
    catalog.upsert(
      fnResource('throttled', { concurrency: { reserved: 0 }, invokePolicy: [{ principal: '*' }] }, NS),
    );
    catalog.upsert(fnResource('open', { invokePolicy: [{ principal: '*' }] }, NS));
    conform(
      'Invoke.ResourceNotFoundException',
      await answer(dev, () =>
        lambda.send(new InvokeCommand({ FunctionName: `${NS}:function:doesnotexist` })),
      ),
    );
    conform(
      'Invoke.TooManyRequestsException',
      await answer(dev, () => lambda.send(new InvokeCommand({ FunctionName: `${NS}:function:throttled` }))),
    );
    conform(
      'Invoke.InvalidRequestContentException',
      await answer(dev, () =>
        lambda.send(
          new InvokeCommand({ FunctionName: `${NS}:function:open`, Payload: Buffer.from('n\x87r{') }),
        ),
      ),
    );
  });

  it('concurrency, event invoke config, policy and account settings', async () => {
    const send = (call: () => Promise<unknown>): Promise<OurResponse> => answer(dev, call);
    conform(
      'PutFunctionConcurrency',
      await send(() =>
        lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: fn, ReservedConcurrentExecutions: 1 })),
      ),
    );
    conform(
      'GetFunctionConcurrency',
      await send(() => lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: fn }))),
    );
    conform(
      'DeleteFunctionConcurrency',
      await send(() => lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: fn }))),
    );
    const dest = `arn:aws:lambda:us-east-1:${NS}:function:conform-dlq`;
    conform(
      'PutFunctionEventInvokeConfig',
      await send(() =>
        lambda.send(
          new PutFunctionEventInvokeConfigCommand({
            FunctionName: fn,
            MaximumRetryAttempts: 0,
            DestinationConfig: { OnFailure: { Destination: dest }, OnSuccess: { Destination: dest } },
          }),
        ),
      ),
    );
    await lambda.send(
      new PutFunctionEventInvokeConfigCommand({
        FunctionName: fn,
        MaximumRetryAttempts: 1,
        MaximumEventAgeInSeconds: 60,
      }),
    );
    conform(
      'GetFunctionEventInvokeConfig',
      await send(() => lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: fn }))),
    );
    conform(
      'AddPermission',
      await send(() =>
        lambda.send(
          new AddPermissionCommand({
            FunctionName: fn,
            StatementId: 's3',
            Action: 'lambda:InvokeFunction',
            Principal: 'namespace:web',
          }),
        ),
      ),
    );
    conform('GetPolicy', await send(() => lambda.send(new GetPolicyCommand({ FunctionName: fn }))));
    conform(
      'GetPolicy.ResourceNotFoundException',
      await send(() => lambda.send(new GetPolicyCommand({ FunctionName: `${NS}:function:nope` }))),
    );
    // dev is a user: its account is the default namespace
    conform('GetAccountSettings', await send(() => lambda.send(new GetAccountSettingsCommand({}))));
  });

  it('DeleteFunction, and of an unknown function', async () => {
    conform(
      'DeleteFunction',
      await answer(dev, () => lambda.send(new DeleteFunctionCommand({ FunctionName: fn }))),
    );
    conform(
      'DeleteFunction.ResourceNotFoundException',
      await answer(dev, () => lambda.send(new DeleteFunctionCommand({ FunctionName: fn }))),
    );
  });

  it('KNOWN names no fixture that was not compared', () => {
    expect(Object.keys(KNOWN).filter((k) => !(k in found))).toEqual([]);
  });
});
