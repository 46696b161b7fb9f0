import type { Request, RequestHandler, Response } from 'express';
import { InvalidRequestContentError, LoadShedError, RequestTooLargeError } from '../errors.js';
import type { ByteBudget } from '../limits/bytes.js';
import { callContext } from './context.js';

/** Largest body of a management call (PublishVersion, dead letters, in-flight: JSON of a few fields). */
export const MANAGEMENT_BODY_LIMIT = 64 * 1024;

/** Beyond this multiple of the limit, a too-large body is not drained: the connection closes. */
const DRAIN_FACTOR = 4;

function declaredLength(req: Request): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

function bufferFull(budget: ByteBudget): LoadShedError {
  return new LoadShedError(
    'buffer_full',
    'RequestBytesLimitExceeded',
    `This gateway replica already buffers its limit of ${budget.capacity} request bytes; retry`,
  );
}

/**
 * Reads one request body, up to `limit` bytes, under the replica's byte budget: the declared
 * Content-Length is taken from the budget before a byte is read (429 when it does not fit); a
 * body without one takes its chunks as they come. The bytes go back when the call is answered.
 * Over the limit: 413, and the connection closes when the rest is not worth draining.
 */
function readBody(
  req: Request,
  res: Response,
  limit: number,
  budget: ByteBudget,
  onUsage: (used: number) => void,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = declaredLength(req);
    if (declared !== undefined && declared > limit) {
      if (declared > limit * DRAIN_FACTOR) res.set('Connection', 'close');
      reject(new RequestTooLargeError(limit));
      return;
    }
    let taken = 0;
    res.once('close', () => {
      budget.give(taken);
      taken = 0;
      onUsage(budget.used);
    });
    if (declared !== undefined) {
      if (!budget.tryTake(declared)) return reject(bufferFull(budget));
      taken = declared;
      onUsage(budget.used);
    }
    // The client waits for this before sending a body (Expect: 100-continue): only now is it wanted.
    if (req.headers.expect?.toLowerCase() === '100-continue' && !res.headersSent) res.writeContinue();
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err?: Error): void => {
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', finish);
      req.removeListener('close', onClose);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        chunks.length = 0;
        res.set('Connection', 'close');
        return finish(new RequestTooLargeError(limit));
      }
      if (declared === undefined) {
        if (!budget.tryTake(c.length)) {
          chunks.length = 0;
          res.set('Connection', 'close');
          return finish(bufferFull(budget));
        }
        taken += c.length;
        onUsage(budget.used);
      }
      chunks.push(c);
    };
    const onEnd = (): void => finish();
    const onClose = (): void => {
      if (!req.readableEnded) {
        finish(
          new InvalidRequestContentError('The client closed the connection before sending its whole body'),
        );
      }
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', finish);
    req.on('close', onClose);
  });
}

/**
 * Gives every call `readBody(limit)` (in its CallContext) instead of reading bodies up front: the
 * handlers authenticate first and read the body only for callers they admit — SigV4 verification
 * reads it through the authenticator, after the header, the date window and the key were checked.
 * The first call reads; later calls get the same body.
 */
export function bodyReader(
  budget: ByteBudget,
  onUsage: (used: number) => void = () => undefined,
): RequestHandler {
  return (req, res, next) => {
    let pending: Promise<Buffer> | undefined;
    callContext(res).readBody = (limit, own) =>
      (pending ??= readBody(req, res, limit, own ?? budget, own ? () => undefined : onUsage));
    next();
  };
}
