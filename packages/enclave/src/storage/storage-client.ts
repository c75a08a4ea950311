// The enclave's client for the host's storage service (frames in
// @http-enclave/protocol). The host is hostile: every reply is bounded by the
// frame reader, checked against the request it answers (type and version
// arithmetic), and the blobs it carries are authenticated later by openRecord.
//
// One connection carries many concurrent requests, matched by request id.
// Limits: a per-request timeout, a cap on requests in flight and on bytes
// queued for writing; past them a request fails at once with
// StorageUnavailableError, so a slow or dead host never makes the enclave queue
// without bound. A broken connection fails what was in flight and the next
// request reconnects.
//
// listRecords checks a LISTED page against its request: at most `limit`
// entries, strictly ascending by owner || record, all strictly after the
// cursor, versions >= 1, and never "more" with an empty page (which would let
// a host keep a re-seal pass looping). It cannot see a record the host leaves
// out, just as GET cannot see a record the host withholds: a re-seal pass
// covers what the host shows, so a retired key's records must be found by
// opening them, not assumed gone.
//
// getAwsCredentials parses the CREDENTIALS_OK document strictly (exact keys,
// types, lengths and characters); errors name the field and give its type or
// length, never its value. ERROR NoCredentials becomes AwsCredentialsUnavailableError.

import type { Socket } from 'node:net';
import {
  encodeStorageFrame,
  FrameType,
  formatTransportAddress,
  isStorageRequest,
  StorageErrorCode,
  StorageFrameReader,
  type StorageReply,
  type StorageRequest,
  type TransportAddress,
} from '@http-enclave/protocol';
import { connectTo } from '@http-enclave/transport';
import type { Logger } from '../log.js';
import { publishStorage, type StorageKind, type StorageOutcome } from '../telemetry/enclave-events.js';
import { AwsCredentialsUnavailableError, StorageBadReplyError, StorageFullError, StorageUnavailableError } from '../enclave-errors.js';

/** Bytes we let wait in the socket's write buffer before refusing new requests (8 sealed 8 MiB documents). */
const MAX_QUEUED_WRITE_BYTES = 64 * 1024 * 1024;

/** Temporary AWS credentials from the host (CREDENTIALS_OK). Not secret from the operator; never logged. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string | undefined;
  readonly expiration: Date | undefined;
}

export interface ListedRecord {
  readonly owner: Buffer;
  readonly record: Buffer;
  readonly version: number;
}

export interface ListPage {
  readonly entries: ListedRecord[];
  /** Records after the last entry may exist: ask again with it as the cursor. */
  readonly more: boolean;
}

/** Access key ids: 16..128 of [A-Z0-9] (IAM API reference, AccessKey). */
const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;
/** Secret keys are 40 characters today; 128 leaves room. */
const MAX_SECRET_ACCESS_KEY_CHARS = 128;
/** Session tokens have no documented maximum; STS tokens are under 2 KiB in practice (the document is at most 8 KiB). */
const MAX_SESSION_TOKEN_CHARS = 4_096;
/** Printable ASCII without space (0x21..0x7e): what AWS secrets and tokens are made of, and safe in a header. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
/** ISO-8601 date-time with seconds and a zone, as STS and IMDS write it. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const CREDENTIALS_FIELDS = new Set(['accessKeyId', 'secretAccessKey', 'sessionToken', 'expiration']);

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
  readonly requestType: FrameType;
  readonly socket: Socket;
  readonly resolve: (reply: StorageReply) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Silent timeouts in a row before the connection is replaced (see #noteSilentTimeout). */
export const SILENT_TIMEOUTS_BEFORE_RECONNECT = 2;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * Runs one storage request and publishes it as a storage event: its kind,
 * and its outcome once the reply has been checked against the request (a
 * reply that does not fit counts as storage_bad_reply, never as what it
 * claims). The host serves these requests, so it learns nothing new.
 */
async function published<T>(kind: StorageKind, outcomeOf: (result: T) => StorageOutcome, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const result = await run();
    publishStorage({ kind, outcome: outcomeOf(result), durationMs: performance.now() - started });
    return result;
  } catch (error) {
    publishStorage({ kind, outcome: errorOutcome(error), durationMs: performance.now() - started });
    throw error;
  }
}

function errorOutcome(error: unknown): StorageOutcome {
  if (error instanceof StorageFullError) return 'storage_full';
  if (error instanceof StorageUnavailableError) return 'storage_unavailable';
  if (error instanceof StorageBadReplyError) return 'storage_bad_reply';
  if (error instanceof AwsCredentialsUnavailableError) return 'aws_credentials_unavailable';
  return 'error';
}

export class StorageClient {
  readonly #options: StorageClientOptions;
  readonly #pending = new Map<number, Pending>();
  #socket: Socket | undefined;
  #connecting: Promise<Socket> | undefined;
  #nextRequestId = 1;
  /** Requests past the in-flight check that are waiting for #connection (counted against maxInFlight). */
  #awaitingConnection = 0;
  #closed = false;
  /** Timeouts in a row on the current connection with no frame received in between. */
  #silentTimeouts = 0;
  /** Replies whose request id matched nothing in flight (late after a timeout, or hostile). */
  unmatchedReplies = 0;

  constructor(options: StorageClientOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  get(owner: Buffer, record: Buffer): Promise<GetResult> {
    return published('get', (result) => (result.found ? 'found' : 'not_found'), async () => {
      const reply = await this.#send({ type: FrameType.Get, owner, record });
      if (reply.type === FrameType.Found) return { found: true, version: reply.version, blob: reply.blob };
      if (reply.type === FrameType.NotFound) return { found: false, version: 0 };
      throw unexpected(reply);
    });
  }

  put(owner: Buffer, record: Buffer, expectedVersion: number, blob: Buffer): Promise<WriteResult> {
    return published('put', (result) => (result.written ? 'written' : 'conflict'), async () =>
      this.#write(await this.#send({ type: FrameType.Put, owner, record, expectedVersion, blob }), expectedVersion),
    );
  }

  /**
   * One page of the records the host holds, strictly after `after` (from the
   * first record when undefined), at most `limit` (1..LIST_MAX_ENTRIES) entries.
   */
  listRecords(after: { readonly owner: Buffer; readonly record: Buffer } | undefined, limit: number): Promise<ListPage> {
    return published('list', () => 'ok', () => this.#listRecords(after, limit));
  }

  async #listRecords(after: { readonly owner: Buffer; readonly record: Buffer } | undefined, limit: number): Promise<ListPage> {
    const reply = await this.#send({ type: FrameType.List, after, limit });
    if (reply.type !== FrameType.Listed) throw unexpected(reply);
    if (reply.entries.length > limit) throw new StorageBadReplyError(`LISTED reply with ${reply.entries.length} entries for a limit of ${limit}`);
    if (reply.more && reply.entries.length === 0) throw new StorageBadReplyError('LISTED reply with more = 1 and no entries');
    let previous = after === undefined ? undefined : Buffer.concat([after.owner, after.record]);
    for (const [index, entry] of reply.entries.entries()) {
      const key = Buffer.concat([entry.owner, entry.record]);
      if (previous !== undefined && Buffer.compare(key, previous) <= 0) {
        throw new StorageBadReplyError(
          index === 0 ? 'LISTED entry 0 is not after the cursor' : `LISTED entry ${index} is not after entry ${index - 1} (repeated or out of order)`,
        );
      }
      if (entry.version < 1) throw new StorageBadReplyError(`LISTED entry ${index} has version 0 (never written)`);
      previous = key;
    }
    return { entries: reply.entries.map((e) => ({ owner: e.owner, record: e.record, version: e.version })), more: reply.more };
  }

  /** The host's temporary AWS credentials; AwsCredentialsUnavailableError when it has none. */
  getAwsCredentials(): Promise<AwsCredentials> {
    return published('credentials', () => 'ok', async () => {
      const reply = await this.#send({ type: FrameType.Credentials });
      if (reply.type !== FrameType.CredentialsOk) throw unexpected(reply);
      return parseCredentialsDocument(reply.json);
    });
  }

  ping(timeoutMs?: number): Promise<void> {
    return published('ping', () => 'ok', async () => {
      const reply = await this.#send({ type: FrameType.Ping }, timeoutMs);
      if (reply.type !== FrameType.Pong) throw unexpected(reply);
    });
  }

  close(): void {
    this.#closed = true;
    this.#failAll(undefined, new StorageUnavailableError('storage client closed'));
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #write(reply: StorageReply, expectedVersion: number): WriteResult {
    if (reply.type === FrameType.Written) {
      if (reply.version !== expectedVersion + 1) throw new StorageBadReplyError('WRITTEN reply with a version that is not expected + 1');
      return { written: true, version: reply.version };
    }
    if (reply.type === FrameType.Conflict) {
      if (reply.version === expectedVersion) throw new StorageBadReplyError('CONFLICT reply with the expected version');
      return { written: false, currentVersion: reply.version };
    }
    throw unexpected(reply);
  }

  async #send(request: DistributiveOmit<StorageRequest, 'requestId'>, timeoutMs = this.#options.timeoutMs): Promise<StorageReply> {
    if (this.#closed) throw new StorageUnavailableError('storage client closed');
    // Requests still waiting for the connection count too: they are not in #pending yet.
    if (this.#pending.size + this.#awaitingConnection >= this.#options.maxInFlight) {
      throw new StorageUnavailableError(`more than ${this.#options.maxInFlight} storage requests in flight`);
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
      throw new StorageUnavailableError('storage connection is not draining');
    }
    const requestId = this.#allocateRequestId();
    const frame = encodeStorageFrame({ ...request, requestId } as StorageRequest);
    return new Promise<StorageReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        this.#noteSilentTimeout(socket);
        reject(new StorageUnavailableError(`storage did not answer within ${timeoutMs} ms`));
      }, Math.max(1, deadline - Date.now()));
      this.#pending.set(requestId, { requestType: request.type, socket, resolve, reject, timer });
      socket.write(frame);
    });
  }

  /**
   * A connection that stops answering without closing (a frozen peer, a
   * dropped route) is replaced: after SILENT_TIMEOUTS_BEFORE_RECONNECT
   * timeouts in a row with no frame received in between, it is dropped and
   * the next request connects anew (issue 9, finding 5). One timeout alone
   * may be one slow request; the connection stays.
   */
  #noteSilentTimeout(socket: Socket): void {
    if (socket !== this.#socket || socket.destroyed) return;
    this.#silentTimeouts += 1;
    if (this.#silentTimeouts < SILENT_TIMEOUTS_BEFORE_RECONNECT) return;
    this.#options.logger.warn('storage connection silent; replacing it', { timeouts: this.#silentTimeouts });
    this.#drop(socket, new StorageUnavailableError('storage connection was silent and has been replaced'));
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
        throw new StorageUnavailableError('cannot connect to storage');
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
      throw new StorageUnavailableError('storage client closed');
    }
    this.#socket = socket;
    this.#silentTimeouts = 0;
    const reader = new StorageFrameReader();
    socket.on('data', (chunk: Buffer) => {
      this.#silentTimeouts = 0;
      let replies;
      try {
        replies = reader.push(chunk);
      } catch (error) {
        this.#options.logger.warn('storage sent a malformed frame; dropping the connection', { code: (error as { code?: string }).code ?? 'UNKNOWN' });
        this.#drop(socket, new StorageBadReplyError('storage sent a malformed frame'));
        return;
      }
      for (const reply of replies) this.#deliver(socket, reply);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#options.logger.warn('storage connection error', { code: error.code ?? 'UNKNOWN' });
    });
    socket.on('close', () => this.#drop(socket, new StorageUnavailableError('storage connection closed')));
  }

  #deliver(socket: Socket, reply: StorageReply | StorageRequest): void {
    if (isStorageRequest(reply)) {
      this.#drop(socket, new StorageBadReplyError('storage sent a request frame'));
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
      if (reply.errorCode === StorageErrorCode.NoCredentials && pending.requestType === FrameType.Credentials) {
        pending.reject(new AwsCredentialsUnavailableError('the host has no AWS credentials to give (ERROR NoCredentials)'));
        return;
      }
      if (reply.errorCode === StorageErrorCode.Full) {
        pending.reject(new StorageFullError('storage answered ERROR Full (the host\'s disk is full)'));
        return;
      }
      pending.reject(new StorageUnavailableError('storage answered with an error'));
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

/** A reply of a type that does not answer the request. The message is fixed: the type byte is the host's choice and goes no further. */
function unexpected(_reply: StorageReply): StorageBadReplyError {
  return new StorageBadReplyError('storage answered with a reply of another type');
}

/** Parses CREDENTIALS_OK strictly. Messages name the field and give its type or length, never its value. */
function parseCredentialsDocument(json: Buffer): AwsCredentials {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new StorageBadReplyError(`credentials document is not UTF-8 (${json.length} bytes)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new StorageBadReplyError(`credentials document is not JSON (${json.length} bytes)`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new StorageBadReplyError('credentials document is not a JSON object');
  }
  const fields = parsed as Record<string, unknown>;
  // Unknown names are counted, not named: a name is host-chosen text too.
  const unknown = Object.keys(fields).filter((name) => !CREDENTIALS_FIELDS.has(name)).length;
  if (unknown > 0) throw new StorageBadReplyError(`credentials document has ${unknown} unknown field(s)`);

  const stringField = (name: string, optional: boolean): string | undefined => {
    const value = fields[name];
    if (value === undefined && optional) return undefined;
    if (typeof value !== 'string') throw new StorageBadReplyError(`credentials ${name} must be a string, got ${value === null ? 'null' : typeof value}`);
    return value;
  };
  const accessKeyId = stringField('accessKeyId', false) ?? '';
  if (!ACCESS_KEY_ID.test(accessKeyId)) {
    throw new StorageBadReplyError(`credentials accessKeyId must be 16..128 characters of [A-Z0-9], got ${accessKeyId.length} characters`);
  }
  const secretAccessKey = stringField('secretAccessKey', false) ?? '';
  if (secretAccessKey.length > MAX_SECRET_ACCESS_KEY_CHARS || !VISIBLE_ASCII.test(secretAccessKey)) {
    throw new StorageBadReplyError(
      `credentials secretAccessKey must be 1..${MAX_SECRET_ACCESS_KEY_CHARS} printable ASCII characters, got ${secretAccessKey.length} characters`,
    );
  }
  const sessionToken = stringField('sessionToken', true);
  if (sessionToken !== undefined && (sessionToken.length > MAX_SESSION_TOKEN_CHARS || !VISIBLE_ASCII.test(sessionToken))) {
    throw new StorageBadReplyError(`credentials sessionToken must be 1..${MAX_SESSION_TOKEN_CHARS} printable ASCII characters, got ${sessionToken.length} characters`);
  }
  const expirationText = stringField('expiration', true);
  let expiration: Date | undefined;
  if (expirationText !== undefined) {
    const ms = ISO_DATE_TIME.test(expirationText) ? Date.parse(expirationText) : Number.NaN;
    if (Number.isNaN(ms)) throw new StorageBadReplyError(`credentials expiration must be an ISO-8601 date-time, got ${expirationText.length} characters`);
    expiration = new Date(ms);
  }
  return { accessKeyId, secretAccessKey, sessionToken, expiration };
}
