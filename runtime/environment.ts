import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../lib/index.js';
import type { RuntimeSettings } from './config.js';
import {
  endLine,
  exitError,
  exitReason,
  reportLine,
  responseTooLargeError,
  startLine,
  timeoutError,
  timeoutLogLine,
  type FunctionErrorBody,
} from './format.js';
import { Capture, type FunctionLog } from './function-log.js';
import type { RuntimeProcess } from './process.js';

/** What the invoke endpoint hands to an environment. */
export interface InvokeRequest {
  requestId: string;
  event: Buffer;
  invokedFunctionArn: string;
  traceId: string;
  /** Decoded JSON of `X-Amz-Client-Context`. */
  clientContext?: string | undefined;
  cognitoIdentity?: string | undefined;
  tail: boolean;
}

export type OutcomeKind = 'success' | 'function_error' | 'timeout' | 'exit' | 'init_error';

export interface InvokeResult {
  kind: OutcomeKind;
  /** Body for the caller: the function's result or an error JSON. */
  body: Buffer;
  functionError: boolean;
  /** Content type the runtime posted a successful result with (JSON when absent). */
  contentType?: string | undefined;
  /** Base64-ready bytes of this invocation's log when Tail was asked. */
  log?: Buffer | undefined;
  durationMs: number;
  /** Set on a cold start: the init this invocation consumed. */
  initDurationMs?: number | undefined;
}

/** Hooks for metrics; called once per invocation and per completed init. */
export interface EnvironmentObserver {
  invocation(result: InvokeResult): void;
  init(durationMs: number, ok: boolean): void;
}

type InitFailure =
  | { kind: 'error'; body: Buffer }
  | { kind: 'exit'; reason: string | undefined }
  | { kind: 'timeout' };

type Outcome =
  | { kind: 'response'; body: Buffer; contentType: string | undefined }
  | { kind: 'error'; body: Buffer }
  | { kind: 'tooLarge' }
  | { kind: 'exit'; reason: string | undefined }
  | { kind: 'initError'; body: Buffer }
  | { kind: 'timeout' };

/** One life of the runtime process, from its start to a reset. */
interface Generation {
  proc: RuntimeProcess | undefined;
  /** The start of its init: the process's start, less the wait for the NetworkPolicy (the pod's first). */
  startedAt: number;
  /** The wait before this generation could start (the pod's first generation only). */
  waitedMs: number;
  initDoneAt?: number;
  failure?: InitFailure;
  /** True once an invocation has reported this generation's init (its cold start). */
  consumed: boolean;
  initLog: Capture;
  initSettled: Promise<void>;
  settleInit: () => void;
  oomKilled: boolean;
  initTimer?: NodeJS.Timeout | undefined;
}

interface Invocation {
  req: InvokeRequest;
  /** The generation that serves it (replaced when its process ends before the event was handed over). */
  gen: Generation;
  /** It reports the init of its generation (a cold start). */
  cold: boolean;
  dispatched: boolean;
  answered: boolean;
  dispatchedAt: number;
  resolve: (o: Outcome) => void;
  outcome: Promise<Outcome>;
  /** Starts the handler's deadline (when the event is handed to the runtime). */
  startDeadline: () => void;
  /** Bounds the wait for the runtime's init (initTimeoutSeconds). */
  waitForInit: () => void;
}

/** How an environment starts its runtime process: spawn one, or wait for one to connect. */
export interface ProcessSource {
  /** Spawns the process; undefined when the runtime lives elsewhere and will connect by itself. */
  start(): RuntimeProcess | undefined;
  /** For a runtime that connects by itself: the process behind a Runtime API connection. */
  adopt?(remotePort: number): RuntimeProcess | undefined;
}

export class RuntimeApiStateError extends Error {
  override readonly name = 'RuntimeApiStateError';
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message);
  }
}

const RUNTIME_STATE = 'InvalidStateTransition';
const MEMORY_POLL_MS = 25;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Lets `n` event-loop iterations pass (each with a poll phase), so that what the function process
 * wrote to its pipes before it posted its response has been read and logged.
 */
function nextTurns(n: number): Promise<void> {
  return n <= 0 ? Promise.resolve() : new Promise((r) => setImmediate(() => r(nextTurns(n - 1))));
}

function json(body: FunctionErrorBody): Buffer {
  return Buffer.from(JSON.stringify(body));
}

/**
 * One execution environment: a runtime process, the state of its Runtime API session and the
 * invocation it runs (at most one). It enforces the deadline, resets itself after a timeout, a
 * crash or a failed init, and writes START/END/REPORT lines to the function log.
 */
export class Environment {
  private gen: Generation | undefined;
  private waitingNext: ServerResponse | undefined;
  private current: Invocation | undefined;
  private firstInit: Promise<void> | undefined;
  private closed = false;
  /** The pod's wait for its NetworkPolicy, counted into the first generation's init (its cold start). */
  private startupWaitMs = 0;
  /** Claimed by the pool for one invocation. */
  busy = false;
  /** True once the first init attempt has finished, whatever its outcome. */
  ready = false;

  constructor(
    readonly index: number,
    private readonly settings: RuntimeSettings,
    private readonly source: ProcessSource,
    private readonly log: FunctionLog,
    private readonly logger: Logger,
    private readonly observer: EnvironmentObserver,
  ) {}

  /** Its runtime has finished init and waits for an event. */
  get warm(): boolean {
    return this.gen !== undefined && this.gen.initDoneAt !== undefined && !this.gen.failure;
  }

  /**
   * Starts the first init without an invocation (the pod becomes ready when it has finished).
   * `waitedMs`: how long the pod waited before anything of the function could run (its
   * NetworkPolicy); it is part of that first init, as Lambda counts the sandbox's setup.
   */
  start(waitedMs = 0): Promise<void> {
    this.startupWaitMs = waitedMs;
    this.firstInit ??= this.prewarm().then(() => {
      this.ready = true;
    });
    return this.firstInit;
  }

  // ---- lifecycle -------------------------------------------------------------------------

  private newGeneration(eager: boolean): Generation {
    const d = deferred();
    const waitedMs = this.startupWaitMs;
    this.startupWaitMs = 0;
    const gen: Generation = {
      proc: undefined,
      startedAt: Date.now() - waitedMs,
      waitedMs,
      consumed: false,
      initLog: this.log.open(),
      initSettled: d.promise,
      settleInit: d.resolve,
      oomKilled: false,
    };
    this.gen = gen;
    const proc = this.source.start();
    if (proc) this.attachProcess(gen, proc);
    if (eager) {
      gen.initTimer = setTimeout(() => this.initTimedOut(gen), this.settings.initTimeoutSeconds * 1000);
      gen.initTimer.unref();
    }
    return gen;
  }

  private attachProcess(gen: Generation, proc: RuntimeProcess): void {
    gen.proc = proc;
    gen.startedAt = proc.startedAt - gen.waitedMs;
    // The built-in client shares sluice-runtime's container, so its memory size is enforced here;
    // a custom runtime's container has its own memory limit.
    const watch = setInterval(() => {
      if (this.settings.runtime !== 'provided') this.watchMemory(gen);
    }, MEMORY_POLL_MS);
    watch.unref();
    proc.exited
      .then((status) => {
        clearInterval(watch);
        this.onExit(gen, gen.oomKilled ? 'signal: killed' : exitReason(status.code, status.signal));
      })
      .catch(() => clearInterval(watch));
  }

  private watchMemory(gen: Generation): void {
    if (!gen.proc || gen.oomKilled) return;
    const rss = gen.proc.rssBytes();
    if (rss !== undefined && rss > this.settings.memoryMB * 1024 * 1024) {
      gen.oomKilled = true;
      this.logger.warn({ env: this.index, rss }, 'function process exceeded its memory size; killing it');
      gen.proc.kill();
    }
  }

  private async prewarm(): Promise<void> {
    if (this.closed) return;
    const gen = this.newGeneration(true);
    await gen.initSettled;
  }

  private initTimedOut(gen: Generation): void {
    if (gen !== this.gen || gen.initDoneAt !== undefined || gen.failure || this.current) return;
    this.logger.warn({ env: this.index }, `init did not finish in ${this.settings.initTimeoutSeconds} s`);
    this.failInit(gen, { kind: 'timeout' });
    gen.proc?.kill();
  }

  private failInit(gen: Generation, failure: InitFailure): void {
    if (gen.failure || gen.initDoneAt !== undefined) return;
    gen.failure = failure;
    clearTimeout(gen.initTimer);
    this.log.close(gen.initLog);
    this.observer.init(Date.now() - gen.startedAt, false);
    gen.settleInit();
    const cur = this.current;
    if (cur && !cur.dispatched && gen === this.gen) {
      if (failure.kind === 'error') cur.resolve({ kind: 'initError', body: failure.body });
      else if (failure.kind === 'exit') cur.resolve({ kind: 'exit', reason: failure.reason });
      else cur.resolve({ kind: 'timeout' });
    }
  }

  private onExit(gen: Generation, reason: string | undefined): void {
    if (gen !== this.gen) return;
    this.waitingNext = undefined;
    if (gen.failure) return;
    if (gen.initDoneAt === undefined) {
      this.failInit(gen, { kind: 'exit', reason });
      return;
    }
    const cur = this.current;
    if (cur && cur.dispatched && !cur.answered) {
      cur.resolve({ kind: 'exit', reason });
      return;
    }
    // Ended between invocations (e.g. after reporting an uncaught exception): the invocation that
    // waits for the event, or else the next one, gets a fresh environment.
    this.logger.warn({ env: this.index, reason }, 'function process ended between invocations');
    this.gen = undefined;
    if (cur && !cur.answered && !this.closed) {
      cur.gen = this.newGeneration(false);
      cur.gen.consumed = true;
      cur.cold = true;
    } else if (this.settings.runtime === 'provided' && !this.closed) {
      this.newGeneration(false);
    }
  }

  /** Kills the process of the current generation and forgets it. */
  private async reset(): Promise<void> {
    const gen = this.gen;
    this.gen = undefined;
    this.waitingNext = undefined;
    if (!gen) return;
    clearTimeout(gen.initTimer);
    this.log.close(gen.initLog);
    const proc = gen.proc;
    if (proc && proc.kill()) {
      await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    } else if (this.settings.runtime === 'provided') {
      this.logger.warn({ env: this.index }, 'could not stop the custom runtime process; it keeps running');
    }
  }

  // ---- invocations -----------------------------------------------------------------------

  /** Runs one invocation to its end; never throws for anything the function did. */
  async invoke(req: InvokeRequest): Promise<InvokeResult> {
    let gen = this.gen;
    if (!gen || gen.failure?.kind === 'timeout') {
      await this.reset();
      gen = this.newGeneration(false);
    }
    const capture = new Capture();
    if (!gen.consumed) capture.append(gen.initLog);
    this.log.open(capture);
    this.log.line(startLine(req.requestId, this.settings.version));
    const inv = this.newInvocation(req, gen);
    const outcome = await this.run(inv);
    let durationMs = performance.now() - inv.dispatchedAt;
    // A timed-out invocation ran for the whole timeout (timers may fire a fraction of a ms early).
    if (outcome.kind === 'timeout' && inv.dispatched)
      durationMs = Math.max(durationMs, this.settings.timeoutSeconds * 1000);
    this.current = undefined;
    gen = inv.gen;

    const reset = outcome.kind === 'timeout' || outcome.kind === 'exit' || outcome.kind === 'initError';
    const peak = gen.oomKilled ? this.settings.memoryMB * 1024 * 1024 : gen.proc?.peakRssBytes();
    if (reset) await this.reset();
    else await nextTurns(3);
    if (outcome.kind === 'timeout' && inv.dispatched) {
      this.log.line(timeoutLogLine(req.requestId, this.settings.timeoutSeconds, new Date()));
    }
    const initDurationMs =
      inv.cold && gen.initDoneAt !== undefined ? gen.initDoneAt - gen.startedAt : undefined;
    this.log.line(endLine(req.requestId));
    this.log.line(
      reportLine({
        requestId: req.requestId,
        durationMs,
        memorySizeMB: this.settings.memoryMB,
        maxMemoryUsedMB: Math.min(this.settings.memoryMB, Math.ceil((peak ?? 0) / (1024 * 1024))),
        initDurationMs,
      }),
    );
    this.log.close(capture);
    const result = this.toResult(req, outcome, durationMs, initDurationMs);
    if (req.tail) result.log = capture.bytes();
    this.observer.invocation(result);
    if (reset && !this.closed) void this.prewarm();
    return result;
  }

  private newInvocation(req: InvokeRequest, gen: Generation): Invocation {
    let initTimer: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let settle!: (o: Outcome) => void;
    const outcome = new Promise<Outcome>((r) => (settle = r));
    const cold = !gen.consumed;
    gen.consumed = true;
    const inv: Invocation = {
      req,
      gen,
      cold,
      dispatched: false,
      answered: false,
      dispatchedAt: performance.now(),
      outcome,
      resolve: (o) => {
        if (inv.answered) return;
        inv.answered = true;
        clearTimeout(initTimer);
        clearTimeout(deadline);
        settle(o);
      },
      startDeadline: () => {
        clearTimeout(initTimer);
        deadline = setTimeout(() => inv.resolve({ kind: 'timeout' }), this.settings.timeoutSeconds * 1000);
      },
      waitForInit: () => {
        initTimer = setTimeout(() => {
          if (!inv.dispatched) inv.resolve({ kind: 'timeout' });
        }, this.settings.initTimeoutSeconds * 1000);
      },
    };
    return inv;
  }

  private run(inv: Invocation): Promise<Outcome> {
    const gen = inv.gen;
    this.current = inv;
    const f = gen.failure;
    if (f?.kind === 'error') inv.resolve({ kind: 'initError', body: f.body });
    else if (f?.kind === 'exit') inv.resolve({ kind: 'exit', reason: f.reason });
    else if (gen.initDoneAt !== undefined && this.waitingNext) this.dispatch(inv);
    else {
      // Wait for the runtime to finish its init and ask for the event (next() dispatches).
      clearTimeout(gen.initTimer);
      inv.waitForInit();
    }
    return inv.outcome;
  }

  private dispatch(inv: Invocation): void {
    const res = this.waitingNext;
    const gen = this.gen;
    if (!res || !gen) return;
    this.waitingNext = undefined;
    inv.dispatched = true;
    inv.dispatchedAt = performance.now();
    inv.startDeadline();
    const deadlineMs = Date.now() + this.settings.timeoutSeconds * 1000;
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': inv.req.requestId,
      'Lambda-Runtime-Deadline-Ms': String(deadlineMs),
      'Lambda-Runtime-Invoked-Function-Arn': inv.req.invokedFunctionArn,
    };
    if (inv.req.traceId) headers['Lambda-Runtime-Trace-Id'] = inv.req.traceId;
    if (inv.req.clientContext) headers['Lambda-Runtime-Client-Context'] = inv.req.clientContext;
    if (inv.req.cognitoIdentity) headers['Lambda-Runtime-Cognito-Identity'] = inv.req.cognitoIdentity;
    gen.proc?.thaw();
    res.writeHead(200, headers);
    res.end(inv.req.event);
  }

  private toResult(
    req: InvokeRequest,
    o: Outcome,
    durationMs: number,
    initDurationMs: number | undefined,
  ): InvokeResult {
    const base = { durationMs, initDurationMs };
    switch (o.kind) {
      case 'response':
        return { ...base, kind: 'success', body: o.body, functionError: false, contentType: o.contentType };
      case 'error':
        return { ...base, kind: 'function_error', body: o.body, functionError: true };
      case 'tooLarge':
        return { ...base, kind: 'function_error', body: json(responseTooLargeError()), functionError: true };
      case 'initError':
        return { ...base, kind: 'init_error', body: o.body, functionError: true };
      case 'exit':
        return { ...base, kind: 'exit', body: json(exitError(req.requestId, o.reason)), functionError: true };
      case 'timeout':
        return {
          ...base,
          kind: 'timeout',
          body: json(timeoutError(req.requestId, this.settings.timeoutSeconds)),
          functionError: true,
        };
    }
  }

  // ---- Runtime API -----------------------------------------------------------------------

  /** `GET /runtime/invocation/next`: completes init on the first call; holds `res` until an event. */
  next(res: ServerResponse, remotePort: number | undefined): void {
    let gen = this.gen;
    // provided: a custom runtime connecting when there is no generation, or after the eager init
    // timed out with no invocation waiting (e.g. its container started late), is a fresh process:
    // it gets a fresh generation, as the next invocation would give it (invoke() resets then).
    const stale = gen?.failure?.kind === 'timeout' && !this.current;
    if ((!gen || stale) && this.settings.runtime === 'provided' && !this.closed)
      gen = this.newGeneration(false);
    if (!gen || gen.failure) throw new RuntimeApiStateError(403, RUNTIME_STATE, stateMessage('next'));
    if (this.waitingNext || (this.current?.dispatched && !this.current.answered)) {
      throw new RuntimeApiStateError(403, RUNTIME_STATE, stateMessage('next'));
    }
    this.adopt(gen, remotePort);
    if (gen.initDoneAt === undefined) {
      gen.initDoneAt = Date.now();
      clearTimeout(gen.initTimer);
      this.log.close(gen.initLog);
      this.observer.init(gen.initDoneAt - gen.startedAt, true);
      gen.settleInit();
    }
    this.waitingNext = res;
    res.on('close', () => {
      if (this.waitingNext === res) this.waitingNext = undefined;
    });
    const cur = this.current;
    if (cur && !cur.dispatched && !cur.answered) this.dispatch(cur);
    else if (this.settings.freezeIdle) gen.proc?.freeze();
  }

  /** For a runtime that connected by itself: find its process (memory, liveness, reset). */
  private adopt(gen: Generation, remotePort: number | undefined): void {
    if (gen.proc || !this.source.adopt || remotePort === undefined) return;
    const proc = this.source.adopt(remotePort);
    if (proc) this.attachProcess(gen, proc);
  }

  private invocationFor(id: string): Invocation {
    const cur = this.current;
    if (!cur || !cur.dispatched || cur.answered || cur.req.requestId !== id) {
      throw new RuntimeApiStateError(400, 'InvalidRequestID', 'Invalid request ID');
    }
    return cur;
  }

  /** `POST /runtime/invocation/{id}/response`. */
  response(id: string, body: Buffer, tooLarge: boolean, contentType?: string): void {
    const inv = this.invocationFor(id);
    inv.resolve(tooLarge ? { kind: 'tooLarge' } : { kind: 'response', body, contentType });
  }

  /** `POST /runtime/invocation/{id}/error`. */
  error(id: string, body: Buffer, headers: IncomingHttpHeaders): void {
    const inv = this.invocationFor(id);
    inv.resolve({ kind: 'error', body: errorBody(body, headers) });
  }

  /** `POST /runtime/init/error`. */
  initError(body: Buffer, headers: IncomingHttpHeaders, remotePort?: number): void {
    let gen = this.gen;
    if (!gen && this.settings.runtime === 'provided' && !this.closed) gen = this.newGeneration(false);
    if (!gen || gen.initDoneAt !== undefined || gen.failure) {
      throw new RuntimeApiStateError(403, RUNTIME_STATE, stateMessage('init/error'));
    }
    this.adopt(gen, remotePort);
    this.failInit(gen, { kind: 'error', body: errorBody(body, headers) });
  }

  // ---- shutdown --------------------------------------------------------------------------

  async close(): Promise<void> {
    this.closed = true;
    const gen = this.gen;
    this.waitingNext?.destroy();
    this.waitingNext = undefined;
    if (!gen?.proc) return;
    clearTimeout(gen.initTimer);
    if (this.settings.runtime !== 'provided') {
      gen.proc.terminate();
      const stopped = await Promise.race([
        gen.proc.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref()),
      ]);
      if (!stopped) gen.proc.kill();
    }
  }
}

function stateMessage(to: string): string {
  return `State transition to ${to} failed for runtime: the call is out of order`;
}

/**
 * The error body a caller receives: the runtime's body when it is JSON, else one built from the
 * `Lambda-Runtime-Function-Error-Type` header (the platform's behaviour when no payload is given).
 */
export function errorBody(body: Buffer, headers: IncomingHttpHeaders): Buffer {
  const header = headers['lambda-runtime-function-error-type'];
  const errorType = (Array.isArray(header) ? header[0] : header) || 'Runtime.Unknown';
  if (body.length > 0) {
    try {
      JSON.parse(body.toString('utf8'));
      return body;
    } catch {
      // not JSON: fall through
    }
  }
  return json({
    errorType,
    errorMessage: body.length > 0 ? body.toString('utf8') : 'Unknown application error occurred',
  });
}
