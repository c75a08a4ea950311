// Entry point of the storage worker thread: owns the SQLite database and the
// storage listener, on its own event loop, so that a durable commit (fsync)
// never stalls client forwarding in the main thread.

import { parentPort, workerData } from 'node:worker_threads';
import { CredentialsRequestError } from '../host-errors.js';
import { createLogger, errorCode } from '../log.js';
import { PostgresRecordStore } from './postgres-record-store.js';
import type { RecordStore } from './record-store.js';
import { SqliteRecordStore } from './sqlite-record-store.js';
import { startStorageService, type CredentialsSource, type StorageService } from './storage-service.js';
import { createHostEvents, STORAGE_CHANNEL, subscribeHostChannel, type StorageEvent } from '../observability/host-events.js';
import { STORAGE_EVENT_BATCH_MAX, STORAGE_EVENT_FLUSH_MS, type MainToWorker, type StorageWorkerData, type WorkerToMain } from './storage-worker-messages.js';

const port = parentPort;
if (port === null) throw new Error('storage-worker.js must run in a worker thread');
const data = workerData as StorageWorkerData;
const logger = createLogger({ level: data.logLevel, base: { thread: 'storage' } });
const send = (message: WorkerToMain): void => port.postMessage(message);

/**
 * How long a CREDENTIALS request waits for the main thread. Its provider
 * bounds its own fetch (IMDS_FETCH_DEADLINE_MS, 4 s); this only guards
 * against an answer that never comes, so the pending map stays bounded.
 */
const CREDENTIALS_ANSWER_TIMEOUT_MS = 10_000;

const pendingCredentials = new Map<number, { resolve: (document: Buffer) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
let nextCredentialsId = 1;
const credentials: CredentialsSource = {
  credentialsDocument: () =>
    new Promise<Buffer>((resolve, reject) => {
      const id = nextCredentialsId;
      nextCredentialsId = (nextCredentialsId + 1) % Number.MAX_SAFE_INTEGER;
      const timer = setTimeout(() => {
        pendingCredentials.delete(id);
        reject(new CredentialsRequestError('CREDENTIALS_TIMEOUT'));
      }, CREDENTIALS_ANSWER_TIMEOUT_MS);
      pendingCredentials.set(id, { resolve, reject, timer });
      send({ type: 'credentials', id });
    }),
};

// Storage request events: published here by the service, batched, and sent
// to the main thread (where the metrics are) every STORAGE_EVENT_FLUSH_MS.
// Bounded: past STORAGE_EVENT_BATCH_MAX waiting, events are dropped and counted.
const events = createHostEvents();
let batch: StorageEvent[] = [];
let droppedEvents = 0;
subscribeHostChannel<StorageEvent>(STORAGE_CHANNEL, events.instance, ({ kind, outcome, durationMs }) => {
  if (batch.length < STORAGE_EVENT_BATCH_MAX) batch.push({ kind, outcome, durationMs });
  else droppedEvents += 1;
});
const flushTimer = setInterval(() => {
  if (batch.length === 0) return;
  send({ type: 'storage-events', events: batch, dropped: droppedEvents });
  batch = [];
}, STORAGE_EVENT_FLUSH_MS);
flushTimer.unref();

let store: RecordStore | undefined;
let service: StorageService | undefined;
try {
  store = data.database === undefined ? SqliteRecordStore.open(data.storagePath) : await PostgresRecordStore.open(data.database);
} catch (error) {
  const variable = data.database === undefined ? 'STORAGE_PATH' : 'DATABASE_URL';
  send({ type: 'failed', stage: 'open', code: errorCode(error), message: `${variable}: ${error instanceof Error ? error.message : 'open failed'}` });
}
if (store !== undefined) {
  try {
    service = await startStorageService({ store, listenAddress: data.listenAddress, logger, credentials, events });
    send({ type: 'ready', address: service.address });
  } catch (error) {
    await store.close();
    send({ type: 'failed', stage: 'listen', code: errorCode(error), message: error instanceof Error ? error.message : 'listen failed' });
  }
}

port.on('message', (message: MainToWorker) => {
  if (message.type === 'credentials') {
    const pending = pendingCredentials.get(message.id);
    if (pending === undefined) return;
    pendingCredentials.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok) pending.resolve(Buffer.from(message.document.buffer, message.document.byteOffset, message.document.byteLength));
    else pending.reject(new CredentialsRequestError(message.code));
    return;
  }
  if (message.type === 'probe') {
    const probed = store === undefined ? Promise.reject(new Error('no store')) : store.probeWrite();
    probed.then(
      () => send({ type: 'probe', id: message.id, ok: true, code: 'OK' }),
      (error: unknown) => send({ type: 'probe', id: message.id, ok: false, code: errorCode(error) }),
    );
    return;
  }
  if (message.type !== 'close') return;
  void (async () => {
    await service?.close(message.deadlineMs);
    clearInterval(flushTimer);
    if (batch.length > 0) send({ type: 'storage-events', events: batch, dropped: droppedEvents });
    await store?.close();
    for (const pending of pendingCredentials.values()) clearTimeout(pending.timer);
    send({ type: 'closed' });
    port.close();
  })();
});
