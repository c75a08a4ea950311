// What leaves the enclave for the host's logs and metrics (TELEMETRY_ADDR),
// and the one place that decides it:
//
// - log lines: the level, the message (fixed texts in our code) and only
//   the fields named in TELEMETRY_LOG_FIELDS (codes, route templates,
//   statuses, durations, identifiers that are public anyway such as key ids
//   and measurements); any other field is left out and counted in
//   `fieldsLeftOut`. A string value is cut to the frame's 256-byte limit.
// - metrics (enclave-metrics.ts) every METRICS_INTERVAL_MS.
// - the count of log lines dropped because the host did not read.
//
// Never a body, a token, a key, a pseudonym or an exact size: the log
// callers never pass them (log.ts), and this allow-list stops a field added
// later until someone reviews it here.

import type { TelemetryFieldValue, TelemetryFrame, TransportAddress } from '@http-enclave/protocol';
import { MAX_TELEMETRY_TEXT_BYTES } from '@http-enclave/protocol';
import type { LogFields, LogLevel } from '../log.js';
import { EnclaveMetrics } from './enclave-metrics.js';
import { TelemetrySender } from './telemetry-sender.js';

export const METRICS_INTERVAL_MS = 5_000;

/**
 * The log fields that may leave the enclave. Reviewed: none holds client
 * data. Not `status`: the host must not learn whether a client's answer was
 * 200 or 404 (a request line at debug level carries it; a 5xx is a warn line).
 */
export const TELEMETRY_LOG_FIELDS: ReadonlySet<string> = new Set([
  'code', 'error', 'reason', 'signal', 'method', 'route', 'ms', 'queued', 'timeouts', 'kind', 'outcome',
  'address', 'tls', 'storage', 'attestationProvider', 'devRootSource', 'devRootSha256', 'moduleId', 'pcr0',
  'watermarkRunId', 'rollbackCacheEntries', 'activeKeyId', 'keyId', 'keys', 'examined', 'resealed', 'more',
]);

function cut(value: string): string {
  if (Buffer.byteLength(value, 'utf8') <= MAX_TELEMETRY_TEXT_BYTES) return value;
  return `${Buffer.from(value, 'utf8').subarray(0, MAX_TELEMETRY_TEXT_BYTES - 4).toString('utf8').replace(/\uFFFD$/, '')}…`;
}

/** A log line as a telemetry frame, through the allow-list above. */
export function telemetryLogFrame(time: string, level: LogLevel, msg: string, fields: LogFields | undefined): TelemetryFrame {
  const kept: Record<string, TelemetryFieldValue> = {};
  let leftOut = 0;
  for (const [name, value] of Object.entries(fields ?? {})) {
    if (value === undefined) continue;
    if (!TELEMETRY_LOG_FIELDS.has(name)) {
      leftOut += 1;
      continue;
    }
    kept[name] = typeof value === 'string' ? cut(value) : typeof value === 'number' && !Number.isFinite(value) ? null : value;
  }
  if (leftOut > 0) kept['fieldsLeftOut'] = leftOut;
  return { kind: 'log', time, level, msg: cut(msg), fields: kept };
}

export interface EnclaveTelemetry {
  /** The logger's sink: every line it writes. */
  readonly logSink: (time: string, level: LogLevel, msg: string, fields: LogFields | undefined) => void;
  readonly sender: TelemetrySender;
  /** Sends the last metrics and what is queued (within CLOSE_FLUSH_MS), then ends the channel. */
  close(): Promise<void>;
}

/** How long the last lines may take to leave at shutdown. */
export const CLOSE_FLUSH_MS = 500;

export function startEnclaveTelemetry(address: TransportAddress, options: { readonly metricsIntervalMs?: number } = {}): EnclaveTelemetry {
  const sender = new TelemetrySender({ address });
  const metrics = new EnclaveMetrics(() => sender.droppedLines);
  const timer = setInterval(() => sender.send({ kind: 'metrics', counters: metrics.snapshot() }), options.metricsIntervalMs ?? METRICS_INTERVAL_MS);
  timer.unref();
  sender.start();
  return {
    logSink: (time, level, msg, fields) => sender.send(telemetryLogFrame(time, level, msg, fields)),
    sender,
    close() {
      clearInterval(timer);
      sender.send({ kind: 'metrics', counters: metrics.snapshot() });
      metrics.close();
      return sender.close(CLOSE_FLUSH_MS);
    },
  };
}
