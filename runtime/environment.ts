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
import {
  isWarm,
  transition,
  type Answer,
  type Effect,
  type EnvEvent,
  type EnvState,
  type InitFailureKind,
  type MachineOptions,
  type Transition,
} from './environment-machine.js';
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
  /** `dispatched`: the handler had the event (it ran for the whole timeout). */
  | { kind: 'timeout'; dispatched: boolean };

/** One life of the runtime process, from its start to a reset: its handles and what it recorded. */
interface Generation {
  proc: RuntimeProcess | undefined;
  /** The start of its init: the process's start, less the wait for the NetworkPolicy (the pod's first). */
  startedAt: number;
  /** The wait before this generation could start (the pod's first generation only). */
  waitedMs: number;
  initDoneAt?: number;
  /** Why its init failed, for the invocation that reports it. */
  failure?: InitFailure;
  /** True once an invocation has reported this generation's init (its cold start). */
  consumed: boolean;
  initLog: Capture;
  initSettled: Promise<void>;
  settleInit: () => void;
  /** Killed for exceeding its memory size (the reason its process ended). */
  oomKilled: boolean;
  initTimer?: NodeJS.Timeout | undefined;
}

interface Invocation {
  req: InvokeRequest;
  /** The generation that serves it (replaced when its process ends before the event was handed over). */
  gen: Generation | undefined;
  /** It reports the init of its generation (a cold start). */
  cold: boolean;
  dispatchedAt: number;
  resolve: (o: Outcome) => void;
  outcome: Promise<Outcome>;
  /** Starts the handler's deadline (when the event is handed to the runtime). */
  startDeadline: () => void;
  /** Bounds the wait for the runtime's init (initTimeoutSeconds). */
  waitForInit: () => void;
}

/** What an event brings along from the Runtime API or the process. */
interface EventInput {
  res?: ServerResponse;
  remotePort?: number | undefined;
  body?: Buffer;
  contentType?: string | undefined;
  tooLarge?: boolean;
  reason?: string | undefined;
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

const RESET_OUTCOMES: ReadonlySet<Outcome['kind']> = new Set(['timeout', 'exit', 'initError']);

/**
 * One execution environment: a runtime process, its Runtime API session and the invocation it runs
 * (at most one). Its states and their transitions are environment-machine.ts; this class holds the
 * process, the held `invocation/next` request, the timers and the invocation, feeds events to
 * `transition` and carries out the effects. It enforces the deadline, resets itself after a
 * timeout, a crash or a failed init, and writes START/END/REPORT lines to the function log.
 */
export class Environment {
  private state: EnvState = 'empty';
  private readonly options: MachineOptions;
  private gen: Generation | undefined;
  /** The `invocation/next` request the runtime waits in (state `polling`). */
  private held: ServerResponse | undefined;
  /** The invocation until it is answered. */
  private current: Invocation | undefined;
  private firstInit: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
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
  ) {
    this.options = { provided: settings.runtime === 'provided', freezeIdle: settings.freezeIdle };
  }

  /** Its runtime has finished init and waits for an event. */
  get warm(): boolean {
    return isWarm(this.state);
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

  private async prewarm(): Promise<void> {
    this.fire('start');
    this.startupWaitMs = 0;
    await this.gen?.initSettled;
  }

  // ---- the machine -----------------------------------------------------------------------

  private fire(event: EnvEvent, input: EventInput = {}): Transition {
    const from = this.state;
    const t = transition(from, event, this.options);
    this.state = t.state;
    for (const effect of t.effects) this.apply(effect, event, input, from);
    return t;
  }

  /** The effects on the process and its init. */
  private apply(effect: Effect, event: EnvEvent, input: EventInput, from: EnvState): void {
    const gen = this.gen;
    switch (effect.type) {
      case 'spawn': {
        const fresh = this.newGeneration(effect.eager);
        if (effect.forInvocation && this.current) {
          this.current.gen = fresh;
          fresh.consumed = true;
          this.current.cold = true;
        }
        return;
      }
      case 'discard':
        if (effect.exited)
          this.logger.warn(
            { env: this.index, reason: input.reason },
            'function process ended between invocations',
          );
        this.forget();
        return;
      case 'kill':
        gen?.proc?.kill();
        return;
      case 'adopt':
        if (gen) this.adopt(gen, input.remotePort);
        return;
      case 'completeInit':
        if (gen) this.completeInit(gen);
        return;
      case 'failInit':
        if (gen) this.failInit(gen, this.initFailure(effect.failure, input));
        return;
      case 'stopInitTimer':
        clearTimeout(gen?.initTimer);
        return;
      default:
        this.applyToSession(effect, event, input, from);
    }
  }

  /** The effects on the Runtime API session and the invocation, and shutdown. */
  private applyToSession(effect: Effect, event: EnvEvent, input: EventInput, from: EnvState): void {
    switch (effect.type) {
      case 'freeze':
        this.gen?.proc?.freeze();
        return;
      case 'stop':
        this.stopping = this.stop();
        return;
      case 'hold':
        if (input.res) this.hold(input.res);
        return;
      case 'dropPoll':
        this.held = undefined;
        return;
      case 'waitForInit':
        this.current?.waitForInit();
        return;
      case 'dispatch':
        if (this.current) this.dispatch(this.current);
        return;
      case 'answer':
        this.answer(this.outcomeOf(effect.with, input));
        return;
      case 'reject':
        throw new RuntimeApiStateError(
          effect.status,
          effect.errorType,
          effect.status === 400
            ? 'Invalid request ID'
            : stateMessage(event === 'next' ? 'next' : 'init/error'),
        );
      case 'illegal':
        this.logger.error(
          { env: this.index, state: from, event },
          'execution environment: event out of place; ignored',
        );
        return;
      default:
        return;
    }
  }

  private initFailure(kind: InitFailureKind, input: EventInput): InitFailure {
    if (kind === 'error') return { kind: 'error', body: input.body ?? Buffer.alloc(0) };
    if (kind === 'exit') return { kind: 'exit', reason: input.reason };
    this.logger.warn({ env: this.index }, `init did not finish in ${this.settings.initTimeoutSeconds} s`);
    return { kind: 'timeout' };
  }

  private outcomeOf(answer: Answer, input: EventInput): Outcome {
    switch (answer) {
      case 'response':
        return input.tooLarge
          ? { kind: 'tooLarge' }
          : { kind: 'response', body: input.body ?? Buffer.alloc(0), contentType: input.contentType };
      case 'error':
        return { kind: 'error', body: input.body ?? Buffer.alloc(0) };
      case 'exit':
        return { kind: 'exit', reason: input.reason };
      case 'timeout':
        return { kind: 'timeout', dispatched: true };
      case 'initTimeout':
        return { kind: 'timeout', dispatched: false };
      case 'initFailure': {
        const f = this.gen?.failure;
        if (f?.kind === 'error') return { kind: 'initError', body: f.body };
        if (f?.kind === 'exit') return { kind: 'exit', reason: f.reason };
        return { kind: 'timeout', dispatched: false };
      }
    }
  }

  private answer(o: Outcome): void {
    const inv = this.current;
    this.current = undefined;
    inv?.resolve(o);
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
      gen.initTimer = setTimeout(() => {
        if (gen === this.gen) this.fire('initTimeout');
      }, this.settings.initTimeoutSeconds * 1000);
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
        // The process of a generation already forgotten (reset, replaced) is no event.
        if (gen !== this.gen) return;
        this.fire('exit', {
          reason: gen.oomKilled ? 'signal: killed' : exitReason(status.code, status.signal),
        });
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

  private completeInit(gen: Generation): void {
    gen.initDoneAt = Date.now();
    clearTimeout(gen.initTimer);
    this.log.close(gen.initLog);
    this.observer.init(gen.initDoneAt - gen.startedAt, true);
    gen.settleInit();
  }

  private failInit(gen: Generation, failure: InitFailure): void {
    gen.failure = failure;
    clearTimeout(gen.initTimer);
    this.log.close(gen.initLog);
    this.observer.init(Date.now() - gen.startedAt, false);
    gen.settleInit();
  }

  /** Forgets the current generation (its process is dead or being stopped). */
  private forget(): Generation | undefined {
    const gen = this.gen;
    this.gen = undefined;
    this.held = undefined;
    if (!gen) return undefined;
    clearTimeout(gen.initTimer);
    this.log.close(gen.initLog);
    gen.settleInit();
    return gen;
  }

  /** Kills the process of the current generation, forgets it, and waits for the process to end. */
  private async reset(): Promise<void> {
    const proc = this.forget()?.proc;
    if (proc && proc.kill()) {
      await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    } else if (this.settings.runtime === 'provided') {
      this.logger.warn({ env: this.index }, 'could not stop the custom runtime process; it keeps running');
    }
  }

  // ---- invocations -----------------------------------------------------------------------

  /** Runs one invocation to its end; never throws for anything the function did. */
  async invoke(req: InvokeRequest): Promise<InvokeResult> {
    const inv = this.newInvocation(req);
    const before = this.current;
    this.current = inv;
    const t = this.fire('invoke');
    if (t.effects.some((e) => e.type === 'illegal')) {
      this.current = before;
      throw new Error(`execution environment ${this.index} cannot take an invocation: it is ${this.state}`);
    }
    const capture = this.bind(inv);
    this.log.open(capture);
    this.log.line(startLine(req.requestId, this.settings.version));
    const outcome = await inv.outcome;
    let durationMs = performance.now() - inv.dispatchedAt;
    // A timed-out invocation ran for the whole timeout (timers may fire a fraction of a ms early).
    const handlerTimedOut = outcome.kind === 'timeout' && outcome.dispatched;
    if (handlerTimedOut) durationMs = Math.max(durationMs, this.settings.timeoutSeconds * 1000);
    const gen = inv.gen;

    const reset = RESET_OUTCOMES.has(outcome.kind);
    const peak = gen?.oomKilled ? this.settings.memoryMB * 1024 * 1024 : gen?.proc?.peakRssBytes();
    // Closed: the shutdown stops the process.
    if (reset && this.state === 'resetting') await this.reset();
    else if (!reset) await nextTurns(3);
    if (handlerTimedOut) {
      this.log.line(timeoutLogLine(req.requestId, this.settings.timeoutSeconds, new Date()));
    }
    const initDurationMs =
      inv.cold && gen?.initDoneAt !== undefined ? gen.initDoneAt - gen.startedAt : undefined;
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
    this.fire('invocationDone');
    return result;
  }

  /**
   * Gives the invocation its generation (the one `invoke` found or started); on a cold start it
   * reports that generation's init, and its log starts with the init's.
   */
  private bind(inv: Invocation): Capture {
    const gen = this.gen;
    inv.gen = gen;
    const capture = new Capture();
    if (gen && !gen.consumed) {
      inv.cold = true;
      gen.consumed = true;
      capture.append(gen.initLog);
    }
    return capture;
  }

  private newInvocation(req: InvokeRequest): Invocation {
    let initTimer: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let settle!: (o: Outcome) => void;
    const outcome = new Promise<Outcome>((r) => (settle = r));
    const inv: Invocation = {
      req,
      gen: undefined,
      cold: false,
      dispatchedAt: performance.now(),
      outcome,
      resolve: (o) => {
        clearTimeout(initTimer);
        clearTimeout(deadline);
        settle(o);
      },
      startDeadline: () => {
        clearTimeout(initTimer);
        deadline = setTimeout(() => {
          if (this.current === inv) this.fire('deadline');
        }, this.settings.timeoutSeconds * 1000);
      },
      waitForInit: () => {
        initTimer = setTimeout(() => {
          if (this.current === inv) this.fire('initTimeout');
        }, this.settings.initTimeoutSeconds * 1000);
      },
    };
    return inv;
  }

  private dispatch(inv: Invocation): void {
    const res = this.held;
    const gen = this.gen;
    if (!res || !gen) return;
    this.held = undefined;
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
    this.fire('next', { res, remotePort });
  }

  private hold(res: ServerResponse): void {
    this.held = res;
    res.on('close', () => {
      if (this.held === res) this.fire('nextClosed');
    });
  }

  /** For a runtime that connected by itself: find its process (memory, liveness, reset). */
  private adopt(gen: Generation, remotePort: number | undefined): void {
    if (gen.proc || !this.source.adopt || remotePort === undefined) return;
    const proc = this.source.adopt(remotePort);
    if (proc) this.attachProcess(gen, proc);
  }

  /** An id other than the running invocation's is refused whatever the state. */
  private checkId(id: string): void {
    if (this.state === 'running' && this.current?.req.requestId !== id) {
      throw new RuntimeApiStateError(400, 'InvalidRequestID', 'Invalid request ID');
    }
  }

  /** `POST /runtime/invocation/{id}/response`. */
  response(id: string, body: Buffer, tooLarge: boolean, contentType?: string): void {
    this.checkId(id);
    this.fire('response', { body, tooLarge, contentType });
  }

  /** `POST /runtime/invocation/{id}/error`. */
  error(id: string, body: Buffer, headers: IncomingHttpHeaders): void {
    this.checkId(id);
    this.fire('error', { body: errorBody(body, headers) });
  }

  /** `POST /runtime/init/error`. */
  initError(body: Buffer, headers: IncomingHttpHeaders, remotePort?: number): void {
    this.fire('initError', { body: errorBody(body, headers), remotePort });
  }

  // ---- shutdown --------------------------------------------------------------------------

  async close(): Promise<void> {
    this.fire('close');
    await this.stopping;
  }

  /** Ends the held request and stops the process gracefully (a custom runtime stops with its container). */
  private async stop(): Promise<void> {
    const gen = this.gen;
    const held = this.held;
    this.held = undefined;
    held?.destroy();
    clearTimeout(gen?.initTimer);
    if (!gen?.proc) return;
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
