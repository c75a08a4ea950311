// Structured logging for the enclave: one JSON object per line on stdout.
// Callers pass only metadata (route templates, status codes, error codes,
// lengths); no request body, token, key or plaintext ever reaches this file.

import { writeStdout } from '@http-enclave/program';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** Another destination of every line written (the telemetry channel): the same fields, before JSON. */
export type LogSink = (time: string, level: LogLevel, msg: string, fields: LogFields | undefined) => void;

export function createLogger(level: LogLevel, write: (line: string) => void = writeStdout, sink?: LogSink): Logger {
  const threshold = LEVEL_RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (LEVEL_RANK[lvl] < threshold) return;
    const time = new Date().toISOString();
    write(`${JSON.stringify({ time, level: lvl, program: 'enclave', msg, ...fields })}\n`);
    sink?.(time, lvl, msg, fields);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The stable `code` of an error for a log line, else its class name: never its message, which may hold data. */
export function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'NONE';
}
