// Main-thread side of the storage worker: start it, wait until it listens (or
// report why it could not), and close it.

import { Worker } from 'node:worker_threads';
import type { TransportAddress } from '@http-enclave/protocol';
import { errorCode, type Logger, type LogLevel } from '../log.js';
import type { MainToWorker, StorageWorkerData, WorkerToMain } from './storage-worker-messages.js';

/** The storage worker could not start. `code` is the cause's code (EADDRINUSE, SQLITE_CANTOPEN, STORE_SCHEMA_TOO_NEW, ...). */
export class StorageStartError extends Error {
  readonly code: string;
  readonly stage: 'open' | 'listen' | 'worker';
  constructor(stage: 'open' | 'listen' | 'worker', code: string, message: string) {
    super(message);
    this.name = 'StorageStartError';
    this.code = code;
    this.stage = stage;
  }
}

export interface StorageWorkerHandle {
  readonly address: TransportAddress;
  close(deadlineMs: number): Promise<void>;
}

export interface StartStorageWorkerOptions {
  readonly listenAddress: TransportAddress;
  readonly storagePath: string;
  readonly logLevel: LogLevel;
  readonly logger: Logger;
  /** Called if the worker dies after it was ready (the host cannot store anything any more). */
  readonly onUnexpectedExit: (error: Error) => void;
}

export function startStorageWorker(options: StartStorageWorkerOptions): Promise<StorageWorkerHandle> {
  const data: StorageWorkerData = { listenAddress: options.listenAddress, storagePath: options.storagePath, logLevel: options.logLevel };
  const worker = new Worker(new URL('./storage-worker.js', import.meta.url), { workerData: data });
  return new Promise((resolve, reject) => {
    let state: 'starting' | 'ready' | 'closing' | 'done' = 'starting';
    let closed: (() => void) | undefined;
    let closing: Promise<void> | undefined;
    worker.on('error', (error) => {
      options.logger.error('storage worker crashed', { code: errorCode(error) });
      if (state === 'starting') reject(new StorageStartError('worker', errorCode(error), 'storage worker crashed while starting'));
    });
    worker.on('exit', (exitCode) => {
      const was = state;
      state = 'done';
      if (was === 'starting') reject(new StorageStartError('worker', 'WORKER_EXITED', `storage worker exited with code ${exitCode}`));
      else if (was === 'ready') {
        options.onUnexpectedExit(new StorageStartError('worker', 'WORKER_EXITED', `storage worker exited with code ${exitCode}`));
      }
      closed?.();
    });
    worker.on('message', (message: WorkerToMain) => {
      if (message.type === 'failed' && state === 'starting') {
        state = 'done';
        reject(new StorageStartError(message.stage, message.code, message.message));
        void worker.terminate();
      } else if (message.type === 'ready' && state === 'starting') {
        state = 'ready';
        resolve({
          address: message.address,
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
