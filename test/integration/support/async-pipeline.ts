import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
import express from 'express';
import type { Server } from 'node:http';
import { Registry } from 'prom-client';
import { DEFAULT_ADDRESS_POLICY, type AddressCheck } from '../../../api/destinations.js';
import type { FunctionResource, FunctionSpec } from '../../../api/types.js';
import { createLogger, NotFoundError, ValidationError, type Logger } from '../../../lib/index.js';
import { PLATFORM_NAMES, type PlatformNames, type TenantConnections } from '../../../lib/nats/index.js';
import {
  startAsync,
  type AsyncPipeline,
  type AsyncPipelineOptions,
} from '../../../gateway/async/pipeline.js';
import type { FunctionInvoker } from '../../../gateway/async/invoker.js';
import { Subjects } from '../../../api/nats-naming.js';
import type { FunctionWatchHandlers, FunctionWatchSource } from '../../../gateway/async/watcher.js';
import type { InvocationRecord } from '../../../api/records.js';
import { until } from '../../support/time.js';
import { makeDeadLetterHandlers, type DeadLetterStore } from '../../../gateway/handlers/dead-letters.js';
import { deadLetterRoutes } from '../../../gateway/routes.js';

/** A Function object as the API server would hold it. */
export function fnResource(
  namespace: string,
  name: string,
  spec: Partial<FunctionSpec> = {},
): FunctionResource {
  return {
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'Function',
    metadata: { namespace, name, uid: `${namespace}-${name}` },
    spec: { runtime: 'nodejs22', handler: 'index.handler', code: { inline: 'x' }, ...spec },
  };
}

/** A list+watch source the test drives: objects given up front, then `upsert`/`remove`. */
export class TestFunctionSource implements FunctionWatchSource {
  private handlers: FunctionWatchHandlers | undefined;
  private readonly initial: FunctionResource[];
  constructor(initial: FunctionResource[]) {
    this.initial = [...initial];
  }
  start(h: FunctionWatchHandlers): { synced: Promise<void>; stop(): Promise<void> } {
    this.handlers = h;
    for (const f of this.initial) h.upsert(f);
    this.initial.length = 0;
    return { synced: Promise.resolve(), stop: () => Promise.resolve() };
  }
  upsert(f: FunctionResource): void {
    this.handlers?.upsert(f);
  }
  remove(f: FunctionResource): void {
    this.handlers?.remove(f);
  }
}

/**
 * The destination contract's address rules, except that the tests' own HTTP receivers on
 * 127.0.0.1 are reachable (everything else loopback stays refused).
 */
export const LOOPBACK_RECEIVERS: AddressCheck = {
  blocked: (ip) => (ip === '127.0.0.1' ? undefined : DEFAULT_ADDRESS_POLICY.blocked(ip)),
};

export const quietLog = (): Logger =>
  createLogger({ component: 'async-it', level: (process.env.SLUICE_TEST_LOG as 'info') ?? 'silent' });

export interface RunningPipeline extends AsyncPipeline {
  /** The pipeline's own connection: the gateway's user, with the permissions of this pipeline's names. */
  nc: NatsConnection;
  /** The platform's connections into namespaces' accounts (`nats:` destinations). */
  tenants: TenantConnections;
  js: JetStreamClient;
  jsm: JetStreamManager;
  registry: Registry;
  source: TestFunctionSource;
  /** Closes the NATS connection abruptly (a dispatcher that dies) — nothing is drained. */
  kill(): Promise<void>;
  close(): Promise<void>;
}

/** The test NATS server as the pipeline needs it (support/nats.ts). */
export interface PipelineNats {
  connect(
    role: 'gateway',
    opts?: Partial<ConnectionOptions> & { names?: PlatformNames },
  ): Promise<NatsConnection>;
  tenantConnections(name?: string): TenantConnections;
}

/** The JetStream names of a pipeline with this id: `<ID>_ASYNC`, `<ID>_DLQ`, subjects `<id>.…`. */
export function pipelineNames(id: string): PlatformNames {
  return {
    ...PLATFORM_NAMES,
    prefix: id,
    asyncStream: `${id.toUpperCase()}_ASYNC`,
    dlqStream: `${id.toUpperCase()}_DLQ`,
    settleBucket: `${id}-settle`,
  };
}

/** A connection as the gateway (its permission list, for the pipeline `id`'s names). */
export async function connectNats(nats: PipelineNats, id: string): Promise<NatsConnection> {
  return nats.connect('gateway', {
    names: pipelineNames(id),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    name: 'sluice-async-test',
  });
}

/**
 * Starts the pipeline on its own streams and subjects (`<ID>_ASYNC`, `<ID>_DLQ`, `<id>.*`), so
 * several pipelines on one server never see each other's consumers. It connects as the gateway
 * (with the gateway's permission list for those names); `nats:` records go to the function's
 * namespace account.
 */
export async function startPipeline(
  nats: PipelineNats,
  o: {
    id: string;
    invoker: FunctionInvoker;
    functions: FunctionResource[];
  } & Partial<Omit<AsyncPipelineOptions, 'nc' | 'tenants' | 'invoker' | 'source' | 'registry' | 'log'>>,
): Promise<RunningPipeline> {
  const nc = await connectNats(nats, o.id);
  const tenants = nats.tenantConnections(`sluice-gateway-${o.id}`);
  const registry = new Registry();
  const source = new TestFunctionSource(o.functions);
  const { functions: _f, invoker, id, ...rest } = o;
  const p = await startAsync({
    region: 'sluice-local',
    ...rest,
    nc,
    tenants,
    invoker,
    source,
    registry,
    log: quietLog(),
    streams: {
      streamName: `${id.toUpperCase()}_ASYNC`,
      dlqStreamName: `${id.toUpperCase()}_DLQ`,
      subjects: new Subjects(id),
      ackMarginSeconds: 2,
      duplicateWindowSeconds: 120,
      ...rest.streams,
    },
    settle: { bucket: `${id}-settle`, ...rest.settle },
    dispatcher: { fetchExpiresMs: 1000, invokeAllowanceMs: 1000, ...rest.dispatcher },
    delivery: rest.delivery ?? { attempts: 3, backoffMs: 50, httpTimeoutMs: 2000, natsTimeoutMs: 2000 },
    destinationAddresses: rest.destinationAddresses ?? LOOPBACK_RECEIVERS,
  });
  return {
    ...p,
    nc,
    tenants,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    registry,
    source,
    kill: async () => {
      await nc.close();
      await tenants.close();
      await p.dispatcher.stop(100);
    },
    close: async () => {
      await p.stop(5000);
      await tenants.close();
      await nc.close();
    },
  };
}

/**
 * Reads every record published to `results.>` in the namespaces the connections act as (their
 * own `sluice-nats` creds: `nats:` records land in the function's namespace account): a stream
 * RESULTS binding `results.>` is created in each.
 */
export class RecordCollector {
  readonly records: InvocationRecord[] = [];
  readonly bySubject = new Map<string, InvocationRecord[]>();
  private stopped = false;
  private loops: Promise<void>[] = [];

  /** One connection per account the collector reads (its stream has the same name in each). */
  private readonly accounts: { js: JetStreamClient; jsm: JetStreamManager }[] = [];

  private constructor(private readonly stream: string) {}

  static async start(
    conns: NatsConnection | NatsConnection[],
    stream = 'RESULTS',
    subjects = ['results.>'],
  ): Promise<RecordCollector> {
    const c = new RecordCollector(stream);
    for (const nc of Array.isArray(conns) ? conns : [conns]) {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects, duplicate_window: 120 * 1e9 });
      await jsm.consumers.add(stream, {
        durable_name: 'collector',
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.All,
      });
      const js = jetstream(nc);
      c.accounts.push({ js, jsm });
      c.loops.push(c.run(js));
    }
    return c;
  }

  private async run(js: JetStreamClient): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await js.consumers.get(this.stream, 'collector');
        const msgs = await consumer.consume({ max_messages: 500 });
        for await (const m of msgs) {
          const rec = m.json<InvocationRecord>();
          this.records.push(rec);
          const list = this.bySubject.get(m.subject) ?? [];
          list.push(rec);
          this.bySubject.set(m.subject, list);
          if (this.stopped) break;
        }
      } catch {
        if (!this.stopped) await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  of(subject: string): InvocationRecord[] {
    return this.bySubject.get(subject) ?? [];
  }

  /**
   * True when every record the streams hold so far (in every account) has been read (records are
   * never removed from them).
   */
  async caughtUp(): Promise<boolean> {
    let held = 0;
    for (const { jsm } of this.accounts) held += (await jsm.streams.info(this.stream)).state.messages;
    return this.records.length === held;
  }

  /**
   * Every record the streams hold, read afresh from the server (an ordered consumer per account),
   * with its subject — what was published, whatever this collector's own subscriptions saw across
   * faults.
   */
  async stored(): Promise<{ subject: string; record: InvocationRecord }[]> {
    const out: { subject: string; record: InvocationRecord }[] = [];
    for (const { js, jsm } of this.accounts) {
      const { state } = await jsm.streams.info(this.stream);
      if (state.messages === 0) continue;
      const messages = await (await js.consumers.get(this.stream)).consume();
      for await (const m of messages) {
        out.push({ subject: m.subject, record: m.json<InvocationRecord>() });
        if (m.seq >= state.last_seq) break;
      }
    }
    return out;
  }

  stop(): void {
    this.stopped = true;
  }
}

/**
 * Polls until `cond` holds, or throws with `describe()` after `timeoutMs` — `until` of
 * test/support/time.ts (the timeout scaled by SLUICE_TEST_TIME_SCALE), with this file's argument order.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  describe: () => string = () => '',
): Promise<void> {
  await until(cond, () => describe() || 'the condition', timeoutMs, 50);
}

/**
 * True when the pipeline can do nothing more by itself: its work-queue stream holds no message
 * (every event acknowledged — an acknowledged event is removed — and no retry scheduled) and no
 * event is being dispatched. From then on no invocation and no record can follow without a new
 * accept, so counts read afterwards are final.
 */
export async function pipelineIdle(p: RunningPipeline): Promise<boolean> {
  const { state } = await p.jsm.streams.info(p.streams.settings.streamName);
  // An event still being dispatched at the time of that read was not acknowledged yet (the ack
  // comes last), so it was counted; reading the dispatcher afterwards closes the gap.
  return (
    state.messages === 0 &&
    p.dispatcher.functions().every((f) => p.dispatcher.inFlight(f.namespace, f.name) === 0)
  );
}

/** The gateway's dead-letters routes over a pipeline's dead-letter queue, without authorization. */
export function deadLetterRouter(dlq: DeadLetterStore): express.Router {
  return deadLetterRoutes(makeDeadLetterHandlers({ dlq: () => dlq, log: quietLog() }));
}

/** Serves the dead-letters router with a minimal error mapping (the gateway's is richer). */
export async function serveRouter(router: express.Router): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.use(router);
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const status = err instanceof NotFoundError ? 404 : err instanceof ValidationError ? 400 : 500;
    res.status(status).json({ message: (err as Error).message });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Current value of a counter/gauge (summed over label sets matching `labels`). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const v = await m.get();
  return v.values
    .filter((x) =>
      Object.entries(labels).every(([k, want]) => String((x.labels as Record<string, unknown>)[k]) === want),
    )
    .filter((x) => !('metricName' in x) || x.metricName === name || x.metricName === `${name}_count`)
    .reduce((n, x) => n + x.value, 0);
}
