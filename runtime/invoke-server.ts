import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  context as otelContext,
  propagation,
  SpanKind,
  SpanStatusCode,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { INVOKE_TOKEN_HEADER } from '../api/invoke-token.js';
import { inSpan, ShuttingDownError, type InFlight, type Logger } from '../lib/index.js';
import { invokedArn, type RuntimeSettings } from './config.js';
import type { InvokeRequest, InvokeResult } from './environment.js';
import type { InvokeAuth } from './invoke-auth.js';
import {
  isValidQualifier,
  MAX_PAYLOAD_BYTES,
  newTraceHeader,
  tailLogResult,
  traceHeaderFromTraceparent,
} from './format.js';
import { closeServer, header, listen, readBody, sendJson } from './http-util.js';
import type { RuntimeMetrics } from './metrics.js';
import type { EnvironmentPool } from './pool.js';

/**
 * The invoke endpoint the gateway calls (contract in runtime/README.md): the shape of the
 * Invoke API for one function, `POST /2015-03-31/functions/{name}/invocations`, plus health probes.
 */
export interface InvokeDeps {
  settings: RuntimeSettings;
  pool: EnvironmentPool;
  inFlight: InFlight;
  metrics: RuntimeMetrics;
  tracer: Tracer;
  log: Logger;
  /** Who may call (the gateway, with this function's token); the probes stay open. */
  auth: InvokeAuth;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/[^/]+\/invocations$/;
const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

function sendServiceError(res: ServerResponse, err: ServiceError, requestId: string): void {
  const headers: Record<string, string> = { 'X-Amzn-ErrorType': err.code, 'X-Amzn-RequestId': requestId };
  if (err.status === 429) headers['Retry-After'] = '1';
  sendJson(res, err.status, { Type: 'User', message: err.message, ...err.extra }, headers);
}

function decodeClientContext(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const text = Buffer.from(raw, 'base64').toString('utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') return JSON.stringify(parsed);
  } catch {
    // reported below
  }
  throw new ServiceError(
    400,
    'InvalidRequestContentException',
    'Client context must be a valid Base64-encoded JSON object.',
  );
}

function traceHeader(req: IncomingMessage): string {
  const amzn = header(req, 'X-Amzn-Trace-Id');
  if (amzn) return amzn;
  const tp = header(req, 'traceparent');
  return (tp && traceHeaderFromTraceparent(tp)) || newTraceHeader();
}

/** Validates the call and builds what the environment needs; throws ServiceError. */
function parseInvoke(
  req: IncomingMessage,
  url: URL,
  settings: RuntimeSettings,
  requestId: string,
): Omit<InvokeRequest, 'event'> {
  const type = header(req, 'X-Amz-Invocation-Type') ?? 'RequestResponse';
  if (type !== 'RequestResponse' && type !== 'DryRun') {
    throw new ServiceError(
      400,
      'InvalidParameterValueException',
      `X-Amz-Invocation-Type ${type} is not served by the runtime; allowed: RequestResponse, DryRun`,
    );
  }
  const qualifier = url.searchParams.get('Qualifier') ?? undefined;
  if (qualifier !== undefined && !isValidQualifier(qualifier)) {
    throw new ServiceError(400, 'InvalidParameterValueException', `Qualifier "${qualifier}" is invalid`);
  }
  return {
    requestId,
    invokedFunctionArn: invokedArn(settings, qualifier),
    traceId: traceHeader(req),
    clientContext: decodeClientContext(header(req, 'X-Amz-Client-Context')),
    cognitoIdentity: undefined,
    tail: header(req, 'X-Amz-Log-Type') === 'Tail',
  };
}

function sendResult(res: ServerResponse, r: InvokeResult, deps: InvokeDeps, requestId: string): void {
  const headers: Record<string, string> = {
    'Content-Type': r.contentType ?? 'application/json',
    'Content-Length': String(r.body.length),
    'X-Amz-Executed-Version': deps.settings.version,
    'X-Amzn-RequestId': requestId,
  };
  if (r.functionError) headers['X-Amz-Function-Error'] = 'Unhandled';
  if (r.log) headers['X-Amz-Log-Result'] = tailLogResult(r.log);
  res.writeHead(200, headers);
  res.end(r.body);
}

async function invoke(deps: InvokeDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const requestId = header(req, 'X-Amz-Request-Id') ?? randomUUID();
  try {
    if (!REQUEST_ID.test(requestId)) {
      throw new ServiceError(400, 'InvalidParameterValueException', 'X-Amz-Request-Id is invalid');
    }
    const parsed = parseInvoke(req, url, deps.settings, requestId);
    const body = await readBody(req, MAX_PAYLOAD_BYTES);
    if (body.truncated) {
      throw new ServiceError(
        413,
        'RequestTooLargeException',
        `Request must be smaller than ${MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation`,
      );
    }
    if (header(req, 'X-Amz-Invocation-Type') === 'DryRun') {
      res.writeHead(204, { 'X-Amzn-RequestId': requestId });
      res.end();
      return;
    }
    // Without an X-Ray header from the caller, the handler's trace header names the handler span.
    const ownTrace = header(req, 'X-Amzn-Trace-Id') === undefined;
    await runOnEnvironment(deps, res, { ...parsed, event: body.data }, ownTrace);
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    sendServiceError(res, err, requestId);
  }
}

async function runOnEnvironment(
  deps: InvokeDeps,
  res: ServerResponse,
  request: InvokeRequest,
  ownTrace: boolean,
): Promise<void> {
  let end: () => void;
  try {
    end = deps.inFlight.begin();
  } catch (err) {
    if (err instanceof ShuttingDownError)
      throw new ServiceError(503, 'ServiceException', 'The runtime is shutting down');
    throw err;
  }
  try {
    const env = deps.pool.acquire();
    if (!env) {
      deps.metrics.throttled();
      throw new ServiceError(429, 'TooManyRequestsException', 'Rate Exceeded.', {
        Reason: 'ConcurrentInvocationLimitExceeded',
      });
    }
    deps.metrics.started();
    try {
      const result = await inHandlerSpan(deps, request, ownTrace, (r) => env.invoke(r));
      sendResult(res, result, deps, request.requestId);
    } finally {
      deps.metrics.ended();
      deps.pool.release(env);
    }
  } finally {
    end();
  }
}

/**
 * The handler's run as its own span (named after the function, as Lambda's traces name the
 * function segment): from handing the event over to its result. The handler's trace header
 * (`Lambda-Runtime-Trace-Id`, `_X_AMZN_TRACE_ID`) then names this span as the parent, so a handler
 * that traces on (X-Ray SDK, OTel with the X-Ray propagator) joins the same trace.
 */
async function inHandlerSpan(
  deps: InvokeDeps,
  request: InvokeRequest,
  ownTrace: boolean,
  run: (r: InvokeRequest) => Promise<InvokeResult>,
): Promise<InvokeResult> {
  const span: Span = deps.tracer.startSpan(deps.settings.functionName, {
    kind: SpanKind.INTERNAL,
    attributes: {
      'faas.name': deps.settings.functionName,
      'faas.version': deps.settings.version,
      'faas.invocation_id': request.requestId,
      'cloud.resource_id': request.invokedFunctionArn,
    },
  });
  const sc = span.spanContext();
  const traceId =
    ownTrace && span.isRecording()
      ? (traceHeaderFromTraceparent(`00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & 1}`) ?? request.traceId)
      : request.traceId;
  return inSpan(
    span,
    async () => {
      const result = await run({ ...request, traceId });
      span.setAttribute('faas.coldstart', result.initDurationMs !== undefined);
      return result;
    },
    (r) => (r.functionError ? r.kind : undefined),
  );
}

function withSpan(deps: InvokeDeps, req: IncomingMessage, run: () => Promise<void>): Promise<void> {
  const parent = propagation.extract(otelContext.active(), req.headers);
  return otelContext.with(parent, () =>
    deps.tracer.startActiveSpan('sluice-runtime invoke', async (span) => {
      span.setAttribute('faas.name', deps.settings.functionName);
      span.setAttribute('faas.version', deps.settings.version);
      try {
        await run();
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    }),
  );
}

export function makeInvokeHandler(deps: InvokeDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://runtime');
    if (req.method === 'GET' && url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (req.method === 'GET' && url.pathname === '/readyz') {
      const ready = deps.pool.ready && !deps.inFlight.isClosed;
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
    }
    if (!deps.auth.allows(header(req, INVOKE_TOKEN_HEADER))) {
      // A pod labelled like the gateway, a neighbour that got past the NetworkPolicy: no token, no call.
      req.resume();
      return sendServiceError(
        res,
        new ServiceError(403, 'AccessDeniedException', `${INVOKE_TOKEN_HEADER} is missing or wrong`),
        '',
      );
    }
    if (req.method === 'POST' && INVOKE_PATH.test(url.pathname)) {
      withSpan(deps, req, () => invoke(deps, req, res, url)).catch((err: unknown) => {
        deps.log.error({ err }, 'invoke failed');
        if (!res.headersSent)
          sendServiceError(res, new ServiceError(500, 'ServiceException', 'Internal error'), '');
      });
      return;
    }
    sendServiceError(
      res,
      new ServiceError(404, 'ResourceNotFoundException', `${req.method ?? ''} ${url.pathname} not found`),
      '',
    );
  };
}

export interface InvokeServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startInvokeServer(deps: InvokeDeps, host: string, port: number): Promise<InvokeServer> {
  const server = createServer(makeInvokeHandler(deps));
  // An invocation may run for the function's whole timeout.
  server.requestTimeout = (deps.settings.timeoutSeconds + deps.settings.initTimeoutSeconds + 30) * 1000;
  const bound = await listen(server, port, host);
  return { server, port: bound, close: () => closeServer(server) };
}
