import type { RequestHandler } from 'express';
import { RequestTooLargeError } from '../errors.js';
import { callContext } from './context.js';

/**
 * Reads the raw body into `res.locals.body`, up to `limitBytes`. A larger body is drained (up
 * to `drainBytes`, so the client reads our answer instead of a broken pipe) and answered 413
 * RequestTooLargeException; beyond `drainBytes` the connection is closed.
 */
export function rawBody(limitBytes: number, drainBytes = limitBytes * 4): RequestHandler {
  return (req, res, next) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    const chunks: Buffer[] = [];
    let size = 0;
    let over = !Number.isNaN(declared) && declared > limitBytes;
    const done = (err?: unknown): void => {
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
      next(err);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limitBytes) over = true;
      if (over) {
        chunks.length = 0;
        if (size > drainBytes) {
          res.set('Connection', 'close');
          done(new RequestTooLargeError(limitBytes));
          req.pause();
        }
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => {
      if (over) return done(new RequestTooLargeError(limitBytes));
      callContext(res).body = Buffer.concat(chunks, size);
      done();
    };
    const onError = (err: Error): void => done(err);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  };
}
