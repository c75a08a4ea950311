// Private documents of an owner: seal, store, fetch and open. The owner is
// the keyed pseudonym of a bearer token; the document name becomes a keyed
// record pseudonym; the host sees neither.
//
// Writes are compare-and-set on the record version: read the current
// version, seal for version + 1 (the version is bound into the AEAD data),
// store with the expected version. A concurrent writer (another request, or
// another enclave sharing the database) makes the store answer CONFLICT; we
// retry a few times with the fresh version, then report WRITE_CONFLICT.

import type { Keyring } from '../keys/keyring.js';
import type { OwnerId, RecordId } from '../keys/identifiers.js';
import { openRecord, sealRecord } from '../seal/seal-record.js';
import { StorageIntegrityError } from '../seal/seal-errors.js';
import { TAG_BYTES } from '../seal/sealed-envelope.js';
import {
  NotFoundError,
  StorageBadReplyError,
  StorageIntegrityApiError,
  StorageRollbackError,
  StorageUnavailableError,
  WriteConflictError,
} from '../http/api-errors.js';
import { StorageBadReply, StorageUnavailable, type StorageClient } from '../storage/storage-client.js';
import { VersionWatermark } from './version-watermark.js';

/** Compare-and-set attempts before giving up with WRITE_CONFLICT. */
const MAX_WRITE_ATTEMPTS = 4;

export interface StoredDocument {
  readonly version: number;
  readonly body: Buffer;
}

export class PrivateDocuments {
  readonly #keyring: Keyring;
  readonly #storage: StorageClient;
  readonly #watermark = new VersionWatermark();

  constructor(keyring: Keyring, storage: StorageClient) {
    this.#keyring = keyring;
    this.#storage = storage;
  }

  ownerFromToken(token: string): OwnerId {
    return this.#keyring.ownerIdFromToken(token);
  }

  async read(owner: OwnerId, name: string): Promise<StoredDocument> {
    const record = this.#keyring.recordIdFromName(owner, name);
    const current = await this.#readCurrent(owner, record);
    if (current.body === undefined) throw new NotFoundError();
    return { version: current.version, body: current.body };
  }

  /** Stores `body` as the new version of the document; returns the version and whether it was created. */
  async write(owner: OwnerId, name: string, body: Buffer): Promise<{ version: number; created: boolean }> {
    const record = this.#keyring.recordIdFromName(owner, name);
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt += 1) {
      const current = await this.#readCurrent(owner, record);
      const sealed = sealRecord({ keyring: this.#keyring, owner, record, version: current.version + 1, plaintext: body });
      const result = await guardStorage(() => this.#storage.put(owner, record, current.version, sealed));
      if (result.written) {
        this.#watermark.raise(record.toString('hex'), result.version, blobTag(sealed));
        return { version: result.version, created: current.body === undefined };
      }
    }
    throw new WriteConflictError();
  }

  async remove(owner: OwnerId, name: string): Promise<void> {
    const record = this.#keyring.recordIdFromName(owner, name);
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt += 1) {
      const current = await this.#readCurrent(owner, record);
      if (current.body === undefined) throw new NotFoundError();
      const result = await guardStorage(() => this.#storage.delete(owner, record, current.version));
      if (result.written) {
        this.#watermark.raise(record.toString('hex'), result.version, undefined);
        return;
      }
    }
    throw new WriteConflictError();
  }

  /** The current version and, unless absent or deleted, the opened body. */
  async #readCurrent(owner: OwnerId, record: RecordId): Promise<{ version: number; body: Buffer | undefined }> {
    const reply = await guardStorage(() => this.#storage.get(owner, record));
    const recordKey = record.toString('hex');
    if (!this.#watermark.allows(recordKey, reply.version)) throw new StorageRollbackError();
    if (!reply.found) return { version: reply.version, body: undefined };
    let body: Buffer;
    try {
      body = openRecord({ keyring: this.#keyring, owner, record, version: reply.version, sealed: reply.blob });
    } catch (error) {
      if (error instanceof StorageIntegrityError) throw new StorageIntegrityApiError();
      throw error;
    }
    // Authenticated now: a different blob at a version already seen is a fork.
    const tag = blobTag(reply.blob);
    if (!this.#watermark.allows(recordKey, reply.version, tag)) throw new StorageRollbackError();
    this.#watermark.raise(recordKey, reply.version, tag);
    return { version: reply.version, body };
  }
}

/** Maps the storage client's failures to the API's errors. */
async function guardStorage<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof StorageUnavailable) throw new StorageUnavailableError();
    if (error instanceof StorageBadReply) throw new StorageBadReplyError();
    throw error;
  }
}

/** The GCM tag closing a sealed envelope: identifies one sealed blob (see version-watermark.ts). */
function blobTag(sealed: Buffer): Buffer {
  return sealed.subarray(sealed.length - TAG_BYTES);
}
