import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { FrameType, StorageFrameReader, encodeStorageFrame, type StorageFrame } from '@http-enclave/protocol';
import { isVsockTransportAvailable } from '@http-enclave/transport';
import { loadHostConfig } from './config.js';
import { describeStartupError, runHost } from './run.js';
import { HostListenError } from './host-errors.js';
import { collectingLogger, connectTcp, makeTempDir } from './test-support.js';

function configFor(dir: string, extra: NodeJS.ProcessEnv = {}): ReturnType<typeof loadHostConfig> {
  return loadHostConfig({ BIND_ADDR: '127.0.0.1:0', STORAGE_LISTEN: 'tcp://127.0.0.1:0', EGRESS_LISTEN: 'tcp://127.0.0.1:0', ADMIN_LISTEN: 'tcp://127.0.0.1:0', TELEMETRY_LISTEN: 'tcp://127.0.0.1:0', STORAGE_PATH: join(dir, 'host.db'), ...extra });
}

test('runHost: real ports when port 0 was asked; the storage worker serves PUT/GET; close() stops both', async () => {
  const dir = makeTempDir();
  const { logger } = collectingLogger();
  const handle = await runHost(configFor(dir), { logger });
  assert.equal(handle.ingressAddress.scheme, 'tcp');
  assert.ok(handle.ingressAddress.scheme === 'tcp' && handle.ingressAddress.port > 0);
  assert.ok(handle.storageAddress.scheme === 'tcp' && handle.storageAddress.port > 0);
  const storagePort = handle.storageAddress.scheme === 'tcp' ? handle.storageAddress.port : 0;
  const socket = await connectTcp(storagePort);
  const reader = new StorageFrameReader();
  const replies: StorageFrame[] = [];
  socket.on('data', (c: Buffer) => replies.push(...reader.push(c)));
  const [owner, record] = [randomBytes(32), randomBytes(32)];
  socket.write(encodeStorageFrame({ type: FrameType.Ping, requestId: 1 }));
  socket.write(encodeStorageFrame({ type: FrameType.Put, requestId: 2, owner, record, expectedVersion: 0, blob: Buffer.from('sealed') }));
  socket.end(encodeStorageFrame({ type: FrameType.Get, requestId: 3, owner, record }));
  await new Promise((resolve) => socket.once('end', resolve));
  assert.deepEqual(replies, [
    { type: FrameType.Pong, requestId: 1 },
    { type: FrameType.Written, requestId: 2, version: 1 },
    { type: FrameType.Found, requestId: 3, version: 1, blob: Buffer.from('sealed') },
  ]);
  await handle.close({ drainTimeoutMs: 500 });
  await handle.close(); // idempotent
  const ingressPort = handle.ingressAddress.scheme === 'tcp' ? handle.ingressAddress.port : 0;
  await assert.rejects(connectTcp(ingressPort), { code: 'ECONNREFUSED' });
  await assert.rejects(connectTcp(storagePort), { code: 'ECONNREFUSED' });
  // The worker closed the database: the WAL was checkpointed into the file.
  const raw = new Database(join(dir, 'host.db'), { readonly: true });
  assert.equal((raw.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n, 1);
  raw.close();
});

test('runHost: with the addon, a vsock enclave address starts (nothing connects until a client does) and a vsock storage listener works', { skip: isVsockTransportAvailable() ? false : 'vsock addon absent' }, async () => {
  const port = 40_000 + Math.floor(Math.random() * 20_000);
  const handle = await runHost(configFor(makeTempDir(), { ENCLAVE_ADDR: 'vsock://16:5005', STORAGE_LISTEN: `vsock://any:${port}` }), {
    logger: collectingLogger().logger,
  });
  assert.deepEqual(handle.storageAddress, { scheme: 'vsock', cid: 'any', port });
  await handle.close({ drainTimeoutMs: 100 });
});

test('runHost: without the addon, a vsock enclave address fails at start-up with TRANSPORT_UNSUPPORTED', { skip: isVsockTransportAvailable() ? 'the vsock addon is built here' : false }, async () => {
  await assert.rejects(runHost(configFor(makeTempDir(), { ENCLAVE_ADDR: 'vsock://16:5005' }), { logger: collectingLogger().logger }), {
    code: 'TRANSPORT_UNSUPPORTED',
  });
});

test('runHost: a database from a newer schema stops start-up with STORE_SCHEMA_TOO_NEW', async () => {
  const dir = makeTempDir();
  const raw = new Database(join(dir, 'host.db'));
  raw.pragma('user_version = 99');
  raw.close();
  await assert.rejects(runHost(configFor(dir), { logger: collectingLogger().logger }), { code: 'STORAGE_START_FAILED', stage: 'open', reason: 'STORE_SCHEMA_TOO_NEW' });
});

test('describeStartupError: EACCES explains privileged ports', () => {
  assert.equal(
    describeStartupError(new HostListenError('BIND_ADDR', '0.0.0.0:443', 'EACCES')),
    'cannot listen on BIND_ADDR=0.0.0.0:443: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE (for example setcap cap_net_bind_service=+ep $(command -v node)), or pick a port above 1023, for example BIND_ADDR=0.0.0.0:8443',
  );
});

test('trust boundary: no host source file imports enclave code', () => {
  const root = fileURLToPath(new URL('../src', import.meta.url));
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length > 10);
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    assert.doesNotMatch(text, /from '(@http-enclave\/enclave|\.\.\/\.\.\/enclave)[^']*'/, file);
  }
});
