import { CborEncodeError } from '../enclave-errors.js';
// A minimal deterministic CBOR encoder (RFC 8949), for what the enclave
// writes: the attestation payload, the COSE_Sign1 envelope and its
// Sig_structure, and (later) the NSM device's request messages.
//
// Data model and encoding (RFC 8949 §3):
//
//   major 0  unsigned integer      0 .. 2^64-1       (number or bigint)
//   major 1  negative integer     -2^64 .. -1        (encodes -1 - n)
//   major 2  byte string           Uint8Array / Buffer
//   major 3  text string           string, UTF-8, no lone surrogates
//   major 4  array                 readonly CborValue[]
//   major 5  map                   cborMap([[key, value], …]), entries in the
//                                  order given (Nitro's payload order is not
//                                  §4.2.1's sorted order); duplicate keys are
//                                  refused (§5.6)
//   major 7  simple value 22       null
//
// Preferred serialization (§4.2.1, first two rules): every head uses the
// shortest argument form — the value itself below 24, else 1, 2, 4 or 8
// following bytes (additional info 24..27) — and every length is definite.
// Floats, tags, booleans and indefinite lengths are never produced: nothing
// we encode needs them. Map keys are NOT sorted, on purpose: the caller's
// order is the wire order, which is what Nitro's documents (and serde_cbor's
// struct encoding, which the NSM parses) use.


export interface CborMap {
  readonly mapEntries: readonly (readonly [CborValue, CborValue])[];
}

export type CborValue = number | bigint | string | Uint8Array | null | readonly CborValue[] | CborMap;

/** A CBOR map whose entries are written in exactly this order. */
export function cborMap(entries: readonly (readonly [CborValue, CborValue])[]): CborMap {
  return { mapEntries: entries };
}

const MAJOR_UNSIGNED = 0;
const MAJOR_NEGATIVE = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const SIMPLE_NULL = 0xf6; // major 7, additional info 22 (§3.3)

/** Largest argument a head can carry: 2^64 - 1 (§3, additional info 27). */
const MAX_ARGUMENT = (1n << 64n) - 1n;
/** Nesting bound: our documents nest 3 deep; this only stops a cyclic or runaway value. */
export const MAX_CBOR_ENCODE_DEPTH = 32;

const LONE_SURROGATE = /\p{Surrogate}/u;

/** Initial byte plus the shortest argument encoding (§3, §4.2.1). */
function head(major: number, argument: number | bigint): Buffer {
  const value = BigInt(argument);
  if (value < 0n || value > MAX_ARGUMENT) throw new CborEncodeError('argument out of range 0..2^64-1');
  const initial = major << 5;
  if (value < 24n) return Buffer.from([initial | Number(value)]);
  if (value <= 0xffn) return Buffer.from([initial | 24, Number(value)]);
  if (value <= 0xffffn) {
    const out = Buffer.alloc(3);
    out[0] = initial | 25;
    out.writeUInt16BE(Number(value), 1);
    return out;
  }
  if (value <= 0xffff_ffffn) {
    const out = Buffer.alloc(5);
    out[0] = initial | 26;
    out.writeUInt32BE(Number(value), 1);
    return out;
  }
  const out = Buffer.alloc(9);
  out[0] = initial | 27;
  out.writeBigUInt64BE(value, 1);
  return out;
}

function encodeInteger(value: number | bigint, chunks: Buffer[]): void {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new CborEncodeError('numbers must be safe integers (floats are not supported; use bigint beyond 2^53)');
  }
  const big = BigInt(value);
  if (big >= 0n) {
    if (big > MAX_ARGUMENT) throw new CborEncodeError('unsigned integer above 2^64-1');
    chunks.push(head(MAJOR_UNSIGNED, big));
  } else {
    const argument = -1n - big; // §3.1: major 1 carries -1 - n
    if (argument > MAX_ARGUMENT) throw new CborEncodeError('negative integer below -2^64');
    chunks.push(head(MAJOR_NEGATIVE, argument));
  }
}

function isCborMap(value: object): value is CborMap {
  return 'mapEntries' in value;
}

function encodeInto(value: CborValue, chunks: Buffer[], depth: number): void {
  if (depth > MAX_CBOR_ENCODE_DEPTH) throw new CborEncodeError(`nesting deeper than ${MAX_CBOR_ENCODE_DEPTH}`);
  if (value === null) {
    chunks.push(Buffer.from([SIMPLE_NULL]));
  } else if (typeof value === 'number' || typeof value === 'bigint') {
    encodeInteger(value, chunks);
  } else if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new CborEncodeError('text string holds a lone surrogate (not encodable as UTF-8)');
    const bytes = Buffer.from(value, 'utf8');
    chunks.push(head(MAJOR_TEXT, bytes.length), bytes);
  } else if (value instanceof Uint8Array) {
    chunks.push(head(MAJOR_BYTES, value.length), Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  } else if (Array.isArray(value)) {
    const items = value as readonly CborValue[];
    chunks.push(head(MAJOR_ARRAY, items.length));
    for (const item of items) encodeInto(item, chunks, depth + 1);
  } else if (typeof value === 'object' && isCborMap(value)) {
    const entries = value.mapEntries;
    chunks.push(head(MAJOR_MAP, entries.length));
    const seenKeys = new Set<string>();
    for (const [key, item] of entries) {
      const keyChunks: Buffer[] = [];
      encodeInto(key, keyChunks, depth + 1);
      const keyBytes = Buffer.concat(keyChunks);
      const keyHex = keyBytes.toString('hex');
      if (seenKeys.has(keyHex)) throw new CborEncodeError(`duplicate map key (${keyBytes.length} bytes encoded)`);
      seenKeys.add(keyHex);
      chunks.push(keyBytes);
      encodeInto(item, chunks, depth + 1);
    }
  } else {
    throw new CborEncodeError(`unsupported value type ${typeof value}`);
  }
}

/** The deterministic CBOR encoding of `value` (one top-level item). */
export function encodeCbor(value: CborValue): Buffer {
  const chunks: Buffer[] = [];
  encodeInto(value, chunks, 0);
  return Buffer.concat(chunks);
}
