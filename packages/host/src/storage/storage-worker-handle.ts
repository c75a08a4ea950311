// Main-thread side of the storage worker: start it, wait until it listens (or
// report why it could not), answer its CREDENTIALS requests, and close it.
//
// AWS credentials are fetched here, in the main thread, and handed to the
// worker per request: the worker exists so that SQLite's fsync never stalls
// forwarding, while a credentials fetch is asynchronous network I/O that
// stalls nothing. Keeping the provider here keeps one cache per process, keeps
// the secret variables out of workerData, and lets runHost take a provider as
// a dependency. The cost is one message round trip per CREDENTIALS request,
// which the enclave makes about once per credential lifetime.

import { Worker } from 'node:worker_threads';
import type { TransportAddress } from '@http-enclave/protocol';
import { StorageProbeError, StorageStartError, StorageWorkerExitedError } from '../host-errors.js';
import type { DatabaseSettings } from '../config.js';
import { errorCode, type Logger, type LogLevel } from '../log.js';
import type { HostEvents } from '../observability/host-events.js';
import type { CredentialsSource } from './storage-service.js';
import type { MainToWorker, StorageWorkerData, WorkerToMain } from './storage-worker-messages.js';

export interface StorageWorkerHandle {
  readonly address: TransportAddress;
  /** Storage events the worker dropped (its batch was full), since start. */
  readonly droppedEvents: number;
  /** One durable write outside the records (readiness); rejects with a StorageProbeError (its `reason` the code) when it fails or takes longer than timeoutMs. */
  probeWrite(timeoutMs: number): Promise<void>;
  close(deadlineMs: number): Promise<void>;
}

export interface StartStorageWorkerOptions {
  readonly listenAddress: TransportAddress;
  readonly storagePath: string;
  /** STORAGE_BACKEND=postgres: the database instead of the SQLite file. */
  readonly database?: DatabaseSettings | undefined;
  readonly logLevel: LogLevel;
  readonly logger: Logger;
  /** Called if the worker dies after it was ready (the host cannot store anything any more). */
  readonly onUnexpectedExit: (error: Error) => void;
  /** Answers the enclave's CREDENTIALS requests. Absent: they are answered ERROR NoCredentials. */
  readonly credentials?: CredentialsSource;
  /** Where the worker's storage request events are replayed on this thread. */
  readonly events?: HostEvents;
}

/** One answer to the worker's CREDENTIALS request: the document, or the error code to log (never a message). */
async function answerCredentials(source: CredentialsSource | undefined, id: number): Promise<MainToWorker> {
  if (source === undefined) return { type: 'credentials', id, ok: false, code: 'AWS_CREDENTIALS_NOT_CONFIGURED' };
  try {
    return { type: 'credentials', id, ok: true, document: await source.credentialsDocument() };
  } catch (error) {
    return { type: 'credentials', id, ok: false, code: errorCode(error) };
  }
}

export function startStorageWorker(options: StartStorageWorkerOptions): Promise<StorageWorkerHandle> {
  const data: StorageWorkerData = { listenAddress: options.listenAddress, storagePath: options.storagePath, database: options.database, logLevel: options.logLevel };
  const worker = new Worker(new URL('./storage-worker.js', import.meta.url), { workerData: data });
  return new Promise((resolve, reject) => {
    let state: 'starting' | 'ready' | 'closing' | 'done' = 'starting';
    let closed: (() => void) | undefined;
    let closing: Promise<void> | undefined;
    let droppedEvents = 0;
    let nextProbeId = 1;
    const probes = new Map<number, { resolve: () => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
    worker.on('error', (error) => {
      options.logger.error('storage worker crashed', { code: errorCode(error) });
      if (state === 'starting') reject(new StorageStartError('worker', errorCode(error), 'storage worker crashed while starting'));
    });
    worker.on('exit', (exitCode) => {
      const was = state;
      state = 'done';
      if (was === 'starting') reject(new StorageStartError('worker', 'WORKER_EXITED', `storage worker exited with code ${exitCode}`));
      else if (was === 'ready') {
        options.onUnexpectedExit(new StorageWorkerExitedError(`storage worker exited with code ${exitCode}`));
      }
      for (const probe of probes.values()) {
        clearTimeout(probe.timer);
        probe.reject(new StorageProbeError('STORAGE_CLOSED'));
      }
      probes.clear();
      closed?.();
    });
    worker.on('message', (message: WorkerToMain) => {
      if (message.type === 'storage-events') {
        droppedEvents = message.dropped;
        for (const event of message.events) options.events?.storage(event);
        return;
      }
      if (message.type === 'probe') {
        const probe = probes.get(message.id);
        if (probe === undefined) return;
        probes.delete(message.id);
        clearTimeout(probe.timer);
        if (message.ok) probe.resolve();
        else probe.reject(new StorageProbeError(message.code));
        return;
      }
      if (message.type === 'credentials') {
        void answerCredentials(options.credentials, message.id).then((answer) => {
          if (state === 'ready' || state === 'closing') worker.postMessage(answer);
        });
        return;
      }
      if (message.type === 'failed' && state === 'starting') {
        state = 'done';
        reject(new StorageStartError(message.stage, message.code, message.message));
        void worker.terminate();
      } else if (message.type === 'ready' && state === 'starting') {
        state = 'ready';
        resolve({
          address: message.address,
          get droppedEvents() {
            return droppedEvents;
          },
          probeWrite(timeoutMs: number): Promise<void> {
            if (state !== 'ready') return Promise.reject(new StorageProbeError('STORAGE_CLOSING'));
            return new Promise<void>((resolveProbe, rejectProbe) => {
              const id = nextProbeId++;
              const timer = setTimeout(() => {
                probes.delete(id);
                rejectProbe(new StorageProbeError('PROBE_TIMEOUT'));
              }, timeoutMs);
              probes.set(id, { resolve: resolveProbe, reject: rejectProbe, timer });
              worker.postMessage({ type: 'probe', id } satisfies MainToWorker);
            });
          },
          close(deadlineMs: number): Promise<void> {
            closing ??= new Promise<void>((resolveClose) => {
              if (state === 'done') return resolveClose();
              closed = resolveClose;
              state = 'closing';
              worker.postMessage({ type: 'close', deadlineMs } satisfies MainToWorker);
              // A worker that does not finish in time (stuck fsync) is terminated.
              setTimeout(() => void worker.terminate(), deadlineMs + 5_000).unref();
            });
            return closing;
          },
        });
      }
    });
  });
}
