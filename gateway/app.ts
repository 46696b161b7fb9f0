import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Tracer } from '@opentelemetry/api';
import express, { type Express } from 'express';
import type { Logger } from '../lib/index.js';
import { makeErrorMiddleware, toErrorResponse, InvalidRequestContentError, LambdaError } from './errors.js';
import { bodyReader } from './http/body.js';
import { callId, requestMetrics, sigv4CanonicalPaths, tracing } from './http/middleware.js';
import type { ByteBudget } from './limits/bytes.js';
import type { GatewayMetrics } from './metrics.js';
import { routes, type RouteHandlers } from './routes.js';

export interface AppDeps {
  handlers: RouteHandlers;
  metrics: GatewayMetrics;
  tracer: Tracer;
  log: Logger;
  /** Request body bytes this replica may buffer at once (bodies are read against it). */
  budget: ByteBudget;
}

/**
 * The express app: middleware (call id, metrics, tracing, the body reader, SigV4 path form), the
 * routes, and the one error mapping (which counts the requests refused to protect the replica).
 */
export function makeApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.use(
    callId(),
    requestMetrics(deps.metrics, deps.log),
    tracing(deps.tracer),
    bodyReader(deps.budget, (used) => deps.metrics.bufferedBytes.set(used)),
    sigv4CanonicalPaths(),
  );
  app.use(routes(deps.handlers));
  app.use(makeErrorMiddleware(deps.log, (reason) => deps.metrics.shed.inc({ reason })));
  return app;
}

export interface ServerLimits {
  /** Largest request head (request line + headers); beyond it 431. */
  maxHeaderSize: number;
  /** Time to receive the whole request (head and body). */
  requestTimeoutMs: number;
  /** Time to receive the request head. */
  headersTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. */
  keepAliveTimeoutMs: number;
  /** Open connections at once; beyond it new ones are closed at once (server.maxConnections). */
  maxConnections: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxHeaderSize: 16 * 1024,
  requestTimeoutMs: 60_000,
  headersTimeoutMs: 20_000,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 2048,
};

/** A Lambda-style error written straight to a socket (the request never reached express). */
function socketError(socket: Socket, status: number, reason: string, err: LambdaError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const out = toErrorResponse(err);
  const body = JSON.stringify(out.body);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nX-Amzn-ErrorType: ${out.code}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * The HTTP server with the limits; malformed requests are answered 4xx and never reach the app.
 * Connections beyond `maxConnections` are closed as they arrive (counted as max_connections);
 * `Expect: 100-continue` is answered only when a handler reads the body, after authentication.
 */
export function makeServer(
  app: Express,
  limits: ServerLimits = DEFAULT_LIMITS,
  log?: Logger,
  metrics?: GatewayMetrics,
): Server {
  const server = createServer(
    { maxHeaderSize: limits.maxHeaderSize, requestTimeout: limits.requestTimeoutMs },
    app,
  );
  server.headersTimeout = limits.headersTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => metrics?.shed.inc({ reason: 'max_connections' }));
  server.on('checkContinue', (req, res) => {
    app(req, res);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    log?.debug({ code: err.code, msg: err.message }, 'malformed request');
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      socketError(
        socket,
        431,
        'Request Header Fields Too Large',
        new InvalidRequestContentError(`Request headers are larger than ${limits.maxHeaderSize} bytes`),
      );
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      socketError(
        socket,
        408,
        'Request Timeout',
        new LambdaError(408, 'RequestTimeoutException', 'The request was not received in time'),
      );
      return;
    }
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
      socket.destroy();
      return;
    }
    socketError(socket, 400, 'Bad Request', new InvalidRequestContentError('Malformed HTTP request'));
  });
  return server;
}
