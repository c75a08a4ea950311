// The enclave's client for the host's storage service (frames in
// @http-enclave/protocol). The host is hostile: every reply is bounded by the
// frame reader, checked against the request it answers (type and version
// arithmetic), and the blobs it carries are authenticated later by openRecord.
//
// One connection carries many concurrent requests, matched by request id.
// Limits: a per-request timeout, a cap on requests in flight and on bytes
// queued for writing; past them a request fails at once with
// StorageUnavailable, so a slow or dead host never makes the enclave queue
// without bound. A broken connection fails what was in flight and the next
// request reconnects.

import type { Socket } from 'node:net';
import {
  encodeStorageFrame,
  FrameType,
  formatTransportAddress,
  isStorageRequest,
  StorageFrameReader,
  type StorageReply,
  type StorageRequest,
  type TransportAddress,
} from '@http-enclave/protocol';
import { connectTo } from '@http-enclave/transport';
import type { Logger } from '../log.js';

/** Bytes we let wait in the socket's write buffer before refusing new requests (8 sealed 8 MiB documents). */
const MAX_QUEUED_WRITE_BYTES = 64 * 1024 * 1024;

export class StorageUnavailable extends Error {
  readonly code = 'STORAGE_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'StorageUnavailable';
  }
}

export class StorageBadReply extends Error {
  readonly code = 'STORAGE_BAD_REPLY';
  constructor(message: string) {
    super(message);
    this.name = 'StorageBadReply';
  }
}

/** NOT_FOUND means "never written": its version is 0 (a deleted record holds a sealed tombstone, found like any blob). */
export type GetResult = { readonly found: true; readonly version: number; readonly blob: Buffer } | { readonly found: false; readonly version: 0 };
export type WriteResult = { readonly written: true; readonly version: number } | { readonly written: false; readonly currentVersion: number };

export interface StorageClientOptions {
  readonly address: TransportAddress;
  readonly timeoutMs: number;
  readonly maxInFlight: number;
  readonly logger: Logger;
}

interface Pending {
  readonly socket: Socket;
  readonly resolve: (reply: StorageReply) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class StorageClient {
  readonly #options: StorageClientOptions;
  readonly #pending = new Map<number, Pending>();
  #socket: Socket | undefined;
  #connecting: Promise<Socket> | undefined;
  #nextRequestId = 1;
  /** Requests past the in-flight check that are waiting for #connection (counted against maxInFlight). */
  #awaitingConnection = 0;
  #closed = false;
  /** Replies whose request id matched nothing in flight (late after a timeout, or hostile). */
  unmatchedReplies = 0;

  constructor(options: StorageClientOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  async get(owner: Buffer, record: Buffer): Promise<GetResult> {
    const reply = await this.#send({ type: FrameType.Get, owner, record });
    if (reply.type === FrameType.Found) return { found: true, version: reply.version, blob: reply.blob };
    if (reply.type === FrameType.NotFound) return { found: false, version: 0 };
    throw unexpected(reply);
  }

  async put(owner: Buffer, record: Buffer, expectedVersion: number, blob: Buffer): Promise<WriteResult> {
    return this.#write(await this.#send({ type: FrameType.Put, owner, record, expectedVersion, blob }), expectedVersion);
  }

  async ping(timeoutMs?: number): Promise<void> {
    const reply = await this.#send({ type: FrameType.Ping }, timeoutMs);
    if (reply.type !== FrameType.Pong) throw unexpected(reply);
  }

  close(): void {
    this.#closed = true;
    this.#failAll(undefined, new StorageUnavailable('storage client closed'));
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #write(reply: StorageReply, expectedVersion: number): WriteResult {
    if (reply.type === FrameType.Written) {
      if (reply.version !== expectedVersion + 1) throw new StorageBadReply('WRITTEN reply with a version that is not expected + 1');
      return { written: true, version: reply.version };
    }
    if (reply.type === FrameType.Conflict) {
      if (reply.version === expectedVersion) throw new StorageBadReply('CONFLICT reply with the expected version');
      return { written: false, currentVersion: reply.version };
    }
    throw unexpected(reply);
  }

  async #send(request: DistributiveOmit<StorageRequest, 'requestId'>, timeoutMs = this.#options.timeoutMs): Promise<StorageReply> {
    if (this.#closed) throw new StorageUnavailable('storage client closed');
    // Requests still waiting for the connection count too: they are not in #pending yet.
    if (this.#pending.size + this.#awaitingConnection >= this.#options.maxInFlight) {
      throw new StorageUnavailable(`more than ${this.#options.maxInFlight} storage requests in flight`);
    }
    const deadline = Date.now() + timeoutMs;
    this.#awaitingConnection += 1;
    let socket: Socket;
    try {
      socket = await this.#connection(timeoutMs);
    } finally {
      this.#awaitingConnection -= 1;
    }
    if (socket.writableLength > MAX_QUEUED_WRITE_BYTES) {
      throw new StorageUnavailable('storage connection is not draining');
    }
    const requestId = this.#allocateRequestId();
    const frame = encodeStorageFrame({ ...request, requestId } as StorageRequest);
    return new Promise<StorageReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new StorageUnavailable(`storage did not answer within ${timeoutMs} ms`));
      }, Math.max(1, deadline - Date.now()));
      this.#pending.set(requestId, { socket, resolve, reject, timer });
      socket.write(frame);
    });
  }

  #allocateRequestId(): number {
    // u32 ids; skip ids still in flight (possible only after 2^32 requests).
    for (;;) {
      const id = this.#nextRequestId;
      this.#nextRequestId = (this.#nextRequestId + 1) >>> 0;
      if (!this.#pending.has(id)) return id;
    }
  }

  #connection(timeoutMs: number): Promise<Socket> {
    if (this.#socket !== undefined && !this.#socket.destroyed) return Promise.resolve(this.#socket);
    if (this.#connecting !== undefined) return this.#connecting;
    const address = this.#options.address;
    const connecting = connectTo(address, { timeoutMs, noDelay: true })
      .then((socket) => {
        this.#attach(socket);
        return socket;
      })
      .catch((error: unknown) => {
        const code = (error as { code?: unknown }).code;
        this.#options.logger.warn('storage connect failed', { address: formatTransportAddress(address), code: typeof code === 'string' ? code : 'UNKNOWN' });
        throw new StorageUnavailable('cannot connect to storage');
      })
      .finally(() => {
        this.#connecting = undefined;
      });
    this.#connecting = connecting;
    return connecting;
  }

  #attach(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      throw new StorageUnavailable('storage client closed');
    }
    this.#socket = socket;
    const reader = new StorageFrameReader();
    socket.on('data', (chunk: Buffer) => {
      let replies;
      try {
        replies = reader.push(chunk);
      } catch (error) {
        this.#options.logger.warn('storage sent a malformed frame; dropping the connection', { code: (error as { code?: string }).code ?? 'UNKNOWN' });
        this.#drop(socket, new StorageBadReply('storage sent a malformed frame'));
        return;
      }
      for (const reply of replies) this.#deliver(socket, reply);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#options.logger.warn('storage connection error', { code: error.code ?? 'UNKNOWN' });
    });
    socket.on('close', () => this.#drop(socket, new StorageUnavailable('storage connection closed')));
  }

  #deliver(socket: Socket, reply: StorageReply | StorageRequest): void {
    if (isStorageRequest(reply)) {
      this.#drop(socket, new StorageBadReply('storage sent a request frame'));
      return;
    }
    const pending = this.#pending.get(reply.requestId);
    if (pending === undefined) {
      this.unmatchedReplies += 1;
      return;
    }
    this.#pending.delete(reply.requestId);
    clearTimeout(pending.timer);
    if (reply.type === FrameType.Error) {
      pending.reject(new StorageUnavailable(`storage answered error ${reply.errorCode}`));
      return;
    }
    pending.resolve(reply);
  }

  #drop(socket: Socket, error: Error): void {
    if (this.#socket === socket) this.#socket = undefined;
    socket.destroy();
    this.#failAll(socket, error);
  }

  /** Fails the requests sent on `socket` (all of them when undefined). */
  #failAll(socket: Socket | undefined, error: Error): void {
    for (const [id, pending] of this.#pending) {
      if (socket !== undefined && pending.socket !== socket) continue;
      clearTimeout(pending.timer);
      this.#pending.delete(id);
      pending.reject(error);
    }
  }
}

function unexpected(reply: StorageReply): StorageBadReply {
  return new StorageBadReply(`unexpected reply type 0x${reply.type.toString(16)}`);
}
