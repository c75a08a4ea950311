// Messages between the main thread and the storage worker (structured clone).
//
// CREDENTIALS requests: the worker asks the main thread, which owns the AWS
// credentials provider (see storage-worker-handle.ts for why), and gets back
// either the CREDENTIALS_OK document or the error code to log.

import type { TransportAddress } from '@http-enclave/protocol';
import type { DatabaseSettings } from '../config.js';
import type { LogLevel } from '../log.js';
import type { StorageEvent } from '../observability/host-events.js';

export interface StorageWorkerData {
  readonly listenAddress: TransportAddress;
  readonly storagePath: string;
  /** Set: the records are in this PostgreSQL database, not in the SQLite file at storagePath. */
  readonly database?: DatabaseSettings | undefined;
  readonly logLevel: LogLevel;
}

export type WorkerToMain =
  | { readonly type: 'ready'; readonly address: TransportAddress }
  | { readonly type: 'failed'; readonly stage: 'open' | 'listen'; readonly code: string; readonly message: string }
  | { readonly type: 'closed' }
  | { readonly type: 'credentials'; readonly id: number }
  /** Storage request events since the last batch (at most STORAGE_EVENT_BATCH_MAX); `dropped`: beyond it, since start. */
  | { readonly type: 'storage-events'; readonly events: readonly StorageEvent[]; readonly dropped: number }
  | { readonly type: 'probe'; readonly id: number; readonly ok: boolean; readonly code: string };

export type MainToWorker =
  | { readonly type: 'close'; readonly deadlineMs: number }
  /** Readiness: make one durable write outside the records and answer. */
  | { readonly type: 'probe'; readonly id: number }
  /** document: UTF-8 JSON (a Buffer arrives as a Uint8Array after the structured clone). */
  | { readonly type: 'credentials'; readonly id: number; readonly ok: true; readonly document: Uint8Array }
  | { readonly type: 'credentials'; readonly id: number; readonly ok: false; readonly code: string };

/** Storage events the worker holds between two batches; more are dropped and counted. */
export const STORAGE_EVENT_BATCH_MAX = 10_000;
/** How often the worker sends its batch of storage events. */
export const STORAGE_EVENT_FLUSH_MS = 250;
