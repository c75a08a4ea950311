// Messages between the main thread and the storage worker (structured clone).
//
// CREDENTIALS requests: the worker asks the main thread, which owns the AWS
// credentials provider (see storage-worker-handle.ts for why), and gets back
// either the CREDENTIALS_OK document or the error code to log.

import type { TransportAddress } from '@http-enclave/protocol';
import type { LogLevel } from '../log.js';

export interface StorageWorkerData {
  readonly listenAddress: TransportAddress;
  readonly storagePath: string;
  readonly logLevel: LogLevel;
}

export type WorkerToMain =
  | { readonly type: 'ready'; readonly address: TransportAddress }
  | { readonly type: 'failed'; readonly stage: 'open' | 'listen'; readonly code: string; readonly message: string }
  | { readonly type: 'closed' }
  | { readonly type: 'credentials'; readonly id: number };

export type MainToWorker =
  | { readonly type: 'close'; readonly deadlineMs: number }
  /** document: UTF-8 JSON (a Buffer arrives as a Uint8Array after the structured clone). */
  | { readonly type: 'credentials'; readonly id: number; readonly ok: true; readonly document: Uint8Array }
  | { readonly type: 'credentials'; readonly id: number; readonly ok: false; readonly code: string };
