// The readiness probe of the enclave against peers that misbehave: one that
// accepts and never answers the TLS handshake (a frozen enclave), one that
// answers 503, one that is not there. Each gives a reason within the deadline.

import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';

import { probeEnclaveHealth } from './enclave-health-probe.js';

test('a peer that accepts and never answers is ENCLAVE_HEALTH_TIMEOUT at the deadline, and its socket is closed', async () => {
  const held: Socket[] = [];
  let closed = 0;
  const server = createServer((socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
    socket.resume(); // reads (and ignores) the ClientHello, so that the client's close is seen
    socket.once('close', () => (closed += 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const started = Date.now();
    const result = await probeEnclaveHealth({ scheme: 'tcp', host: '127.0.0.1', port }, 500);
    const took = Date.now() - started;
    assert.deepEqual(result, { ok: false, reason: 'ENCLAVE_HEALTH_TIMEOUT' });
    assert.ok(took < 1_500, `answered after ${took} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(held.length >= 1 && closed === held.length, `the probe closed its connection (${closed} of ${held.length})`);
  } finally {
    for (const socket of held) socket.destroy();
    server.close();
  }
});

test('nobody listening: the connect error code', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.deepEqual(await probeEnclaveHealth({ scheme: 'tcp', host: '127.0.0.1', port }, 1_000), { ok: false, reason: 'ECONNREFUSED' });
});

test('a plain-HTTP enclave (USE_TLS=false) answering 503 degraded: ENCLAVE_STORAGE_UNAVAILABLE', async () => {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\r\n{"status":"degraded","storage":"unavailable"}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    assert.deepEqual(await probeEnclaveHealth({ scheme: 'tcp', host: '127.0.0.1', port }, 2_000), { ok: false, reason: 'ENCLAVE_STORAGE_UNAVAILABLE' });
  } finally {
    server.close();
  }
});
