import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import type { EventSourceMappingResource } from '../../../api/types.js';
import type { SourceTuning } from '../../../poller/sources/source.js';

const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);

/** A poller process running one mapping (test/support/poller/run-source.ts), to be killed for real. */
export class PollerProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.stdout
      ?.setEncoding('utf8')
      .on('data', (c: string) => this.lines.push(...c.split('\n').filter(Boolean)));
    child.stderr
      ?.setEncoding('utf8')
      .on('data', (c: string) => this.lines.push(...c.split('\n').filter(Boolean)));
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  static async start(o: {
    natsUrl: string;
    /** The poller's creds file text, the `platform` signer seed and namespace → account entries. */
    nats: { creds: string; platformSigner: string; accounts: Record<string, unknown> };
    mapping: EventSourceMappingResource;
    invokeUrl: string;
    invokePath?: string;
    identity: string;
    tuning?: Partial<SourceTuning>;
    /** How long the process may take to start (the caller scales it to the machine). */
    startTimeoutMs?: number;
  }): Promise<PollerProcess> {
    // `node --import tsx`, not the tsx CLI: the CLI runs the script in a child a SIGKILL would orphan.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'test/support/poller/run-source.ts')],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          NATS_URL: o.natsUrl,
          NATS_CREDS: o.nats.creds,
          NATS_PLATFORM_SIGNER: o.nats.platformSigner,
          NATS_ACCOUNTS: JSON.stringify(o.nats.accounts),
          MAPPING: JSON.stringify(o.mapping),
          INVOKE_URL: o.invokeUrl,
          ...(o.invokePath ? { INVOKE_PATH: o.invokePath } : {}),
          IDENTITY: o.identity,
          TUNING: JSON.stringify(o.tuning ?? {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const p = new PollerProcess(child);
    const end = Date.now() + (o.startTimeoutMs ?? 30_000);
    while (!p.lines.includes('started')) {
      if (child.exitCode !== null || Date.now() > end)
        throw new Error(`poller did not start:\n${p.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return p;
  }

  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

export interface ReceivedCall {
  at: number;
  url: string;
  headers: IncomingMessage['headers'];
  event: unknown;
}

/** A stand-in function behind the Invoke API: records every event, answers with `respond`. */
export class FunctionServer {
  readonly calls: ReceivedCall[] = [];
  respond: (
    event: unknown,
    call: ReceivedCall,
  ) => Promise<{ status?: number; body: unknown; headers?: Record<string, string> }> = () =>
    Promise.resolve({ body: null });
  private constructor(private readonly server: Server) {}

  static async start(): Promise<FunctionServer> {
    const ref: { self?: FunctionServer } = {};
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const call: ReceivedCall = {
          at: Date.now(),
          url: req.url ?? '',
          headers: req.headers,
          event: JSON.parse(text) as unknown,
        };
        ref.self?.calls.push(call);
        void ref.self
          ?.respond(call.event, call)
          .then((r) =>
            res
              .writeHead(r.status ?? 200, { 'content-type': 'application/json', ...r.headers })
              .end(JSON.stringify(r.body)),
          )
          .catch(() => res.destroy());
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    ref.self = new FunctionServer(server);
    return ref.self;
  }

  get url(): string {
    const a = this.server.address();
    return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
