// The storage service: serves storage-channel frames (protocol storage-frame.ts)
// from the enclave against a RecordStore. Blobs are opaque: stored and returned
// as received, never inspected.
//
// Per connection: a bounded StorageFrameReader; requests run with at most
// MAX_IN_FLIGHT_PER_CONNECTION in flight; replies are written as requests
// complete (in request order with the synchronous SQLite store); reading pauses
// while the socket's write buffer is full or the request queue is long. A
// malformed frame closes that connection only (a warning with the code); a
// reply-type frame from the client is answered ERROR BadRequest.
//
// LIST is a page of the store's keys (the enclave re-seals every record on a
// key rotation). CREDENTIALS is answered from a CredentialsSource (the AWS
// credentials provider in the main thread, reached through the worker port);
// without one, or when it cannot get credentials, the answer is ERROR
// NoCredentials. The document is never logged: only error codes are.

import { createServer, type Server, type Socket } from 'node:net';
import {
  FrameType,
  MAX_CREDENTIALS_BYTES,
  StorageErrorCode,
  StorageFrameReader,
  encodeStorageFrame,
  isStorageRequest,
  type StorageReply,
  type StorageRequest,
  type TransportAddress,
} from '@http-enclave/protocol';
import { listenOn, listeningAddress } from '@http-enclave/transport';
import { specificCode } from '../host-errors.js';
import { errorCode, type Logger } from '../log.js';
import type { RecordStore } from './record-store.js';
import type { HostEvents } from '../observability/host-events.js';

/** Requests of one connection being executed at once (the SQLite store runs them one by one anyway). */
const MAX_IN_FLIGHT_PER_CONNECTION = 64;
/**
 * Decoded requests waiting for a slot; reading pauses at this count. One read
 * chunk (at most 64 KiB) can decode to thousands of PINGs, so the queue may
 * overshoot by one chunk's worth, which bounds it.
 */
const MAX_QUEUED_PER_CONNECTION = 256;
/** Most enclave connections at once; the enclave keeps a small pool. */
const MAX_STORAGE_CONNECTIONS = 1_024;

/** Answers CREDENTIALS requests. */
export interface CredentialsSource {
  /** The CREDENTIALS_OK document (UTF-8 JSON); rejects with a coded error when no credentials can be had. */
  credentialsDocument(): Promise<Buffer>;
}

export interface StorageServiceOptions {
  readonly store: RecordStore;
  readonly listenAddress: TransportAddress;
  readonly logger: Logger;
  /** Absent: CREDENTIALS is answered ERROR NoCredentials. */
  readonly credentials?: CredentialsSource;
  /** Where each answered request is published (kind, outcome, duration); absent: nowhere. */
  readonly events?: HostEvents;
}

export interface StorageService {
  readonly address: TransportAddress;
  /** Stops accepting, finishes requests already received, then ends every connection; after deadlineMs destroys the rest. */
  close(deadlineMs: number): Promise<void>;
}

export async function startStorageService(options: StorageServiceOptions): Promise<StorageService> {
  const connections = new Set<StorageConnection>();
  const server: Server = createServer({ allowHalfOpen: true }) // answer requests that arrive just before the enclave's FIN;
  server.maxConnections = MAX_STORAGE_CONNECTIONS;
  server.on('connection', (socket: Socket) => {
    const connection = new StorageConnection(socket, options.store, options.credentials, options.logger, options.events);
    connections.add(connection);
    socket.once('close', () => connections.delete(connection));
  });
  await listenOn(server, options.listenAddress);
  server.on('error', (error) => options.logger.error('storage listener error', { code: errorCode(error) }));
  const address = listeningAddress(server, options.listenAddress);

  let closing: Promise<void> | undefined;
  return {
    address,
    close(deadlineMs: number): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const connection of connections) connection.destroy();
        }, deadlineMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        for (const connection of connections) connection.finish();
      });
      return closing;
    },
  };
}

class StorageConnection {
  readonly #socket: Socket;
  readonly #store: RecordStore;
  readonly #credentials: CredentialsSource | undefined;
  readonly #logger: Logger;
  readonly #events: HostEvents | undefined;
  readonly #reader = new StorageFrameReader();
  readonly #queue: StorageRequest[] = [];
  #inFlight = 0;
  #finishing = false;

  constructor(socket: Socket, store: RecordStore, credentials: CredentialsSource | undefined, logger: Logger, events: HostEvents | undefined) {
    this.#socket = socket;
    this.#store = store;
    this.#credentials = credentials;
    this.#logger = logger;
    this.#events = events;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#updateFlow());
    socket.on('error', (error) => {
      logger.debug('storage connection error', { code: errorCode(error) });
      socket.destroy();
    });
    // The enclave closed its side: finish what was asked, then close ours.
    socket.on('end', () => this.finish());
  }

  /** Stop reading, answer everything already received, then end the connection. */
  finish(): void {
    this.#finishing = true;
    this.#socket.pause();
    this.#endIfDone();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.#reader.push(chunk);
    } catch (error) {
      this.#logger.warn('bad storage frame; closing connection', { code: errorCode(error) });
      this.#socket.destroy();
      return;
    }
    for (const frame of frames) {
      if (isStorageRequest(frame)) this.#queue.push(frame);
      else this.#reply({ type: FrameType.Error, requestId: frame.requestId, errorCode: StorageErrorCode.BadRequest });
    }
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < MAX_IN_FLIGHT_PER_CONNECTION && !this.#socket.destroyed) {
      const request = this.#queue.shift();
      if (request === undefined) break;
      this.#inFlight += 1;
      const started = performance.now();
      void this.#execute(request).then((reply) => {
        this.#inFlight -= 1;
        this.#events?.storage({ kind: frameName(request.type), outcome: outcomeOf(reply), durationMs: performance.now() - started });
        this.#reply(reply);
        this.#pump();
      });
    }
    this.#updateFlow();
    this.#endIfDone();
  }

  #updateFlow(): void {
    if (this.#finishing || this.#socket.destroyed) return;
    const busy = this.#queue.length >= MAX_QUEUED_PER_CONNECTION || this.#socket.writableNeedDrain;
    if (busy && !this.#socket.isPaused()) this.#socket.pause();
    else if (!busy && this.#socket.isPaused()) this.#socket.resume();
  }

  #endIfDone(): void {
    if (this.#finishing && this.#inFlight === 0 && this.#queue.length === 0 && !this.#socket.destroyed) this.#socket.end();
  }

  #reply(reply: StorageReply): void {
    if (this.#socket.destroyed || this.#socket.writableEnded) return;
    this.#socket.write(encodeStorageFrame(reply));
  }

  async #execute(request: StorageRequest): Promise<StorageReply> {
    const { requestId } = request;
    try {
      switch (request.type) {
        case FrameType.Ping:
          return { type: FrameType.Pong, requestId };
        case FrameType.Get: {
          const result = await this.#store.get(request.owner, request.record);
          return result.kind === 'found'
            ? { type: FrameType.Found, requestId, version: result.version, blob: result.blob }
            : { type: FrameType.NotFound, requestId };
        }
        case FrameType.Put: {
          const result = await this.#store.put(request.owner, request.record, request.expectedVersion, request.blob);
          return result.kind === 'written'
            ? { type: FrameType.Written, requestId, version: result.version }
            : { type: FrameType.Conflict, requestId, version: result.currentVersion };
        }
        case FrameType.List: {
          const result = await this.#store.listRecords(request.after, request.limit);
          return { type: FrameType.Listed, requestId, more: result.more, entries: result.entries };
        }
        case FrameType.Credentials:
          return await this.#answerCredentials(requestId);
      }
    } catch (error) {
      const code = errorCode(error);
      const storageCode = storageErrorCodeFor(code);
      if (storageCode === StorageErrorCode.BadRequest) this.#logger.warn('storage request refused', { code });
      else this.#logger.error('storage request failed', { code });
      return { type: FrameType.Error, requestId, errorCode: storageCode };
    }
  }

  async #answerCredentials(requestId: number): Promise<StorageReply> {
    const noCredentials: StorageReply = { type: FrameType.Error, requestId, errorCode: StorageErrorCode.NoCredentials };
    if (this.#credentials === undefined) {
      this.#logger.warn('aws credentials requested; none configured', { code: 'AWS_CREDENTIALS_NOT_CONFIGURED' });
      return noCredentials;
    }
    let json: Buffer;
    try {
      json = await this.#credentials.credentialsDocument();
    } catch (error) {
      this.#logger.warn('aws credentials unavailable', { code: specificCode(error) }); // IMDS_UNAVAILABLE, not CREDENTIALS_REQUEST_FAILED
      return noCredentials;
    }
    // Checked here so that the frame encoder never throws outside #execute's error handling.
    if (json.length < 1 || json.length > MAX_CREDENTIALS_BYTES) {
      this.#logger.error('aws credentials document out of bounds', { code: 'AWS_CREDENTIALS_TOO_LARGE', bytes: json.length });
      return noCredentials;
    }
    return { type: FrameType.CredentialsOk, requestId, json };
  }
}

/** Maps a store error code to the wire error code. Only the code is ever logged or sent. */
export function storageErrorCodeFor(code: string): StorageErrorCode {
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_FULL_') || code === 'STORE_FULL') return StorageErrorCode.Full;
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED' || code === 'STORE_UNAVAILABLE') return StorageErrorCode.Unavailable;
  if (code === 'STORE_BAD_INPUT') return StorageErrorCode.BadRequest;
  return StorageErrorCode.Internal;
}

/** GET, PUT, LIST, PING, CREDENTIALS; FOUND, NOT_FOUND, …: a frame type's name as metrics label. */
function frameName(type: FrameType): string {
  return (FrameType[type] ?? 'UNKNOWN').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The reply type, or for an ERROR reply its code (ERROR_UNAVAILABLE, ERROR_FULL, …). */
function outcomeOf(reply: StorageReply): string {
  if (reply.type !== FrameType.Error) return frameName(reply.type);
  return `ERROR_${(StorageErrorCode[reply.errorCode] ?? 'UNKNOWN').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
}
