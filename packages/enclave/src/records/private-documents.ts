// Private documents of an owner: seal, store, fetch and open. The owner is
// the keyed pseudonym of a bearer token; the document name becomes a keyed
// record pseudonym; the host sees neither.
//
// Writes are compare-and-set on the record version: read the current
// version, seal for version + 1 (the version is bound into the AEAD data),
// store with the expected version. A concurrent writer (another request, or
// another enclave sharing the database) makes the store answer CONFLICT; we
// retry a few times with the fresh version, then report WRITE_CONFLICT.
//
// Deletion is a write too: remove() seals a tombstone, an EMPTY plaintext
// (a document is never empty: it must be JSON), at version + 1 with the same
// compare-and-set PUT. The tombstone is padded to the same 256-byte bucket as
// a small document, so the host cannot tell a delete from a write, and it is
// authenticated like any blob, so the host cannot fake one. Reading a record:
//   NOT_FOUND             never written (version 0); once this enclave has
//                         seen the record it is a rollback (STORAGE_ROLLBACK)
//   FOUND, empty opened   deleted: no body, but its version is kept, so the
//                         next write goes to version + 1 (versions only grow)
//   FOUND, otherwise      the document
// Every reply goes through the rollback guard (rollback-guard.ts): memory of
// recent records, and sealed watermark pages on the host for the rest.

import type { Keyring } from '../keys/keyring.js';
import { asKeyId, KEY_ID_BYTES, type KeyId, type OwnerId, type RecordId } from '../keys/identifiers.js';
import { openRecord, sealRecord } from '../seal/seal-record.js';
import { KEY_ID_OFFSET, TAG_BYTES } from '../seal/sealed-envelope.js';
import { type StorageClient } from '../storage/storage-client.js';
import type { Logger } from '../log.js';
import { OwnerCreationRateLimit } from './creation-rate-limit.js';
import { RollbackGuard } from './rollback-guard.js';
import { versionAllowed } from './version-watermark.js';
import { InvalidJsonError, NotFoundError, RecordCreateRateLimitedError, StorageIntegrityError, StorageRollbackError, WriteConflictError } from '../enclave-errors.js';

/**
 * Lazy re-seals (after a rotation, on read) running at once at most: each
 * costs a GET and a PUT on the storage channel, and readers must not be able
 * to fill STORAGE_MAX_IN_FLIGHT with them. Past the cap a read just skips it;
 * the bulk re-seal (admin) covers every record anyway.
 */
export const MAX_LAZY_RESEALS_IN_FLIGHT = 4;

/** Compare-and-set attempts before giving up with WRITE_CONFLICT. */
const MAX_WRITE_ATTEMPTS = 4;
/** The plaintext of a sealed tombstone. No document has it: documents are JSON, never empty. */
const TOMBSTONE_PLAINTEXT = Buffer.alloc(0);

interface Current {
  readonly version: number;
  /** undefined: never written, or deleted (a tombstone). */
  readonly body: Buffer | undefined;
  /** Key id the stored blob is sealed under (authenticated: it is in the AAD); undefined when never written. */
  readonly keyId: KeyId | undefined;
  /** GCM tag of the stored blob: names this one sealing of the record (undefined when never written). */
  readonly sealTag: Buffer | undefined;
}

/** What re-sealing one record did. */
export type ResealOutcome = 'resealed' | 'already-active' | 'absent';

export interface StoredDocument {
  readonly version: number;
  readonly body: Buffer;
  /** GCM tag of the blob it came from: unique per sealing, so (version, tag) names one document even if a rollback reuses a version. */
  readonly sealTag: Buffer;
}

export interface PrivateDocumentsOptions {
  /** Records whose last seen version stays in memory (ROLLBACK_CACHE_ENTRIES); the rest go to watermark pages. */
  readonly rollbackCacheEntries?: number;
  /** Tests only: a small bound on entries waiting to be written into pages. */
  readonly pendingSpillMax?: number;
  /** Longest wait for room in the watermark spill before 503 (STORAGE_TIMEOUT_MS). */
  readonly waitTimeoutMs?: number;
  /** Tests only: bytes of opened watermark pages kept in memory (0: none). */
  readonly pageCacheBytes?: number;
  /** New records one owner may create per second (RECORD_CREATES_PER_SECOND); unlimited when absent. */
  readonly recordCreatesPerSecond?: number;
  /** Tests only: the clock of the creation limit. */
  readonly now?: () => number;
  readonly logger?: Logger;
}

export class PrivateDocuments {
  #keyring: Keyring;
  readonly #storage: StorageClient;
  readonly #guard: RollbackGuard;
  #lazyResealsInFlight = 0;
  #onUnknownKeyId: (() => Promise<boolean>) | undefined;
  readonly #creationLimit: OwnerCreationRateLimit | undefined;

  constructor(keyring: Keyring, storage: StorageClient, options: PrivateDocumentsOptions = {}) {
    this.#keyring = keyring;
    this.#storage = storage;
    this.#creationLimit = options.recordCreatesPerSecond === undefined ? undefined : new OwnerCreationRateLimit(options.recordCreatesPerSecond, options.now);
    this.#guard = new RollbackGuard({
      storage,
      keyring: () => this.#keyring,
      ...(options.rollbackCacheEntries === undefined ? {} : { cacheEntries: options.rollbackCacheEntries }),
      ...(options.pendingSpillMax === undefined ? {} : { pendingSpillMax: options.pendingSpillMax }),
      ...(options.pageCacheBytes === undefined ? {} : { pageCacheBytes: options.pageCacheBytes }),
      ...(options.waitTimeoutMs === undefined ? {} : { waitTimeoutMs: options.waitTimeoutMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  }

  /** The rollback guard (tests read its counts). */
  get rollbackGuard(): RollbackGuard {
    return this.#guard;
  }

  /** After a rotation: new seals use the new keyring's active key. The identity key never changes. */
  replaceKeyring(keyring: Keyring): void {
    if (!keyring.identityKeyId.equals(this.#keyring.identityKeyId)) throw new TypeError('a replacement keyring must keep the identity key');
    this.#keyring = keyring;
  }

  /**
   * Called when a stored record names a key this enclave does not hold
   * (another enclave rotated): resolves true when the keyring was reloaded,
   * and the record is opened once more.
   */
  setUnknownKeyHandler(handler: () => Promise<boolean>): void {
    this.#onUnknownKeyId = handler;
  }

  get keyring(): Keyring {
    return this.#keyring;
  }

  ownerFromToken(token: string): OwnerId {
    return this.#keyring.ownerIdFromToken(token);
  }

  async read(owner: OwnerId, name: string): Promise<StoredDocument> {
    const record = this.#keyring.recordIdFromName(owner, name);
    const current = await this.#readCurrent(owner, record);
    if (current.body === undefined) throw new NotFoundError();
    if (current.keyId !== undefined && !current.keyId.equals(this.#keyring.activeKeyId) && this.#lazyResealsInFlight < MAX_LAZY_RESEALS_IN_FLIGHT) {
      // Lazy re-seal after a rotation: best effort, off the reader's path; a
      // failure leaves the record as it was, under a key the keyring still holds.
      this.#lazyResealsInFlight += 1;
      this.resealRecord(owner, record)
        .catch(() => undefined)
        .finally(() => {
          this.#lazyResealsInFlight -= 1;
        });
    }
    return { version: current.version, body: current.body, sealTag: current.sealTag ?? Buffer.alloc(0) };
  }

  /**
   * Re-seals a record under the active key as its next version, unless it is
   * already under that key. Tombstones are re-sealed too, so that an old key
   * can be retired once no record uses it. Safe to repeat, and to interrupt
   * at any moment: the write is one compare-and-set.
   */
  async resealRecord(owner: OwnerId, record: RecordId): Promise<ResealOutcome> {
    let outcome: ResealOutcome = 'absent';
    await this.#compareAndSet(owner, record, (current) => {
      if (current.keyId === undefined) {
        outcome = 'absent';
        return null;
      }
      if (current.keyId.equals(this.#keyring.activeKeyId)) {
        outcome = 'already-active';
        return null;
      }
      outcome = 'resealed';
      return current.body ?? TOMBSTONE_PLAINTEXT;
    });
    return outcome;
  }

  /** The key id a record is sealed under, authenticated by opening it; undefined if never written. */
  async keyIdOfRecord(owner: OwnerId, record: RecordId): Promise<KeyId | undefined> {
    return (await this.#readCurrent(owner, record)).keyId;
  }

  /** Stores `body` as the new version of the document; returns the version and whether it was created. */
  async write(owner: OwnerId, name: string, body: Buffer): Promise<{ version: number; created: boolean }> {
    // An empty body would be stored as a tombstone; the API never passes one (it must parse as JSON).
    if (body.length === 0) throw new InvalidJsonError();
    const record = this.#keyring.recordIdFromName(owner, name);
    let charged = false;
    const written = await this.#compareAndSet(owner, record, (current) => {
      // Version 0: storage has never held this record, so this write creates one (a retry after CONFLICT is not charged twice).
      if (current.version === 0 && !charged && this.#creationLimit !== undefined) {
        const waitMs = this.#creationLimit.take(owner.toString('hex'));
        if (waitMs > 0) throw new RecordCreateRateLimitedError(Math.ceil(waitMs / 1000));
        charged = true;
      }
      return body;
    });
    if (written === null) throw new TypeError('unreachable: a write always writes');
    return written;
  }

  /** Deletes the document: stores a sealed tombstone as its next version. NOT_FOUND if absent or already deleted. */
  async remove(owner: OwnerId, name: string): Promise<void> {
    const record = this.#keyring.recordIdFromName(owner, name);
    await this.#compareAndSet(owner, record, (current) => {
      if (current.body === undefined) throw new NotFoundError();
      return TOMBSTONE_PLAINTEXT;
    });
  }

  /**
   * Seals what `decide` returns for the current state as version + 1 and
   * stores it with a compare-and-set PUT (null: write nothing); `decide` may
   * also throw to refuse. Retries on CONFLICT. Raises the watermark with the
   * stored blob's tag.
   */
  async #compareAndSet(
    owner: OwnerId,
    record: RecordId,
    decide: (current: Current) => Buffer | null,
  ): Promise<{ version: number; created: boolean } | null> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt += 1) {
      const current = await this.#readCurrent(owner, record);
      const plaintext = decide(current);
      if (plaintext === null) return null;
      const sealed = sealRecord({ keyring: this.#keyring, owner, record, version: current.version + 1, plaintext });
      const result = await this.#storage.put(owner, record, current.version, sealed);
      if (result.written) {
        this.#guard.raise(record, result.version, blobTag(sealed));
        return { version: result.version, created: current.body === undefined };
      }
    }
    throw new WriteConflictError();
  }

  /**
   * The current version and, unless never written or deleted, the opened
   * body. The reply is judged only by what this enclave knew before the GET
   * was sent (rollback-guard.ts): memory, or the record's watermark page.
   */
  async #readCurrent(owner: OwnerId, record: RecordId): Promise<Current> {
    await this.#guard.whenRoomFor(record);
    const known = await this.#guard.known(record);
    const reply = await this.#storage.get(owner, record);
    // NOT_FOUND is version 0: a rollback once this enclave has seen the record.
    if (!versionAllowed(known, reply.version)) throw new StorageRollbackError();
    if (!reply.found) return { version: 0, body: undefined, keyId: undefined, sealTag: undefined };
    // A blob that does not open throws StorageIntegrityError with its reason.
    const plaintext = await this.#open(owner, record, reply.version, reply.blob);
    // Authenticated now: a different blob at a version already seen is a fork.
    const tag = blobTag(reply.blob);
    if (!versionAllowed(known, reply.version, tag)) throw new StorageRollbackError();
    const inPage = known?.inPage === true && known.version === reply.version;
    this.#guard.raise(record, reply.version, tag, inPage);
    const keyId = asKeyId(Buffer.from(reply.blob.subarray(KEY_ID_OFFSET, KEY_ID_OFFSET + KEY_ID_BYTES)));
    return { version: reply.version, body: plaintext.length === 0 ? undefined : plaintext, keyId, sealTag: Buffer.from(tag) };
  }

  /** Opens a blob; a key this enclave does not hold gets one keyring reload (another enclave may have rotated). */
  async #open(owner: OwnerId, record: RecordId, version: number, sealed: Buffer): Promise<Buffer> {
    try {
      return openRecord({ keyring: this.#keyring, owner, record, version, sealed });
    } catch (error) {
      const reloaded = error instanceof StorageIntegrityError && error.reason === 'UNKNOWN_KEY_ID' && this.#onUnknownKeyId !== undefined && (await this.#onUnknownKeyId());
      if (!reloaded) throw error;
      return openRecord({ keyring: this.#keyring, owner, record, version, sealed });
    }
  }
}


/** The GCM tag closing a sealed envelope: identifies one sealed blob (see version-watermark.ts). */
function blobTag(sealed: Buffer): Buffer {
  return sealed.subarray(sealed.length - TAG_BYTES);
}
