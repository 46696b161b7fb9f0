import { Writable } from 'node:stream';
import type { Handler } from './handler.js';

/**
 * Response-streaming handlers (`awslambda.streamifyResponse`). Sluice buffers the stream and sends
 * it whole when the handler has finished, so a streaming handler written for Lambda works unchanged
 * (without incremental delivery to the caller).
 */
export const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

export interface BufferedResponseStream extends Writable {
  setContentType(type: string): void;
  contentType: string;
  body(): Buffer;
}

export function isStreamingHandler(h: Handler): boolean {
  return (h as unknown as Record<symbol, unknown>)[HANDLER_STREAMING] === 'response';
}

export function createResponseStream(): BufferedResponseStream {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, encoding, cb) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk));
      cb();
    },
  }) as BufferedResponseStream;
  stream.contentType = DEFAULT_CONTENT_TYPE;
  stream.setContentType = (type: string) => {
    stream.contentType = type;
  };
  stream.body = () => Buffer.concat(chunks);
  return stream;
}

/** The `awslambda` global the reference Node.js runtime defines. */
export function installAwsLambdaGlobal(): void {
  const g = globalThis as unknown as { awslambda?: Record<string, unknown> };
  g.awslambda = {
    ...g.awslambda,
    streamifyResponse: (handler: Handler, options?: { highWaterMark?: number }): Handler => {
      const h = handler as unknown as Record<symbol, unknown>;
      h[HANDLER_STREAMING] = 'response';
      if (options?.highWaterMark !== undefined) h[HANDLER_HIGHWATERMARK] = options.highWaterMark;
      return handler;
    },
    HttpResponseStream: {
      from(underlying: BufferedResponseStream, prelude: unknown): BufferedResponseStream {
        underlying.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
        underlying.write(JSON.stringify(prelude));
        underlying.write(Buffer.alloc(8));
        return underlying;
      },
    },
  };
}
