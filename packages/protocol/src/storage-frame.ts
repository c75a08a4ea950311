// Storage channel frames, version 1: the enclave (client) asks the host's
// storage service (server) to keep and return opaque sealed blobs.
//
// The host is hostile: everything a reply carries is bounded here and
// authenticated later by the enclave (AES-GCM additional data binds owner,
// record and version), so this codec only guarantees shape and size.
//
// Stream: a sequence of frames in each direction; requests and replies are
// matched by `requestId`, so many requests may be in flight on one connection
// and replies may come in any order.
//
// Frame:
//   offset size  field
//   0      4     bodyLength, u32 big-endian, 5 <= bodyLength <= MAX_FRAME_BODY_BYTES
//   4      1     type
//   5      4     requestId, u32 big-endian (chosen by the enclave, echoed by the host)
//   9      ...   fields of the type, below; a frame whose body is longer or
//                shorter than its fields is an error
//
// Requests (enclave -> host); OWNER and RECORD are 32-byte keyed pseudonyms:
//   0x01 GET      OWNER[32] RECORD[32]
//   0x02 PUT      OWNER[32] RECORD[32] expectedVersion u64 BLOB[rest, 1..MAX_BLOB_BYTES]
//                 compare-and-set: stored only if the current version equals
//                 expectedVersion; the new version is expectedVersion + 1.
//   0x03          retired (was DELETE): an unknown type, a frame error; never
//                 to be reused, so an old peer cannot misread a new frame.
//   0x04 PING     (no fields)
//   0x05 LIST     flags u8, AFTER_OWNER[32] AFTER_RECORD[32], limit u16
//                 one page of the records that exist (key rotation re-seals
//                 them all). flags bit 0 = FROM_START: the page starts at the
//                 first record and the cursor must be all zeros; without it
//                 the page starts strictly after the cursor (AFTER_OWNER ||
//                 AFTER_RECORD, compared as 64 unsigned bytes). Other flag bits
//                 must be 0. 1 <= limit <= LIST_MAX_ENTRIES.
//   0x06 CREDENTIALS (no fields)
//                 temporary AWS credentials the host obtained (env or IMDS) for
//                 the enclave's KMS calls. Not secret from the host, which owns
//                 the IAM role; the KMS key policy (attestation conditions) is
//                 what protects the key.
//
// Replies (host -> enclave):
//   0x81 FOUND     version u64 BLOB[rest, 1..MAX_BLOB_BYTES]
//   0x82 NOT_FOUND (no fields)        never written (version 0)
//   0x83 WRITTEN   version u64        the version now stored
//   0x84 CONFLICT  version u64        the current version; nothing was written
//   0x85 PONG      (no fields)
//   0x86 ERROR     code u16           see StorageErrorCode
//   0x87 LISTED    more u8 (0|1), count u16 (<= LIST_MAX_ENTRIES),
//                  count x (OWNER[32] RECORD[32] version u64)
//                  the answer to LIST. The codec checks only the shape; the
//                  enclave checks the meaning: count <= the request's limit,
//                  entries strictly ascending by OWNER || RECORD and strictly
//                  after the cursor, versions >= 1. more = 1: records after
//                  the last entry may exist (ask again from it).
//   0x88 CREDENTIALS_OK JSON[rest, 1..MAX_CREDENTIALS_BYTES]
//                  UTF-8 JSON: {"accessKeyId": string, "secretAccessKey":
//                  string, "sessionToken"?: string, "expiration"?: ISO-8601
//                  string}. The codec only bounds the size; the enclave parses
//                  and validates it strictly. The host answers ERROR
//                  NoCredentials when it has no credentials to give.
//
// u64 fields are big-endian and must be <= 2^53 - 1 (Number.MAX_SAFE_INTEGER);
// a larger value is a frame error. A write is answered WRITTEN only once it is
// durable on the host (SQLite WAL with synchronous=FULL).
//
// Deletion is not a storage operation: the enclave deletes a record by PUTting
// a sealed tombstone (an empty plaintext, sealed and padded like any document,
// so the host cannot tell it from a small document). Every record that was
// ever written therefore holds a blob, versions never go back to a lower
// number, and NOT_FOUND only ever means "never written": once the enclave has
// seen a record, NOT_FOUND for it is a rollback the enclave detects, not a
// deletion the host can fake.

export const STORAGE_PROTOCOL_VERSION = 1;

/** Largest sealed blob: an 8 MiB document padded to its 64 KiB bucket plus the 39-byte envelope, rounded up. */
export const MAX_BLOB_BYTES = 8 * 1024 * 1024 + 128 * 1024;
/** Fixed part of the largest frame body: type, request id, owner, record, version. */
const MAX_FIXED_FIELD_BYTES = 1 + 4 + 32 + 32 + 8;
/** The largest frame is a PUT of the largest blob; LISTED (<= 18,440 bytes) and CREDENTIALS_OK (<= 8,197) are far below it. */
export const MAX_FRAME_BODY_BYTES = MAX_FIXED_FIELD_BYTES + MAX_BLOB_BYTES;
const FRAME_HEADER_BYTES = 4;
const BODY_PREFIX_BYTES = 5; // type + requestId
export const PSEUDONYM_BYTES = 32;
/**
 * Most entries in one LISTED reply (and the largest LIST limit): 256 entries x
 * 72 bytes = 18 KiB per reply, small next to a blob frame, and few enough
 * round trips for a re-seal that takes one GET and one PUT per record anyway.
 */
export const LIST_MAX_ENTRIES = 256;
/** LIST flags bit 0: start at the first record (the cursor must be all zeros). */
export const LIST_FLAG_FROM_START = 0x01;
/** One LISTED entry on the wire: owner, record, version u64. */
const LIST_ENTRY_BYTES = 32 + 32 + 8;
/**
 * Largest CREDENTIALS_OK document: a session token is at most a few KiB (AWS
 * documents no maximum; STS tokens seen in practice are under 2 KiB, the
 * enclave accepts 4096 chars), plus the key id, the secret and the expiry.
 */
export const MAX_CREDENTIALS_BYTES = 8192;

export enum FrameType {
  Get = 0x01,
  Put = 0x02,
  // 0x03 retired (was DELETE): never reuse.
  Ping = 0x04,
  List = 0x05,
  Credentials = 0x06,
  Found = 0x81,
  NotFound = 0x82,
  Written = 0x83,
  Conflict = 0x84,
  Pong = 0x85,
  Error = 0x86,
  Listed = 0x87,
  CredentialsOk = 0x88,
}

export enum StorageErrorCode {
  Internal = 1,
  BadRequest = 2,
  Unavailable = 3,
  Full = 4,
  /** The host has no credentials source configured, or could not obtain credentials from it. */
  NoCredentials = 5,
}

/** An exclusive LIST cursor: the page starts strictly after owner || record. */
export interface StorageCursor {
  readonly owner: Buffer;
  readonly record: Buffer;
}

export interface ListedEntry {
  readonly owner: Buffer;
  readonly record: Buffer;
  readonly version: number;
}

export type StorageRequest =
  | { readonly type: FrameType.Get; readonly requestId: number; readonly owner: Buffer; readonly record: Buffer }
  | {
      readonly type: FrameType.Put;
      readonly requestId: number;
      readonly owner: Buffer;
      readonly record: Buffer;
      readonly expectedVersion: number;
      readonly blob: Buffer;
    }
  | { readonly type: FrameType.Ping; readonly requestId: number }
  | {
      readonly type: FrameType.List;
      readonly requestId: number;
      /** undefined: from the first record (FROM_START). */
      readonly after: StorageCursor | undefined;
      readonly limit: number;
    }
  | { readonly type: FrameType.Credentials; readonly requestId: number };

export type StorageReply =
  | { readonly type: FrameType.Found; readonly requestId: number; readonly version: number; readonly blob: Buffer }
  | { readonly type: FrameType.NotFound; readonly requestId: number }
  | { readonly type: FrameType.Written; readonly requestId: number; readonly version: number }
  | { readonly type: FrameType.Conflict; readonly requestId: number; readonly version: number }
  | { readonly type: FrameType.Pong; readonly requestId: number }
  | { readonly type: FrameType.Error; readonly requestId: number; readonly errorCode: number }
  | { readonly type: FrameType.Listed; readonly requestId: number; readonly more: boolean; readonly entries: readonly ListedEntry[] }
  /** json: the UTF-8 JSON document, unparsed (the enclave validates it). */
  | { readonly type: FrameType.CredentialsOk; readonly requestId: number; readonly json: Buffer };

export type StorageFrame = StorageRequest | StorageReply;

/** A malformed frame. The stream it came from cannot be trusted any further and must be closed. */
export class StorageFrameError extends Error {
  readonly code = 'STORAGE_FRAME_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'StorageFrameError';
  }
}

function checkPseudonym(value: Buffer, field: string): void {
  if (value.length !== PSEUDONYM_BYTES) {
    throw new StorageFrameError(`${field} must be ${PSEUDONYM_BYTES} bytes, got ${value.length}`);
  }
}

function checkVersion(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new StorageFrameError(`${field} must be a safe non-negative integer`);
}

function checkBlob(blob: Buffer): void {
  if (blob.length < 1 || blob.length > MAX_BLOB_BYTES) {
    throw new StorageFrameError(`blob must be 1..${MAX_BLOB_BYTES} bytes, got ${blob.length}`);
  }
}

function checkListLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_MAX_ENTRIES) {
    throw new StorageFrameError(`LIST limit must be 1..${LIST_MAX_ENTRIES}, got ${String(limit)}`);
  }
}

function checkRequestId(requestId: number): void {
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > 0xffff_ffff) {
    throw new StorageFrameError('requestId must be a u32');
  }
}

/** Encodes one frame, header included. Validates fields so that a bad frame is never sent. */
export function encodeStorageFrame(frame: StorageFrame): Buffer {
  checkRequestId(frame.requestId);
  let fields: Buffer[];
  switch (frame.type) {
    case FrameType.Get:
      checkPseudonym(frame.owner, 'owner');
      checkPseudonym(frame.record, 'record');
      fields = [frame.owner, frame.record];
      break;
    case FrameType.Put:
      checkPseudonym(frame.owner, 'owner');
      checkPseudonym(frame.record, 'record');
      checkVersion(frame.expectedVersion, 'expectedVersion');
      checkBlob(frame.blob);
      fields = [frame.owner, frame.record, u64(frame.expectedVersion), frame.blob];
      break;
    case FrameType.NotFound:
      // An earlier draft carried a version here; refuse one rather than drop it silently.
      if ('version' in frame) throw new StorageFrameError('NOT_FOUND carries no version');
      fields = [];
      break;
    case FrameType.Ping:
    case FrameType.Pong:
    case FrameType.Credentials:
      fields = [];
      break;
    case FrameType.List: {
      checkListLimit(frame.limit);
      const flags = Buffer.from([frame.after === undefined ? LIST_FLAG_FROM_START : 0]);
      const limit = Buffer.allocUnsafe(2);
      limit.writeUInt16BE(frame.limit);
      if (frame.after === undefined) {
        fields = [flags, Buffer.alloc(2 * PSEUDONYM_BYTES), limit];
      } else {
        checkPseudonym(frame.after.owner, 'after.owner');
        checkPseudonym(frame.after.record, 'after.record');
        fields = [flags, frame.after.owner, frame.after.record, limit];
      }
      break;
    }
    case FrameType.Listed: {
      if (typeof frame.more !== 'boolean') throw new StorageFrameError('LISTED more must be a boolean');
      if (frame.entries.length > LIST_MAX_ENTRIES) {
        throw new StorageFrameError(`LISTED count must be 0..${LIST_MAX_ENTRIES}, got ${frame.entries.length}`);
      }
      const head = Buffer.allocUnsafe(3);
      head.writeUInt8(frame.more ? 1 : 0, 0);
      head.writeUInt16BE(frame.entries.length, 1);
      fields = [head];
      for (const entry of frame.entries) {
        checkPseudonym(entry.owner, 'entry owner');
        checkPseudonym(entry.record, 'entry record');
        checkVersion(entry.version, 'entry version');
        fields.push(entry.owner, entry.record, u64(entry.version));
      }
      break;
    }
    case FrameType.CredentialsOk:
      if (frame.json.length < 1 || frame.json.length > MAX_CREDENTIALS_BYTES) {
        throw new StorageFrameError(`credentials document must be 1..${MAX_CREDENTIALS_BYTES} bytes, got ${frame.json.length}`);
      }
      fields = [frame.json];
      break;
    case FrameType.Found:
      checkVersion(frame.version, 'version');
      checkBlob(frame.blob);
      fields = [u64(frame.version), frame.blob];
      break;
    case FrameType.Written:
    case FrameType.Conflict:
      checkVersion(frame.version, 'version');
      fields = [u64(frame.version)];
      break;
    case FrameType.Error: {
      if (!Number.isInteger(frame.errorCode) || frame.errorCode < 0 || frame.errorCode > 0xffff) {
        throw new StorageFrameError('errorCode must be a u16');
      }
      const code = Buffer.allocUnsafe(2);
      code.writeUInt16BE(frame.errorCode);
      fields = [code];
      break;
    }
    default: {
      // Unreachable for typed callers; refuses a cast frame of a retired or unknown type (0x03).
      const type = Number((frame as { readonly type: unknown }).type);
      throw new StorageFrameError(`unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
    }
  }
  const fieldBytes = fields.reduce((sum, b) => sum + b.length, 0);
  const bodyLength = BODY_PREFIX_BYTES + fieldBytes;
  const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES + BODY_PREFIX_BYTES);
  head.writeUInt32BE(bodyLength, 0);
  head.writeUInt8(frame.type, 4);
  head.writeUInt32BE(frame.requestId, 5);
  return Buffer.concat([head, ...fields], FRAME_HEADER_BYTES + bodyLength);
}

function u64(value: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(value));
  return b;
}

function readU64(body: Buffer, offset: number, field: string): number {
  const value = body.readBigUInt64BE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new StorageFrameError(`${field} is above 2^53-1`);
  return Number(value);
}

function expectLength(body: Buffer, length: number, name: string): void {
  if (body.length !== length) throw new StorageFrameError(`${name} body must be ${length} bytes, got ${body.length}`);
}

function expectBlobBody(body: Buffer, fixed: number, name: string): Buffer {
  const blobLength = body.length - fixed;
  if (blobLength < 1 || blobLength > MAX_BLOB_BYTES) {
    throw new StorageFrameError(`${name} blob must be 1..${MAX_BLOB_BYTES} bytes, got ${Math.max(blobLength, 0)}`);
  }
  // Copy: the frame reader's buffer may be reused, and the blob outlives it.
  return Buffer.from(body.subarray(fixed));
}

/** Decodes one frame body (without the 4-byte length header). */
export function decodeStorageFrameBody(body: Buffer): StorageFrame {
  if (body.length < BODY_PREFIX_BYTES) throw new StorageFrameError(`frame body must be at least ${BODY_PREFIX_BYTES} bytes`);
  const type = body.readUInt8(0);
  const requestId = body.readUInt32BE(1);
  const p = BODY_PREFIX_BYTES;
  const owner = (): Buffer => Buffer.from(body.subarray(p, p + 32));
  const record = (): Buffer => Buffer.from(body.subarray(p + 32, p + 64));
  switch (type) {
    case FrameType.Get:
      expectLength(body, p + 64, 'GET');
      return { type, requestId, owner: owner(), record: record() };
    case FrameType.Put: {
      const blob = expectBlobBody(body, p + 72, 'PUT');
      return { type, requestId, owner: owner(), record: record(), expectedVersion: readU64(body, p + 64, 'expectedVersion'), blob };
    }
    case FrameType.Ping:
    case FrameType.Pong:
    case FrameType.NotFound:
    case FrameType.Credentials:
      expectLength(body, p, EMPTY_FRAME_NAMES[type]);
      return { type, requestId };
    case FrameType.List:
      return decodeList(body, requestId);
    case FrameType.Listed:
      return decodeListed(body, requestId);
    case FrameType.CredentialsOk: {
      const length = body.length - p;
      if (length < 1 || length > MAX_CREDENTIALS_BYTES) {
        throw new StorageFrameError(`CREDENTIALS_OK document must be 1..${MAX_CREDENTIALS_BYTES} bytes, got ${Math.max(length, 0)}`);
      }
      return { type, requestId, json: Buffer.from(body.subarray(p)) };
    }
    case FrameType.Found: {
      const blob = expectBlobBody(body, p + 8, 'FOUND');
      return { type, requestId, version: readU64(body, p, 'version'), blob };
    }
    case FrameType.Written:
    case FrameType.Conflict:
      expectLength(body, p + 8, 'version reply');
      return { type, requestId, version: readU64(body, p, 'version') };
    case FrameType.Error:
      expectLength(body, p + 2, 'ERROR');
      return { type, requestId, errorCode: body.readUInt16BE(p) };
    default:
      throw new StorageFrameError(`unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
  }
}

const EMPTY_FRAME_NAMES = {
  [FrameType.Ping]: 'PING',
  [FrameType.Pong]: 'PONG',
  [FrameType.NotFound]: 'NOT_FOUND',
  [FrameType.Credentials]: 'CREDENTIALS',
} as const;

/** LIST body: prefix, flags u8, cursor owner[32] record[32], limit u16. */
const LIST_BODY_BYTES = BODY_PREFIX_BYTES + 1 + 2 * PSEUDONYM_BYTES + 2;

function decodeList(body: Buffer, requestId: number): StorageFrame {
  expectLength(body, LIST_BODY_BYTES, 'LIST');
  const p = BODY_PREFIX_BYTES;
  const flags = body.readUInt8(p);
  if ((flags & ~LIST_FLAG_FROM_START) !== 0) throw new StorageFrameError(`LIST flags 0x${flags.toString(16).padStart(2, '0')} has unknown bits`);
  const owner = body.subarray(p + 1, p + 1 + PSEUDONYM_BYTES);
  const record = body.subarray(p + 1 + PSEUDONYM_BYTES, p + 1 + 2 * PSEUDONYM_BYTES);
  const limit = body.readUInt16BE(p + 1 + 2 * PSEUDONYM_BYTES);
  if (limit < 1 || limit > LIST_MAX_ENTRIES) throw new StorageFrameError(`LIST limit must be 1..${LIST_MAX_ENTRIES}, got ${limit}`);
  if ((flags & LIST_FLAG_FROM_START) !== 0) {
    // One encoding per request: a FROM_START cursor carries no bytes that would be ignored.
    if (owner.some((b) => b !== 0) || record.some((b) => b !== 0)) throw new StorageFrameError('LIST from the start must carry an all-zero cursor');
    return { type: FrameType.List, requestId, after: undefined, limit };
  }
  return { type: FrameType.List, requestId, after: { owner: Buffer.from(owner), record: Buffer.from(record) }, limit };
}

function decodeListed(body: Buffer, requestId: number): StorageFrame {
  const p = BODY_PREFIX_BYTES;
  if (body.length < p + 3) throw new StorageFrameError(`LISTED body must be at least ${p + 3} bytes, got ${body.length}`);
  const moreByte = body.readUInt8(p);
  if (moreByte > 1) throw new StorageFrameError(`LISTED more must be 0 or 1, got ${moreByte}`);
  const count = body.readUInt16BE(p + 1);
  // The count is bounded before it decides anything else (it is the peer's number).
  if (count > LIST_MAX_ENTRIES) throw new StorageFrameError(`LISTED count must be 0..${LIST_MAX_ENTRIES}, got ${count}`);
  expectLength(body, p + 3 + count * LIST_ENTRY_BYTES, 'LISTED');
  const entries: ListedEntry[] = [];
  for (let i = 0, at = p + 3; i < count; i += 1, at += LIST_ENTRY_BYTES) {
    entries.push({
      owner: Buffer.from(body.subarray(at, at + PSEUDONYM_BYTES)),
      record: Buffer.from(body.subarray(at + PSEUDONYM_BYTES, at + 2 * PSEUDONYM_BYTES)),
      version: readU64(body, at + 2 * PSEUDONYM_BYTES, 'entry version'),
    });
  }
  return { type: FrameType.Listed, requestId, more: moreByte === 1, entries };
}

export function isStorageRequest(frame: StorageFrame): frame is StorageRequest {
  return frame.type < 0x80;
}

/**
 * Incremental frame reader: feed it chunks as they arrive, in any split; it
 * returns the complete frames. The length header is checked against
 * `maxBodyBytes` before any buffer for the body is allocated, so a peer that
 * announces 4 GiB costs us nothing. After an error the reader is unusable.
 */
export class StorageFrameReader {
  readonly #maxBodyBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failed = false;

  constructor(maxBodyBytes: number = MAX_FRAME_BODY_BYTES) {
    this.#maxBodyBytes = maxBodyBytes;
  }

  /** Bytes held while waiting for the rest of a frame (bounded by the maximum frame size). */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): StorageFrame[] {
    if (this.#failed) throw new StorageFrameError('reader already failed');
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: StorageFrame[] = [];
    try {
      for (;;) {
        if (this.#buffered < FRAME_HEADER_BYTES) break;
        const header = this.#peek(FRAME_HEADER_BYTES);
        const bodyLength = header.readUInt32BE(0);
        if (bodyLength < BODY_PREFIX_BYTES || bodyLength > this.#maxBodyBytes) {
          throw new StorageFrameError(`frame length ${bodyLength} outside ${BODY_PREFIX_BYTES}..${this.#maxBodyBytes}`);
        }
        if (this.#buffered < FRAME_HEADER_BYTES + bodyLength) break;
        const whole = this.#take(FRAME_HEADER_BYTES + bodyLength);
        frames.push(decodeStorageFrameBody(whole.subarray(FRAME_HEADER_BYTES)));
      }
    } catch (error) {
      this.#failed = true;
      this.#chunks = [];
      this.#buffered = 0;
      throw error;
    }
    return frames;
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return first;
    const merged = Buffer.concat(this.#chunks);
    this.#chunks = [merged];
    return merged;
  }

  #take(n: number): Buffer {
    const head = this.#peek(n);
    const taken = head.subarray(0, n);
    const rest = head.subarray(n);
    this.#chunks[0] = rest;
    if (rest.length === 0) this.#chunks.shift();
    this.#buffered -= n;
    return taken;
  }
}
