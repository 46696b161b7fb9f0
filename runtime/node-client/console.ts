import { format } from 'node:util';

/**
 * The text log format of the function's `console`: `<ISO timestamp>\t<requestId>\t<LEVEL>\t<message>`,
 * newlines inside a message replaced by `\r` so one call stays one line in the log.
 */
export type Level = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

const PRIORITY: Record<Level, number> = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };

export function formatLogLine(
  timestamp: Date,
  requestId: string | undefined,
  level: Level,
  args: unknown[],
): string {
  const [message, ...params] = args;
  const text = format(message, ...params);
  return [timestamp.toISOString(), String(requestId), level, text].join('\t').replace(/\n/g, '\r') + '\n';
}

/** `AWS_LAMBDA_LOG_LEVEL` (default: everything). */
export function minLevel(env: Readonly<Record<string, string | undefined>>): Level {
  const v = env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase();
  return v && v in PRIORITY ? (v as Level) : 'TRACE';
}

/**
 * Replaces the console methods; `requestId()` gives the id of the running invocation (undefined
 * during init, as the reference prints it).
 */
export function patchConsole(
  requestId: () => string | undefined,
  write: (line: string) => void,
  env: Readonly<Record<string, string | undefined>>,
): void {
  const min = PRIORITY[minLevel(env)];
  const make =
    (level: Level) =>
    (...args: unknown[]): void => {
      if (PRIORITY[level] >= min) write(formatLogLine(new Date(), requestId(), level, args));
    };
  const c = console as unknown as Record<string, (...args: unknown[]) => void>;
  c.trace = make('TRACE');
  c.debug = make('DEBUG');
  c.info = make('INFO');
  c.warn = make('WARN');
  c.error = make('ERROR');
  c.fatal = make('FATAL');
  c.log = c.info;
}
