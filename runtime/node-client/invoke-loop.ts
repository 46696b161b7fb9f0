/* eslint-disable no-console -- the function's patched console is its log: the client reports errors through it, as the reference client does. */
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorTypes, RuntimeClientError, nodeJsExitError, toErrorResponse, toFormatted } from './errors.js';
import type { Handler } from './handler.js';
import type { RapidClient } from './rapid-client.js';
import { createResponseStream, isStreamingHandler } from './streaming.js';

/**
 * The invoke loop of the built-in Node.js client, with the reference client's completion rules:
 * a returned promise settles the invocation at once; a callback waits for the event loop to empty
 * unless `context.callbackWaitsForEmptyEventLoop` is false; an empty event loop with nothing
 * reported succeeds with `null` (or fails with `Runtime.NodeJsExit` for an async handler);
 * `succeed`/`fail`/`done` are the legacy forms; the first report wins.
 */
type Env = Readonly<Record<string, string | undefined>>;
type NodeCallback = (err?: unknown, result?: unknown) => void;

interface CallbackContext {
  callbackWaitsForEmptyEventLoop: boolean;
  succeed: (result?: unknown) => void;
  fail: (err?: unknown) => void;
  done: (err?: unknown, result?: unknown) => void;
}

export function parseJsonHeader(value: string | string[] | undefined, name: string): unknown {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch (cause) {
    throw new Error(`Cannot parse ${name} as json: ${(cause as Error).message}`);
  }
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The context's invocation fields, from the `next` headers and the environment. */
export function contextFields(headers: IncomingHttpHeaders, env: Env): Record<string, unknown> {
  const deadline = Number(headerValue(headers, 'lambda-runtime-deadline-ms'));
  return {
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
    invokedFunctionArn: headerValue(headers, 'lambda-runtime-invoked-function-arn'),
    awsRequestId: headerValue(headers, 'lambda-runtime-aws-request-id'),
    getRemainingTimeInMillis: (): number => deadline - Date.now(),
  };
}

function isPromise(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null &&
    (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as PromiseLike<unknown>).then === 'function'
  );
}

function isAsyncFunction(fn: Handler): boolean {
  return fn.constructor.name === 'AsyncFunction';
}

export class InvokeLoop {
  /** The id of the running invocation; undefined during init. */
  requestId: string | undefined;
  private beforeExit: () => void = () => undefined;
  private onUncaught: (err: unknown, code: number) => void;
  private handler: Handler | undefined;

  constructor(
    private readonly client: RapidClient,
    private readonly env: Env,
    /** nodejs22 keeps callback handlers and succeed/fail/done; nodejs24 dropped them. */
    private readonly legacyCallbacks: boolean,
  ) {
    this.onUncaught = (err, code) => this.failInit(err, code);
  }

  /** Process-level listeners; installed before the user's module is loaded. */
  install(): void {
    process.on('beforeExit', () => this.beforeExit());
    process.on('uncaughtException', (err) => {
      console.error('Uncaught Exception', toFormatted(err));
      this.onUncaught(err, 129);
    });
    process.on('unhandledRejection', (reason) => {
      const err = new RuntimeClientError(
        ErrorTypes.unhandledRejection,
        String((reason as { toString?: () => string })?.toString?.() ?? reason),
      );
      console.error('Unhandled Promise Rejection', toFormatted(err));
      this.onUncaught(err, 128);
    });
  }

  /** Reports an init error (the module could not be loaded) and ends the process. */
  failInit(err: unknown, code = 129): void {
    const body = toErrorResponse(err);
    this.client
      .postInitError(JSON.stringify(body), body.errorType)
      .catch(() => undefined)
      .finally(() => process.exit(code));
  }

  start(handler: Handler): void {
    if (!this.legacyCallbacks && handler.length >= 3) {
      throw new RuntimeClientError(
        ErrorTypes.callbackDeprecated,
        'ERROR: callback-based function handlers are not supported starting with Node.js 24. Modify this ' +
          'function to use an async handler (or one that returns a Promise).',
      );
    }
    this.handler = handler;
    this.scheduleIteration();
  }

  private scheduleIteration(): void {
    setImmediate(() => {
      this.handleOnce().catch((err: unknown) => {
        console.log(`Unexpected Top Level Error: ${String(err)}`);
        this.onUncaught(err, 129);
      });
    });
  }

  private async handleOnce(): Promise<void> {
    const { body, headers } = await this.client.nextInvocation();
    const id = headerValue(headers, 'lambda-runtime-aws-request-id') ?? '';
    this.requestId = id;
    const trace = headerValue(headers, 'lambda-runtime-trace-id');
    if (trace) process.env._X_AMZN_TRACE_ID = trace;
    else delete process.env._X_AMZN_TRACE_ID;
    this.onUncaught = (err, code) => {
      this.postError(id, err, () => process.exit(code), false);
    };
    const handler = this.handler as Handler;
    if (isStreamingHandler(handler)) {
      this.handleStreaming(id, handler, body, headers);
      return;
    }
    const [callback, callbackContext, markCompleted] = this.callbackContext(id);
    this.beforeExit = () => {
      markCompleted();
      if (isAsyncFunction(handler)) {
        this.postError(id, nodeJsExitError(), () => this.scheduleIteration());
      } else {
        this.postResult(id, null, () => this.scheduleIteration());
      }
    };
    try {
      const fields = contextFields(headers, this.env);
      const context = this.legacyCallbacks ? Object.assign(callbackContext, fields) : fields;
      const result = handler(
        JSON.parse(body) as unknown,
        context,
        this.legacyCallbacks ? callback : undefined,
      );
      if (isPromise(result)) {
        result.then(callbackContext.succeed, callbackContext.fail).then(undefined, callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  /** A `streamifyResponse` handler: the stream is buffered and posted once the handler is done. */
  private handleStreaming(id: string, handler: Handler, body: string, headers: IncomingHttpHeaders): void {
    const next = (): void => this.scheduleIteration();
    const stream = createResponseStream();
    this.beforeExit = () => this.postError(id, nodeJsExitError(), next);
    const fail = (err: unknown): void => {
      this.beforeExit = () => undefined;
      this.postError(id, err, next);
    };
    let result: unknown;
    try {
      result = handler(JSON.parse(body) as unknown, stream, contextFields(headers, this.env));
    } catch (err) {
      fail(err);
      return;
    }
    if (!isPromise(result)) {
      fail(new Error('Streaming does not support non-async handlers.'));
      return;
    }
    const send = (): void => {
      this.beforeExit = () => undefined;
      this.client
        .postResponse(id, stream.body(), stream.contentType)
        .then(next, (e: unknown) => this.lostRuntimeApi(e));
    };
    result.then(() => {
      if (stream.writableFinished) send();
      else if (stream.writableEnded) stream.once('finish', send);
      else fail(new Error('Response stream is not finished.'));
    }, fail);
  }

  private postError(id: string, err: unknown, then: () => void, log = true): void {
    if (log) console.error('Invoke Error', toFormatted(err));
    const body = toErrorResponse(err);
    this.client
      .postError(id, JSON.stringify(body), body.errorType)
      .then(then, (e: unknown) => this.lostRuntimeApi(e));
  }

  private postResult(id: string, result: unknown, then: () => void): void {
    let body: string;
    try {
      body = JSON.stringify(result === undefined ? null : result);
    } catch {
      this.postError(
        id,
        new RuntimeClientError(ErrorTypes.jsonStringify, 'Unable to stringify response body'),
        then,
      );
      return;
    }
    this.client.postResponse(id, body).then(then, (e: unknown) => this.lostRuntimeApi(e));
  }

  private lostRuntimeApi(err: unknown): void {
    process.stderr.write(`runtime API unreachable: ${String(err)}\n`);
    process.exit(1);
  }

  /** Callback, context methods and a "mark completed" hook; only the first report counts. */
  private callbackContext(id: string): [NodeCallback, CallbackContext, () => void] {
    let finished = false;
    let waitForEmptyEventLoop = true;
    const next = (): void => this.scheduleIteration();
    const done = (err?: unknown, result?: unknown): void => {
      this.beforeExit = () => undefined;
      if (err !== undefined && err !== null) this.postError(id, err, next);
      else this.postResult(id, result, next);
    };
    const callback = (err?: unknown, result?: unknown): void => {
      this.beforeExit = () => undefined;
      if (err !== undefined && err !== null) this.postError(id, err, next);
      else if (!waitForEmptyEventLoop) this.postResult(id, result, next);
      else this.beforeExit = () => setImmediate(() => this.postResult(id, result, next));
    };
    const once =
      <A extends unknown[]>(fn: (...a: A) => void) =>
      (...a: A): void => {
        if (finished) return;
        fn(...a);
        finished = true;
      };
    const ctx: CallbackContext = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(v: boolean) {
        waitForEmptyEventLoop = v;
      },
      succeed: once((result?: unknown) => done(null, result)),
      fail: once((err?: unknown) => done(err === undefined || err === null ? 'handled' : err, null)),
      done: once(done),
    };
    return [once(callback), ctx, () => (finished = true)];
  }
}
