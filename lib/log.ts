import { randomUUID } from 'node:crypto';
import {
  pino,
  stdSerializers,
  stdTimeFunctions,
  destination,
  type Logger as PinoLogger,
  type DestinationStream,
} from 'pino';

/** Structured JSON logger. `child({reconcileId})` / `child({requestId})` carry ids through a call. */
export type Logger = PinoLogger;

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface LoggerOptions {
  component: string;
  level: LogLevel;
  /** Where lines go; stdout when omitted. Tests pass a stream to read lines back. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { component: opts.component },
      timestamp: stdTimeFunctions.isoTime,
      messageKey: 'msg',
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: stdSerializers.err },
    },
    opts.destination ?? destination({ dest: 1, sync: false }),
  );
}

/** A short random id for a request or a reconcile. */
export function newId(): string {
  return randomUUID();
}
