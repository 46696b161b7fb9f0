/**
 * Typed errors shared by every component. Each has a stable `name` (used by the one
 * error-to-HTTP mapping in the gateway and by logs) and an optional `cause`.
 */
export class SluiceError extends Error {
  override readonly name: string = 'SluiceError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A configuration value (environment variable or flag) is missing or invalid. */
export class ConfigError extends SluiceError {
  override readonly name = 'ConfigError';
}

/** A resource that was asked for does not exist. */
export class NotFoundError extends SluiceError {
  override readonly name = 'NotFoundError';
}

/** Input from a user (request, manifest) is invalid. */
export class ValidationError extends SluiceError {
  override readonly name: string = 'ValidationError';
}

/** Work was refused because shutdown has begun. */
export class ShuttingDownError extends SluiceError {
  override readonly name = 'ShuttingDownError';
}

/** Returns a message for anything thrown, including its cause chain. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts = [`${err.name}: ${err.message}`];
  let cause: unknown = err.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    parts.push(cause instanceof Error ? `${cause.name}: ${cause.message}` : JSON.stringify(cause));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return parts.join(' <- caused by ');
}
