// Tests of the storage channel codec: vectors built independently
// (storage-frame.vectors.json), every split of the stream, the length bound
// checked before allocation, and a bounded fuzz of the body decoder.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';

import {
  decodeStorageFrameBody,
  encodeStorageFrame,
  FrameType,
  isStorageRequest,
  LIST_MAX_ENTRIES,
  MAX_BLOB_BYTES,
  MAX_CREDENTIALS_BYTES,
  MAX_FRAME_BODY_BYTES,
  StorageErrorCode,
  StorageFrameError,
  StorageFrameReader,
  type StorageFrame,
} from './storage-frame.js';

interface VectorFields {
  readonly type: number;
  readonly requestId: number;
  readonly ownerHex?: string;
  readonly recordHex?: string;
  readonly expectedVersion?: number;
  readonly version?: number;
  readonly blobHex?: string;
  readonly errorCode?: number;
  readonly afterOwnerHex?: string;
  readonly afterRecordHex?: string;
  readonly limit?: number;
  readonly more?: boolean;
  readonly entries?: readonly { readonly ownerHex: string; readonly recordHex: string; readonly version: number }[];
  readonly jsonText?: string;
}
interface Vectors {
  readonly valid: readonly { readonly description: string; readonly hex: string; readonly fields: VectorFields }[];
  readonly invalid: readonly {
    readonly description: string;
    readonly hex: string;
    readonly where: 'header' | 'body';
    readonly code: string;
    readonly messageFragment: string;
  }[];
}

const vectors = JSON.parse(readFileSync(new URL('../src/storage-frame.vectors.json', import.meta.url), 'utf8')) as Vectors;

/** Fuzz budget: bounded both by runs and by wall-clock time per property. */
const FUZZ_RUNS = 2_000;
const FUZZ_TIME_LIMIT_MS = 5_000;

/** Vector fields -> a frame object with Buffers (the vector's JSON spelling uses hex). */
function frameFromFields(fields: VectorFields): StorageFrame {
  const out: Record<string, unknown> = { type: fields.type, requestId: fields.requestId };
  if (fields.ownerHex !== undefined) out['owner'] = Buffer.from(fields.ownerHex, 'hex');
  if (fields.recordHex !== undefined) out['record'] = Buffer.from(fields.recordHex, 'hex');
  if (fields.expectedVersion !== undefined) out['expectedVersion'] = fields.expectedVersion;
  if (fields.version !== undefined) out['version'] = fields.version;
  if (fields.blobHex !== undefined) out['blob'] = Buffer.from(fields.blobHex, 'hex');
  if (fields.errorCode !== undefined) out['errorCode'] = fields.errorCode;
  if (fields.type === FrameType.List) {
    out['after'] =
      fields.afterOwnerHex === undefined || fields.afterRecordHex === undefined
        ? undefined
        : { owner: Buffer.from(fields.afterOwnerHex, 'hex'), record: Buffer.from(fields.afterRecordHex, 'hex') };
  }
  if (fields.limit !== undefined) out['limit'] = fields.limit;
  if (fields.more !== undefined) out['more'] = fields.more;
  if (fields.entries !== undefined) {
    out['entries'] = fields.entries.map((e) => ({ owner: Buffer.from(e.ownerHex, 'hex'), record: Buffer.from(e.recordHex, 'hex'), version: e.version }));
  }
  if (fields.jsonText !== undefined) out['json'] = Buffer.from(fields.jsonText, 'utf8');
  return out as unknown as StorageFrame;
}

function assertFrameError(fn: () => unknown, fragment: string, context: string): void {
  assert.throws(
    fn,
    (error: unknown) => {
      assert.ok(error instanceof StorageFrameError, `${context}: expected StorageFrameError, got ${String(error)}`);
      assert.equal(error.code, 'STORAGE_FRAME_INVALID', context);
      assert.ok(error.message.includes(fragment), `${context}: message "${error.message}" lacks "${fragment}"`);
      return true;
    },
    context,
  );
}

/** Feeds `bytes` to a fresh reader cut at `cuts` (sorted offsets), returning all frames. */
function readInChunks(bytes: Buffer, cuts: readonly number[]): StorageFrame[] {
  const reader = new StorageFrameReader();
  const frames: StorageFrame[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    frames.push(...reader.push(bytes.subarray(start, cut)));
    start = cut;
    assert.ok(reader.bufferedBytes <= 4 + MAX_FRAME_BODY_BYTES);
  }
  assert.equal(reader.bufferedBytes, 0, 'nothing left over after whole frames');
  return frames;
}

const allValid = vectors.valid.map((v) => ({ ...v, bytes: Buffer.from(v.hex, 'hex'), frame: frameFromFields(v.fields) }));
const concatenated = Buffer.concat(allValid.map((v) => v.bytes));

test('type 0x03 (the retired DELETE) is no frame type, and NOT_FOUND carries no fields', () => {
  assert.equal((FrameType as unknown as Record<number, string | undefined>)[0x03], undefined);
  assertFrameError(() => decodeStorageFrameBody(Buffer.from('0300000001', 'hex')), 'unknown frame type 0x03', 'bare 0x03');
  assert.deepEqual(decodeStorageFrameBody(Buffer.from('8200000009', 'hex')), { type: FrameType.NotFound, requestId: 9 });
  assert.equal(encodeStorageFrame({ type: FrameType.NotFound, requestId: 9 }).toString('hex'), '000000058200000009');
});

test('LIST, LISTED, CREDENTIALS and CREDENTIALS_OK take the free numbers 0x05, 0x06, 0x87, 0x88; 0x03 stays retired', () => {
  assert.deepEqual([FrameType.List, FrameType.Credentials, FrameType.Listed, FrameType.CredentialsOk], [0x05, 0x06, 0x87, 0x88]);
  assert.equal(StorageErrorCode.NoCredentials, 5);
  assert.equal(isStorageRequest({ type: FrameType.List, requestId: 1, after: undefined, limit: 1 }), true);
  assert.equal(isStorageRequest({ type: FrameType.Credentials, requestId: 1 }), true);
  assert.equal(isStorageRequest({ type: FrameType.Listed, requestId: 1, more: false, entries: [] }), false);
  assert.equal(isStorageRequest({ type: FrameType.CredentialsOk, requestId: 1, json: Buffer.from('{}') }), false);
});

test('vectors cover every frame type, valid and invalid', () => {
  const types = new Set(vectors.valid.map((v) => v.fields.type));
  for (const type of Object.values(FrameType).filter((t): t is number => typeof t === 'number')) {
    assert.ok(types.has(type), `no valid vector of type 0x${type.toString(16)}`);
  }
  assert.ok(vectors.invalid.length >= 50);
  for (const name of ['LIST', 'LISTED', 'CREDENTIALS', 'CREDENTIALS_OK']) {
    assert.ok(
      vectors.invalid.some((v) => v.description.startsWith(`${name} `)),
      `no invalid vector of ${name}`,
    );
  }
});

test('encode(vector fields) equals the vector bytes', () => {
  for (const v of allValid) assert.equal(encodeStorageFrame(v.frame).toString('hex'), v.hex, v.description);
});

test('decode(vector bytes) equals the vector fields', () => {
  for (const v of allValid) {
    const decoded = decodeStorageFrameBody(v.bytes.subarray(4));
    assert.deepEqual(decoded, v.frame, v.description);
    assert.equal(isStorageRequest(decoded), v.fields.type < 0x80, v.description);
  }
});

test('decoded blobs do not alias the input buffer', () => {
  const v = allValid.find((x) => x.fields.type === FrameType.Found);
  assert.ok(v !== undefined);
  const input = Buffer.from(v.bytes);
  const decoded = decodeStorageFrameBody(input.subarray(4));
  assert.ok(decoded.type === FrameType.Found);
  input.fill(0);
  assert.equal(decoded.blob.toString('hex'), v.fields.blobHex);
});

test('invalid vectors: reader and body decoder throw STORAGE_FRAME_INVALID with the named problem', () => {
  for (const v of vectors.invalid) {
    const bytes = Buffer.from(v.hex, 'hex');
    assert.equal(v.code, 'STORAGE_FRAME_INVALID');
    const reader = new StorageFrameReader();
    assertFrameError(() => reader.push(bytes), v.messageFragment, `${v.description} (reader)`);
    assert.equal(reader.bufferedBytes, 0, `${v.description}: reader dropped its buffer`);
    assertFrameError(() => reader.push(Buffer.alloc(0)), 'reader already failed', `${v.description} (reader after failure)`);
    if (v.where === 'body') {
      assert.equal(bytes.readUInt32BE(0), bytes.length - 4, `${v.description}: header matches body`);
      assertFrameError(() => decodeStorageFrameBody(bytes.subarray(4)), v.messageFragment, `${v.description} (body)`);
    }
  }
});

test('body shorter than type + request id is rejected by the body decoder', () => {
  for (let length = 0; length < 5; length += 1) {
    assertFrameError(() => decodeStorageFrameBody(Buffer.alloc(length, 0x81)), 'at least 5 bytes', `length ${length}`);
  }
});

test('encoder refuses frames it could not decode', () => {
  const owner = Buffer.alloc(32, 1);
  const record = Buffer.alloc(32, 2);
  const cases: { frame: StorageFrame; fragment: string }[] = [
    { frame: { type: FrameType.Get, requestId: 1, owner: Buffer.alloc(31), record }, fragment: 'owner must be 32 bytes, got 31' },
    { frame: { type: FrameType.Get, requestId: 1, owner, record: Buffer.alloc(33) }, fragment: 'record must be 32 bytes, got 33' },
    { frame: { type: FrameType.Ping, requestId: -1 }, fragment: 'requestId must be a u32' },
    { frame: { type: FrameType.Ping, requestId: 2 ** 32 }, fragment: 'requestId must be a u32' },
    { frame: { type: FrameType.Ping, requestId: 1.5 }, fragment: 'requestId must be a u32' },
    {
      frame: { type: FrameType.Put, requestId: 1, owner, record, expectedVersion: 0, blob: Buffer.alloc(0) },
      fragment: 'blob must be 1..',
    },
    {
      frame: { type: FrameType.Put, requestId: 1, owner, record, expectedVersion: 0, blob: Buffer.alloc(MAX_BLOB_BYTES + 1) },
      fragment: `got ${MAX_BLOB_BYTES + 1}`,
    },
    {
      frame: { type: FrameType.Put, requestId: 1, owner, record, expectedVersion: 2 ** 53, blob: Buffer.alloc(1) },
      fragment: 'expectedVersion must be a safe non-negative integer',
    },
    {
      // The retired DELETE, as an old caller would have built it.
      frame: { type: 0x03, requestId: 1, owner, record, expectedVersion: 7 } as unknown as StorageFrame,
      fragment: 'unknown frame type 0x03',
    },
    {
      // NOT_FOUND has no fields: a version given by a caller is not silently sent.
      frame: { type: FrameType.NotFound, requestId: 1, version: 3 } as unknown as StorageFrame,
      fragment: 'NOT_FOUND carries no version',
    },
    { frame: { type: FrameType.Written, requestId: 1, version: -1 }, fragment: 'version must be a safe non-negative integer' },
    { frame: { type: FrameType.Found, requestId: 1, version: 1, blob: Buffer.alloc(0) }, fragment: 'blob must be 1..' },
    { frame: { type: FrameType.Error, requestId: 1, errorCode: 0x10000 }, fragment: 'errorCode must be a u16' },
    { frame: { type: FrameType.List, requestId: 1, after: undefined, limit: 0 }, fragment: 'LIST limit must be 1..256, got 0' },
    { frame: { type: FrameType.List, requestId: 1, after: undefined, limit: LIST_MAX_ENTRIES + 1 }, fragment: 'LIST limit must be 1..256, got 257' },
    { frame: { type: FrameType.List, requestId: 1, after: undefined, limit: 1.5 }, fragment: 'LIST limit must be 1..256, got 1.5' },
    { frame: { type: FrameType.List, requestId: 1, after: { owner: Buffer.alloc(31), record }, limit: 1 }, fragment: 'after.owner must be 32 bytes, got 31' },
    { frame: { type: FrameType.List, requestId: 1, after: { owner, record: Buffer.alloc(0) }, limit: 1 }, fragment: 'after.record must be 32 bytes, got 0' },
    {
      frame: { type: FrameType.Listed, requestId: 1, more: false, entries: Array.from({ length: LIST_MAX_ENTRIES + 1 }, () => ({ owner, record, version: 1 })) },
      fragment: 'LISTED count must be 0..256, got 257',
    },
    {
      frame: { type: FrameType.Listed, requestId: 1, more: 1, entries: [] } as unknown as StorageFrame,
      fragment: 'LISTED more must be a boolean',
    },
    { frame: { type: FrameType.Listed, requestId: 1, more: true, entries: [{ owner, record: Buffer.alloc(31), version: 1 }] }, fragment: 'entry record must be 32 bytes, got 31' },
    { frame: { type: FrameType.Listed, requestId: 1, more: true, entries: [{ owner, record, version: 2 ** 53 }] }, fragment: 'entry version must be a safe non-negative integer' },
    { frame: { type: FrameType.CredentialsOk, requestId: 1, json: Buffer.alloc(0) }, fragment: 'credentials document must be 1..8192 bytes, got 0' },
    { frame: { type: FrameType.CredentialsOk, requestId: 1, json: Buffer.alloc(MAX_CREDENTIALS_BYTES + 1) }, fragment: 'got 8193' },
  ];
  for (const c of cases) assertFrameError(() => encodeStorageFrame(c.frame), c.fragment, c.fragment);
});

test('largest PUT and FOUND round-trip through the reader', () => {
  const blob = Buffer.alloc(MAX_BLOB_BYTES, 0x5a);
  const put: StorageFrame = {
    type: FrameType.Put,
    requestId: 42,
    owner: Buffer.alloc(32, 1),
    record: Buffer.alloc(32, 2),
    expectedVersion: 3,
    blob,
  };
  const found: StorageFrame = { type: FrameType.Found, requestId: 43, version: 4, blob };
  const bytes = Buffer.concat([encodeStorageFrame(put), encodeStorageFrame(found)]);
  assert.equal(bytes.readUInt32BE(0), MAX_FRAME_BODY_BYTES);
  // 64 KiB chunks, like a socket.
  const cuts: number[] = [];
  for (let at = 65536; at < bytes.length; at += 65536) cuts.push(at);
  assert.deepEqual(readInChunks(bytes, cuts), [put, found]);
});

test('largest LISTED and CREDENTIALS_OK round-trip through the reader in 7-byte chunks', () => {
  const entries = Array.from({ length: LIST_MAX_ENTRIES }, (_, i) => {
    const owner = Buffer.alloc(32, 0x40);
    owner.writeUInt16BE(i, 30);
    return { owner, record: Buffer.alloc(32, i & 0xff), version: i + 1 };
  });
  const listed: StorageFrame = { type: FrameType.Listed, requestId: 50, more: true, entries };
  const credentials: StorageFrame = { type: FrameType.CredentialsOk, requestId: 51, json: Buffer.alloc(MAX_CREDENTIALS_BYTES, 0x20) };
  const bytes = Buffer.concat([encodeStorageFrame(listed), encodeStorageFrame(credentials)]);
  assert.equal(bytes.readUInt32BE(0), 5 + 3 + LIST_MAX_ENTRIES * 72);
  const cuts: number[] = [];
  for (let at = 7; at < bytes.length; at += 7) cuts.push(at);
  assert.deepEqual(readInChunks(bytes, cuts), [listed, credentials]);
});

test('LIST: FROM_START and an explicit all-zero cursor are different requests', () => {
  const fromStart = encodeStorageFrame({ type: FrameType.List, requestId: 1, after: undefined, limit: 5 });
  const afterZero = encodeStorageFrame({ type: FrameType.List, requestId: 1, after: { owner: Buffer.alloc(32), record: Buffer.alloc(32) }, limit: 5 });
  assert.equal(fromStart.readUInt8(9), 0x01);
  assert.equal(afterZero.readUInt8(9), 0x00);
  assert.deepEqual(fromStart.subarray(10), afterZero.subarray(10));
  const decoded = decodeStorageFrameBody(afterZero.subarray(4));
  assert.ok(decoded.type === FrameType.List && decoded.after !== undefined);
});

test('each valid vector read one byte at a time', () => {
  for (const v of allValid) {
    const cuts = Array.from({ length: v.bytes.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(readInChunks(v.bytes, cuts), [v.frame], v.description);
  }
});

test('all valid vectors concatenated, one byte at a time and in one chunk', () => {
  const expected = allValid.map((v) => v.frame);
  assert.deepEqual(readInChunks(concatenated, []), expected);
  const cuts = Array.from({ length: concatenated.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(readInChunks(concatenated, cuts), expected);
});

test('all valid vectors concatenated, random splits (fast-check)', () => {
  const expected = allValid.map((v) => v.frame);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: concatenated.length - 1 }), { maxLength: 64 }), (cutsUnsorted) => {
      const cuts = [...cutsUnsorted].sort((a, b) => a - b);
      assert.deepEqual(readInChunks(concatenated, cuts), expected);
    }),
    { numRuns: FUZZ_RUNS, interruptAfterTimeLimit: FUZZ_TIME_LIMIT_MS },
  );
});

test('empty chunks are harmless', () => {
  const reader = new StorageFrameReader();
  assert.deepEqual(reader.push(Buffer.alloc(0)), []);
  const first = allValid[0];
  assert.ok(first !== undefined);
  assert.deepEqual(reader.push(first.bytes.subarray(0, 2)), []);
  assert.deepEqual(reader.push(Buffer.alloc(0)), []);
  assert.deepEqual(reader.push(first.bytes.subarray(2)), [first.frame]);
});

test('a 4 GiB length header fails at the header, before any body arrives or is allocated', () => {
  const reader = new StorageFrameReader();
  const header = Buffer.from('ffffffff', 'hex');
  assert.deepEqual(reader.push(header.subarray(0, 3)), []);
  assert.equal(reader.bufferedBytes, 3);
  const before = process.memoryUsage().arrayBuffers;
  assertFrameError(() => reader.push(header.subarray(3)), 'frame length 4294967295', '4 GiB header');
  assert.equal(reader.bufferedBytes, 0);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024, 'no large allocation');
});

test('a frame one byte above the maximum fails at the header; a maximum header waits for its body', () => {
  const over = new StorageFrameReader();
  const overHeader = Buffer.alloc(4);
  overHeader.writeUInt32BE(MAX_FRAME_BODY_BYTES + 1);
  assertFrameError(() => over.push(overHeader), `frame length ${MAX_FRAME_BODY_BYTES + 1}`, 'max + 1');

  const atMax = new StorageFrameReader();
  const maxHeader = Buffer.alloc(4 + 5);
  maxHeader.writeUInt32BE(MAX_FRAME_BODY_BYTES);
  maxHeader.writeUInt8(FrameType.Put, 4);
  assert.deepEqual(atMax.push(maxHeader), []);
  assert.equal(atMax.bufferedBytes, 9);
});

test('a reader with a smaller bound rejects frames above it', () => {
  const reader = new StorageFrameReader(16);
  const get = allValid.find((v) => v.fields.type === FrameType.Get);
  assert.ok(get !== undefined);
  assertFrameError(() => reader.push(get.bytes.subarray(0, 4)), 'frame length 69 outside 5..16', 'small bound');
});

test('the reader holds at most one incomplete frame between pushes', () => {
  // Valid frames followed by the first part of a large FOUND, in 1 KiB chunks.
  const large = encodeStorageFrame({ type: FrameType.Found, requestId: 5, version: 1, blob: Buffer.alloc(200_000, 7) });
  const stream = Buffer.concat([concatenated, large.subarray(0, 150_000)]);
  const reader = new StorageFrameReader();
  let frames = 0;
  for (let at = 0; at < stream.length; at += 1024) {
    frames += reader.push(stream.subarray(at, Math.min(at + 1024, stream.length))).length;
    assert.ok(reader.bufferedBytes <= large.length, 'bounded by the frame in progress');
  }
  assert.equal(frames, allValid.length);
  assert.equal(reader.bufferedBytes, 150_000);
});

test('fuzz: decodeStorageFrameBody on random bytes throws only StorageFrameError', () => {
  const check = (body: Uint8Array): void => {
    try {
      const frame = decodeStorageFrameBody(Buffer.from(body));
      // Anything accepted re-encodes to the same bytes (canonical encoding).
      assert.deepEqual(encodeStorageFrame(frame).subarray(4), Buffer.from(body));
    } catch (error) {
      if (!(error instanceof StorageFrameError)) throw error;
      assert.equal(error.code, 'STORAGE_FRAME_INVALID');
    }
  };
  // Pure random bytes, and random bytes after a known type byte so every decoder branch is reached.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), {
    numRuns: FUZZ_RUNS,
    interruptAfterTimeLimit: FUZZ_TIME_LIMIT_MS,
  });
  const knownType = fc.constantFrom(...Object.values(FrameType).filter((t): t is number => typeof t === 'number'));
  fc.assert(
    fc.property(knownType, fc.uint8Array({ maxLength: 120 }), (type, rest) => check(Uint8Array.from([type, ...rest]))),
    { numRuns: FUZZ_RUNS, interruptAfterTimeLimit: FUZZ_TIME_LIMIT_MS },
  );
});

test('fuzz: the reader on random streams throws only StorageFrameError and stays bounded', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 16 }), (chunks) => {
      const reader = new StorageFrameReader(1024);
      try {
        for (const chunk of chunks) {
          reader.push(Buffer.from(chunk));
          assert.ok(reader.bufferedBytes <= 4 + 1024);
        }
      } catch (error) {
        if (!(error instanceof StorageFrameError)) throw error;
      }
    }),
    { numRuns: FUZZ_RUNS, interruptAfterTimeLimit: FUZZ_TIME_LIMIT_MS },
  );
});
