// The enclave's events reach both subscribers: the log lines
// (enclave-event-log.ts) and the telemetry counters (enclave-metrics.ts),
// through the real diagnostics channels; and what a storage request
// publishes, through the real storage client against a real socket server.

import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { encodeStorageFrame, FrameType, StorageFrameReader, type StorageRequest } from '@http-enclave/protocol';
import { loadEnclaveConfig } from '../config.js';
import { loadTlsIdentity } from '../tls/tls-identity.js';
import { buildTlsServerOptions } from '../tls/tls-server-options.js';
import { createApiServer } from '../http/create-api-server.js';
import { createLogger, silentLogger } from '../log.js';
import { StorageClient } from '../storage/storage-client.js';
import { logEnclaveEvents } from './enclave-event-log.js';
import { publishAttestation, publishConnection, publishKey, publishSeal, publishStorage } from './enclave-events.js';
import { EnclaveMetrics } from './enclave-metrics.js';

function counter(metrics: EnclaveMetrics, name: string, labels: Record<string, string>): number | undefined {
  return metrics.snapshot().find((c) => c.name === name && JSON.stringify(c.labels) === JSON.stringify(labels))?.value;
}

test('every event kind becomes a counter with its fixed labels, and a log line at its level', () => {
  const metrics = new EnclaveMetrics(() => 0);
  const lines: { level: string; msg: string; [field: string]: unknown }[] = [];
  const stopLog = logEnclaveEvents(createLogger('debug', (line) => lines.push(JSON.parse(line) as (typeof lines)[number])));
  try {
    publishConnection({ stage: 'tls', code: 'ERR_SSL_NO_SHARED_CIPHER' });
    publishConnection({ stage: 'http', code: 'not a code; a peer\'s text' });
    publishStorage({ kind: 'get', outcome: 'found', durationMs: 4 });
    publishStorage({ kind: 'get', outcome: 'found', durationMs: 6 });
    publishSeal({ reason: 'AUTHENTICATION_FAILED' });
    publishAttestation({ outcome: 'signed', durationMs: 2 });
    publishAttestation({ outcome: 'failed', durationMs: 0 });
    publishKey({ event: 'rotated', keyId: 'ab'.repeat(16) });
    publishKey({ event: 'regressed', code: 'KEYRING_REGRESSED' });

    assert.equal(counter(metrics, 'connection_failures_total', { stage: 'tls' }), 1);
    assert.equal(counter(metrics, 'connection_failures_total', { stage: 'http' }), 1);
    assert.equal(counter(metrics, 'storage_requests_total', { kind: 'get', outcome: 'found' }), 2);
    assert.equal(counter(metrics, 'storage_request_duration_seconds_sum', { kind: 'get' }), 0.01);
    assert.equal(counter(metrics, 'seal_failures_total', { reason: 'AUTHENTICATION_FAILED' }), 1);
    assert.equal(counter(metrics, 'attestation_documents_total', { outcome: 'signed' }), 1);
    assert.equal(counter(metrics, 'attestation_documents_total', { outcome: 'failed' }), 1);
    assert.equal(counter(metrics, 'key_events_total', { event: 'rotated' }), 1);
    assert.equal(counter(metrics, 'key_events_total', { event: 'regressed' }), 1);

    const byMsg = (prefix: string) => lines.filter((line) => line.msg.startsWith(prefix));
    assert.deepEqual(byMsg('tls handshake failed').map((l) => [l.level, l['code']]), [['debug', 'ERR_SSL_NO_SHARED_CIPHER']]);
    // A code that is not one of ours or Node's is not repeated (a peer must not choose a label or a log field).
    assert.deepEqual(byMsg('http client error').map((l) => l['code']), ['OTHER']);
    assert.deepEqual(byMsg('storage integrity failure').map((l) => [l.level, l['code'], l['reason']]), [['warn', 'STORAGE_INTEGRITY', 'AUTHENTICATION_FAILED']]);
    assert.deepEqual(byMsg('key rotated').map((l) => [l.level, l['activeKeyId']]), [['info', 'ab'.repeat(16)]]);
    assert.deepEqual(byMsg('the stored keyring lacks').map((l) => [l.level, l['code']]), [['error', 'KEYRING_REGRESSED']]);
    assert.equal(byMsg('storage request').length, 2);
    assert.equal(byMsg('attestation').length, 2);
  } finally {
    stopLog();
    metrics.close();
  }
  // Unsubscribed: nothing more is counted.
  publishSeal({ reason: 'BAD_MAGIC' });
  assert.equal(counter(metrics, 'seal_failures_total', { reason: 'BAD_MAGIC' }), undefined);
});

/** A storage server that answers GET with NOT_FOUND, PUT with ERROR Full and PING with WRITTEN, over real frames. */
async function startStorage(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    const reader = new StorageFrameReader();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) {
        const request = frame as StorageRequest;
        if (request.type === FrameType.Get) socket.write(encodeStorageFrame({ type: FrameType.NotFound, requestId: request.requestId }));
        else if (request.type === FrameType.Put) socket.write(encodeStorageFrame({ type: FrameType.Error, requestId: request.requestId, errorCode: 4 }));
        // A hostile host answers a PING with a WRITTEN: a reply that does not fit its request.
        else if (request.type === FrameType.Ping) socket.write(encodeStorageFrame({ type: FrameType.Written, requestId: request.requestId, version: 1 }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port };
}

test('the storage client publishes each request with its kind and outcome, failures included', async () => {
  const { server, port } = await startStorage();
  const metrics = new EnclaveMetrics(() => 0);
  const client = new StorageClient({ address: { scheme: 'tcp', host: '127.0.0.1', port }, timeoutMs: 2_000, maxInFlight: 8, logger: silentLogger });
  try {
    const owner = Buffer.alloc(32, 1);
    const record = Buffer.alloc(32, 2);
    assert.equal((await client.get(owner, record)).found, false);
    await assert.rejects(client.put(owner, record, 0, Buffer.alloc(64)), { code: 'STORAGE_FULL' });
    assert.equal(counter(metrics, 'storage_requests_total', { kind: 'get', outcome: 'not_found' }), 1);
    assert.equal(counter(metrics, 'storage_requests_total', { kind: 'put', outcome: 'storage_full' }), 1);
    // Counted by what it meant once checked, never by what the host's reply claims (a review saw 'written' for it).
    await assert.rejects(client.ping(), { code: 'STORAGE_BAD_REPLY' });
    assert.equal(counter(metrics, 'storage_requests_total', { kind: 'ping', outcome: 'storage_bad_reply' }), 1);
    assert.equal(counter(metrics, 'storage_requests_total', { kind: 'ping', outcome: 'written' }), undefined);
  } finally {
    client.close();
    metrics.close();
    server.close();
  }
});

test('a connection past MAX_CONNECTIONS is refused at accept and counted as a connection failure of stage "refused"', async () => {
  const config = loadEnclaveConfig({ ENCLAVE_KEY_BASE64: Buffer.alloc(32, 7).toString('base64'), MAX_CONNECTIONS: '1', USE_TLS: 'false' });
  const server = createApiServer(config, undefined, (_request, response) => response.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const metrics = new EnclaveMetrics(() => 0);
  const sockets: Socket[] = [];
  try {
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = connect(address.port, '127.0.0.1', () => resolve(socket)).on('error', reject);
        sockets.push(socket);
      });
    await open();
    const second = await open();
    await new Promise<void>((resolve) => second.once('close', () => resolve()));
    assert.equal(counter(metrics, 'connection_failures_total', { stage: 'refused' }), 1);
  } finally {
    for (const socket of sockets) socket.destroy();
    metrics.close();
    server.close();
  }
});

test('a failed TLS handshake is one connection failure of stage "tls", not also one of "http"', async () => {
  const config = loadEnclaveConfig({ ENCLAVE_KEY_BASE64: Buffer.alloc(32, 7).toString('base64') });
  const identity = loadTlsIdentity({ certPath: '/nonexistent/cert.pem', keyPath: '/nonexistent/key.pem', now: new Date() });
  const server = createApiServer(config, buildTlsServerOptions(identity), (_request, response) => response.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const metrics = new EnclaveMetrics(() => 0);
  try {
    // Plain HTTP to the TLS port: the handshake fails (ERR_SSL_HTTP_REQUEST or a wrong version record).
    const socket = connect(address.port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(counter(metrics, 'connection_failures_total', { stage: 'tls' }), 1);
    assert.equal(counter(metrics, 'connection_failures_total', { stage: 'http' }), undefined);
  } finally {
    metrics.close();
    server.close();
  }
});
