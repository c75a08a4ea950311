// The admin listener's timeouts, with real sockets on 127.0.0.1: a connection
// that sends half a request and stalls, and one that sends nothing, are both
// closed (408) at the 5 s request bound, checked every second, so within
// about 6 s, not Node's default 30 s check; the server answers others all along.
// And /readyz shows a storage probe failure by its specific code.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { startStorageWorker } from '../storage/storage-worker-handle.js';
import { collectingLogger, connectTcp, makeTempDir } from '../test-support.js';
import { READINESS_CACHE_MS, startAdminServer } from './admin-server.js';

/** The request bound of admin-server.ts (headersTimeout, requestTimeout). */
const REQUEST_BOUND_MS = 5_000;
/** Timeouts are checked every second there (connectionsCheckingInterval). */
const CHECK_INTERVAL_MS = 1_000;
/** Scheduling slack on a loaded 2-core machine. */
const SLACK_MS = 1_000;

function healthz(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', timeout: 2_000, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('/healthz timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the ms from `since` to the socket's close (undefined: still open after timeoutMs, then destroyed) and what the server sent. */
function closeOf(socket: Socket, since: number, timeoutMs: number): Promise<{ afterMs: number | undefined; received: string }> {
  return new Promise((resolve) => {
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      resolve({ afterMs: undefined, received });
      socket.destroy();
    }, timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ afterMs: Date.now() - since, received });
    });
  });
}

test('admin connections that stall (half a request, or nothing at all) are closed within the bound; others are answered meanwhile', async () => {
  const { logger } = collectingLogger();
  const admin = await startAdminServer({
    listenAddress: { scheme: 'tcp', host: '127.0.0.1', port: 0 },
    registry: new Registry(),
    readiness: { draining: () => false, enclave: () => Promise.resolve({ ok: true }), storage: () => Promise.resolve() },
    logger,
  });
  assert.equal(admin.address.scheme, 'tcp');
  const port = admin.address.scheme === 'tcp' ? admin.address.port : 0;
  try {
    const started = Date.now();
    const stalled: Array<{ kind: string; closed: Promise<{ afterMs: number | undefined; received: string }> }> = [];
    // Three of each kind: half a request line, all headers but the final empty line, and silence.
    for (const [kind, bytes] of [
      ['half request line', 'GET /hea'],
      ['headers without their end', 'GET /healthz HTTP/1.1\r\nHost: admin\r\n'],
      ['nothing', ''],
    ] as const) {
      for (let i = 0; i < 3; i += 1) {
        const socket = await connectTcp(port, false);
        if (bytes.length > 0) socket.write(bytes);
        stalled.push({ kind, closed: closeOf(socket, started, REQUEST_BOUND_MS + CHECK_INTERVAL_MS + SLACK_MS + 2_000) });
      }
    }

    // While they stall, others are answered (bounded: at most 8 probes, one every 500 ms).
    for (let i = 0; i < 8 && Date.now() - started < REQUEST_BOUND_MS - 1_000; i += 1) {
      assert.equal(await healthz(port), 200);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    for (const { kind, closed } of stalled) {
      const { afterMs, received } = await closed;
      assert.ok(afterMs !== undefined, `${kind}: still open after ${REQUEST_BOUND_MS + CHECK_INTERVAL_MS + SLACK_MS + 2_000} ms`);
      assert.ok(afterMs >= REQUEST_BOUND_MS - 500, `${kind}: closed after ${afterMs} ms, before the ${REQUEST_BOUND_MS} ms bound`);
      assert.ok(afterMs <= REQUEST_BOUND_MS + CHECK_INTERVAL_MS + SLACK_MS, `${kind}: closed after ${afterMs} ms`);
      assert.match(received, /^HTTP\/1\.1 408 /, `${kind}: got ${JSON.stringify(received.slice(0, 40))}`);
    }
    assert.equal(await healthz(port), 200);
  } finally {
    await admin.close();
  }
});

test('/readyz names the storage probe failure by its specific code (the reason inside STORAGE_PROBE_FAILED), with the real storage worker', async () => {
  const dir = makeTempDir();
  const { logger } = collectingLogger();
  const storage = await startStorageWorker({
    listenAddress: { scheme: 'unix', path: join(dir, 'storage.sock') },
    storagePath: join(dir, 'store.db'),
    logLevel: 'warn',
    logger,
    onUnexpectedExit: () => undefined,
  });
  const admin = await startAdminServer({
    listenAddress: { scheme: 'tcp', host: '127.0.0.1', port: 0 },
    registry: new Registry(),
    readiness: { draining: () => false, enclave: () => Promise.resolve({ ok: true }), storage: () => storage.probeWrite(2_000) },
    logger,
  });
  const port = admin.address.scheme === 'tcp' ? admin.address.port : 0;
  try {
    assert.deepEqual(await readyz(port), { status: 200, body: { status: 'ready', enclave: 'ok', storage: 'ok' } });
    await storage.close(2_000);
    await assert.rejects(storage.probeWrite(2_000), { code: 'STORAGE_PROBE_FAILED', reason: 'STORAGE_CLOSING' });
    await new Promise((resolve) => setTimeout(resolve, READINESS_CACHE_MS + 100)); // past the cached answer
    assert.deepEqual(await readyz(port), { status: 503, body: { status: 'not-ready', enclave: 'ok', storage: 'STORAGE_CLOSING' } });
  } finally {
    await admin.close();
    await storage.close(2_000);
  }
});

function readyz(port: number): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', timeout: 5_000, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('timeout', () => req.destroy(new Error('/readyz timed out')));
    req.on('error', reject);
    req.end();
  });
}
