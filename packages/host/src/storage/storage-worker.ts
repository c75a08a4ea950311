// Entry point of the storage worker thread: owns the SQLite database and the
// storage listener, on its own event loop, so that a durable commit (fsync)
// never stalls client forwarding in the main thread.

import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, errorCode } from '../log.js';
import { SqliteRecordStore } from './sqlite-record-store.js';
import { startStorageService, type StorageService } from './storage-service.js';
import type { MainToWorker, StorageWorkerData, WorkerToMain } from './storage-worker-messages.js';

const port = parentPort;
if (port === null) throw new Error('storage-worker.js must run in a worker thread');
const data = workerData as StorageWorkerData;
const logger = createLogger({ level: data.logLevel, base: { thread: 'storage' } });
const send = (message: WorkerToMain): void => port.postMessage(message);

let store: SqliteRecordStore | undefined;
let service: StorageService | undefined;
try {
  store = SqliteRecordStore.open(data.storagePath);
} catch (error) {
  send({ type: 'failed', stage: 'open', code: errorCode(error), message: error instanceof Error ? error.message : 'open failed' });
}
if (store !== undefined) {
  try {
    service = await startStorageService({ store, listenAddress: data.listenAddress, logger });
    send({ type: 'ready', address: service.address });
  } catch (error) {
    await store.close();
    send({ type: 'failed', stage: 'listen', code: errorCode(error), message: error instanceof Error ? error.message : 'listen failed' });
  }
}

port.on('message', (message: MainToWorker) => {
  if (message.type !== 'close') return;
  void (async () => {
    await service?.close(message.deadlineMs);
    await store?.close();
    send({ type: 'closed' });
    port.close();
  })();
});
