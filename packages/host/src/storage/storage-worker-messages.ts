// Messages between the main thread and the storage worker (structured clone).

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
  | { readonly type: 'closed' };

export type MainToWorker = { readonly type: 'close'; readonly deadlineMs: number };
