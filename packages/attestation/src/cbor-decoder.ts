// Strict, bounded CBOR decoder (RFC 8949) for attestation documents.
//
// Why our own decoder instead of a CBOR library:
// - the input is attacker-controlled: anyone on the path between client and
//   enclave can hand the client arbitrary bytes, so every length announced by
//   the input is bounded (total input, string length, item count, nesting
//   depth) BEFORE anything is allocated or sliced;
// - we need exact types, not "whatever JavaScript value fits": integers stay
//   bigint with their sign, byte strings stay bytes, text is strict UTF-8;
// - the real Nitro Secure Module emits definite-length maps (until 2025) and
//   indefinite-length maps (since 2025/26): both must decode, to the same value;
// - the COSE signature covers the protected header and the payload exactly as
//   received. A definite byte string is returned as a view of the input bytes
//   (its `span` says where), so the signature is checked over the received
//   bytes; general libraries decode permissively (duplicate keys, trailing
//   bytes, lossy numbers) and tempt callers to re-encode, which is how
//   signature checks end up over bytes that were never signed;
// - no runtime dependency in code every client must trust.
//
// What is accepted (everything else is CBOR_MALFORMED):
//   major 0/1  unsigned / negative integers, any width up to 64 bits. Minimal
//              ("preferred") encoding is NOT required: RFC 8949 §4.2 calls it
//              a deterministic-encoding rule, not well-formedness; the
//              signature covers the bytes as received and nothing is
//              re-encoded, so a non-minimal head changes nothing we check, and
//              rejecting it could reject a genuine document from another NSM
//              encoder. (All real vectors happen to be minimal; a test says so.)
//              The COSE_Sign1 envelope around the payload IS held to minimal,
//              definite heads, by cose-sign1.ts (ENVELOPE_NOT_CANONICAL).
//   major 2/3  byte / text strings, definite or indefinite (chunks must be
//              definite strings of the same major type, RFC 8949 §3.2.3);
//              text must be valid UTF-8.
//   major 4/5  arrays / maps, definite or indefinite; map keys must be
//              integers, text, bytes or simple values, and unique.
//   major 6    tags (any number; the layers above decide which they allow).
//   major 7    false, true, null, undefined only. Floats, other simple values
//              and a stray "break" are rejected; nothing here needs them.
// Reserved additional information (28..30) is rejected; exactly one item must
// fill the input (no trailing bytes).

import { AttestationError } from './reason-codes.js';

export interface CborSpan {
  /** Offset of the item's first head byte in the input. */
  readonly start: number;
  /** Offset just after the item's last byte. */
  readonly end: number;
}

export type CborValue =
  | { readonly type: 'unsigned'; readonly value: bigint; readonly span: CborSpan }
  /** `value` is the integer itself, -1 - n for encoded argument n. */
  | { readonly type: 'negative'; readonly value: bigint; readonly span: CborSpan }
  /** For a definite string, `value` is a view of the input (the bytes as received). */
  | { readonly type: 'bytes'; readonly value: Uint8Array; readonly indefinite: boolean; readonly span: CborSpan }
  | { readonly type: 'text'; readonly value: string; readonly indefinite: boolean; readonly span: CborSpan }
  | { readonly type: 'array'; readonly items: readonly CborValue[]; readonly indefinite: boolean; readonly span: CborSpan }
  | { readonly type: 'map'; readonly entries: readonly CborMapEntry[]; readonly indefinite: boolean; readonly span: CborSpan }
  | { readonly type: 'tag'; readonly tag: bigint; readonly value: CborValue; readonly span: CborSpan }
  | { readonly type: 'simple'; readonly value: boolean | null | undefined; readonly span: CborSpan };

export interface CborMapEntry {
  readonly key: CborValue;
  readonly value: CborValue;
}

export interface CborLimits {
  /** Longest input accepted, in bytes. */
  readonly maxInputBytes: number;
  /** Deepest nesting (arrays, maps, tags); the top-level item is depth 0. */
  readonly maxDepth: number;
  /** Most data items in the whole input (map keys, values and string chunks count). */
  readonly maxItems: number;
  /** Longest byte or text string, in bytes (an indefinite string: its total). */
  readonly maxStringBytes: number;
}

/**
 * Limits sized for Nitro documents: real ones are 4.4–7.6 KB, the spec caps
 * the payload at 16 KiB; depth 4 is used (envelope → payload map → cabundle →
 * bstr), item counts stay under 100 (9 keys, 16–32 PCRs, ~5 certificates).
 */
export const DEFAULT_CBOR_LIMITS: CborLimits = Object.freeze({
  maxInputBytes: 32 * 1024,
  maxDepth: 16,
  maxItems: 1024,
  maxStringBytes: 32 * 1024,
});

const MAJOR_UNSIGNED = 0;
const MAJOR_NEGATIVE = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;
const AI_INDEFINITE = 31;
const BREAK_BYTE = 0xff;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function malformed(message: string): AttestationError {
  return new AttestationError('CBOR_MALFORMED', `CBOR: ${message}`);
}

interface Head {
  readonly major: number;
  /** The argument; null for an indefinite length (additional information 31). */
  readonly argument: bigint | null;
  readonly start: number;
}

class StrictDecoder {
  private position = 0;
  private itemCount = 0;

  constructor(
    private readonly input: Uint8Array,
    private readonly limits: CborLimits,
  ) {}

  decodeWhole(): CborValue {
    const value = this.decodeItem(0);
    if (this.position !== this.input.length) {
      throw malformed(`${this.input.length - this.position} trailing byte(s) after the item`);
    }
    return value;
  }

  private remaining(): number {
    return this.input.length - this.position;
  }

  private countItem(): void {
    this.itemCount += 1;
    if (this.itemCount > this.limits.maxItems) throw malformed(`more than ${this.limits.maxItems} items`);
  }

  private readByte(): number {
    const byte = this.input[this.position];
    if (byte === undefined) throw malformed(`truncated at offset ${this.position}`);
    this.position += 1;
    return byte;
  }

  private readUint(byteCount: number): bigint {
    if (this.remaining() < byteCount) throw malformed(`truncated at offset ${this.position}`);
    let value = 0n;
    for (let i = 0; i < byteCount; i += 1) value = (value << 8n) | BigInt(this.readByte());
    return value;
  }

  private readHead(): Head {
    const start = this.position;
    const initial = this.readByte();
    const major = initial >> 5;
    const additional = initial & 0x1f;
    if (additional < 24) return { major, argument: BigInt(additional), start };
    if (additional === 24) return { major, argument: this.readUint(1), start };
    if (additional === 25) return { major, argument: this.readUint(2), start };
    if (additional === 26) return { major, argument: this.readUint(4), start };
    if (additional === 27) return { major, argument: this.readUint(8), start };
    if (additional === AI_INDEFINITE) return { major, argument: null, start };
    throw malformed(`reserved additional information ${additional} at offset ${start}`);
  }

  /** Bounds a declared string length before any slicing. */
  private checkedLength(argument: bigint, start: number): number {
    if (argument > BigInt(this.limits.maxStringBytes)) {
      throw malformed(`string at offset ${start} declares more than ${this.limits.maxStringBytes} bytes`);
    }
    const length = Number(argument);
    if (length > this.remaining()) throw malformed(`string at offset ${start} runs past the end of the input`);
    return length;
  }

  /** Bounds a declared array/map size: by the item budget and by the bytes left (each item takes >= 1 byte). */
  private checkedCount(argument: bigint, itemsPerEntry: number, start: number): number {
    const budget = this.limits.maxItems - this.itemCount;
    if (argument * BigInt(itemsPerEntry) > BigInt(budget)) throw malformed(`container at offset ${start} declares more than ${budget} items`);
    const count = Number(argument);
    if (count * itemsPerEntry > this.remaining()) throw malformed(`container at offset ${start} runs past the end of the input`);
    return count;
  }

  private atBreak(): boolean {
    if (this.input[this.position] === BREAK_BYTE) {
      this.position += 1;
      return true;
    }
    if (this.position >= this.input.length) throw malformed('indefinite-length item without break');
    return false;
  }

  private decodeItem(depth: number): CborValue {
    if (depth > this.limits.maxDepth) throw malformed(`nesting deeper than ${this.limits.maxDepth}`);
    this.countItem();
    const head = this.readHead();
    const { major, argument, start } = head;
    switch (major) {
      case MAJOR_UNSIGNED:
        if (argument === null) throw malformed(`indefinite length on an integer at offset ${start}`);
        return { type: 'unsigned', value: argument, span: { start, end: this.position } };
      case MAJOR_NEGATIVE:
        if (argument === null) throw malformed(`indefinite length on an integer at offset ${start}`);
        return { type: 'negative', value: -1n - argument, span: { start, end: this.position } };
      case MAJOR_BYTES:
      case MAJOR_TEXT:
        return this.decodeString(major, argument, start);
      case MAJOR_ARRAY:
        return this.decodeArray(argument, start, depth);
      case MAJOR_MAP:
        return this.decodeMap(argument, start, depth);
      case MAJOR_TAG: {
        if (argument === null) throw malformed(`indefinite length on a tag at offset ${start}`);
        const value = this.decodeItem(depth + 1);
        return { type: 'tag', tag: argument, value, span: { start, end: this.position } };
      }
      default: // major 7: simple values and floats
        return this.decodeSimple(argument, start);
    }
  }

  private decodeSimple(argument: bigint | null, start: number): CborValue {
    const initial = this.input[start] ?? 0;
    const additional = initial & 0x1f;
    const span = { start, end: this.position };
    if (argument === null) throw malformed(`unexpected break at offset ${start}`);
    if (additional === 20) return { type: 'simple', value: false, span };
    if (additional === 21) return { type: 'simple', value: true, span };
    if (additional === 22) return { type: 'simple', value: null, span };
    if (additional === 23) return { type: 'simple', value: undefined, span };
    if (additional >= 25 && additional <= 27) throw malformed(`floating-point value at offset ${start} (not supported)`);
    throw malformed(`unsupported simple value at offset ${start}`);
  }

  private decodeString(major: number, argument: bigint | null, start: number): CborValue {
    let bytes: Uint8Array;
    const indefinite = argument === null;
    if (argument !== null) {
      const length = this.checkedLength(argument, start);
      bytes = this.input.subarray(this.position, this.position + length);
      this.position += length;
      if (major === MAJOR_TEXT) return { type: 'text', value: this.decodeUtf8(bytes, start), indefinite, span: { start, end: this.position } };
    } else {
      // Indefinite: definite chunks of the same major type until break.
      const chunks: Uint8Array[] = [];
      const textParts: string[] = [];
      let total = 0;
      while (!this.atBreak()) {
        this.countItem();
        const chunkHead = this.readHead();
        if (chunkHead.major !== major || chunkHead.argument === null) {
          throw malformed(`bad chunk in indefinite-length string at offset ${chunkHead.start}`);
        }
        const length = this.checkedLength(chunkHead.argument, chunkHead.start);
        total += length;
        if (total > this.limits.maxStringBytes) throw malformed(`string at offset ${start} is longer than ${this.limits.maxStringBytes} bytes`);
        const chunk = this.input.subarray(this.position, this.position + length);
        this.position += length;
        if (major === MAJOR_TEXT) textParts.push(this.decodeUtf8(chunk, chunkHead.start));
        chunks.push(chunk);
      }
      if (major === MAJOR_TEXT) return { type: 'text', value: textParts.join(''), indefinite, span: { start, end: this.position } };
      bytes = new Uint8Array(total);
      let offset = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, offset);
        offset += chunk.length;
      }
    }
    return { type: 'bytes', value: bytes, indefinite, span: { start, end: this.position } };
  }

  private decodeUtf8(bytes: Uint8Array, start: number): string {
    try {
      return utf8.decode(bytes);
    } catch {
      throw malformed(`invalid UTF-8 in text string at offset ${start}`);
    }
  }

  private decodeArray(argument: bigint | null, start: number, depth: number): CborValue {
    const items: CborValue[] = [];
    if (argument === null) {
      while (!this.atBreak()) items.push(this.decodeItem(depth + 1));
    } else {
      const count = this.checkedCount(argument, 1, start);
      for (let i = 0; i < count; i += 1) items.push(this.decodeItem(depth + 1));
    }
    return { type: 'array', items, indefinite: argument === null, span: { start, end: this.position } };
  }

  private decodeMap(argument: bigint | null, start: number, depth: number): CborValue {
    const entries: CborMapEntry[] = [];
    const seen = new Set<string>();
    const readEntry = (): void => {
      const key = this.decodeItem(depth + 1);
      const identity = mapKeyIdentity(key);
      if (seen.has(identity)) throw malformed(`duplicate map key at offset ${key.span.start}`);
      seen.add(identity);
      if (this.input[this.position] === BREAK_BYTE) throw malformed(`map key without value at offset ${key.span.start}`);
      const value = this.decodeItem(depth + 1);
      entries.push({ key, value });
    };
    if (argument === null) {
      while (!this.atBreak()) readEntry();
    } else {
      const count = this.checkedCount(argument, 2, start);
      for (let i = 0; i < count; i += 1) readEntry();
    }
    return { type: 'map', entries, indefinite: argument === null, span: { start, end: this.position } };
  }
}

/** A string that is equal for two keys exactly when they are the same CBOR value. */
function mapKeyIdentity(key: CborValue): string {
  switch (key.type) {
    case 'unsigned':
    case 'negative':
      return `i:${key.value}`;
    case 'text':
      return `t:${key.value}`;
    case 'bytes':
      return `b:${Buffer.from(key.value.buffer, key.value.byteOffset, key.value.byteLength).toString('hex')}`;
    case 'simple':
      return `s:${String(key.value)}`;
    default:
      throw malformed(`map key of type ${key.type} at offset ${key.span.start} (not supported)`);
  }
}

/**
 * Decodes exactly one CBOR item filling `input`. Throws AttestationError with
 * code CBOR_MALFORMED for anything outside the rules above; never allocates
 * more than the input's length for strings, whatever lengths the input declares.
 */
export function decodeCbor(input: Uint8Array, limits: CborLimits = DEFAULT_CBOR_LIMITS): CborValue {
  if (input.length > limits.maxInputBytes) throw malformed(`input of ${input.length} bytes exceeds ${limits.maxInputBytes}`);
  if (input.length === 0) throw malformed('empty input');
  return new StrictDecoder(input, limits).decodeWhole();
}

/** Looks a text key up in a decoded map; undefined when absent. */
export function getMapValueByText(map: Extract<CborValue, { type: 'map' }>, key: string): CborValue | undefined {
  for (const entry of map.entries) {
    if (entry.key.type === 'text' && entry.key.value === key) return entry.value;
  }
  return undefined;
}
