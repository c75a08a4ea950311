// The telemetry channel: the enclave's log lines and metrics, out to the
// host over the transport seam (TELEMETRY_ADDR in the enclave, a vsock port
// on Nitro; TELEMETRY_LISTEN on the host). One direction only: the enclave
// writes, the host reads; the host never answers.
//
//   stream  = *frame
//   frame   = length payload
//   length  = u32 big-endian, 2 .. MAX_TELEMETRY_FRAME_BYTES, the payload's size
//   payload = one JSON object, UTF-8, whose "kind" is one of:
//
//     {"kind":"log","time":"<ISO 8601>","level":"debug|info|warn|error",
//      "msg":"<text>","fields":{"<name>":<string|number|boolean|null>,…}}
//     {"kind":"metrics","counters":[{"name":"<metric>","labels":{"<label>":"<value>",…},"value":<number>},…]}
//                                   counters are totals since the enclave started
//     {"kind":"dropped","lines":<number>}
//                                   lines the enclave dropped since it started
//                                   (its queue was full: the host did not read)
//
// Names (metric, label, field) match NAME_PATTERN; label values and string
// fields are at most MAX_TELEMETRY_TEXT_BYTES. What the enclave puts in is
// fixed in its code (enclave/src/telemetry/): metadata, never a body, token,
// key, pseudonym or exact size. The decoder refuses everything else, so a
// reader never holds more than one frame and a bad frame names its problem.

export const MAX_TELEMETRY_FRAME_BYTES = 64 * 1024;
export const MAX_TELEMETRY_TEXT_BYTES = 256;
/** Metric, label and field names: what Prometheus accepts, at most 64 characters. */
export const TELEMETRY_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;

export type TelemetryFieldValue = string | number | boolean | null;
export type TelemetryLevel = 'debug' | 'info' | 'warn' | 'error';

export interface TelemetryCounter {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export type TelemetryFrame =
  | {
      readonly kind: 'log';
      readonly time: string;
      readonly level: TelemetryLevel;
      readonly msg: string;
      readonly fields: Readonly<Record<string, TelemetryFieldValue>>;
    }
  | { readonly kind: 'metrics'; readonly counters: readonly TelemetryCounter[] }
  | { readonly kind: 'dropped'; readonly lines: number };

/** A frame that breaks the grammar above; `problem` names the rule. */
export class TelemetryFrameError extends Error {
  readonly code = 'TELEMETRY_FRAME_INVALID';
  constructor(readonly problem: string) {
    super(`telemetry frame: ${problem}`);
    this.name = 'TelemetryFrameError';
  }
}

const LEVELS: readonly string[] = ['debug', 'info', 'warn', 'error'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkText(value: string, what: string): void {
  if (Buffer.byteLength(value, 'utf8') > MAX_TELEMETRY_TEXT_BYTES) throw new TelemetryFrameError(`${what} longer than ${MAX_TELEMETRY_TEXT_BYTES} bytes`);
}

function checkName(name: string, what: string): void {
  if (!TELEMETRY_NAME_PATTERN.test(name)) throw new TelemetryFrameError(`${what} is not a valid name`);
}

function checkCount(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new TelemetryFrameError(`${what} is not a non-negative number`);
  return value;
}

/** Checks a decoded payload against the grammar; returns it typed. */
export function validateTelemetryFrame(payload: unknown): TelemetryFrame {
  if (!isRecord(payload)) throw new TelemetryFrameError('payload is not a JSON object');
  switch (payload['kind']) {
    case 'log': {
      const { time, level, msg, fields } = payload;
      if (typeof time !== 'string' || Number.isNaN(Date.parse(time))) throw new TelemetryFrameError('log time is not a date');
      if (typeof level !== 'string' || !LEVELS.includes(level)) throw new TelemetryFrameError('log level is not debug, info, warn or error');
      if (typeof msg !== 'string') throw new TelemetryFrameError('log msg is not a string');
      checkText(msg, 'log msg');
      if (!isRecord(fields)) throw new TelemetryFrameError('log fields is not an object');
      for (const [name, value] of Object.entries(fields)) {
        checkName(name, 'a log field name');
        if (typeof value === 'string') checkText(value, `log field ${name}`);
        else if (typeof value === 'number' ? !Number.isFinite(value) : typeof value !== 'boolean' && value !== null) {
          throw new TelemetryFrameError(`log field ${name} is not a string, finite number, boolean or null`);
        }
      }
      return { kind: 'log', time, level: level as TelemetryLevel, msg, fields: fields as Record<string, TelemetryFieldValue> };
    }
    case 'metrics': {
      const { counters } = payload;
      if (!Array.isArray(counters)) throw new TelemetryFrameError('metrics counters is not an array');
      const checked = counters.map((counter: unknown): TelemetryCounter => {
        if (!isRecord(counter) || typeof counter['name'] !== 'string' || !isRecord(counter['labels'])) throw new TelemetryFrameError('a counter is not {name, labels, value}');
        checkName(counter['name'], 'a metric name');
        const labels: Record<string, string> = {};
        for (const [label, value] of Object.entries(counter['labels'])) {
          checkName(label, 'a label name');
          if (typeof value !== 'string') throw new TelemetryFrameError(`label ${label} is not a string`);
          checkText(value, `label ${label}`);
          labels[label] = value;
        }
        return { name: counter['name'], labels, value: checkCount(counter['value'], `counter ${counter['name']}`) };
      });
      return { kind: 'metrics', counters: checked };
    }
    case 'dropped':
      return { kind: 'dropped', lines: checkCount(payload['lines'], 'dropped lines') };
    default:
      throw new TelemetryFrameError('unknown kind');
  }
}

/** One frame's bytes: u32be length, then the JSON payload. Throws TelemetryFrameError for a frame the grammar refuses. */
export function encodeTelemetryFrame(frame: TelemetryFrame): Buffer {
  validateTelemetryFrame(frame);
  const payload = Buffer.from(JSON.stringify(frame), 'utf8');
  if (payload.length > MAX_TELEMETRY_FRAME_BYTES) throw new TelemetryFrameError(`payload of ${payload.length} bytes is over ${MAX_TELEMETRY_FRAME_BYTES}`);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(payload.length);
  return Buffer.concat([length, payload]);
}

/** Splits a byte stream into frames; holds at most one partial frame. */
export class TelemetryFrameReader {
  #buffered: Buffer = Buffer.alloc(0);

  /** The complete frames `chunk` finishes. Throws TelemetryFrameError on the first bad one (the stream is then unusable). */
  push(chunk: Buffer): TelemetryFrame[] {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const frames: TelemetryFrame[] = [];
    while (this.#buffered.length >= 4) {
      const length = this.#buffered.readUInt32BE(0);
      if (length < 2 || length > MAX_TELEMETRY_FRAME_BYTES) throw new TelemetryFrameError(`length ${length} outside 2..${MAX_TELEMETRY_FRAME_BYTES}`);
      if (this.#buffered.length < 4 + length) break;
      const payload = this.#buffered.subarray(4, 4 + length);
      this.#buffered = this.#buffered.subarray(4 + length);
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
      } catch {
        throw new TelemetryFrameError('payload is not UTF-8 JSON');
      }
      frames.push(validateTelemetryFrame(parsed));
    }
    return frames;
  }
}
