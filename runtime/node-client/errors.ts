import { types } from 'node:util';

/**
 * Errors of the built-in Node.js runtime client and their wire form. Names are the `errorType`s a
 * caller sees (`Runtime.ImportModuleError`…); messages follow the reference client.
 */
export class RuntimeClientError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

export const ErrorTypes = {
  importModule: 'Runtime.ImportModuleError',
  handlerNotFound: 'Runtime.HandlerNotFound',
  malformedHandlerName: 'Runtime.MalformedHandlerName',
  userCodeSyntax: 'Runtime.UserCodeSyntaxError',
  nodeJsExit: 'Runtime.NodeJsExit',
  unhandledRejection: 'Runtime.UnhandledPromiseRejection',
  jsonStringify: 'Runtime.JSONStringifyError',
  callbackDeprecated: 'Runtime.CallbackHandlerDeprecated',
} as const;

/** Wraps a loading failure; the message is the original error as a string (`Error: Cannot find…`). */
export function wrapError(errorType: string, original: unknown): RuntimeClientError {
  const err = new RuntimeClientError(errorType, String(original));
  if (original instanceof Error && errorType === ErrorTypes.userCodeSyntax && original.stack) {
    err.stack = original.stack;
  }
  return err;
}

/** The body posted to `/error` and `/init/error`. */
export interface ErrorResponse {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

function looksLikeError(v: unknown): v is { name: string; message: string; stack: string } {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return typeof o.name === 'string' && typeof o.message === 'string' && typeof o.stack === 'string';
}

/** `errorType` = name, `errorMessage` = message, `trace` = stack lines; a non-Error gives its typeof. */
export function toErrorResponse(error: unknown): ErrorResponse {
  try {
    if (types.isNativeError(error) || looksLikeError(error)) {
      const e = error as Error;
      return { errorType: e.name, errorMessage: e.message, trace: (e.stack ?? '').split('\n') };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const ret: Record<string, unknown> = {
    errorType: value.name,
    errorMessage: value.message,
    code: (value as { code?: unknown }).code,
    ...(value as unknown as Record<string, unknown>),
  };
  if (typeof value.stack === 'string') ret.stack = value.stack.split('\n');
  return ret;
}

/** An error as the client logs it: a tab, then JSON with the enumerable properties and the stack. */
export function toFormatted(error: unknown): string {
  try {
    return '\t' + JSON.stringify(error, (_k, v: unknown) => withEnumerableProperties(v));
  } catch {
    return '\t' + JSON.stringify(toErrorResponse(error));
  }
}

export function nodeJsExitError(): RuntimeClientError {
  return new RuntimeClientError(
    ErrorTypes.nodeJsExit,
    'The runtime client detected an unexpected Node.js exit: the event loop became empty while the ' +
      "handler's promise was pending. This is most commonly caused by a Promise that was never settled.",
  );
}
