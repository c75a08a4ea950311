// Tests of PrivateDocuments with a real keyring and a real storage client,
// against an in-test storage host (unix socket, protocol frames) that keeps
// rows in a Map with compare-and-set, remembers every blob it was ever sent
// (documents and sealed tombstones alike: it cannot tell them apart), and can
// be told to lie: replay an old blob, claim NOT_FOUND, move a blob to another
// record, fake or undo a deletion. Negative tests assert the EnclaveError code.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { encodeStorageFrame, FrameType, StorageErrorCode, StorageFrameReader, type StorageReply, type StorageRequest } from '@http-enclave/protocol';
import type { OwnerId } from '../keys/identifiers.js';
import { createKeyringFromEnvKey } from '../keys/keyring.js';
import { silentLogger } from '../log.js';
import { openRecord, sealRecord } from '../seal/seal-record.js';
import { StorageClient } from '../storage/storage-client.js';
import { MAX_LAZY_RESEALS_IN_FLIGHT, PrivateDocuments, type PrivateDocumentsOptions } from './private-documents.js';
import { isWatermarkOwner, pageOfRecord, pageRecordId, WATERMARK_OWNER } from './watermark-page.js';
import { EnclaveError } from '../enclave-errors.js';

const dir = mkdtempSync(join(tmpdir(), 'private-documents-test-'));
const keyring = createKeyringFromEnvKey(randomBytes(32));

interface Row {
  version: number;
  blob: Buffer; // a document or a sealed tombstone: the host cannot tell which
}

/** Honest compare-and-set storage, with a hook that lets a test rewrite any reply. */
class MapStorageHost {
  readonly rows = new Map<string, Row>();
  /** Every blob ever PUT, by row key and the version it was written as. */
  readonly history = new Map<string, Map<number, Buffer>>();
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly path: string;
  /** Rewrites the honest reply to a request for a document; identity by default. */
  tamper: (request: StorageRequest, honest: StorageReply) => StorageReply = (_request, honest) => honest;
  /** Rewrites the honest reply to a request for a watermark page (rollback-guard.ts); identity by default. */
  tamperPages: (request: StorageRequest, honest: StorageReply) => StorageReply = (_request, honest) => honest;
  /**
   * Runs before a request is applied: may delay it, apply it later (`apply`
   * returns the honest reply at that moment), answer without applying, or
   * answer nothing (undefined: a lost answer). Unset: apply at once.
   */
  intercept: ((request: StorageRequest, apply: () => StorageReply) => Promise<StorageReply | undefined>) | undefined;

  constructor(name: string) {
    this.path = join(dir, `${name}.sock`);
    this.#server = createServer((socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {});
      const reader = new StorageFrameReader();
      socket.on('data', (chunk: Buffer) => {
        for (const frame of reader.push(chunk)) {
          const request = frame as StorageRequest;
          const isPage = 'owner' in request && isWatermarkOwner(request.owner);
          const send = (honest: StorageReply): void => {
            if (!socket.destroyed) socket.write(encodeStorageFrame(isPage ? this.tamperPages(request, honest) : this.tamper(request, honest)));
          };
          if (this.intercept === undefined) send(this.#answer(request));
          else void this.intercept(request, () => this.#answer(request)).then((reply) => reply !== undefined && send(reply));
        }
      });
    });
  }

  static key(owner: Buffer, record: Buffer): string {
    return `${owner.toString('hex')}:${record.toString('hex')}`;
  }

  #answer(request: StorageRequest): StorageReply {
    const { requestId } = request;
    if (request.type === FrameType.Ping) return { type: FrameType.Pong, requestId };
    if (request.type === FrameType.Credentials) return { type: FrameType.Error, requestId, errorCode: StorageErrorCode.NoCredentials };
    if (request.type === FrameType.List) {
      const after = request.after === undefined ? '' : MapStorageHost.key(request.after.owner, request.after.record);
      const keys = [...this.rows.keys()].filter((k) => k > after).sort();
      const entries = keys.slice(0, request.limit).map((k) => {
        const [owner = '', record = ''] = k.split(':');
        return { owner: Buffer.from(owner, 'hex'), record: Buffer.from(record, 'hex'), version: this.rows.get(k)?.version ?? 0 };
      });
      return { type: FrameType.Listed, requestId, more: keys.length > request.limit, entries };
    }
    const key = MapStorageHost.key(request.owner, request.record);
    const row = this.rows.get(key);
    const current = row?.version ?? 0;
    switch (request.type) {
      case FrameType.Get:
        return row !== undefined
          ? { type: FrameType.Found, requestId, version: row.version, blob: row.blob }
          : { type: FrameType.NotFound, requestId };
      case FrameType.Put: {
        if (request.expectedVersion !== current) return { type: FrameType.Conflict, requestId, version: current };
        const version = current + 1;
        this.rows.set(key, { version, blob: request.blob });
        const versions = this.history.get(key) ?? new Map<number, Buffer>();
        versions.set(version, request.blob);
        this.history.set(key, versions);
        return { type: FrameType.Written, requestId, version };
      }
    }
  }

  start(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(this.path, resolve));
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const hosts: MapStorageHost[] = [];
const clients: StorageClient[] = [];
after(async () => {
  for (const storage of clients) storage.close();
  for (const host of hosts) await host.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function startHost(name: string): Promise<MapStorageHost> {
  const host = new MapStorageHost(name);
  await host.start();
  hosts.push(host);
  return host;
}

/** One enclave instance: its own storage connection and its own version watermark. */
function enclave(host: MapStorageHost, options: PrivateDocumentsOptions = {}, storageTimeoutMs = 2_000): PrivateDocuments {
  const storage = new StorageClient({ address: { scheme: 'unix', path: host.path }, timeoutMs: storageTimeoutMs, maxInFlight: 256, logger: silentLogger });
  clients.push(storage);
  return new PrivateDocuments(keyring, storage, options);
}

async function rejectsWithApiCode(promise: Promise<unknown>, code: string, context = code): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof EnclaveError, `${context}: expected EnclaveError, got ${String(error)}`);
    assert.equal(error.code, code, context);
    return true;
  });
}

/** What these tests compare of a read: the seal's tag is random per sealing. */
const versionAndBody = (document: { version: number; body: Buffer }): { version: number; body: Buffer } => ({ version: document.version, body: document.body });

const newOwner = (): OwnerId => keyring.ownerIdFromToken(randomBytes(24).toString('base64url'));

test('write, read, overwrite, remove and re-create round trip', async () => {
  const host = await startHost('round-trip');
  const docs = enclave(host);
  const owner = newOwner();
  assert.deepEqual(await docs.write(owner, 'notes', Buffer.from('first')), { version: 1, created: true });
  assert.deepEqual(versionAndBody(await docs.read(owner, 'notes')), { version: 1, body: Buffer.from('first') });
  assert.deepEqual(await docs.write(owner, 'notes', Buffer.from('second')), { version: 2, created: false });
  assert.deepEqual(versionAndBody(await docs.read(owner, 'notes')), { version: 2, body: Buffer.from('second') });
  await rejectsWithApiCode(docs.read(owner, 'other'), 'NOT_FOUND');
  await rejectsWithApiCode(docs.read(newOwner(), 'notes'), 'NOT_FOUND', 'another owner sees nothing');
  await docs.remove(owner, 'notes');
  await rejectsWithApiCode(docs.read(owner, 'notes'), 'NOT_FOUND', 'after remove');
  await rejectsWithApiCode(docs.remove(owner, 'notes'), 'NOT_FOUND', 'remove twice');
  assert.deepEqual(await docs.write(owner, 'notes', Buffer.from('third')), { version: 4, created: true }, 'after the tombstone at 3');
  assert.deepEqual(versionAndBody(await docs.read(owner, 'notes')), { version: 4, body: Buffer.from('third') });
  // The host holds only pseudonyms and ciphertext; the tombstone at 3 is a sealed blob that opens to nothing.
  const record = keyring.recordIdFromName(owner, 'notes');
  const history = host.history.get(MapStorageHost.key(owner, record));
  assert.deepEqual([...(history?.keys() ?? [])], [1, 2, 3, 4]);
  const tombstone = history?.get(3);
  assert.ok(tombstone !== undefined);
  assert.deepEqual(openRecord({ keyring, owner, record, version: 3, sealed: tombstone }), Buffer.alloc(0));
  for (const row of host.rows.values()) assert.equal(row.blob.includes(Buffer.from('third')), false);
});

test('an empty body is refused (INVALID_JSON) before anything is stored: it would read back as a tombstone', async () => {
  const host = await startHost('empty-body');
  const docs = enclave(host);
  const owner = newOwner();
  await rejectsWithApiCode(docs.write(owner, 'doc', Buffer.alloc(0)), 'INVALID_JSON');
  assert.equal(host.history.size, 0, 'nothing was stored');
  await rejectsWithApiCode(docs.read(owner, 'doc'), 'NOT_FOUND');
});

test('remove() stores a sealed blob the host cannot tell from a small document (same length as a 1-byte document)', async () => {
  const host = await startHost('tombstone-size');
  const docs = enclave(host);
  const owner = newOwner();
  await docs.write(owner, 'small', Buffer.from('1')); // a 1-byte JSON document
  await docs.write(owner, 'top-of-bucket', Buffer.from(`"${'x'.repeat(250)}"`)); // 252 bytes: 4 + 252 = 256, still the smallest bucket
  await docs.write(owner, 'gone', Buffer.from('{"secret":true}'));
  await docs.remove(owner, 'gone');
  const blobOf = (name: string): Buffer => {
    const row = host.rows.get(MapStorageHost.key(owner, keyring.recordIdFromName(owner, name)));
    assert.ok(row !== undefined, name);
    return row.blob;
  };
  const tombstone = blobOf('gone');
  assert.equal(tombstone.length, blobOf('small').length, 'same length as a 1-byte document');
  assert.equal(tombstone.length, blobOf('top-of-bucket').length, 'same length as a 252-byte document');
  // Not a fixed marker either: two tombstones differ like any two seals (fresh nonce, so other ciphertext and tag).
  await docs.write(owner, 'gone-too', Buffer.from('2'));
  await docs.remove(owner, 'gone-too');
  const other = blobOf('gone-too');
  assert.equal(other.length, tombstone.length);
  assert.notDeepEqual(other.subarray(-64), tombstone.subarray(-64));
  // Authenticated: it opens, under the owner's key, for exactly its record and version.
  const record = keyring.recordIdFromName(owner, 'gone');
  assert.deepEqual(openRecord({ keyring, owner, record, version: 2, sealed: tombstone }), Buffer.alloc(0));
  assert.throws(() => openRecord({ keyring, owner, record, version: 1, sealed: tombstone }), { code: 'STORAGE_INTEGRITY' });
});

test('the host replaying an older blob after a newer one was read: STORAGE_ROLLBACK', async () => {
  const host = await startHost('replay');
  const writer = enclave(host);
  const reader = enclave(host); // a second enclave: its watermark comes only from what it read
  const owner = newOwner();
  await writer.write(owner, 'doc', Buffer.from('v1'));
  await writer.write(owner, 'doc', Buffer.from('v2'));
  assert.deepEqual(versionAndBody(await reader.read(owner, 'doc')), { version: 2, body: Buffer.from('v2') });
  const replayOldest = (request: StorageRequest, honest: StorageReply): StorageReply => {
    if (request.type !== FrameType.Get) return honest;
    const old = host.history.get(MapStorageHost.key(request.owner, request.record))?.get(1);
    assert.ok(old !== undefined);
    return { type: FrameType.Found, requestId: request.requestId, version: 1, blob: old };
  };
  host.tamper = replayOldest;
  await rejectsWithApiCode(reader.read(owner, 'doc'), 'STORAGE_ROLLBACK', 'reader');
  await rejectsWithApiCode(writer.read(owner, 'doc'), 'STORAGE_ROLLBACK', 'writer (watermark raised by its own writes)');
  await rejectsWithApiCode(writer.write(owner, 'doc', Buffer.from('v3')), 'STORAGE_ROLLBACK', 'write reads first');
  // A fresh enclave cannot tell (no watermark): the replayed blob is authentic for version 1.
  assert.deepEqual(versionAndBody(await enclave(host).read(owner, 'doc')), { version: 1, body: Buffer.from('v1') });
  host.tamper = (_request, honest) => honest;
  assert.deepEqual(versionAndBody(await reader.read(owner, 'doc')), { version: 2, body: Buffer.from('v2') });
});

test('the host faking a deletion (NOT_FOUND, or a tombstone-looking answer) of a seen record: STORAGE_ROLLBACK', async () => {
  const host = await startHost('fake-delete');
  const writer = enclave(host);
  const reader = enclave(host); // a second enclave: its watermark comes only from what it read
  const owner = newOwner();
  const record = keyring.recordIdFromName(owner, 'doc');
  const rowKey = MapStorageHost.key(owner, record);
  // History: v1 document, v2 tombstone (a real delete), v3 and v4 documents.
  await writer.write(owner, 'doc', Buffer.from('"a"'));
  await writer.remove(owner, 'doc');
  await writer.write(owner, 'doc', Buffer.from('"b"'));
  await writer.write(owner, 'doc', Buffer.from('"c"'));
  assert.deepEqual(versionAndBody(await reader.read(owner, 'doc')), { version: 4, body: Buffer.from('"c"') });
  const onGet = (reply: (requestId: number) => StorageReply) => (request: StorageRequest, honest: StorageReply): StorageReply =>
    request.type === FrameType.Get ? reply(request.requestId) : honest;
  const seen = [
    { docs: writer, who: 'writer (watermark from its own writes)' },
    { docs: reader, who: 'reader (watermark from a read)' },
  ];

  // 1. NOT_FOUND: "never written", for a record both enclaves saw.
  host.tamper = onGet((requestId) => ({ type: FrameType.NotFound, requestId }));
  for (const { docs, who } of seen) {
    await rejectsWithApiCode(docs.read(owner, 'doc'), 'STORAGE_ROLLBACK', `NOT_FOUND, read, ${who}`);
    await rejectsWithApiCode(docs.write(owner, 'doc', Buffer.from('"d"')), 'STORAGE_ROLLBACK', `NOT_FOUND, write, ${who}`);
    await rejectsWithApiCode(docs.remove(owner, 'doc'), 'STORAGE_ROLLBACK', `NOT_FOUND, remove, ${who}`);
  }
  // 2. An authentic tombstone replayed: the real one of an earlier delete (version 2).
  const oldTombstone = host.history.get(rowKey)?.get(2);
  assert.ok(oldTombstone !== undefined);
  host.tamper = onGet((requestId) => ({ type: FrameType.Found, requestId, version: 2, blob: oldTombstone }));
  for (const { docs, who } of seen) {
    await rejectsWithApiCode(docs.read(owner, 'doc'), 'STORAGE_ROLLBACK', `old tombstone, read, ${who}`);
    await rejectsWithApiCode(docs.remove(owner, 'doc'), 'STORAGE_ROLLBACK', `old tombstone, remove, ${who}`);
  }
  // 3. An authentic tombstone for the version seen, as a concurrent remove that lost the race would have sealed it (a fork).
  const losing = sealRecord({ keyring, owner, record, version: 4, plaintext: Buffer.alloc(0) });
  host.tamper = onGet((requestId) => ({ type: FrameType.Found, requestId, version: 4, blob: losing }));
  for (const { docs, who } of seen) {
    await rejectsWithApiCode(docs.read(owner, 'doc'), 'STORAGE_ROLLBACK', `losing tombstone, read, ${who}`);
  }
  // 4. A tombstone the host made up (right size, higher version): it does not open.
  const forged = randomBytes(oldTombstone.length);
  forged.set(oldTombstone.subarray(0, 11)); // keep the envelope's magic, format version and key id: it fails the GCM tag
  host.tamper = onGet((requestId) => ({ type: FrameType.Found, requestId, version: 5, blob: forged }));
  await rejectsWithApiCode(reader.read(owner, 'doc'), 'STORAGE_INTEGRITY', 'forged tombstone');
  // The document is still there for an honest host, and nothing was lowered.
  host.tamper = (_request, honest) => honest;
  for (const { docs, who } of seen) assert.deepEqual(versionAndBody(await docs.read(owner, 'doc')), { version: 4, body: Buffer.from('"c"') }, who);
});

test('a real delete cannot be undone by the host serving the pre-delete blob: STORAGE_ROLLBACK', async () => {
  const host = await startHost('undo-delete');
  const docs = enclave(host);
  const owner = newOwner();
  const rowKey = MapStorageHost.key(owner, keyring.recordIdFromName(owner, 'doc'));
  await docs.write(owner, 'doc', Buffer.from('"a"'));
  await docs.write(owner, 'doc', Buffer.from('"b"'));
  await docs.remove(owner, 'doc'); // tombstone at 3
  for (const version of [2, 1]) {
    const blob = host.history.get(rowKey)?.get(version);
    assert.ok(blob !== undefined);
    host.tamper = (request, honest) =>
      request.type === FrameType.Get ? { type: FrameType.Found, requestId: request.requestId, version, blob } : honest;
    await rejectsWithApiCode(docs.read(owner, 'doc'), 'STORAGE_ROLLBACK', `resurrected version ${version}, read`);
    await rejectsWithApiCode(docs.remove(owner, 'doc'), 'STORAGE_ROLLBACK', `resurrected version ${version}, remove`);
    await rejectsWithApiCode(docs.write(owner, 'doc', Buffer.from('"c"')), 'STORAGE_ROLLBACK', `resurrected version ${version}, write`);
  }
  // Nor by claiming the record was never written (so that a write would start again at version 1).
  host.tamper = (request, honest) => (request.type === FrameType.Get ? { type: FrameType.NotFound, requestId: request.requestId } : honest);
  await rejectsWithApiCode(docs.write(owner, 'doc', Buffer.from('"c"')), 'STORAGE_ROLLBACK', 'NOT_FOUND after delete');
  host.tamper = (_request, honest) => honest;
  await rejectsWithApiCode(docs.read(owner, 'doc'), 'NOT_FOUND', 'still deleted');
  // A fresh enclave sees the tombstone too: the delete is in the store, not only in memory.
  await rejectsWithApiCode(enclave(host).read(owner, 'doc'), 'NOT_FOUND', 'fresh enclave');
  assert.deepEqual(await docs.write(owner, 'doc', Buffer.from('"c"')), { version: 4, created: true });
});

test('a different blob sealed for a version already seen (a fork): STORAGE_ROLLBACK', async () => {
  const host = await startHost('fork');
  const docs = enclave(host);
  const owner = newOwner();
  await docs.write(owner, 'doc', Buffer.from('"a"'));
  await docs.write(owner, 'doc', Buffer.from('"acknowledged"'));
  // Another authentic blob for version 2, as a writer that lost the race would have sealed it.
  const record = keyring.recordIdFromName(owner, 'doc');
  const losing = sealRecord({ keyring, owner, record, version: 2, plaintext: Buffer.from('"lost the race"') });
  host.tamper = (request, honest) =>
    request.type === FrameType.Get ? { type: FrameType.Found, requestId: request.requestId, version: 2, blob: losing } : honest;
  await rejectsWithApiCode(docs.read(owner, 'doc'), 'STORAGE_ROLLBACK', 'fork at version 2');
  // Without the watermark (a fresh enclave) it is authentic for version 2: the stated limit.
  assert.deepEqual(versionAndBody(await enclave(host).read(owner, 'doc')), { version: 2, body: Buffer.from('"lost the race"') });
  host.tamper = (_request, honest) => honest;
  assert.deepEqual(versionAndBody(await docs.read(owner, 'doc')), { version: 2, body: Buffer.from('"acknowledged"') });
});

test('a blob moved to another record, another owner or another version: STORAGE_INTEGRITY', async () => {
  const host = await startHost('moved');
  const docs = enclave(host);
  const owner = newOwner();
  const otherOwner = newOwner();
  await docs.write(owner, 'source', Buffer.from('secret'));
  await docs.write(owner, 'target', Buffer.from('x'));
  await docs.write(owner, 'target', Buffer.from('y'));
  const sourceRecord = keyring.recordIdFromName(owner, 'source');
  const sourceRow = host.rows.get(MapStorageHost.key(owner, sourceRecord));
  assert.ok(sourceRow?.blob !== undefined);
  const sourceBlob = sourceRow.blob;

  host.tamper = (request, honest) =>
    request.type === FrameType.Get && !request.record.equals(sourceRecord)
      ? { type: FrameType.Found, requestId: request.requestId, version: 2, blob: sourceBlob }
      : honest;
  await rejectsWithApiCode(docs.read(owner, 'target'), 'STORAGE_INTEGRITY', 'moved to another record');
  await rejectsWithApiCode(docs.read(otherOwner, 'source'), 'STORAGE_INTEGRITY', 'moved to another owner');
  await rejectsWithApiCode(docs.read(owner, 'never-written'), 'STORAGE_INTEGRITY', 'moved to an empty record');

  // Right record, wrong version (the version is in the AEAD data).
  host.tamper = (request, honest) =>
    request.type === FrameType.Get ? { type: FrameType.Found, requestId: request.requestId, version: 5, blob: sourceBlob } : honest;
  await rejectsWithApiCode(docs.read(owner, 'source'), 'STORAGE_INTEGRITY', 'version changed');

  // A flipped byte.
  host.tamper = (request, honest) => {
    if (request.type !== FrameType.Get || honest.type !== FrameType.Found) return honest;
    const blob = Buffer.from(honest.blob);
    blob[blob.length - 1] = (blob[blob.length - 1] ?? 0) ^ 1;
    return { ...honest, blob };
  };
  await rejectsWithApiCode(docs.read(owner, 'source'), 'STORAGE_INTEGRITY', 'flipped tag byte');

  host.tamper = (_request, honest) => honest;
  assert.deepEqual(versionAndBody(await docs.read(owner, 'source')), { version: 1, body: Buffer.from('secret') });
  // A failed open does not raise the watermark: version 5 was never accepted.
});

test('storage failures map to STORAGE_UNAVAILABLE and STORAGE_BAD_REPLY', async () => {
  const host = await startHost('failures');
  const docs = enclave(host);
  const owner = newOwner();
  host.tamper = (request) => ({ type: FrameType.Error, requestId: request.requestId, errorCode: 3 });
  await rejectsWithApiCode(docs.read(owner, 'doc'), 'STORAGE_UNAVAILABLE');
  host.tamper = (request, honest) =>
    request.type === FrameType.Put ? { type: FrameType.Written, requestId: request.requestId, version: 9 } : honest;
  await rejectsWithApiCode(docs.write(owner, 'doc', Buffer.from('x')), 'STORAGE_BAD_REPLY');
  host.tamper = (request, honest) =>
    request.type === FrameType.Put ? { type: FrameType.Conflict, requestId: request.requestId, version: 0 } : honest;
  await rejectsWithApiCode(docs.write(owner, 'doc2', Buffer.from('x')), 'STORAGE_BAD_REPLY', 'CONFLICT at the expected version');
  // A host that always claims a conflict at some other version: bounded retries, then WRITE_CONFLICT.
  let puts = 0;
  host.tamper = (request, honest) => {
    if (request.type !== FrameType.Put) return honest;
    puts += 1;
    return { type: FrameType.Conflict, requestId: request.requestId, version: 7 };
  };
  await rejectsWithApiCode(docs.write(owner, 'doc3', Buffer.from('x')), 'WRITE_CONFLICT');
  assert.equal(puts, 4, 'MAX_WRITE_ATTEMPTS');
});

test('20 concurrent writers on one record: each succeeds or reports WRITE_CONFLICT; no acknowledged write is lost', async () => {
  const host = await startHost('concurrent');
  const enclaves = [enclave(host), enclave(host)]; // two enclaves sharing the database, plus concurrency within each
  const owner = newOwner();
  const writes = Array.from({ length: 20 }, (_, i) => {
    const docs = enclaves[i % 2];
    assert.ok(docs !== undefined);
    return docs.write(owner, 'shared', Buffer.from(`writer ${i}`));
  });
  const settled = await Promise.allSettled(writes);
  const acknowledged: { writer: number; version: number }[] = [];
  settled.forEach((s, writer) => {
    if (s.status === 'fulfilled') acknowledged.push({ writer, version: s.value.version });
    else {
      assert.ok(s.reason instanceof EnclaveError, String(s.reason));
      assert.equal(s.reason.code, 'WRITE_CONFLICT');
    }
  });
  assert.ok(acknowledged.length >= 1);
  const versions = acknowledged.map((a) => a.version).sort((a, b) => a - b);
  assert.deepEqual(versions, Array.from({ length: acknowledged.length }, (_, i) => i + 1), 'versions 1..n, each once');
  const row = host.rows.get(MapStorageHost.key(owner, keyring.recordIdFromName(owner, 'shared')));
  assert.equal(row?.version, acknowledged.length, 'final version = acknowledged writes');
  const last = acknowledged.find((a) => a.version === acknowledged.length);
  assert.ok(last !== undefined);
  for (const docs of enclaves) {
    assert.deepEqual(versionAndBody(await docs.read(owner, 'shared')), { version: acknowledged.length, body: Buffer.from(`writer ${last.writer}`) });
  }
  // Every acknowledged version's blob opens to the writer that was told it was written.
  const record = keyring.recordIdFromName(owner, 'shared');
  const history = host.history.get(MapStorageHost.key(owner, record));
  assert.equal(history?.size, acknowledged.length);
  for (const { writer, version } of acknowledged) {
    const sealed = history.get(version);
    assert.ok(sealed !== undefined);
    assert.deepEqual(openRecord({ keyring, owner, record, version, sealed }), Buffer.from(`writer ${writer}`));
  }
});

test('after a rotation: reads re-seal lazily, at most MAX_LAZY_RESEALS_IN_FLIGHT at once; resealRecord moves documents and tombstones, then is a no-op', async () => {
  const host = await startHost('reseal');
  const documents = enclave(host);
  const owner = newOwner();
  const names = Array.from({ length: 12 }, (_, index) => `doc-${index}`);
  for (const name of names) await documents.write(owner, name, Buffer.from(`{"name":"${name}"}`));
  await documents.write(owner, 'gone', Buffer.from('{"bye":1}'));
  await documents.remove(owner, 'gone');
  const before = documents.keyring.activeKeyId;
  documents.replaceKeyring(documents.keyring.withAddedMasterKey(randomBytes(32)));
  const after = documents.keyring.activeKeyId;
  assert.ok(!after.equals(before));
  assert.throws(() => documents.replaceKeyring(createKeyringFromEnvKey(randomBytes(32))), TypeError, 'a keyring with another identity key is refused');

  const keyIdOf = async (name: string) => (await documents.keyIdOfRecord(owner, documents.keyring.recordIdFromName(owner, name)))?.toString('hex');
  await Promise.all(names.map((name) => documents.read(owner, name)));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const moved = (await Promise.all(names.map(keyIdOf))).filter((id) => id === after.toString('hex')).length;
  assert.ok(moved >= 1 && moved <= MAX_LAZY_RESEALS_IN_FLIGHT, `${moved} records re-sealed lazily`);

  const outcomes = [];
  for (const name of [...names, 'gone']) outcomes.push(await documents.resealRecord(owner, documents.keyring.recordIdFromName(owner, name)));
  assert.equal(outcomes.filter((o) => o === 'resealed').length, names.length - moved + 1);
  assert.equal(outcomes.filter((o) => o === 'already-active').length, moved);
  for (const name of [...names, 'gone']) assert.equal(await keyIdOf(name), after.toString('hex'), name);
  for (const name of names) assert.equal((await documents.read(owner, name)).body.toString(), `{"name":"${name}"}`);
  await rejectsWithApiCode(documents.read(owner, 'gone'), 'NOT_FOUND', 'a re-sealed tombstone is still a deletion');
  assert.equal(await documents.resealRecord(owner, documents.keyring.recordIdFromName(owner, 'never')), 'absent');
  for (const name of names) assert.equal(await documents.resealRecord(owner, documents.keyring.recordIdFromName(owner, name)), 'already-active');
});

// Issue 9, finding 2: memory holds the most recent records only; the rest
// must not be forgotten. A small cache makes eviction cheap to provoke here;
// the e2e test does it with the real programs. Several cases come from the
// hostile review of the first version (page forks, false rollbacks under
// concurrency, in-doubt page writes).

/** Serves the oldest blob of every document GET (a replay of version 1). */
const replayFirstVersion = (host: MapStorageHost) => (request: StorageRequest, honest: StorageReply): StorageReply => {
  if (request.type !== FrameType.Get) return honest;
  const old = host.history.get(MapStorageHost.key(request.owner, request.record))?.get(1);
  return old === undefined ? honest : { type: FrameType.Found, requestId: request.requestId, version: 1, blob: old };
};
const honestly = (_request: StorageRequest, honest: StorageReply): StorageReply => honest;
const pageRows = (host: MapStorageHost): string[] => [...host.rows.keys()].filter((key) => key.startsWith(WATERMARK_OWNER.toString('hex')));
/** Row key of the page of this enclave's run that holds `record`. */
const pageKeyOf = (docs: PrivateDocuments, record: Buffer): string =>
  MapStorageHost.key(WATERMARK_OWNER, pageRecordId(Buffer.from(docs.rollbackGuard.runId, 'hex'), pageOfRecord(record)));

/** Writes records of a fresh owner until `docs` has pushed everything older out of memory and written its pages. */
async function pushOutOfMemory(docs: PrivateDocuments, count: number): Promise<void> {
  const filler = newOwner();
  for (let index = 0; index < count; index += 1) await docs.write(filler, `f${index}`, Buffer.from('0'));
  await docs.rollbackGuard.flushed();
}

test('a client touching many records cannot push a victim out of rollback detection (issue 9, finding 2)', async () => {
  const host = await startHost('evict');
  const docs = enclave(host, { rollbackCacheEntries: 20 });
  const victim = newOwner();
  await docs.write(victim, 'doc', Buffer.from('"old"'));
  await docs.write(victim, 'doc', Buffer.from('"new"'));
  await pushOutOfMemory(docs, 300);
  const stats = docs.rollbackGuard.stats;
  assert.ok(stats.inMemory <= 20, `memory holds ${stats.inMemory} records`);
  assert.equal(stats.pending, 0);
  assert.ok(pageRows(host).length > 0, 'pages were written to the host');
  host.tamper = replayFirstVersion(host);
  await rejectsWithApiCode(docs.read(victim, 'doc'), 'STORAGE_ROLLBACK', 'the victim, long out of memory');
  await rejectsWithApiCode(docs.write(victim, 'doc', Buffer.from('"x"')), 'STORAGE_ROLLBACK', 'a write reads first');
  host.tamper = (request, honest) => (request.type === FrameType.Get ? { type: FrameType.NotFound, requestId: request.requestId } : honest);
  await rejectsWithApiCode(docs.read(victim, 'doc'), 'STORAGE_ROLLBACK', 'NOT_FOUND for a record in a page');
  host.tamper = honestly;
  assert.deepEqual(versionAndBody(await docs.read(victim, 'doc')), { version: 2, body: Buffer.from('"new"') });
  // Read back from its page, unchanged: leaving memory again writes nothing to its page.
  const victimPage = pageKeyOf(docs, keyring.recordIdFromName(victim, 'doc'));
  const pageWrites = host.history.get(victimPage)?.size;
  const filler = newOwner();
  for (let index = 0, written = 0; written < 30; index += 1) {
    if (pageKeyOf(docs, keyring.recordIdFromName(filler, `g${index}`)) === victimPage) continue;
    await docs.write(filler, `g${index}`, Buffer.from('0'));
    written += 1;
  }
  await docs.rollbackGuard.flushed();
  assert.equal(host.history.get(victimPage)?.size, pageWrites, 'no page write for an unchanged record');
  assert.equal(docs.rollbackGuard.stats.pending, 0);
});

test('the host cannot roll back, drop, corrupt or swap a watermark page, even for a higher-numbered page of another run', async () => {
  const host = await startHost('page-rollback');
  const docs = enclave(host, { rollbackCacheEntries: 10, pageCacheBytes: 0 });
  const victim = newOwner();
  const victimRecord = keyring.recordIdFromName(victim, 'doc');
  const pageKey = pageKeyOf(docs, victimRecord);
  await docs.write(victim, 'doc', Buffer.from('1'));
  await docs.write(victim, 'doc', Buffer.from('2'));
  // Push the victim out; then bring it back and push it out again until its page has two versions.
  while ((host.history.get(pageKey)?.size ?? 0) < 2) {
    await pushOutOfMemory(docs, 15);
    await docs.write(victim, 'doc', Buffer.from(String((host.rows.get(MapStorageHost.key(victim, victimRecord))?.version ?? 0) + 1)));
    await pushOutOfMemory(docs, 15);
  }
  const pageHistory = host.history.get(pageKey);
  assert.ok(pageHistory !== undefined);
  const latest = host.rows.get(pageKey);
  assert.ok(latest !== undefined);
  const victimVersion = host.rows.get(MapStorageHost.key(victim, victimRecord))?.version ?? 0;
  const onPageGet = (reply: (requestId: number) => StorageReply) => (request: StorageRequest, honest: StorageReply): StorageReply =>
    request.type === FrameType.Get ? reply(request.requestId) : honest;
  // The document itself is served honestly: only the page check can refuse.
  const cases: [string, (requestId: number) => StorageReply, string][] = [];
  const firstPage = pageHistory.get(1);
  assert.ok(firstPage !== undefined);
  cases.push(['an older page', (requestId) => ({ type: FrameType.Found, requestId, version: 1, blob: firstPage }), 'STORAGE_ROLLBACK']);
  cases.push(['the page dropped', (requestId) => ({ type: FrameType.NotFound, requestId }), 'STORAGE_ROLLBACK']);
  const otherKey = pageRows(host).find((key) => key !== pageKey && key.startsWith(pageKey.slice(0, 64 + 1 + 32)));
  const otherPage = otherKey === undefined ? undefined : host.rows.get(otherKey);
  assert.ok(otherPage !== undefined);
  cases.push(['another page of the run in its place', (requestId) => ({ type: FrameType.Found, requestId, version: latest.version, blob: otherPage.blob }), 'STORAGE_ROLLBACK']);
  const corrupted = Buffer.from(latest.blob);
  corrupted[40] = (corrupted[40] ?? 0) ^ 1; // ciphertext, not the tag
  cases.push(['the page corrupted under its own tag', (requestId) => ({ type: FrameType.Found, requestId, version: latest.version, blob: corrupted }), 'STORAGE_INTEGRITY']);
  // Another run of the enclave (a restart, same identity key) whose page of the same number got further.
  const earlier = enclave(host, { rollbackCacheEntries: 5, pageCacheBytes: 0 });
  const earlierKey = pageKeyOf(earlier, victimRecord);
  const other = newOwner();
  for (let index = 0; (host.history.get(earlierKey)?.size ?? 0) <= latest.version; index += 1) {
    if (index > 4_000_000) assert.fail('no record of the victim page among 4,000,000 names'); // 1 in 4,096 lands there
    if (pageKeyOf(earlier, keyring.recordIdFromName(other, `e${index}`)) !== earlierKey) continue;
    await earlier.write(other, `e${index}`, Buffer.from('0'));
    await pushOutOfMemory(earlier, 8);
  }
  const earlierRow = host.rows.get(earlierKey);
  assert.ok(earlierRow !== undefined && earlierRow.version > latest.version, 'the other run\'s page is higher-numbered');
  cases.push(["a higher-numbered page of another run", (requestId) => ({ type: FrameType.Found, requestId, version: earlierRow.version, blob: earlierRow.blob }), 'STORAGE_ROLLBACK']);
  for (const [name, reply, code] of cases) {
    host.tamperPages = onPageGet(reply);
    await rejectsWithApiCode(docs.read(victim, 'doc'), code, name);
  }
  host.tamperPages = honestly;
  assert.equal((await docs.read(victim, 'doc')).version, victimVersion);
});

test('two enclaves, the host showing each its own fork of a page: neither loses what it saw', async () => {
  const host = await startHost('fork-two');
  const first = enclave(host, { rollbackCacheEntries: 5, pageCacheBytes: 0 });
  const second = enclave(host, { rollbackCacheEntries: 5, pageCacheBytes: 0 });
  const owner = newOwner();
  await first.write(owner, 'doc', Buffer.from('1'));
  await first.write(owner, 'doc', Buffer.from('2'));
  assert.equal((await second.read(owner, 'doc')).version, 2);
  await Promise.all([pushOutOfMemory(first, 10), pushOutOfMemory(second, 10)]);
  // Each run writes its own pages: the host has nothing of one run to show the other.
  const record = keyring.recordIdFromName(owner, 'doc');
  assert.notEqual(pageKeyOf(first, record), pageKeyOf(second, record));
  const secondPage = host.rows.get(pageKeyOf(second, record));
  assert.ok(secondPage !== undefined);
  host.tamper = replayFirstVersion(host);
  host.tamperPages = (request, honest) =>
    request.type === FrameType.Get && MapStorageHost.key(request.owner, request.record) === pageKeyOf(first, record)
      ? { type: FrameType.Found, requestId: request.requestId, version: secondPage.version + 5, blob: secondPage.blob }
      : honest;
  await rejectsWithApiCode(first.read(owner, 'doc'), 'STORAGE_ROLLBACK', 'first, shown the second one\'s page');
  host.tamperPages = honestly;
  await rejectsWithApiCode(first.read(owner, 'doc'), 'STORAGE_ROLLBACK', 'first, honest page');
  await rejectsWithApiCode(second.read(owner, 'doc'), 'STORAGE_ROLLBACK', 'second');
});

test('an honest host under 48 concurrent readers and writers: never a false STORAGE_ROLLBACK, with records leaving memory all the time', async () => {
  const host = await startHost('honest-stress');
  const enclaves = [enclave(host, { rollbackCacheEntries: 5, pageCacheBytes: 0 }), enclave(host, { rollbackCacheEntries: 5 })];
  const owner = newOwner();
  const names = Array.from({ length: 12 }, (_, index) => `hot${index}`);
  const counts = new Map<string, number>();
  let operations = 0;
  const worker = async (id: number): Promise<void> => {
    for (let step = 0; step < 60; step += 1) {
      const docs = enclaves[(id + step) % enclaves.length] as PrivateDocuments;
      const name = names[(id * 7 + step * 13) % names.length] as string;
      const kind = (id + step) % 5;
      const operation =
        kind < 2 ? docs.write(owner, name, Buffer.from(String(step))) : kind < 4 ? docs.read(owner, name) : docs.write(newOwner(), `fill-${id}-${step}`, Buffer.from('0'));
      let code = 'ok';
      try {
        await operation;
      } catch (error) {
        code = error instanceof EnclaveError ? error.code : String(error);
      }
      counts.set(code, (counts.get(code) ?? 0) + 1);
      operations += 1;
    }
  };
  await Promise.all(Array.from({ length: 48 }, (_, id) => worker(id)));
  const summary = JSON.stringify(Object.fromEntries(counts));
  assert.equal(operations, 48 * 60);
  assert.equal(counts.get('STORAGE_ROLLBACK') ?? 0, 0, summary);
  for (const code of counts.keys()) assert.ok(['ok', 'WRITE_CONFLICT', 'NOT_FOUND'].includes(code), summary);
  assert.ok((counts.get('ok') ?? 0) > operations / 2, summary);
});

test('a page write whose answer is lost (it landed) is settled by the next read, not taken for a rollback', async () => {
  const host = await startHost('in-doubt');
  const docs = enclave(host, { rollbackCacheEntries: 5, pageCacheBytes: 0 });
  const victim = newOwner();
  await docs.write(victim, 'doc', Buffer.from('1'));
  await docs.write(victim, 'doc', Buffer.from('2'));
  let lost = 0;
  host.tamperPages = (request, honest) => {
    if (request.type !== FrameType.Put || lost >= 3) return honest;
    lost += 1; // the host stored it (#answer ran); the enclave hears an error
    return { type: FrameType.Error, requestId: request.requestId, errorCode: StorageErrorCode.Unavailable };
  };
  await pushOutOfMemory(docs, 12);
  assert.equal(lost, 3);
  host.tamperPages = honestly;
  assert.deepEqual(versionAndBody(await docs.read(victim, 'doc')), { version: 2, body: Buffer.from('2') });
  host.tamper = replayFirstVersion(host);
  await rejectsWithApiCode(docs.read(victim, 'doc'), 'STORAGE_ROLLBACK');
});

test('entries waiting for their page are bounded: past the limit only requests for records outside memory wait, and at most the wait timeout', async () => {
  const host = await startHost('spill-bound');
  const docs = enclave(host, { rollbackCacheEntries: 5, pendingSpillMax: 20, waitTimeoutMs: 10_000 });
  host.tamperPages = (request, honest) =>
    request.type === FrameType.Put ? { type: FrameType.Error, requestId: request.requestId, errorCode: StorageErrorCode.Unavailable } : honest;
  const owner = newOwner();
  let index = 0;
  while (docs.rollbackGuard.stats.pending < 20) {
    await docs.write(owner, `w${index}`, Buffer.from('1'));
    index += 1;
    if (index > 100) assert.fail(`pending stayed at ${docs.rollbackGuard.stats.pending}`);
  }
  let done = false;
  const waiting = docs.write(owner, 'late', Buffer.from('1')).then(() => (done = true));
  // A record still in memory is served at once: touching it evicts nothing.
  assert.equal((await docs.read(owner, `w${index - 1}`)).version, 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(done, false, 'a write of a new record waits while the spill is full');
  assert.equal(docs.rollbackGuard.stats.waiting, 1);
  assert.ok(docs.rollbackGuard.stats.pending <= 20, `pending ${docs.rollbackGuard.stats.pending}`);
  host.tamperPages = honestly;
  await waiting; // pages written on the next retry (about a second)
  await docs.rollbackGuard.flushed();
  assert.equal(docs.rollbackGuard.stats.pending, 0);

  const impatient = enclave(host, { rollbackCacheEntries: 5, pendingSpillMax: 3, waitTimeoutMs: 200 });
  host.tamperPages = (request, honest) =>
    request.type === FrameType.Put ? { type: FrameType.Error, requestId: request.requestId, errorCode: StorageErrorCode.Unavailable } : honest;
  for (let filler = 0; impatient.rollbackGuard.stats.pending < 3; filler += 1) await impatient.write(owner, `i${filler}`, Buffer.from('1'));
  await rejectsWithApiCode(impatient.write(owner, 'too-late', Buffer.from('1')), 'STORAGE_UNAVAILABLE', 'past the wait timeout: 503');
  host.tamperPages = honestly;
});

// From the second hostile review: late answers, lost page answers, forks at one version.

const isRecordRequest = (request: StorageRequest, owner: Buffer, record: Buffer): request is StorageRequest & { owner: Buffer; record: Buffer } =>
  'owner' in request && 'record' in request && request.owner.equals(owner) && request.record.equals(record);

test('a late answer never brings a record back into memory below what its page holds', async () => {
  for (const pageCacheBytes of [undefined, 0]) {
    const host = await startHost(`late-answer-${pageCacheBytes ?? 'cached'}`);
    const docs = enclave(host, { rollbackCacheEntries: 5, ...(pageCacheBytes === undefined ? {} : { pageCacheBytes }) });
    const victim = newOwner();
    const record = keyring.recordIdFromName(victim, 'doc');
    await docs.write(victim, 'doc', Buffer.from('"v1"'));
    // The host answers one GET of the record honestly (v1, as it is now), but late.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    host.intercept = async (request, apply) => {
      if (held || request.type !== FrameType.Get || !isRecordRequest(request, victim, record)) return apply();
      held = true;
      const reply = apply();
      await released;
      return reply;
    };
    const slowRead = docs.read(victim, 'doc');
    while (!held) await new Promise((resolve) => setImmediate(resolve));
    // Meanwhile the record leaves memory, this enclave writes v2, and v2 leaves memory into its page.
    await pushOutOfMemory(docs, 10);
    assert.equal((await docs.write(victim, 'doc', Buffer.from('"v2"'))).version, 2);
    await pushOutOfMemory(docs, 10);
    release();
    assert.equal((await slowRead).version, 1, 'the late read is legitimately v1');
    host.intercept = undefined;
    host.tamper = replayFirstVersion(host);
    await rejectsWithApiCode(docs.read(victim, 'doc'), 'STORAGE_ROLLBACK', `replay after the late answer (page cache ${pageCacheBytes ?? 'default'})`);
  }
});

test('a page write that landed but whose answer was lost: sent again identical, settled, never a false rollback', async () => {
  const host = await startHost('lost-page-answer');
  const docs = enclave(host, { rollbackCacheEntries: 5, pageCacheBytes: 56 * 4 }, 300);
  const owner = newOwner();
  const victim = keyring.recordIdFromName(owner, 'victim');
  const victimPage = pageKeyOf(docs, victim);
  await docs.write(owner, 'victim', Buffer.from('1'));
  await pushOutOfMemory(docs, 6);
  assert.equal(host.rows.get(victimPage)?.version, 1);
  let lost = 0;
  host.intercept = async (request, apply) => {
    if (lost === 0 && request.type === FrameType.Put && MapStorageHost.key(request.owner, request.record) === victimPage) {
      lost += 1;
      apply(); // stored, but the answer never comes
      return undefined;
    }
    return apply();
  };
  // Another record of the victim's page goes to the page: that write is the one whose answer is lost.
  let sibling = '';
  for (let index = 0; sibling === ''; index += 1) if (pageKeyOf(docs, keyring.recordIdFromName(owner, `s${index}`)) === victimPage) sibling = `s${index}`;
  await docs.write(owner, sibling, Buffer.from('1'));
  await pushOutOfMemory(docs, 6);
  assert.equal(lost, 1);
  assert.equal(docs.rollbackGuard.stats.pending, 0, 'the write in doubt was settled');
  host.intercept = undefined;
  assert.deepEqual([...(host.history.get(victimPage)?.keys() ?? [])], [1, 2], 'no second blob for version 2');
  await pushOutOfMemory(docs, 30); // other pages push the victim's page out of the small cache
  assert.equal((await docs.read(owner, 'victim')).version, 1, 'no false rollback');
  assert.equal((await docs.read(owner, sibling)).version, 1);
  host.tamper = (request, honest) => (request.type === FrameType.Get ? { type: FrameType.NotFound, requestId: request.requestId } : honest);
  await rejectsWithApiCode(docs.read(owner, sibling), 'STORAGE_ROLLBACK', 'the record carried by the settled write is still protected');
});

test('two different blobs at one version, shown to two concurrent reads: at most one is accepted', async () => {
  const host = await startHost('fork-one-version');
  const writer = enclave(host);
  const reader = enclave(host);
  const owner = newOwner();
  const record = keyring.recordIdFromName(owner, 'doc');
  await writer.write(owner, 'doc', Buffer.from('"v1"'));
  assert.equal((await reader.read(owner, 'doc')).version, 1);
  const winner = sealRecord({ keyring, owner, record, version: 2, plaintext: Buffer.from('"winner"') });
  const loser = sealRecord({ keyring, owner, record, version: 2, plaintext: Buffer.from('"loser"') });
  let gets = 0;
  host.intercept = async (request, apply) => {
    if (request.type !== FrameType.Get || !isRecordRequest(request, owner, record)) return apply();
    const index = gets++;
    while (gets < 2) await new Promise((resolve) => setImmediate(resolve));
    return { type: FrameType.Found, requestId: request.requestId, version: 2, blob: index === 0 ? winner : loser };
  };
  const outcomes = await Promise.allSettled([reader.read(owner, 'doc'), reader.read(owner, 'doc')]);
  const bodies = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value.body.toString()] : []));
  assert.ok(new Set(bodies).size <= 1, `one version, two documents: ${bodies.join(' / ')}`);
  assert.ok(outcomes.some((outcome) => outcome.status === 'rejected' && outcome.reason instanceof EnclaveError && outcome.reason.code === 'STORAGE_ROLLBACK'));
});

test('one owner creates new records at most at RECORD_CREATES_PER_SECOND (bursts of ten seconds); rewrites, re-creation after a delete and other owners are not held back', async () => {
  const host = await startHost('creation-rate');
  let nowMs = 0;
  const docs = enclave(host, { recordCreatesPerSecond: 2, now: () => nowMs });
  const owner = newOwner();
  for (let index = 0; index < 20; index += 1) await docs.write(owner, `burst-${index}`, Buffer.from('{}'));
  const rowsBefore = host.rows.size;
  await assert.rejects(docs.write(owner, 'one-too-many', Buffer.from('{}')), (error: unknown) => {
    assert.ok(error instanceof EnclaveError && error.code === 'RECORD_CREATE_RATE_LIMITED' && error.status === 429, String(error));
    assert.equal((error as EnclaveError & { retryAfterSeconds: number }).retryAfterSeconds, 1);
    return true;
  });
  assert.equal(host.rows.size, rowsBefore, 'the refused create wrote nothing');
  // Rewrites, deletes and writing a deleted document again are not new records.
  assert.equal((await docs.write(owner, 'burst-0', Buffer.from('{"again":1}'))).version, 2);
  await docs.remove(owner, 'burst-1');
  assert.deepEqual(await docs.write(owner, 'burst-1', Buffer.from('{}')), { version: 3, created: true });
  // Another owner has its own bucket.
  await docs.write(newOwner(), 'elsewhere', Buffer.from('{}'));
  // Half a second later one more token has come back (2 a second), and only one.
  nowMs += 500;
  await docs.write(owner, 'after-wait', Buffer.from('{}'));
  await rejectsWithApiCode(docs.write(owner, 'too-soon', Buffer.from('{}')), 'RECORD_CREATE_RATE_LIMITED');
});
