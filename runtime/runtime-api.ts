import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../lib/index.js';
import { RuntimeApiStateError, type Environment } from './environment.js';
import { MAX_PAYLOAD_BYTES } from './format.js';
import { closeServer, header, listen, readBody, sendJson } from './http-util.js';

/**
 * The Runtime API (version 2018-06-01) of one execution environment, served on its own address.
 * Error bodies are `{errorMessage, errorType}` with the status codes of the reference (§2).
 */
const PREFIX = '/2018-06-01/runtime/';
const INVOCATION = /^invocation\/([^/]+)\/(response|error)$/;

function rapiError(res: ServerResponse, status: number, errorType: string, errorMessage: string): void {
  sendJson(res, status, { errorMessage, errorType });
}

const accepted = (res: ServerResponse): void => sendJson(res, 202, { status: 'OK' });

/** The body of a streamed response: its trailers may carry an error instead of a result. */
function streamedError(req: IncomingMessage): { type: string; body: Buffer } | undefined {
  const type = req.trailers['lambda-runtime-function-error-type'];
  if (!type) return undefined;
  const raw = req.trailers['lambda-runtime-function-error-body'];
  return { type, body: raw ? Buffer.from(raw, 'base64') : Buffer.alloc(0) };
}

async function handle(env: Environment, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0] ?? '';
  if (!path.startsWith(PREFIX)) return rapiError(res, 404, 'NotFound', `${path} is not a Runtime API path`);
  const route = path.slice(PREFIX.length);
  if (route === 'invocation/next' && req.method === 'GET') {
    env.next(res, req.socket.remotePort);
    return;
  }
  const m = INVOCATION.exec(route);
  if (req.method === 'POST' && m) {
    const id = decodeURIComponent(m[1] ?? '');
    const mode = header(req, 'Lambda-Runtime-Function-Response-Mode');
    if (mode !== undefined && mode !== 'streaming') {
      return rapiError(res, 400, 'InvalidFunctionResponseMode', 'Invalid function response mode');
    }
    const body = await readBody(req, MAX_PAYLOAD_BYTES);
    if (m[2] === 'error') {
      env.error(id, body.data, req.headers);
      return accepted(res);
    }
    const streamErr = streamedError(req);
    if (streamErr) {
      env.error(id, streamErr.body, { 'lambda-runtime-function-error-type': streamErr.type });
      return accepted(res);
    }
    env.response(id, body.data, body.truncated, header(req, 'Content-Type'));
    if (body.truncated) {
      return rapiError(
        res,
        413,
        'RequestEntityTooLarge',
        `Exceeded maximum allowed payload size (${MAX_PAYLOAD_BYTES} bytes).`,
      );
    }
    return accepted(res);
  }
  if (route === 'init/error' && req.method === 'POST') {
    const body = await readBody(req, MAX_PAYLOAD_BYTES);
    env.initError(body.data, req.headers, req.socket.remotePort);
    return accepted(res);
  }
  rapiError(res, 404, 'NotFound', `${req.method ?? ''} ${path} is not a Runtime API operation`);
}

export interface RuntimeApiServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startRuntimeApi(
  env: Environment,
  host: string,
  port: number,
  log: Logger,
): Promise<RuntimeApiServer> {
  const server = createServer((req, res) => {
    handle(env, req, res).catch((err: unknown) => {
      if (err instanceof RuntimeApiStateError) {
        // Drain what the runtime sent so its connection can be reused.
        req.resume();
        return rapiError(res, err.status, err.errorType, err.message);
      }
      log.error({ err, url: req.url }, 'runtime API request failed');
      if (!res.headersSent) rapiError(res, 500, 'Runtime.InternalServerError', 'Internal Server Error');
    });
  });
  // The long poll of `next` has no timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 0;
  const bound = await listen(server, port, host);
  return { server, port: bound, close: () => closeServer(server) };
}
