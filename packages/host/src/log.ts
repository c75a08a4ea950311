// Structured logger of the host program: one JSON object per line on stdout.
//
// Fields are metadata only (addresses, byte counts, error codes). Never pass
// payload bytes, blobs or error messages that may echo input.

import { writeStdout } from '@http-enclave/program';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  isEnabled(level: LogLevel): boolean;
}

export interface CreateLoggerOptions {
  readonly level: LogLevel;
  /** Where a finished line goes (newline included). Default: process.stdout. */
  readonly write?: (line: string) => void;
  /** Clock, for tests. Default: Date.now. */
  readonly now?: () => number;
  /** Extra fixed fields on every line (for example `thread: "storage"`). */
  readonly base?: LogFields;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const write = options.write ?? writeStdout;
  const now = options.now ?? Date.now;
  const threshold = LEVEL_RANK[options.level];
  const emit = (level: LogLevel, msg: string, fields: LogFields | undefined): void => {
    if (LEVEL_RANK[level] < threshold) return;
    const fixed = { time: new Date(now()).toISOString(), level, program: 'host', msg };
    // Fixed keys first in the output, and caller fields can never overwrite them.
    const line = Object.assign({ ...fixed }, options.base, fields, fixed);
    write(`${JSON.stringify(line)}\n`);
  };
  return {
    level: options.level,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    isEnabled: (level) => LEVEL_RANK[level] >= threshold,
  };
}

/** The `code` of an error-like value, for logging: never its message (messages may echo input). */
export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
  }
  return 'UNKNOWN';
}
