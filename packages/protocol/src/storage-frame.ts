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
//
// Replies (host -> enclave):
//   0x81 FOUND     version u64 BLOB[rest, 1..MAX_BLOB_BYTES]
//   0x82 NOT_FOUND (no fields)        never written (version 0)
//   0x83 WRITTEN   version u64        the version now stored
//   0x84 CONFLICT  version u64        the current version; nothing was written
//   0x85 PONG      (no fields)
//   0x86 ERROR     code u16           see StorageErrorCode
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
export const MAX_FRAME_BODY_BYTES = MAX_FIXED_FIELD_BYTES + MAX_BLOB_BYTES;
const FRAME_HEADER_BYTES = 4;
const BODY_PREFIX_BYTES = 5; // type + requestId
export const PSEUDONYM_BYTES = 32;

export enum FrameType {
  Get = 0x01,
  Put = 0x02,
  // 0x03 retired (was DELETE): never reuse.
  Ping = 0x04,
  Found = 0x81,
  NotFound = 0x82,
  Written = 0x83,
  Conflict = 0x84,
  Pong = 0x85,
  Error = 0x86,
}

export enum StorageErrorCode {
  Internal = 1,
  BadRequest = 2,
  Unavailable = 3,
  Full = 4,
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
  | { readonly type: FrameType.Ping; readonly requestId: number };

export type StorageReply =
  | { readonly type: FrameType.Found; readonly requestId: number; readonly version: number; readonly blob: Buffer }
  | { readonly type: FrameType.NotFound; readonly requestId: number }
  | { readonly type: FrameType.Written; readonly requestId: number; readonly version: number }
  | { readonly type: FrameType.Conflict; readonly requestId: number; readonly version: number }
  | { readonly type: FrameType.Pong; readonly requestId: number }
  | { readonly type: FrameType.Error; readonly requestId: number; readonly errorCode: number };

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
      fields = [];
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
      expectLength(body, p, type === FrameType.Ping ? 'PING' : type === FrameType.Pong ? 'PONG' : 'NOT_FOUND');
      return { type, requestId };
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
