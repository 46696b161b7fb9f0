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

// Zip packages (function code and layers): a larger upload is refused with 413
// `RequestEntityTooLargeException`, the other limits with 400 `InvalidParameterValueException`
// (lib/package/README.md).

/** Largest zip file accepted, in bytes (50 MB, Lambda's direct-upload limit). */
export const PACKAGE_ZIPPED_LIMIT = 52_428_800;

/** Largest unzipped size of a function's package plus all its layers, in bytes (250 MB). */
export const PACKAGE_UNZIPPED_LIMIT = 262_144_000;

/** Most entries (files, directories, symlinks) one zip may hold. */
export const PACKAGE_MAX_ENTRIES = 20_000;
