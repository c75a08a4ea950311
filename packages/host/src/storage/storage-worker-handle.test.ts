// Tests of the storage worker's message path for CREDENTIALS (the worker asks
// the main thread, which owns the provider) and of LIST through the worker,
// over a real socket to a real worker thread.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { FrameType, StorageErrorCode, StorageFrameReader, encodeStorageFrame, type StorageFrame, type StorageRequest } from '@http-enclave/protocol';
import { collectingLogger, connectTcp, makeTempDir } from '../test-support.js';
import type { CredentialsSource } from './storage-service.js';
import { startStorageWorker, type StorageWorkerHandle } from './storage-worker-handle.js';

async function start(credentials?: CredentialsSource): Promise<{ worker: StorageWorkerHandle; port: number }> {
  const { logger } = collectingLogger();
  const worker = await startStorageWorker({
    listenAddress: { scheme: 'tcp', host: '127.0.0.1', port: 0 },
    storagePath: join(makeTempDir(), 's.db'),
    logLevel: 'error',
    logger,
    onUnexpectedExit: (error) => assert.fail(`worker exited: ${error.message}`),
    ...(credentials === undefined ? {} : { credentials }),
  });
  return { worker, port: worker.address.scheme === 'tcp' ? worker.address.port : 0 };
}

/** Sends one request and waits for the reply with its id. */
function ask(socket: Socket, request: StorageRequest): Promise<StorageFrame> {
  const reader = new StorageFrameReader();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply to ${request.requestId}`)), 5_000);
    const onData = (chunk: Buffer): void => {
      for (const frame of reader.push(chunk)) {
        if (frame.requestId !== request.requestId) continue;
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(frame);
      }
    };
    socket.on('data', onData);
    socket.write(encodeStorageFrame(request));
  });
}

test('CREDENTIALS through the worker: the main thread source answers; a failing source is ERROR NoCredentials', async () => {
  const document = Buffer.from('{"accessKeyId":"ASIAEXAMPLEKEYID0001","secretAccessKey":"x"}');
  let calls = 0;
  let failing = false;
  const { worker, port } = await start({
    credentialsDocument: async () => {
      calls += 1;
      if (failing) throw Object.assign(new Error('down'), { code: 'IMDS_UNAVAILABLE' });
      return document;
    },
  });
  const socket = await connectTcp(port);
  assert.deepEqual(await ask(socket, { type: FrameType.Credentials, requestId: 1 }), { type: FrameType.CredentialsOk, requestId: 1, json: document });
  failing = true;
  assert.deepEqual(await ask(socket, { type: FrameType.Credentials, requestId: 2 }), {
    type: FrameType.Error,
    requestId: 2,
    errorCode: StorageErrorCode.NoCredentials,
  });
  assert.equal(calls, 2, 'asked the main thread each time (the provider caches, not the worker)');
  socket.destroy();
  await worker.close(1_000);
});

test('CREDENTIALS through a worker without a source is ERROR NoCredentials; LIST is served by the worker store', async () => {
  const { worker, port } = await start();
  const socket = await connectTcp(port);
  assert.deepEqual(await ask(socket, { type: FrameType.Credentials, requestId: 1 }), {
    type: FrameType.Error,
    requestId: 1,
    errorCode: StorageErrorCode.NoCredentials,
  });
  const [owner, record] = [randomBytes(32), randomBytes(32)];
  await ask(socket, { type: FrameType.Put, requestId: 2, owner, record, expectedVersion: 0, blob: Buffer.from('b') });
  assert.deepEqual(await ask(socket, { type: FrameType.List, requestId: 3, after: undefined, limit: 10 }), {
    type: FrameType.Listed,
    requestId: 3,
    more: false,
    entries: [{ owner, record, version: 1 }],
  });
  socket.destroy();
  await worker.close(1_000);
});
