/**
 * Payload limits every component enforces the same way (lambda.md §1). The gateway refuses a
 * larger request with 413 `RequestTooLargeException`; the poller keeps its batches under the sync
 * limit; the runtime's own endpoints allow the reference emulator's 100 bytes of slack.
 */

/** Largest synchronous request or response body (6 MB). */
export const SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024;

/** Largest asynchronous (`Event`) event (1 MB). */
export const ASYNC_PAYLOAD_LIMIT = 1024 * 1024;

/** The runtime's Invoke and Runtime API bodies: the sync limit plus the reference emulator's 100 bytes. */
export const RUNTIME_PAYLOAD_LIMIT = SYNC_PAYLOAD_LIMIT + 100;
