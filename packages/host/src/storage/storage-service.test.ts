import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  FrameType,
  MAX_CREDENTIALS_BYTES,
  StorageErrorCode,
  StorageFrameReader,
  encodeStorageFrame,
  type StorageFrame,
  type StorageRequest,
} from '@http-enclave/protocol';
import { closedWithin, collectingLogger, connectTcp, makeTempDir } from '../test-support.js';
import { SqliteRecordStore } from './sqlite-record-store.js';
import { startStorageService, type CredentialsSource, type StorageService } from './storage-service.js';

async function startService(
  maxPageCount?: number,
  credentials?: CredentialsSource,
): Promise<{ service: StorageService; port: number; store: SqliteRecordStore; lines: Array<Record<string, unknown>> }> {
  const store = SqliteRecordStore.open(join(makeTempDir(), 's.db'), maxPageCount === undefined ? {} : { maxPageCount });
  const { logger, lines } = collectingLogger();
  const listenAddress = { scheme: 'tcp', host: '127.0.0.1', port: 0 } as const;
  const service = await startStorageService(credentials === undefined ? { store, listenAddress, logger } : { store, listenAddress, logger, credentials });
  return { service, port: service.address.scheme === 'tcp' ? service.address.port : 0, store, lines };
}

/** A storage client for tests: collects reply frames by request id. */
class TestClient {
  readonly replies = new Map<number, StorageFrame>();
  readonly #reader = new StorageFrameReader();
  readonly #waiters: Array<() => void> = [];
  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.#reader.push(chunk)) this.replies.set(frame.requestId, frame);
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }
  static async connect(port: number): Promise<TestClient> {
    return new TestClient(await connectTcp(port));
  }
  async reply(requestId: number, timeoutMs = 5_000): Promise<StorageFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.replies.get(requestId);
      if (frame !== undefined) return frame;
      if (Date.now() > deadline) throw new Error(`no reply to ${requestId} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
  async ask(request: StorageRequest): Promise<StorageFrame> {
    this.socket.write(encodeStorageFrame(request));
    return this.reply(request.requestId);
  }
}

const key = (): Buffer => randomBytes(32);

test('PUT, GET, CAS conflict and PING over a real socket; type 0x03 (retired DELETE) closes the connection', async () => {
  const { service, port, lines } = await startService();
  const client = await TestClient.connect(port);
  const [owner, record] = [key(), key()];
  assert.deepEqual(await client.ask({ type: FrameType.Ping, requestId: 1 }), { type: FrameType.Pong, requestId: 1 });
  assert.deepEqual(await client.ask({ type: FrameType.Get, requestId: 2, owner, record }), { type: FrameType.NotFound, requestId: 2 });
  const blob = randomBytes(100_000);
  assert.deepEqual(await client.ask({ type: FrameType.Put, requestId: 3, owner, record, expectedVersion: 0, blob }), {
    type: FrameType.Written,
    requestId: 3,
    version: 1,
  });
  assert.deepEqual(await client.ask({ type: FrameType.Put, requestId: 4, owner, record, expectedVersion: 0, blob }), {
    type: FrameType.Conflict,
    requestId: 4,
    version: 1,
  });
  assert.deepEqual(await client.ask({ type: FrameType.Get, requestId: 5, owner, record }), { type: FrameType.Found, requestId: 5, version: 1, blob });
  // The old DELETE frame (type 0x03, owner, record, expectedVersion) is an unknown type now.
  const retired = Buffer.concat([Buffer.from('0000004d0300000006', 'hex'), owner, record, Buffer.from('0000000000000001', 'hex')]);
  client.socket.write(retired);
  await closedWithin(client.socket, 2_000);
  assert.equal(lines.find((l) => l['msg'] === 'bad storage frame; closing connection')?.['code'], 'STORAGE_FRAME_INVALID');
  // Nothing was deleted.
  const again = await TestClient.connect(port);
  assert.deepEqual(await again.ask({ type: FrameType.Get, requestId: 7, owner, record }), { type: FrameType.Found, requestId: 7, version: 1, blob });
  again.socket.destroy();
  await service.close(1_000);
});

test('frames split into 1-byte chunks are understood', async () => {
  const { service, port } = await startService();
  const client = await TestClient.connect(port);
  const [owner, record] = [key(), key()];
  const bytes = Buffer.concat([
    encodeStorageFrame({ type: FrameType.Put, requestId: 10, owner, record, expectedVersion: 0, blob: Buffer.from('split') }),
    encodeStorageFrame({ type: FrameType.Get, requestId: 11, owner, record }),
  ]);
  for (let i = 0; i < bytes.length; i += 1) {
    client.socket.write(bytes.subarray(i, i + 1));
    if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve)); // let chunks arrive separately
  }
  assert.deepEqual(await client.reply(10), { type: FrameType.Written, requestId: 10, version: 1 });
  assert.deepEqual(await client.reply(11), { type: FrameType.Found, requestId: 11, version: 1, blob: Buffer.from('split') });
  client.socket.destroy();
  await service.close(1_000);
});

test('a 4 GiB length header closes that connection; the service still answers PING on a new one', async () => {
  const { service, port, lines } = await startService();
  const bad = await connectTcp(port);
  bad.on('error', () => undefined);
  bad.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x04]));
  await closedWithin(bad, 2_000);
  assert.equal(lines.find((l) => l['msg'] === 'bad storage frame; closing connection')?.['code'], 'STORAGE_FRAME_INVALID');
  const good = await TestClient.connect(port);
  assert.deepEqual(await good.ask({ type: FrameType.Ping, requestId: 99 }), { type: FrameType.Pong, requestId: 99 });
  good.socket.destroy();
  await service.close(1_000);
});

test('a reply-type frame from the client is answered ERROR BadRequest and the connection stays usable', async () => {
  const { service, port } = await startService();
  const client = await TestClient.connect(port);
  client.socket.write(encodeStorageFrame({ type: FrameType.Pong, requestId: 5 }));
  assert.deepEqual(await client.reply(5), { type: FrameType.Error, requestId: 5, errorCode: StorageErrorCode.BadRequest });
  assert.deepEqual(await client.ask({ type: FrameType.Ping, requestId: 6 }), { type: FrameType.Pong, requestId: 6 });
  client.socket.destroy();
  await service.close(1_000);
});

test('many concurrent requests with random ids on several connections are all answered correctly', async () => {
  const { service, port } = await startService();
  const clients = await Promise.all([1, 2, 3, 4].map(() => TestClient.connect(port)));
  const owner = key();
  const expected: Array<{ client: TestClient; requestId: number; record: Buffer; blob: Buffer }> = [];
  const usedIds = new Set<number>();
  for (let i = 0; i < 400; i += 1) {
    let requestId = randomInt(0, 0xffff_ffff);
    while (usedIds.has(requestId)) requestId = randomInt(0, 0xffff_ffff);
    usedIds.add(requestId);
    const client = clients[i % clients.length];
    assert.ok(client !== undefined);
    const record = key();
    const blob = randomBytes(randomInt(1, 4096));
    expected.push({ client, requestId, record, blob });
    client.socket.write(encodeStorageFrame({ type: FrameType.Put, requestId, owner, record, expectedVersion: 0, blob }));
  }
  for (const e of expected) assert.deepEqual(await e.client.reply(e.requestId), { type: FrameType.Written, requestId: e.requestId, version: 1 });
  // Read them all back in one burst per connection, under other random ids.
  const getId = (id: number): number => (id ^ 1) >>> 0;
  for (const e of expected) e.client.replies.delete(getId(e.requestId));
  for (const e of expected) e.client.socket.write(encodeStorageFrame({ type: FrameType.Get, requestId: getId(e.requestId), owner, record: e.record }));
  for (const e of expected) {
    const reply = await e.client.reply(getId(e.requestId));
    assert.deepEqual(reply, { type: FrameType.Found, requestId: getId(e.requestId), version: 1, blob: e.blob });
  }
  for (const c of clients) c.socket.destroy();
  await service.close(1_000);
});

test('a full database answers ERROR Full; reads still work', async () => {
  const { service, port, lines } = await startService(8);
  const client = await TestClient.connect(port);
  const [owner, record] = [key(), key()];
  await client.ask({ type: FrameType.Put, requestId: 1, owner, record, expectedVersion: 0, blob: Buffer.from('kept') });
  assert.deepEqual(await client.ask({ type: FrameType.Put, requestId: 2, owner, record: key(), expectedVersion: 0, blob: randomBytes(64 * 1024) }), {
    type: FrameType.Error,
    requestId: 2,
    errorCode: StorageErrorCode.Full,
  });
  assert.equal(lines.find((l) => l['msg'] === 'storage request failed')?.['code'], 'SQLITE_FULL');
  assert.deepEqual(await client.ask({ type: FrameType.Get, requestId: 3, owner, record }), { type: FrameType.Found, requestId: 3, version: 1, blob: Buffer.from('kept') });
  client.socket.destroy();
  await service.close(1_000);
});

test('requests sent just before the client FIN are still answered, then the service ends the connection', async () => {
  const { service, port } = await startService();
  const client = await TestClient.connect(port);
  client.socket.end(encodeStorageFrame({ type: FrameType.Ping, requestId: 77 }));
  assert.deepEqual(await client.reply(77), { type: FrameType.Pong, requestId: 77 });
  await closedWithin(client.socket, 2_000);
  await service.close(1_000);
});

test('LIST pages through the records in byte order over a real socket; a limit past the end says more = false', async () => {
  const { service, port } = await startService();
  const client = await TestClient.connect(port);
  assert.deepEqual(await client.ask({ type: FrameType.List, requestId: 1, after: undefined, limit: 5 }), {
    type: FrameType.Listed,
    requestId: 1,
    more: false,
    entries: [],
  });
  const keys = Array.from({ length: 5 }, () => ({ owner: key(), record: key() }));
  let id = 10;
  for (const k of keys) await client.ask({ type: FrameType.Put, requestId: (id += 1), owner: k.owner, record: k.record, expectedVersion: 0, blob: Buffer.from('x') });
  const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.concat([a.owner, a.record]), Buffer.concat([b.owner, b.record])));
  const first = await client.ask({ type: FrameType.List, requestId: 20, after: undefined, limit: 3 });
  assert.deepEqual(first, { type: FrameType.Listed, requestId: 20, more: true, entries: sorted.slice(0, 3).map((k) => ({ ...k, version: 1 })) });
  const third = sorted[2];
  assert.ok(third !== undefined);
  const second = await client.ask({ type: FrameType.List, requestId: 21, after: third, limit: 3 });
  assert.deepEqual(second, { type: FrameType.Listed, requestId: 21, more: false, entries: sorted.slice(3).map((k) => ({ ...k, version: 1 })) });
  client.socket.destroy();
  await service.close(1_000);
});

test('a LIST frame with an unknown flag bit closes the connection (STORAGE_FRAME_INVALID)', async () => {
  const { service, port, lines } = await startService();
  const client = await TestClient.connect(port);
  const bytes = encodeStorageFrame({ type: FrameType.List, requestId: 1, after: undefined, limit: 1 });
  bytes.writeUInt8(0x03, 9);
  client.socket.write(bytes);
  await closedWithin(client.socket, 2_000);
  assert.equal(lines.find((l) => l['msg'] === 'bad storage frame; closing connection')?.['code'], 'STORAGE_FRAME_INVALID');
  await service.close(1_000);
});

test('CREDENTIALS: the source document as CREDENTIALS_OK; no source or a failing one is ERROR NoCredentials, logged by code only', async () => {
  const document = Buffer.from('{"accessKeyId":"AKIAEXAMPLEEXAMPLE00","secretAccessKey":"s3cr3t-value"}');
  let fail: Error | undefined;
  let oversize = false;
  const source: CredentialsSource = {
    credentialsDocument: async () => {
      if (fail !== undefined) throw fail;
      return oversize ? Buffer.alloc(MAX_CREDENTIALS_BYTES + 1, 0x20) : document;
    },
  };
  const { service, port, lines } = await startService(undefined, source);
  const client = await TestClient.connect(port);
  assert.deepEqual(await client.ask({ type: FrameType.Credentials, requestId: 1 }), { type: FrameType.CredentialsOk, requestId: 1, json: document });
  fail = Object.assign(new Error('imds said: s3cr3t-value'), { code: 'IMDS_UNAVAILABLE' });
  assert.deepEqual(await client.ask({ type: FrameType.Credentials, requestId: 2 }), {
    type: FrameType.Error,
    requestId: 2,
    errorCode: StorageErrorCode.NoCredentials,
  });
  assert.equal(lines.find((l) => l['msg'] === 'aws credentials unavailable')?.['code'], 'IMDS_UNAVAILABLE');
  fail = undefined;
  oversize = true;
  assert.deepEqual(await client.ask({ type: FrameType.Credentials, requestId: 3 }), {
    type: FrameType.Error,
    requestId: 3,
    errorCode: StorageErrorCode.NoCredentials,
  });
  assert.equal(lines.find((l) => l['msg'] === 'aws credentials document out of bounds')?.['code'], 'AWS_CREDENTIALS_TOO_LARGE');
  // The connection is still good, and nothing secret reached the log.
  assert.deepEqual(await client.ask({ type: FrameType.Ping, requestId: 4 }), { type: FrameType.Pong, requestId: 4 });
  assert.ok(!JSON.stringify(lines).includes('s3cr3t'));
  client.socket.destroy();
  await service.close(1_000);

  const bare = await startService();
  const other = await TestClient.connect(bare.port);
  assert.deepEqual(await other.ask({ type: FrameType.Credentials, requestId: 5 }), {
    type: FrameType.Error,
    requestId: 5,
    errorCode: StorageErrorCode.NoCredentials,
  });
  assert.equal(bare.lines.find((l) => l['msg'] === 'aws credentials requested; none configured')?.['code'], 'AWS_CREDENTIALS_NOT_CONFIGURED');
  other.socket.destroy();
  await bare.service.close(1_000);
});
