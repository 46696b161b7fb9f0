import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { INVOKE_TOKEN_HEADER } from '../../api/invoke-token.js';
import { RUNTIME_INVOKE_PATH } from '../../api/naming.js';
import { SluiceError } from '../../lib/index.js';

/** One call to a pod's runtime invoke endpoint. */
export interface PodRequest {
  /** The qualifier as invoked (the runtime builds the invoked ARN from it); omitted for unqualified calls. */
  qualifier?: string;
  body: Buffer;
  /** Headers for the runtime: request id, log type, client context, trace context. */
  headers: Record<string, string>;
  /** The function called: its pods accept only that function's invoke token. */
  function?: { namespace: string; name: string };
}

/** A function's invoke token (api/invoke-token.ts `invokeToken` under the platform's key). */
export type InvokeTokens = (namespace: string, fn: string) => string;

export interface PodResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** The pod could not be reached before the call was delivered: safe to try another pod. */
export class PodUnreachableError extends SluiceError {
  override readonly name = 'PodUnreachableError';
}

/** The connection broke after the call was delivered: the function may have run; not retried. */
export class PodConnectionLostError extends SluiceError {
  override readonly name = 'PodConnectionLostError';
}

/** The pod did not answer within the bound. */
export class PodTimeoutError extends SluiceError {
  override readonly name = 'PodTimeoutError';
}

/** Sends calls to a pod's runtime (`host:port`). */
export interface PodClient {
  invoke(address: string, req: PodRequest, timeoutMs: number): Promise<PodResponse>;
}

const BEFORE_DELIVERY = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** node:http with keep-alive connections to each pod. */
export class HttpPodClient implements PodClient {
  private readonly agent: Agent;

  constructor(
    private readonly maxResponseBytes = 7 * 1024 * 1024,
    agent?: Agent,
    /** Signs each call for the function's pods; without it calls carry no token. */
    private readonly tokens?: InvokeTokens,
  ) {
    this.agent =
      agent ?? new Agent({ keepAlive: true, keepAliveMsecs: 10_000, maxFreeSockets: 64, scheduling: 'lifo' });
  }

  invoke(address: string, req: PodRequest, timeoutMs: number): Promise<PodResponse> {
    const { host, port } = splitAddress(address);
    const query = req.qualifier ? `?Qualifier=${encodeURIComponent(req.qualifier)}` : '';
    return new Promise<PodResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, res?: PodResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(res as PodResponse);
      };
      const r = request(
        {
          host,
          port,
          method: 'POST',
          path: `${RUNTIME_INVOKE_PATH}${query}`,
          agent: this.agent,
          headers: {
            ...req.headers,
            'content-type': req.headers['content-type'] ?? 'application/json',
            'content-length': String(req.body.length),
            ...(this.tokens && req.function
              ? { [INVOKE_TOKEN_HEADER]: this.tokens(req.function.namespace, req.function.name) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > this.maxResponseBytes) {
              res.destroy();
              finish(
                new PodConnectionLostError(
                  `pod ${address} sent a response over ${this.maxResponseBytes} bytes`,
                ),
              );
              return;
            }
            chunks.push(c);
          });
          res.on('end', () =>
            finish(undefined, {
              status: res.statusCode ?? 502,
              headers: res.headers,
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', (err) =>
            finish(
              new PodConnectionLostError(`response from pod ${address} broke: ${err.message}`, {
                cause: err,
              }),
            ),
          );
        },
      );
      const timer = setTimeout(() => {
        finish(new PodTimeoutError(`pod ${address} did not answer within ${timeoutMs} ms`));
        r.destroy();
      }, timeoutMs);
      r.on('error', (err: NodeJS.ErrnoException) => {
        // A keep-alive socket the pod closed while idle fails before delivery, as does a refused connection.
        const undelivered =
          BEFORE_DELIVERY.has(err.code ?? '') || (r.reusedSocket && err.code === 'ECONNRESET');
        finish(
          undelivered
            ? new PodUnreachableError(`pod ${address} unreachable: ${err.message}`, { cause: err })
            : new PodConnectionLostError(`connection to pod ${address} lost: ${err.message}`, { cause: err }),
        );
      });
      r.end(req.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
