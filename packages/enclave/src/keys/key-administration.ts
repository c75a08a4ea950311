// Key rotation, bulk re-seal and retirement, as the admin endpoints drive
// them (http/admin-endpoint.ts). One operation at a time per enclave.
//
//   rotate   KMS GenerateDataKey (to this enclave's attested recipient) adds a
//            master key and makes it active; the new wrapped keyring is
//            stored by compare-and-set; new seals use the new key at once.
//   reseal   one batch: list records after a cursor, re-seal each one not yet
//            under the active key as its next version (compare-and-set).
//            Killed at any moment, nothing is lost: each record is written
//            whole or not at all, and running it again skips what is done.
//   retire   removes a key once no record is sealed under it (checked by
//            opening every record, so the host cannot lie about it).

import { asOwnerId, asRecordId, keyIdToHex, asKeyId, KEY_ID_BYTES, type KeyId } from './identifiers.js';
import type { Keyring } from './keyring.js';
import { KEYRING_OWNER, KEYRING_RECORD } from './kms/keyring-document.js';
import { retireKmsKey, rotateKmsKeyring, type KmsKeyringDeps, type KmsKeyringState } from './kms/kms-keyring.js';
import type { ObtainedKeyring } from './obtain-keyring.js';
import type { PrivateDocuments } from '../records/private-documents.js';
import type { StorageClient } from '../storage/storage-client.js';
import type { Logger } from '../log.js';

/** Records per re-seal batch at most: one LIST page. */
export const MAX_RESEAL_BATCH = 256;

export interface ResealCursor {
  readonly owner: Buffer;
  readonly record: Buffer;
}

export interface ResealBatchResult {
  readonly examined: number;
  readonly resealed: number;
  readonly alreadyActive: number;
  /** Pass back to continue; undefined when the scan is complete. */
  readonly cursor: ResealCursor | undefined;
  readonly more: boolean;
}

export interface KeyringStatus {
  readonly source: 'env' | 'kms';
  readonly activeKeyId: string;
  readonly identityKeyId: string;
  readonly keyIds: readonly string[];
}

export class KeyRetireRefused extends Error {
  readonly code = 'KEY_RETIRE_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'KeyRetireRefused';
  }
}

export class KeyAdministration {
  #kms: { state: KmsKeyringState; readonly deps: KmsKeyringDeps } | undefined;
  readonly #documents: PrivateDocuments;
  readonly #storage: StorageClient;
  readonly #logger: Logger;
  #busy: Promise<unknown> = Promise.resolve();

  constructor(obtained: ObtainedKeyring, documents: PrivateDocuments, storage: StorageClient, logger: Logger) {
    this.#kms = obtained.source === 'kms' ? { state: obtained.state, deps: obtained.deps } : undefined;
    this.#documents = documents;
    this.#storage = storage;
    this.#logger = logger;
  }

  get rotationAvailable(): boolean {
    return this.#kms !== undefined;
  }

  status(): KeyringStatus {
    const keyring: Keyring = this.#documents.keyring;
    return {
      source: keyring.source,
      activeKeyId: keyIdToHex(keyring.activeKeyId),
      identityKeyId: keyIdToHex(keyring.identityKeyId),
      keyIds: keyring.keyIds.map(keyIdToHex),
    };
  }

  rotate(): Promise<KeyringStatus> {
    return this.#exclusive(async () => {
      const kms = this.#requireKms();
      kms.state = await rotateKmsKeyring(kms.state, kms.deps);
      this.#documents.replaceKeyring(kms.state.keyring);
      this.#logger.info('key rotated: new seals use the new active key', { activeKeyId: keyIdToHex(kms.state.keyring.activeKeyId) });
      return this.status();
    });
  }

  resealBatch(after: ResealCursor | undefined, limit: number): Promise<ResealBatchResult> {
    return this.#exclusive(async () => {
      const page = await this.#storage.listRecords(after, Math.min(Math.max(1, limit), MAX_RESEAL_BATCH));
      let resealed = 0;
      let alreadyActive = 0;
      let examined = 0;
      for (const entry of page.entries) {
        if (isKeyringRecord(entry.owner, entry.record)) continue;
        examined += 1;
        const outcome = await this.#documents.resealRecord(asOwnerId(entry.owner), asRecordId(entry.record));
        if (outcome === 'resealed') resealed += 1;
        else if (outcome === 'already-active') alreadyActive += 1;
      }
      const last = page.entries[page.entries.length - 1];
      const cursor = page.more && last !== undefined ? { owner: last.owner, record: last.record } : undefined;
      if (resealed > 0) this.#logger.info('re-sealed a batch under the active key', { examined, resealed, more: page.more });
      return { examined, resealed, alreadyActive, cursor, more: page.more };
    });
  }

  /** Retires `keyIdHex` after opening every record and finding none sealed under it. */
  retire(keyIdHex: string): Promise<KeyringStatus> {
    return this.#exclusive(async () => {
      const kms = this.#requireKms();
      const keyId = parseKeyIdHex(keyIdHex);
      const keyring = kms.state.keyring;
      if (keyId === undefined || !keyring.hasKeyId(keyId)) throw new KeyUnknown();
      if (keyId.equals(keyring.identityKeyId)) throw new KeyRetireRefused('the identity key cannot be retired: owner and record pseudonyms come from it');
      if (keyId.equals(keyring.activeKeyId)) throw new KeyRetireRefused('the active key cannot be retired; rotate first');
      const inUse = await this.#countRecordsUnder(keyId);
      if (inUse > 0) throw new KeyRetireRefused(`${inUse} records are still sealed under this key; run reseal first`);
      kms.state = await retireKmsKey(kms.state, keyId, kms.deps);
      this.#documents.replaceKeyring(kms.state.keyring);
      this.#logger.info('key retired', { keyId: keyIdHex });
      return this.status();
    });
  }

  async #countRecordsUnder(keyId: KeyId): Promise<number> {
    let count = 0;
    let after: ResealCursor | undefined;
    for (;;) {
      const page = await this.#storage.listRecords(after, MAX_RESEAL_BATCH);
      for (const entry of page.entries) {
        if (isKeyringRecord(entry.owner, entry.record)) continue;
        const used = await this.#documents.keyIdOfRecord(asOwnerId(entry.owner), asRecordId(entry.record));
        if (used?.equals(keyId) === true) count += 1;
      }
      const last = page.entries[page.entries.length - 1];
      if (!page.more || last === undefined) return count;
      after = { owner: last.owner, record: last.record };
    }
  }

  #requireKms(): { state: KmsKeyringState; readonly deps: KmsKeyringDeps } {
    if (this.#kms === undefined) throw new KeySourceNotKms();
    return this.#kms;
  }

  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(operation, operation);
    this.#busy = run.catch(() => undefined);
    return run;
  }
}

export class KeyUnknown extends Error {
  readonly code = 'KEY_UNKNOWN';
  constructor() {
    super('the keyring holds no key with this id');
    this.name = 'KeyUnknown';
  }
}

export class KeySourceNotKms extends Error {
  readonly code = 'KEY_SOURCE_NOT_KMS';
  constructor() {
    super('key rotation needs KEY_SOURCE=kms');
    this.name = 'KeySourceNotKms';
  }
}

function isKeyringRecord(owner: Buffer, record: Buffer): boolean {
  return owner.equals(KEYRING_OWNER) && record.equals(KEYRING_RECORD);
}

function parseKeyIdHex(hex: string): KeyId | undefined {
  if (!new RegExp(`^[0-9a-f]{${KEY_ID_BYTES * 2}}$`).test(hex)) return undefined;
  return asKeyId(Buffer.from(hex, 'hex'));
}
