import { SluiceError } from '../../lib/index.js';

/**
 * An async event over the size limit. The gateway maps it to 413 RequestTooLargeException
 * (`status` and `code` make the generic mapping find it too).
 */
export class AsyncPayloadTooLargeError extends SluiceError {
  override readonly name = 'AsyncPayloadTooLargeError';
  readonly status = 413;
  readonly code = 'RequestTooLargeException';
  constructor(
    readonly limitBytes: number,
    readonly sizeBytes: number,
  ) {
    super(
      `Request must be smaller than ${limitBytes} bytes for the InvokeFunction operation (async payload of ${sizeBytes} bytes)`,
    );
  }
}

/** JetStream did not confirm the event (no PubAck): the caller must not be answered 202. */
export class EnqueueFailedError extends SluiceError {
  override readonly name = 'EnqueueFailedError';
  readonly status = 500;
  readonly code = 'ServiceException';
}

/**
 * The function already has its maximum of events waiting in the queue: 429
 * TooManyRequestsException (the AWS SDK retries it), so no function can fill the store for all.
 */
export class AsyncBacklogFullError extends SluiceError {
  override readonly name = 'AsyncBacklogFullError';
  readonly status = 429;
  readonly code = 'TooManyRequestsException';
  constructor(
    readonly namespace: string,
    readonly fn: string,
    readonly limit: number,
  ) {
    super(
      `Function ${namespace}/${fn} has ${limit} or more asynchronous events waiting; retry later (Sluice's per-function backlog limit)`,
    );
  }
}

/** A record could not be delivered to a destination (after its own retries). */
export class DestinationDeliveryError extends SluiceError {
  override readonly name: string = 'DestinationDeliveryError';
}
