// Tests of the enclave's storage client against a hostile fake storage host:
// a real unix-socket server in this file that speaks frames with the protocol
// codec and answers however each test scripts it (out of order, late, wrong,
// malformed, one byte at a time, or not at all).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import {
  encodeStorageFrame,
  FrameType,
  StorageErrorCode,
  StorageFrameReader,
  type StorageFrame,
  type StorageReply,
  type StorageRequest,
  type TransportAddress,
} from '@http-enclave/protocol';
import { silentLogger } from '../log.js';
import { StorageClient, type ListedRecord, type StorageClientOptions } from './storage-client.js';

const dir = mkdtempSync(join(tmpdir(), 'storage-client-test-'));
/** Everything a test opened, closed here even when the test failed half-way (so the run never hangs). */
const openHosts = new Set<FakeStorageHost>();
const openClients = new Set<StorageClient>();
after(async () => {
  for (const storage of openClients) storage.close();
  for (const host of openHosts) await host.stop();
  rmSync(dir, { recursive: true, force: true });
});

const OWNER = Buffer.alloc(32, 0x11);
const record = (n: number): Buffer => {
  const b = Buffer.alloc(32, 0x22);
  b.writeUInt32BE(n);
  return b;
};

interface Connection {
  readonly socket: Socket;
  send(reply: StorageReply): void;
  sendRaw(bytes: Buffer): void;
}
type Handler = (request: StorageRequest, connection: Connection) => void;

/** A scriptable storage host: each request goes to `handler`; counts connections. */
class FakeStorageHost {
  readonly server: Server;
  readonly address: TransportAddress;
  readonly sockets = new Set<Socket>();
  connections = 0;
  handler: Handler = () => {};

  private constructor(path: string) {
    this.address = { scheme: 'unix', path };
    this.server = createServer((socket) => this.#accept(socket));
  }

  static async start(name: string): Promise<FakeStorageHost> {
    const host = new FakeStorageHost(join(dir, `${name}.sock`));
    await new Promise<void>((resolve) => host.server.listen(host.address.scheme === 'unix' ? host.address.path : '', resolve));
    openHosts.add(host);
    return host;
  }

  #accept(socket: Socket): void {
    this.connections += 1;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const reader = new StorageFrameReader();
    const connection: Connection = {
      socket,
      send: (reply) => {
        if (!socket.destroyed) socket.write(encodeStorageFrame(reply));
      },
      sendRaw: (bytes) => {
        if (!socket.destroyed) socket.write(bytes);
      },
    };
    socket.on('data', (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) this.handler(frame as StorageRequest, connection);
    });
  }

  async stop(): Promise<void> {
    if (!openHosts.delete(this)) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function client(host: FakeStorageHost, overrides: Partial<StorageClientOptions> = {}): StorageClient {
  const storage = new StorageClient({ address: host.address, timeoutMs: 2_000, maxInFlight: 128, logger: silentLogger, ...overrides });
  openClients.add(storage);
  return storage;
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code, `got ${String(error)}`);
    return true;
  });
}

/** An honest answer to any request. */
function honestReply(request: StorageRequest): StorageReply {
  switch (request.type) {
    case FrameType.Get:
      return { type: FrameType.Found, requestId: request.requestId, version: 3, blob: Buffer.from(request.record) };
    case FrameType.Put:
      return { type: FrameType.Written, requestId: request.requestId, version: request.expectedVersion + 1 };
    case FrameType.Ping:
      return { type: FrameType.Pong, requestId: request.requestId };
    case FrameType.List:
      return { type: FrameType.Listed, requestId: request.requestId, more: false, entries: [] };
    case FrameType.Credentials:
      return { type: FrameType.CredentialsOk, requestId: request.requestId, json: Buffer.from(JSON.stringify(CREDENTIALS_DOCUMENT)) };
  }
}

const CREDENTIALS_DOCUMENT = {
  accessKeyId: 'ASIAEXAMPLEKEYID0001',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY1',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN+/=',
  expiration: '2030-01-01T01:00:00Z',
};

/** Resolves once `count` requests reached the host (bounded wait). */
function collectRequests(host: FakeStorageHost, count: number): Promise<{ request: StorageRequest; connection: Connection }[]> {
  const seen: { request: StorageRequest; connection: Connection }[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} requests arrived`)), 5_000);
    host.handler = (request, connection) => {
      seen.push({ request, connection });
      if (seen.length === count) {
        clearTimeout(timer);
        resolve(seen);
      }
    };
  });
}

test('100 requests in flight, answered in reverse order, each get their own reply', async () => {
  const host = await FakeStorageHost.start('reverse');
  const storage = client(host);
  const arrived = collectRequests(host, 100);
  const gets = Array.from({ length: 100 }, (_, i) => storage.get(OWNER, record(i)));
  const requests = await arrived;
  assert.equal(storage.inFlight, 100);
  for (const { request, connection } of [...requests].reverse()) connection.send(honestReply(request));
  const results = await Promise.all(gets);
  results.forEach((result, i) => {
    assert.ok(result.found);
    assert.equal(result.version, 3);
    assert.deepEqual(result.blob, record(i));
  });
  assert.equal(storage.inFlight, 0);
  assert.equal(storage.unmatchedReplies, 0);
  assert.equal(host.connections, 1, 'one connection carries all requests');
  storage.close();
  await host.stop();
});

test('put, ping and NOT_FOUND (never written: version 0) with honest replies; the client has no delete', async () => {
  const host = await FakeStorageHost.start('honest');
  host.handler = (request, connection) => connection.send(honestReply(request));
  const storage = client(host);
  assert.deepEqual(await storage.put(OWNER, record(1), 0, Buffer.from('blob')), { written: true, version: 1 });
  assert.deepEqual(await storage.put(OWNER, record(1), 1, Buffer.from('tombstone')), { written: true, version: 2 });
  await storage.ping();
  assert.equal('delete' in storage, false);
  host.handler = (request, connection) => {
    if (request.type === FrameType.Put) connection.send({ type: FrameType.Conflict, requestId: request.requestId, version: 9 });
    if (request.type === FrameType.Get) connection.send({ type: FrameType.NotFound, requestId: request.requestId });
  };
  assert.deepEqual(await storage.put(OWNER, record(1), 2, Buffer.from('blob')), { written: false, currentVersion: 9 });
  assert.deepEqual(await storage.get(OWNER, record(1)), { found: false, version: 0 });
  storage.close();
  await host.stop();
});

test('a reply with an unknown request id is ignored and counted; the real reply still works', async () => {
  const host = await FakeStorageHost.start('unknown-id');
  host.handler = (request, connection) => {
    connection.send({ type: FrameType.Found, requestId: request.requestId + 1000, version: 1, blob: Buffer.from('forged') });
    connection.send({ type: FrameType.Error, requestId: 0xffff_ffff, errorCode: 1 });
    connection.send(honestReply(request));
  };
  const storage = client(host);
  const result = await storage.get(OWNER, record(7));
  assert.ok(result.found);
  assert.deepEqual(result.blob, record(7));
  assert.equal(storage.unmatchedReplies, 2);
  storage.close();
  await host.stop();
});

const STREAM_POISONS: { name: string; bytes: () => Buffer }[] = [
  { name: 'an unknown frame type', bytes: () => Buffer.from('00000005ee00000001', 'hex') },
  { name: 'a 4 GiB length header', bytes: () => Buffer.from('ffffffff', 'hex') },
  { name: 'a length header below 5', bytes: () => Buffer.from('0000000181', 'hex') },
  { name: 'a WRITTEN with a version above 2^53-1', bytes: () => Buffer.from('0000000d' + '83' + '00000001' + '0020000000000000', 'hex') },
  // The retired tombstone answer: NOT_FOUND with a version. A host cannot fake a deletion this way any more.
  { name: 'a NOT_FOUND with a (retired) tombstone version', bytes: () => Buffer.from('0000000d' + '82' + '00000001' + '0000000000000007', 'hex') },
  {
    name: 'a request-type frame (PING) from the host',
    bytes: () => encodeStorageFrame({ type: FrameType.Ping, requestId: 1 } satisfies StorageFrame),
  },
];

for (const poison of STREAM_POISONS) {
  test(`${poison.name} fails every pending request with STORAGE_BAD_REPLY; the next request reconnects`, async () => {
    const host = await FakeStorageHost.start(`poison-${STREAM_POISONS.indexOf(poison)}`);
    const storage = client(host);
    const arrived = collectRequests(host, 3);
    const pending = [storage.get(OWNER, record(1)), storage.put(OWNER, record(2), 0, Buffer.from('b')), storage.ping()];
    const [first] = await arrived;
    assert.ok(first !== undefined);
    first.connection.sendRaw(poison.bytes());
    for (const p of pending) await rejectsWithCode(p, 'STORAGE_BAD_REPLY');
    assert.equal(storage.inFlight, 0);
    host.handler = (request, connection) => connection.send(honestReply(request));
    await storage.ping();
    assert.equal(host.connections, 2, 'a new connection after the poisoned one');
    storage.close();
    await host.stop();
  });
}

test('replies that break the version arithmetic or answer the wrong request fail with STORAGE_BAD_REPLY', async () => {
  const host = await FakeStorageHost.start('lies');
  const storage = client(host);
  let lie: (request: StorageRequest) => StorageReply = honestReply;
  host.handler = (request, connection) => connection.send(lie(request));
  const blob = Buffer.from('sealed');
  const cases: { name: string; lie: (r: StorageRequest) => StorageReply; call: () => Promise<unknown> }[] = [
    {
      name: 'PUT: WRITTEN with expected + 2',
      lie: (r) => ({ type: FrameType.Written, requestId: r.requestId, version: 7 }),
      call: () => storage.put(OWNER, record(1), 5, blob),
    },
    {
      name: 'PUT: WRITTEN with the expected version (not + 1)',
      lie: (r) => ({ type: FrameType.Written, requestId: r.requestId, version: 5 }),
      call: () => storage.put(OWNER, record(1), 5, blob),
    },
    {
      name: 'PUT: WRITTEN with a lower version',
      lie: (r) => ({ type: FrameType.Written, requestId: r.requestId, version: 0 }),
      call: () => storage.put(OWNER, record(1), 5, blob),
    },
    {
      name: 'PUT: CONFLICT with the expected version',
      lie: (r) => ({ type: FrameType.Conflict, requestId: r.requestId, version: 5 }),
      call: () => storage.put(OWNER, record(1), 5, blob),
    },
    {
      name: 'PUT: FOUND',
      lie: (r) => ({ type: FrameType.Found, requestId: r.requestId, version: 6, blob }),
      call: () => storage.put(OWNER, record(1), 5, blob),
    },
    {
      name: 'PUT: NOT_FOUND',
      lie: (r) => ({ type: FrameType.NotFound, requestId: r.requestId }),
      call: () => storage.put(OWNER, record(1), 5, blob),
    },
    {
      name: 'PUT: PONG',
      lie: (r) => ({ type: FrameType.Pong, requestId: r.requestId }),
      call: () => storage.put(OWNER, record(1), 5, blob),
    },
    {
      name: 'GET: WRITTEN',
      lie: (r) => ({ type: FrameType.Written, requestId: r.requestId, version: 1 }),
      call: () => storage.get(OWNER, record(1)),
    },
    {
      name: 'GET: CONFLICT',
      lie: (r) => ({ type: FrameType.Conflict, requestId: r.requestId, version: 1 }),
      call: () => storage.get(OWNER, record(1)),
    },
    {
      name: 'PING: FOUND',
      lie: (r) => ({ type: FrameType.Found, requestId: r.requestId, version: 1, blob }),
      call: () => storage.ping(),
    },
  ];
  for (const c of cases) {
    lie = c.lie;
    await assert.rejects(c.call(), (error: unknown) => {
      assert.equal((error as { code?: unknown }).code, 'STORAGE_BAD_REPLY', c.name);
      return true;
    });
  }
  assert.equal(storage.inFlight, 0);
  storage.close();
  await host.stop();
});

test('an ERROR frame fails the request with STORAGE_UNAVAILABLE and keeps the connection', async () => {
  const host = await FakeStorageHost.start('error-frame');
  host.handler = (request, connection) =>
    connection.send(
      request.type === FrameType.Get ? { type: FrameType.Error, requestId: request.requestId, errorCode: 3 } : honestReply(request),
    );
  const storage = client(host);
  await rejectsWithCode(storage.get(OWNER, record(1)), 'STORAGE_UNAVAILABLE');
  await storage.ping();
  assert.equal(host.connections, 1);
  storage.close();
  await host.stop();
});

test('silence fails the request with STORAGE_UNAVAILABLE after timeoutMs; a late reply is counted as unmatched', async () => {
  const host = await FakeStorageHost.start('silence');
  const held: { request: StorageRequest; connection: Connection }[] = [];
  host.handler = (request, connection) => held.push({ request, connection });
  const storage = client(host, { timeoutMs: 200 });
  const started = Date.now();
  await rejectsWithCode(storage.get(OWNER, record(1)), 'STORAGE_UNAVAILABLE');
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 190 && elapsed < 1_000, `failed after ${elapsed} ms`);
  assert.equal(storage.inFlight, 0);
  const late = held[0];
  assert.ok(late !== undefined);
  host.handler = (request, connection) => connection.send(honestReply(request));
  late.connection.send(honestReply(late.request));
  await storage.ping();
  assert.equal(storage.unmatchedReplies, 1);
  storage.close();
  await host.stop();
});

test('a connection that stops answering without closing is replaced after two silent timeouts (issue 9, finding 5)', async () => {
  const host = await FakeStorageHost.start('frozen');
  // The first connection is frozen (never answers, never closes); later ones are honest.
  host.handler = (request, connection) => {
    if (host.connections > 1) connection.send(honestReply(request));
  };
  const storage = client(host, { timeoutMs: 200 });
  await rejectsWithCode(storage.get(OWNER, record(1)), 'STORAGE_UNAVAILABLE');
  await rejectsWithCode(storage.get(OWNER, record(2)), 'STORAGE_UNAVAILABLE');
  // Before the fix this timed out forever: the frozen connection was kept.
  const recovered = await storage.get(OWNER, record(3));
  assert.deepEqual(recovered, await storage.get(OWNER, record(3)));
  assert.equal(host.connections, 2, 'one new connection replaced the frozen one');
  await storage.ping();
  assert.equal(host.connections, 2);
  storage.close();
  await host.stop();
});

test('the host closing mid-frame fails pending requests with STORAGE_UNAVAILABLE; the next request reconnects', async () => {
  const host = await FakeStorageHost.start('mid-frame');
  host.handler = (request, connection) => {
    const reply = encodeStorageFrame(honestReply(request));
    connection.sendRaw(reply.subarray(0, reply.length - 3));
    connection.socket.end();
  };
  const storage = client(host);
  await rejectsWithCode(storage.get(OWNER, record(1)), 'STORAGE_UNAVAILABLE');
  host.handler = (request, connection) => connection.send(honestReply(request));
  const result = await storage.get(OWNER, record(2));
  assert.ok(result.found);
  assert.equal(host.connections, 2);
  storage.close();
  await host.stop();
});

test('more than maxInFlight requests: the extra one fails at once with STORAGE_UNAVAILABLE', async () => {
  const host = await FakeStorageHost.start('in-flight');
  const storage = client(host, { maxInFlight: 4 });
  // Connected client: four requests held by the host, the fifth refused.
  host.handler = (request, connection) => connection.send(honestReply(request));
  await storage.ping();
  const arrived = collectRequests(host, 4);
  const held = Array.from({ length: 4 }, (_, i) => storage.get(OWNER, record(i)));
  const requests = await arrived;
  const started = Date.now();
  await rejectsWithCode(storage.get(OWNER, record(99)), 'STORAGE_UNAVAILABLE');
  assert.ok(Date.now() - started < 100, 'refused immediately');
  for (const { request, connection } of requests) connection.send(honestReply(request));
  await Promise.all(held);
  storage.close();
  await host.stop();
});

test('more than maxInFlight requests issued before the connection exists are also refused', async () => {
  const host = await FakeStorageHost.start('in-flight-connecting');
  host.handler = (request, connection) => connection.send(honestReply(request));
  const storage = client(host, { maxInFlight: 4 });
  const calls = Array.from({ length: 10 }, (_, i) => storage.get(OWNER, record(i)));
  const settled = await Promise.allSettled(calls);
  const refused = settled.filter((s) => s.status === 'rejected');
  assert.equal(settled.length - refused.length, 4, 'exactly maxInFlight requests went out');
  for (const r of refused) assert.equal((r.reason as { code?: unknown }).code, 'STORAGE_UNAVAILABLE');
  storage.close();
  await host.stop();
});

test('a reply dripped one byte every 10 ms completes within the timeout', async () => {
  const host = await FakeStorageHost.start('drip');
  const timers = new Set<NodeJS.Timeout>();
  host.handler = (request, connection) => {
    const bytes = encodeStorageFrame(honestReply(request));
    let at = 0;
    const timer = setInterval(() => {
      connection.sendRaw(bytes.subarray(at, at + 1));
      at += 1;
      if (at >= bytes.length) {
        clearInterval(timer);
        timers.delete(timer);
      }
    }, 10);
    timers.add(timer);
  };
  const storage = client(host, { timeoutMs: 3_000 });
  const started = Date.now();
  const result = await storage.get(OWNER, record(5)); // FOUND of 4 + 5 + 8 + 32 = 49 bytes: ~0.5 s
  assert.ok(result.found);
  assert.deepEqual(result.blob, record(5));
  assert.ok(Date.now() - started >= 400);
  for (const timer of timers) clearInterval(timer);
  storage.close();
  await host.stop();
});

test('a drip slower than the timeout fails with STORAGE_UNAVAILABLE', async () => {
  const host = await FakeStorageHost.start('slow-drip');
  const timers = new Set<NodeJS.Timeout>();
  host.handler = (request, connection) => {
    const bytes = encodeStorageFrame(honestReply(request));
    let at = 0;
    const timer = setInterval(() => connection.sendRaw(bytes.subarray(at, (at += 1))), 10);
    timers.add(timer);
  };
  const storage = client(host, { timeoutMs: 200 });
  await rejectsWithCode(storage.get(OWNER, record(5)), 'STORAGE_UNAVAILABLE');
  for (const timer of timers) clearInterval(timer);
  storage.close();
  await host.stop();
});

test('no storage listening: STORAGE_UNAVAILABLE', async () => {
  const storage = new StorageClient({
    address: { scheme: 'unix', path: join(dir, 'nobody.sock') },
    timeoutMs: 500,
    maxInFlight: 4,
    logger: silentLogger,
  });
  await rejectsWithCode(storage.ping(), 'STORAGE_UNAVAILABLE');
  storage.close();
});

test('close() fails pending requests and refuses new ones with STORAGE_UNAVAILABLE', async () => {
  const host = await FakeStorageHost.start('close');
  const arrived = collectRequests(host, 1);
  const storage = client(host);
  const pending = storage.get(OWNER, record(1));
  await arrived;
  storage.close();
  await rejectsWithCode(pending, 'STORAGE_UNAVAILABLE');
  await rejectsWithCode(storage.ping(), 'STORAGE_UNAVAILABLE');
  await host.stop();
});

/** An entry whose owner || record sorts at position n (owner fixed, record = n big-endian). */
const entry = (n: number, version = 1): ListedRecord => ({ owner: OWNER, record: record(n), version });

test('listRecords: an honest page comes back as sent; FROM_START and the cursor reach the host as asked', async () => {
  const host = await FakeStorageHost.start('list-honest');
  const seen: StorageRequest[] = [];
  host.handler = (request, connection) => {
    seen.push(request);
    if (request.type !== FrameType.List) return connection.send(honestReply(request));
    const page = request.after === undefined ? [entry(1), entry(2, 7)] : [entry(3, 2)];
    connection.send({ type: FrameType.Listed, requestId: request.requestId, more: request.after === undefined, entries: page });
  };
  const storage = client(host);
  assert.deepEqual(await storage.listRecords(undefined, 2), { entries: [entry(1), entry(2, 7)], more: true });
  assert.deepEqual(await storage.listRecords({ owner: OWNER, record: record(2) }, 2), { entries: [entry(3, 2)], more: false });
  assert.deepEqual(
    seen.map((r) => (r.type === FrameType.List ? [r.after?.record.readUInt32BE(0) ?? 'start', r.limit] : [])),
    [['start', 2], [2, 2]],
  );
  // Another owner sorts by owner first: a larger owner with a smaller record is still after.
  host.handler = (request, connection) =>
    connection.send({
      type: FrameType.Listed,
      requestId: request.requestId,
      more: false,
      entries: [{ owner: Buffer.alloc(32, 0x12), record: record(0), version: 1 }],
    });
  assert.equal((await storage.listRecords({ owner: OWNER, record: record(9) }, 1)).entries.length, 1);
  storage.close();
  await host.stop();
});

test('listRecords: a LISTED reply that repeats, reorders, goes backwards, overfills or stalls fails with STORAGE_BAD_REPLY', async () => {
  const host = await FakeStorageHost.start('list-lies');
  const storage = client(host);
  let page: { more: boolean; entries: ListedRecord[] } = { more: false, entries: [] };
  host.handler = (request, connection) => connection.send({ type: FrameType.Listed, requestId: request.requestId, ...page });
  const cursor = { owner: OWNER, record: record(10) };
  const cases: { name: string; after: typeof cursor | undefined; limit: number; page: typeof page; fragment: string }[] = [
    { name: 'more entries than the limit', after: undefined, limit: 2, page: { more: true, entries: [entry(1), entry(2), entry(3)] }, fragment: '3 entries for a limit of 2' },
    { name: 'a repeated entry', after: undefined, limit: 5, page: { more: false, entries: [entry(1), entry(2), entry(2)] }, fragment: 'entry 2 is not after entry 1' },
    { name: 'entries out of order', after: undefined, limit: 5, page: { more: false, entries: [entry(2), entry(1)] }, fragment: 'entry 1 is not after entry 0' },
    { name: 'the cursor itself', after: cursor, limit: 5, page: { more: false, entries: [entry(10)] }, fragment: 'entry 0 is not after the cursor' },
    { name: 'an entry before the cursor', after: cursor, limit: 5, page: { more: false, entries: [entry(9), entry(11)] }, fragment: 'entry 0 is not after the cursor' },
    {
      name: 'a smaller owner after the cursor',
      after: cursor,
      limit: 5,
      page: { more: false, entries: [{ owner: Buffer.alloc(32, 0x10), record: record(99), version: 1 }] },
      fragment: 'entry 0 is not after the cursor',
    },
    { name: 'version 0', after: undefined, limit: 5, page: { more: false, entries: [entry(1), entry(2, 0)] }, fragment: 'entry 1 has version 0' },
    { name: 'more with an empty page', after: cursor, limit: 5, page: { more: true, entries: [] }, fragment: 'more = 1 and no entries' },
  ];
  for (const c of cases) {
    page = c.page;
    await assert.rejects(storage.listRecords(c.after, c.limit), (error: unknown) => {
      assert.equal((error as { code?: unknown }).code, 'STORAGE_BAD_REPLY', c.name);
      assert.ok((error as Error).message.includes(c.fragment), `${c.name}: ${(error as Error).message}`);
      return true;
    });
  }
  // Wrong reply types, both ways.
  host.handler = (request, connection) => connection.send({ type: FrameType.Found, requestId: request.requestId, version: 1, blob: Buffer.from('x') });
  await rejectsWithCode(storage.listRecords(undefined, 1), 'STORAGE_BAD_REPLY');
  host.handler = (request, connection) => connection.send({ type: FrameType.Listed, requestId: request.requestId, more: false, entries: [] });
  await rejectsWithCode(storage.get(OWNER, record(1)), 'STORAGE_BAD_REPLY');
  await rejectsWithCode(storage.getAwsCredentials(), 'STORAGE_BAD_REPLY');
  assert.equal(storage.inFlight, 0);
  assert.equal(host.connections, 1, 'a lying page is a bad reply, not a broken stream');
  storage.close();
  await host.stop();
});

test('a LISTED reply and a CREDENTIALS_OK reply dripped one byte at a time are understood', async () => {
  const host = await FakeStorageHost.start('list-drip');
  host.handler = (request, connection) => {
    const reply: StorageReply =
      request.type === FrameType.List ? { type: FrameType.Listed, requestId: request.requestId, more: true, entries: [entry(1), entry(2)] } : honestReply(request);
    const bytes = encodeStorageFrame(reply);
    void (async () => {
      for (let at = 0; at < bytes.length; at += 1) {
        connection.sendRaw(bytes.subarray(at, at + 1));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
  };
  const storage = client(host);
  // One at a time: two replies dripped at once would interleave their bytes.
  assert.deepEqual(await storage.listRecords(undefined, 2), { entries: [entry(1), entry(2)], more: true });
  assert.equal((await storage.getAwsCredentials()).accessKeyId, CREDENTIALS_DOCUMENT.accessKeyId);
  storage.close();
  await host.stop();
});

test('getAwsCredentials: a full and a minimal document', async () => {
  const host = await FakeStorageHost.start('credentials-honest');
  let document: Record<string, unknown> = CREDENTIALS_DOCUMENT;
  host.handler = (request, connection) =>
    connection.send({ type: FrameType.CredentialsOk, requestId: request.requestId, json: Buffer.from(JSON.stringify(document)) });
  const storage = client(host);
  assert.deepEqual(await storage.getAwsCredentials(), { ...CREDENTIALS_DOCUMENT, expiration: new Date('2030-01-01T01:00:00Z') });
  document = { accessKeyId: 'AKIA' + 'A'.repeat(124), secretAccessKey: '~' };
  assert.deepEqual(await storage.getAwsCredentials(), { accessKeyId: 'AKIA' + 'A'.repeat(124), secretAccessKey: '~', sessionToken: undefined, expiration: undefined });
  document = { ...CREDENTIALS_DOCUMENT, sessionToken: 'T'.repeat(4_096), expiration: '2030-01-01T01:00:00.123+02:00' };
  const big = await storage.getAwsCredentials();
  assert.equal(big.sessionToken?.length, 4_096);
  assert.deepEqual(big.expiration, new Date('2029-12-31T23:00:00.123Z'));
  storage.close();
  await host.stop();
});

test('getAwsCredentials: a bad document fails with STORAGE_BAD_REPLY naming the field, never its value', async () => {
  const host = await FakeStorageHost.start('credentials-lies');
  let json: Buffer = Buffer.alloc(0);
  host.handler = (request, connection) => connection.send({ type: FrameType.CredentialsOk, requestId: request.requestId, json });
  const storage = client(host);
  const SECRETISH = 'LEAKMARKER';
  const doc = (overrides: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ ...CREDENTIALS_DOCUMENT, ...overrides }));
  const without = (field: string): Buffer => {
    const copy: Record<string, unknown> = { ...CREDENTIALS_DOCUMENT };
    delete copy[field];
    return Buffer.from(JSON.stringify(copy));
  };
  const cases: [string, Buffer, string][] = [
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'credentials document is not UTF-8 (4 bytes)'],
    ['not JSON', Buffer.from(`{"accessKeyId": ${SECRETISH}`), 'credentials document is not JSON'],
    ['an array', Buffer.from('[1,2]'), 'credentials document is not a JSON object'],
    ['null', Buffer.from('null'), 'credentials document is not a JSON object'],
    ['a string', Buffer.from(`"${SECRETISH}"`), 'credentials document is not a JSON object'],
    ['an unknown field', doc({ [SECRETISH]: 1 }), 'credentials document has 1 unknown field(s)'],
    ['a __proto__ field', Buffer.from(`{"__proto__":{"x":1},"accessKeyId":"ASIAEXAMPLEKEYID0001","secretAccessKey":"s"}`), 'credentials document has 1 unknown field(s)'],
    ['a PascalCase IMDS document', Buffer.from(JSON.stringify({ AccessKeyId: 'ASIAEXAMPLEKEYID0001', SecretAccessKey: 'x' })), 'credentials document has 2 unknown field(s)'],
    ['no accessKeyId', without('accessKeyId'), 'credentials accessKeyId must be a string, got undefined'],
    ['a numeric accessKeyId', doc({ accessKeyId: 12345678901234567 }), 'credentials accessKeyId must be a string, got number'],
    ['a lower-case accessKeyId', doc({ accessKeyId: `asia${SECRETISH.toLowerCase()}xxxxxx` }), 'accessKeyId must be 16..128 characters of [A-Z0-9], got 20 characters'],
    ['a 15-character accessKeyId', doc({ accessKeyId: 'A'.repeat(15) }), 'got 15 characters'],
    ['a 129-character accessKeyId', doc({ accessKeyId: 'A'.repeat(129) }), 'got 129 characters'],
    ['no secretAccessKey', without('secretAccessKey'), 'credentials secretAccessKey must be a string, got undefined'],
    ['a null secretAccessKey', doc({ secretAccessKey: null }), 'credentials secretAccessKey must be a string, got null'],
    ['an empty secretAccessKey', doc({ secretAccessKey: '' }), 'secretAccessKey must be 1..128 printable ASCII characters, got 0 characters'],
    ['a 129-character secretAccessKey', doc({ secretAccessKey: 'S'.repeat(129) }), 'got 129 characters'],
    ['a secretAccessKey with a space', doc({ secretAccessKey: `${SECRETISH} x` }), 'secretAccessKey must be 1..128 printable ASCII characters, got 12 characters'],
    ['a secretAccessKey with a newline', doc({ secretAccessKey: `${SECRETISH}\n` }), 'secretAccessKey must be'],
    ['a non-ASCII secretAccessKey', doc({ secretAccessKey: `${SECRETISH}é` }), 'secretAccessKey must be'],
    ['an empty sessionToken', doc({ sessionToken: '' }), 'sessionToken must be 1..4096 printable ASCII characters, got 0 characters'],
    ['a 4097-character sessionToken', doc({ sessionToken: 'T'.repeat(4_097) }), 'got 4097 characters'],
    ['a null sessionToken', doc({ sessionToken: null }), 'credentials sessionToken must be a string, got null'],
    ['an expiration that is no date', doc({ expiration: `${SECRETISH}-01-01` }), 'credentials expiration must be an ISO-8601 date-time, got 16 characters'],
    ['an expiration without a zone', doc({ expiration: '2030-01-01T01:00:00' }), 'credentials expiration must be an ISO-8601 date-time'],
    ['an expiration on 31 February', doc({ expiration: '2030-02-31T99:00:00Z' }), 'credentials expiration must be an ISO-8601 date-time'],
    ['a numeric expiration', doc({ expiration: 1_900_000_000 }), 'credentials expiration must be a string, got number'],
  ];
  for (const [name, bytes, fragment] of cases) {
    json = bytes;
    await assert.rejects(storage.getAwsCredentials(), (error: unknown) => {
      assert.equal((error as { code?: unknown }).code, 'STORAGE_BAD_REPLY', name);
      const message = (error as Error).message;
      assert.ok(message.includes(fragment), `${name}: "${message}" lacks "${fragment}"`);
      for (const value of [SECRETISH, CREDENTIALS_DOCUMENT.secretAccessKey, CREDENTIALS_DOCUMENT.sessionToken]) {
        assert.ok(!message.includes(value), `${name}: the message echoes a value`);
      }
      return true;
    });
  }
  assert.equal(host.connections, 1);
  storage.close();
  await host.stop();
});

test('ERROR NoCredentials to CREDENTIALS is AWS_CREDENTIALS_UNAVAILABLE; to any other request, or another error code, it is STORAGE_UNAVAILABLE', async () => {
  const host = await FakeStorageHost.start('credentials-error');
  let errorCode: number = StorageErrorCode.NoCredentials;
  host.handler = (request, connection) =>
    connection.send(request.type === FrameType.Ping ? honestReply(request) : { type: FrameType.Error, requestId: request.requestId, errorCode });
  const storage = client(host);
  await rejectsWithCode(storage.getAwsCredentials(), 'AWS_CREDENTIALS_UNAVAILABLE');
  await rejectsWithCode(storage.get(OWNER, record(1)), 'STORAGE_UNAVAILABLE');
  await rejectsWithCode(storage.listRecords(undefined, 1), 'STORAGE_UNAVAILABLE');
  errorCode = StorageErrorCode.Unavailable;
  await rejectsWithCode(storage.getAwsCredentials(), 'STORAGE_UNAVAILABLE');
  await storage.ping();
  assert.equal(host.connections, 1, 'an ERROR keeps the connection');
  storage.close();
  await host.stop();
});
