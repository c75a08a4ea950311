// Tests of listenOn/connectTo over real sockets: tcp on 127.0.0.1 port 0 and
// unix sockets in a mkdtemp directory. No test connects an AF_VSOCK socket.

import assert from 'node:assert/strict';
import { linkSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { parseTransportAddress, type TransportAddress } from '@http-enclave/protocol';
import { isVsockAvailable, vsockAbsenceReason } from '@http-enclave/vsock';
import { connectTo, listenOn, listeningAddress, vsockUnsupported } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'transport-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function echoServer(): Server {
  return createServer((socket) => socket.pipe(socket));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function echoRoundTrip(socket: Socket, payload: Buffer): Promise<Buffer> {
  const received: Buffer[] = [];
  let length = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('echo timed out')), 5_000);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      length += chunk.length;
      if (length >= payload.length) {
        clearTimeout(timer);
        resolve(Buffer.concat(received));
      }
    });
    socket.on('error', reject);
    socket.write(payload);
  });
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code);
    return true;
  });
}

test('tcp: listen on port 0, connect, echo 1 MiB', async () => {
  const server = echoServer();
  const requested = parseTransportAddress('tcp://127.0.0.1:0');
  await listenOn(server, requested);
  const bound = listeningAddress(server, requested);
  assert.equal(bound.scheme, 'tcp');
  assert.ok(bound.scheme === 'tcp' && bound.port > 0 && bound.host === '127.0.0.1');
  const socket = await connectTo(bound, { timeoutMs: 2_000 });
  const payload = Buffer.alloc(1024 * 1024, 0x61);
  assert.deepEqual(await echoRoundTrip(socket, payload), payload);
  socket.destroy();
  await closeServer(server);
});

test('unix: listen on a path, connect, echo', async () => {
  const server = echoServer();
  const address: TransportAddress = { scheme: 'unix', path: join(dir, 'echo.sock') };
  await listenOn(server, address);
  assert.ok(statSync(address.path).isSocket());
  assert.deepEqual(listeningAddress(server, address), address);
  const socket = await connectTo(address, { timeoutMs: 2_000, allowHalfOpen: true });
  const payload = Buffer.from('hello through a unix socket');
  assert.deepEqual(await echoRoundTrip(socket, payload), payload);
  socket.destroy();
  await closeServer(server);
});

test('listen on a busy tcp port rejects with EADDRINUSE', async () => {
  const first = echoServer();
  await listenOn(first, { scheme: 'tcp', host: '127.0.0.1', port: 0 });
  const bound = listeningAddress(first, { scheme: 'tcp', host: '127.0.0.1', port: 0 });
  const second = echoServer();
  await rejectsWithCode(listenOn(second, bound), 'EADDRINUSE');
  await closeServer(first);
});

/** A unix socket file with nobody listening: hard-link a live socket, then close its server. */
async function makeStaleSocket(path: string): Promise<void> {
  const server = echoServer();
  const live = `${path}.live`;
  await listenOn(server, { scheme: 'unix', path: live });
  linkSync(live, path);
  await closeServer(server);
  assert.ok(statSync(path).isSocket());
}

test('unix: a stale socket file is replaced by default', async () => {
  const path = join(dir, 'stale.sock');
  await makeStaleSocket(path);
  await rejectsWithCode(connectTo({ scheme: 'unix', path }, { timeoutMs: 1_000 }), 'ECONNREFUSED');
  const server = echoServer();
  await listenOn(server, { scheme: 'unix', path });
  const socket = await connectTo({ scheme: 'unix', path }, { timeoutMs: 1_000 });
  assert.deepEqual(await echoRoundTrip(socket, Buffer.from('x')), Buffer.from('x'));
  socket.destroy();
  await closeServer(server);
});

test('unix: replaceStaleUnixSocket false keeps the stale file and fails with EADDRINUSE', async () => {
  const path = join(dir, 'stale-kept.sock');
  await makeStaleSocket(path);
  await rejectsWithCode(listenOn(echoServer(), { scheme: 'unix', path }, { replaceStaleUnixSocket: false }), 'EADDRINUSE');
  assert.ok(statSync(path).isSocket());
});

test('unix: the socket of a live listener is never taken over (EADDRINUSE, the first keeps serving)', async () => {
  const path = join(dir, 'live.sock');
  const first = echoServer();
  await listenOn(first, { scheme: 'unix', path });
  await rejectsWithCode(listenOn(echoServer(), { scheme: 'unix', path }), 'EADDRINUSE');
  const socket = await connectTo({ scheme: 'unix', path }, { timeoutMs: 1_000 });
  assert.deepEqual(await echoRoundTrip(socket, Buffer.from('still mine')), Buffer.from('still mine'));
  socket.destroy();
  await closeServer(first);
});

test('unix: a regular file at the path is never removed', async () => {
  const path = join(dir, 'regular-file.sock');
  writeFileSync(path, 'not a socket');
  await rejectsWithCode(listenOn(echoServer(), { scheme: 'unix', path }), 'EADDRINUSE');
  assert.ok(statSync(path).isFile());
});

test('unix: connecting to a missing path or a dead socket fails at once with the errno code', async () => {
  const started = Date.now();
  await rejectsWithCode(connectTo({ scheme: 'unix', path: join(dir, 'missing.sock') }, { timeoutMs: 5_000 }), 'ENOENT');
  const stale = join(dir, 'dead.sock');
  await makeStaleSocket(stale);
  await rejectsWithCode(connectTo({ scheme: 'unix', path: stale }, { timeoutMs: 5_000 }), 'ECONNREFUSED');
  assert.ok(Date.now() - started < 2_000, 'refusal is immediate, not a timeout');
});

test('tcp: connecting to a closed port fails with ECONNREFUSED', async () => {
  const server = echoServer();
  await listenOn(server, { scheme: 'tcp', host: '127.0.0.1', port: 0 });
  const bound = listeningAddress(server, { scheme: 'tcp', host: '127.0.0.1', port: 0 });
  await closeServer(server);
  await rejectsWithCode(connectTo(bound, { timeoutMs: 5_000 }), 'ECONNREFUSED');
});

// A listener whose accept queue is full: the kernel drops further SYNs, so a
// connect neither succeeds nor fails until it times out. The listener lives
// in a worker whose event loop is blocked (Atomics.wait), so it never accepts;
// Node's backlog 1 lets the kernel queue 2 connections, the third hangs.
const BLOCKED_LISTENER_SOURCE = `
const { createServer } = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const server = createServer();
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(new Int32Array(workerData), 0, 0, 10000);
  server.close();
});
`;

test('tcp: connect to a listener with a full accept queue times out with TRANSPORT_CONNECT_TIMEOUT', async () => {
  const release = new SharedArrayBuffer(4);
  const worker = new Worker(BLOCKED_LISTENER_SOURCE, { eval: true, workerData: release });
  const sockets: Socket[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('message', (message: number) => resolve(message));
      worker.once('error', reject);
    });
    const address: TransportAddress = { scheme: 'tcp', host: '127.0.0.1', port };
    let timedOut: unknown;
    // Bounded: at most 8 attempts of 250 ms; the queue holds 2.
    for (let attempt = 0; attempt < 8 && timedOut === undefined; attempt += 1) {
      const started = Date.now();
      try {
        sockets.push(await connectTo(address, { timeoutMs: 250 }));
      } catch (error) {
        timedOut = error;
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 240 && elapsed < 2_000, `timed out after ${elapsed} ms`);
      }
    }
    assert.ok(timedOut !== undefined, 'a connect should have timed out');
    assert.equal((timedOut as { code?: unknown }).code, 'TRANSPORT_CONNECT_TIMEOUT');
    assert.ok(sockets.length >= 1, 'the first connects complete in the kernel');
  } finally {
    for (const socket of sockets) socket.destroy();
    Atomics.store(new Int32Array(release), 0, 1);
    Atomics.notify(new Int32Array(release), 0);
    await worker.terminate();
  }
});

test('vsock without the addon: listen and connect reject with TRANSPORT_UNSUPPORTED without touching a socket', { skip: isVsockAvailable() ? 'the addon is built here (the absent path is the message below)' : false }, async () => {
  const server = echoServer();
  await rejectsWithCode(listenOn(server, parseTransportAddress('vsock://any:5000')), 'TRANSPORT_UNSUPPORTED');
  assert.equal(server.listening, false);
  await rejectsWithCode(connectTo(parseTransportAddress('vsock://3:5000'), { timeoutMs: 100 }), 'TRANSPORT_UNSUPPORTED');
});

test('vsockUnsupported: one clear TRANSPORT_UNSUPPORTED line naming the address', () => {
  const error = vsockUnsupported(parseTransportAddress('vsock://16:5005'));
  assert.equal(error.code, 'TRANSPORT_UNSUPPORTED');
  assert.match(error.message, /^vsock:\/\/16:5005: vsock support is not built into this installation \(.+\)$/);
});

test('vsock with the addon: listenOn vsock://any:HIGH_PORT listens (AF_VSOCK, never connected here) and closes', { skip: isVsockAvailable() ? false : `addon absent: ${vsockAbsenceReason() ?? ''}` }, async () => {
  const server = echoServer();
  const port = 40_000 + Math.floor(Math.random() * 20_000);
  await listenOn(server, parseTransportAddress(`vsock://any:${port}`));
  assert.equal(server.listening, true);
  assert.deepEqual(listeningAddress(server, { scheme: 'vsock', cid: 'any', port }), { scheme: 'vsock', cid: 'any', port });
  await closeServer(server);
  // The seam refuses a connect target of "any" before any socket exists.
  await assert.rejects(connectTo({ scheme: 'vsock', cid: 'any', port }, { timeoutMs: 100 }), TypeError);
});
