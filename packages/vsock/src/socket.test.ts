// The stream layer (socketFromFd) on AF_UNIX socket pairs from the addon:
// the same code path as a vsock fd (Pipe handle on a connected stream fd),
// without ever connecting an AF_VSOCK socket on this machine.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { isVsockAvailable, socketPair, vsockAbsenceReason } from './native.js';
import { NativePipeHandle, socketFromFd } from './socket.js';
import { unixConnectThroughAddon } from './native.js';

const skip = isVsockAvailable() ? false : `addon absent: ${vsockAbsenceReason() ?? ''}`;

function pair(allowHalfOpen = false): [Socket, Socket] {
  const [a, b] = socketPair();
  return [socketFromFd(a, { allowHalfOpen }), socketFromFd(b, { allowHalfOpen })];
}

const handleOf = (socket: Socket): unknown => (socket as unknown as { _handle: unknown })._handle;

/** A deterministic stream of `total` bytes: chunks of `block` taken at varying offsets, so order matters for the hash. */
function* chunksOf(block: Buffer, total: number, chunk: number): Generator<Buffer> {
  let sent = 0;
  for (let i = 0; sent < total; i++) {
    const size = Math.min(chunk, total - sent);
    const offset = (i * 7919) % (block.length - size);
    yield block.subarray(offset, offset + size);
    sent += size;
  }
}

/** Writes the generator with backpressure, then end(); resolves with the SHA-256 of what was written. */
function sendAll(socket: Socket, chunks: Generator<Buffer>): Promise<string> {
  const hash = createHash('sha256');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    const pump = (): void => {
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        hash.update(next.value);
        if (!socket.write(next.value)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end(() => resolve(hash.digest('hex')));
    };
    pump();
  });
}

function receiveAll(socket: Socket): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (data: Buffer) => {
      hash.update(data);
      bytes += data.length;
    });
    socket.once('error', reject);
    socket.once('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
  });
}

/** Resolves when the socket has emitted 'close' (at once if it already has). */
const closed = (socket: Socket): Promise<unknown> => (socket.closed ? Promise.resolve() : once(socket, 'close'));

const once = <T = unknown>(emitter: NodeJS.EventEmitter, event: string): Promise<T> =>
  new Promise((resolve) => emitter.once(event, resolve as (value: unknown) => void));

test('socketFromFd: sockets sit on a native Pipe handle, not a JS stream', { skip }, () => {
  const [a, b] = pair();
  assert.ok(handleOf(a) instanceof NativePipeHandle);
  assert.ok(handleOf(b) instanceof NativePipeHandle);
  a.destroy();
  b.destroy();
});

test('socketFromFd: 256 MiB each way at once, SHA-256 equal on both ends', { skip }, async (t) => {
  const size = 256 * 1024 * 1024;
  const [a, b] = pair(true);
  const blockA = randomBytes(4 * 1024 * 1024);
  const blockB = randomBytes(4 * 1024 * 1024);
  const started = performance.now();
  const [sentA, sentB, atB, atA] = await Promise.all([
    sendAll(a, chunksOf(blockA, size, 256 * 1024)),
    sendAll(b, chunksOf(blockB, size, 256 * 1024)),
    receiveAll(b),
    receiveAll(a),
  ]);
  const ms = performance.now() - started;
  assert.deepEqual(atB, { bytes: size, sha256: sentA });
  assert.deepEqual(atA, { bytes: size, sha256: sentB });
  t.diagnostic(`512 MiB total in ${ms.toFixed(0)} ms (${((2 * size) / 1048576 / (ms / 1000)).toFixed(0)} MiB/s incl. hashing)`);
  await Promise.all([closed(a), closed(b)]);
});

test('socketFromFd: half-close each way: end() arrives as "end" and the other direction keeps working', { skip }, async () => {
  for (const closerFirst of [0, 1]) {
    const sockets = pair(true);
    const closer = sockets[closerFirst]!;
    const other = sockets[1 - closerFirst]!;
    other.setEncoding('utf8');
    closer.setEncoding('utf8');
    let atOther = '';
    other.on('data', (d: string) => (atOther += d));
    closer.end('request');
    await once(other, 'end');
    assert.equal(atOther, 'request');
    assert.equal(closer.writable, false);
    assert.equal(other.writable, true, 'the other side can still write');
    let atCloser = '';
    closer.on('data', (d: string) => (atCloser += d));
    other.end('reply after half-close');
    await once(closer, 'end');
    assert.equal(atCloser, 'reply after half-close');
    await Promise.all([closed(closer), closed(other)]);
  }
});

test('socketFromFd: a reader that stops: write() returns false, buffered bytes and RSS stay bounded, all data arrives after resume', { skip }, async (t) => {
  const [writer, reader] = pair();
  reader.pause();
  const chunk = randomBytes(64 * 1024);
  const rssBefore = process.memoryUsage().rss;
  let accepted = 0;
  while (writer.write(chunk)) accepted += chunk.length;
  accepted += chunk.length;
  // Give the kernel and libuv time to flush what they can; nothing is read.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const buffered = writer.writableLength;
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  t.diagnostic(`accepted ${accepted} bytes before write() returned false; writableLength ${buffered}; RSS growth ${(rssGrowth / 1048576).toFixed(1)} MiB`);
  assert.ok(accepted <= 8 * 1024 * 1024, `write() returned false after ${accepted} bytes`);
  assert.ok(buffered <= 1024 * 1024, `writableLength ${buffered}`);
  assert.ok(rssGrowth < 64 * 1024 * 1024, `RSS grew ${rssGrowth}`);
  let received = 0;
  reader.on('data', (d: Buffer) => (received += d.length));
  reader.resume();
  await once(writer, 'drain');
  writer.end();
  await once(reader, 'end');
  assert.equal(received, accepted);
});

test('socketFromFd: 1000 concurrent pairs each echo a message and close', { skip }, async (t) => {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: 1000 }, async (_, i) => {
      const [client, server] = pair(true);
      server.on('data', (d: Buffer) => server.write(d));
      server.on('end', () => server.end());
      const done = receiveAll(client);
      client.end(`message ${i}`);
      const { bytes } = await done;
      await closed(client);
      return bytes === Buffer.byteLength(`message ${i}`);
    }),
  );
  assert.equal(results.filter(Boolean).length, 1000);
  t.diagnostic(`1000 pairs in ${(performance.now() - started).toFixed(0)} ms`);
});

test('socketFromFd: peer destroyed with nothing unread: the other side gets "end" then "close", no error', { skip }, async () => {
  const [a, b] = pair();
  const errors: Error[] = [];
  b.on('error', (e) => errors.push(e));
  b.resume();
  a.destroy();
  await once(b, 'end');
  await closed(b);
  assert.deepEqual(errors, []);
});

test('socketFromFd: peer destroyed with unread data in its kernel queue (a reset): the other side gets "error" ECONNRESET, then "close"', { skip }, async () => {
  const [a, b] = pair();
  a.pause(); // a reads at most its highWaterMark into JS; the rest stays queued in the kernel
  b.resume();
  b.write(Buffer.alloc(1024 * 1024));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const errored = once<NodeJS.ErrnoException>(b, 'error');
  a.destroy();
  assert.equal((await errored).code, 'ECONNRESET');
  await closed(b);
  assert.equal(b.destroyed, true);
});

test('socketFromFd: peer destroyed after a small write it had already read into JS: the other side gets "end", no error', { skip }, async () => {
  const [a, b] = pair();
  a.pause();
  const errors: Error[] = [];
  b.on('error', (e) => errors.push(e));
  b.resume();
  b.write('small');
  await new Promise((resolve) => setTimeout(resolve, 20));
  a.destroy();
  await once(b, 'end');
  await closed(b);
  assert.deepEqual(errors, []);
});

test('socketFromFd: writing to a closed peer fails with EPIPE', { skip }, async () => {
  const [a, b] = pair(true);
  a.destroy();
  await new Promise((resolve) => setTimeout(resolve, 20));
  b.on('data', () => undefined);
  b.write('x');
  const error = await once<NodeJS.ErrnoException>(b, 'error');
  assert.ok(['EPIPE', 'ECONNRESET'].includes(error.code ?? ''), error.code);
});

test('socketFromFd: setTimeout fires "timeout" on an idle socket', { skip }, async () => {
  const [a, b] = pair();
  a.setTimeout(50);
  const started = performance.now();
  await once(a, 'timeout');
  assert.ok(performance.now() - started >= 45);
  a.destroy();
  b.destroy();
});

test('socketFromFd: TLS 1.3 round trip with half-close, on the native TLS path (TLSWrap on the Pipe handle)', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsock-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-days', '1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const key = readFileSync(join(dir, 'key.pem'));
    const cert = readFileSync(join(dir, 'cert.pem'));
    const [clientSide, serverSide] = pair(true);
    let onServerSecure: (socket: TLSSocket) => void = () => undefined;
    const serverSecure = new Promise<TLSSocket>((resolve) => (onServerSecure = resolve));
    const server = createTlsServer({ key, cert, allowHalfOpen: true }, (tlsSocket) => {
      onServerSecure(tlsSocket);
      let got = '';
      tlsSocket.setEncoding('utf8');
      tlsSocket.on('data', (d: string) => (got += d));
      tlsSocket.on('end', () => tlsSocket.end(`reply:${got.toUpperCase()}`));
    });
    server.emit('connection', serverSide);
    // allowHalfOpen reaches the TLSSocket (Node passes it to net.Socket), though @types/node does not list it.
    const client: TLSSocket = tlsConnect({ socket: clientSide, ca: cert, servername: 'localhost', allowHalfOpen: true } as unknown as Parameters<typeof tlsConnect>[0]);
    await once(client, 'secureConnect');
    assert.equal(client.authorized, true);
    assert.equal(client.getProtocol(), 'TLSv1.3');
    // Native path: the TLSWrap sits directly on our Pipe handle. A JS Duplex
    // would have been wrapped first (its TLSWrap's parent would be a JSStream).
    const tlsParent = (socket: TLSSocket): unknown => (socket as unknown as { _handle: { _parent: unknown } })._handle._parent;
    assert.ok(tlsParent(client) instanceof NativePipeHandle);
    assert.ok(tlsParent(await serverSecure) instanceof NativePipeHandle);
    const big = randomBytes(1024 * 1024).toString('hex');
    client.setEncoding('utf8');
    let reply = '';
    client.on('data', (d: string) => (reply += d));
    client.end(`secret ${big}`);
    await once(client, 'end');
    assert.equal(reply, `reply:SECRET ${big.toUpperCase()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('connect through the addon (threadpool connect, AF_UNIX family): connects, and refuses with errno codes', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsock-unix-'));
  const path = join(dir, 's.sock');
  const server = createServer((s) => s.end('hello from the unix server'));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    const socket = socketFromFd(await unixConnectThroughAddon(path, 1000));
    assert.deepEqual(await receiveAll(socket), {
      bytes: 26,
      sha256: createHash('sha256').update('hello from the unix server').digest('hex'),
    });
    await assert.rejects(unixConnectThroughAddon(join(dir, 'missing.sock'), 1000), { code: 'ENOENT', syscall: 'connect' });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await assert.rejects(unixConnectThroughAddon(path, 1000), { code: 'ENOENT' });
    await assert.rejects(unixConnectThroughAddon('relative.sock', 1000), RangeError);
    await assert.rejects(unixConnectThroughAddon(path, 0), RangeError);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
