// Key rotation, bulk re-seal, retirement and keyring refresh, as the admin
// endpoints (http/admin-endpoint.ts) and run.ts drive them. One operation at
// a time per enclave.
//
//   rotate   KMS GenerateDataKey (to this enclave's attested recipient) adds a
//            master key and makes it active; the new wrapped keyring is
//            stored by compare-and-set; new seals use the new key at once.
//   reseal   one batch: list records after a cursor, re-seal each one not yet
//            under the active key as its next version (compare-and-set).
//            Killed at any moment, nothing is lost: each record is written
//            whole or not at all, and running it again skips what is done.
//   retire   removes a key once no record the host lists is sealed under it
//            (each listed record is opened, so a listed record cannot lie
//            about its key). A record the host hides from the listing stays
//            under the retired key and becomes unreadable: the same loss as
//            the host deleting it, which it can always do.
//   refresh  other enclaves of the deployment share the keyring record:
//            every KEYRING_REFRESH_MS, and when a record names a key this
//            enclave does not hold, the stored keyring's version is checked
//            and a changed keyring is released again through KMS. Retirement
//            waits two refresh periods after the active key changed, so every
//            live enclave seals under the new key before the old one goes.

import { asOwnerId, asRecordId, keyIdToHex, asKeyId, KEY_ID_BYTES, type KeyId } from './identifiers.js';
import type { Keyring } from './keyring.js';
import { KEYRING_OWNER, KEYRING_RECORD } from './kms/keyring-document.js';
import { isWatermarkOwner } from '../records/watermark-page.js';
import { loadKmsKeyring, retireKmsKey, rotateKmsKeyring, type KmsKeyringDeps, type KmsKeyringState } from './kms/kms-keyring.js';
import type { ObtainedKeyring } from './obtain-keyring.js';
import type { PrivateDocuments } from '../records/private-documents.js';
import type { StorageClient } from '../storage/storage-client.js';
import { errorCodeOf } from '../log.js';
import { AdminBusyError, KeyRetireRefusedError, KeySourceNotKmsError, KeyUnknownError } from '../enclave-errors.js';
import { publishKey } from '../telemetry/enclave-events.js';

/** Records per re-seal batch at most: one LIST page. */
export const MAX_RESEAL_BATCH = 256;
/** A retirement scan (every record opened) gives up after this long: a host that lists forever cannot hold the admin lock. */
export const RETIRE_SCAN_MAX_MS = 10 * 60_000;
/** Reloads triggered by records under an unknown key, at most one per this interval (each costs KMS calls). */
export const UNKNOWN_KEY_RELOAD_INTERVAL_MS = 5_000;

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

/** Admin operations held at once: one running, one waiting. */
export const MAX_ADMIN_OPERATIONS = 2;

export interface KeyAdministrationOptions {
  /** How often the stored keyring's version is checked (KEYRING_REFRESH_MS). */
  readonly refreshIntervalMs: number;
  readonly now?: () => number;
}

export class KeyAdministration {
  #kms: { state: KmsKeyringState; readonly deps: KmsKeyringDeps } | undefined;
  readonly #documents: PrivateDocuments;
  readonly #storage: StorageClient;
  readonly #refreshIntervalMs: number;
  readonly #now: () => number;
  /** When this enclave started sealing under the current active key. */
  #activeSince: number;
  #lastUnknownKeyReload = Number.NEGATIVE_INFINITY;
  #busy: Promise<unknown> = Promise.resolve();
  #held = 0;
  #refreshing: Promise<boolean> | undefined;

  constructor(obtained: ObtainedKeyring, documents: PrivateDocuments, storage: StorageClient, options: KeyAdministrationOptions) {
    this.#kms = obtained.source === 'kms' ? { state: obtained.state, deps: obtained.deps } : undefined;
    this.#documents = documents;
    this.#storage = storage;
    this.#refreshIntervalMs = options.refreshIntervalMs;
    this.#now = options.now ?? Date.now;
    this.#activeSince = this.#now();
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
      this.#adopt(kms, await rotateKmsKeyring(kms.state, kms.deps));
      publishKey({ event: 'rotated', keyId: keyIdToHex(kms.state.keyring.activeKeyId) });
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
        if (isReservedRecord(entry.owner, entry.record)) continue;
        examined += 1;
        const outcome = await this.#documents.resealRecord(asOwnerId(entry.owner), asRecordId(entry.record));
        if (outcome === 'resealed') resealed += 1;
        else if (outcome === 'already-active') alreadyActive += 1;
      }
      const last = page.entries[page.entries.length - 1];
      const cursor = page.more && last !== undefined ? { owner: last.owner, record: last.record } : undefined;
      if (resealed > 0) publishKey({ event: 'resealed', examined, resealed, more: page.more });
      return { examined, resealed, alreadyActive, cursor, more: page.more };
    });
  }

  /** Retires `keyIdHex` after opening every listed record and finding none sealed under it. `signal` aborts the scan. */
  retire(keyIdHex: string, signal?: AbortSignal): Promise<KeyringStatus> {
    return this.#exclusive(async () => {
      const kms = this.#requireKms();
      const keyId = parseKeyIdHex(keyIdHex);
      const keyring = kms.state.keyring;
      if (keyId === undefined || !keyring.hasKeyId(keyId)) throw new KeyUnknownError();
      if (keyId.equals(keyring.identityKeyId)) throw new KeyRetireRefusedError('the identity key cannot be retired: owner and record pseudonyms come from it');
      if (keyId.equals(keyring.activeKeyId)) throw new KeyRetireRefusedError('the active key cannot be retired; rotate first');
      const settled = this.#activeSince + 2 * this.#refreshIntervalMs - this.#now();
      if (settled > 0) {
        throw new KeyRetireRefusedError(`the active key changed less than two keyring refresh periods ago; retry in ${Math.ceil(settled / 1000)} s, when every enclave seals under it`);
      }
      const inUse = await this.#countRecordsUnder(keyId, signal);
      if (inUse > 0) throw new KeyRetireRefusedError(`${inUse} records are still sealed under this key; run reseal first`);
      this.#adopt(kms, await retireKmsKey(kms.state, keyId, kms.deps));
      publishKey({ event: 'retired', keyId: keyIdHex });
      return this.status();
    });
  }

  /**
   * Reloads the keyring through KMS if the stored one changed (another
   * enclave rotated or retired a key). Returns whether it changed.
   */
  refresh(): Promise<boolean> {
    // Single flight, and outside the admin lock: a re-seal batch (which holds
    // the lock) can itself meet a record under an unknown key and wait for this.
    if (this.#refreshing !== undefined) return this.#refreshing;
    this.#refreshing = this.#reloadIfChanged().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #reloadIfChanged(): Promise<boolean> {
    const kms = this.#kms;
    if (kms === undefined) return false;
    const stored = await kms.deps.storage.get(KEYRING_OWNER, KEYRING_RECORD);
    if (stored.version === kms.state.storedVersion) return false;
    const reloaded = await loadKmsKeyring(kms.deps);
    if (!reloaded.keyring.identityKeyId.equals(kms.state.keyring.identityKeyId)) {
      publishKey({ event: 'identity_changed', code: 'KEYRING_IDENTITY_CHANGED' });
      return false;
    }
    // Another enclave only adds keys or retires inactive ones, and waits two
    // periods after a rotation before retiring: a keyring without this
    // enclave's active key is an older one replayed by the host. Keep ours.
    if (!reloaded.keyring.hasKeyId(kms.state.keyring.activeKeyId)) {
      publishKey({ event: 'regressed', code: 'KEYRING_REGRESSED' });
      return false;
    }
    this.#adopt(kms, reloaded);
    publishKey({ event: 'reloaded', keys: reloaded.document.keys.length, keyId: keyIdToHex(reloaded.keyring.activeKeyId) });
    return true;
  }

  /** For PrivateDocuments: a record names a key this enclave does not hold; reload (rate-limited) and say whether to retry. */
  async reloadForUnknownKey(): Promise<boolean> {
    if (this.#kms === undefined || this.#now() - this.#lastUnknownKeyReload < UNKNOWN_KEY_RELOAD_INTERVAL_MS) return false;
    this.#lastUnknownKeyReload = this.#now();
    try {
      return await this.refresh();
    } catch (error) {
      publishKey({ event: 'reload_failed', code: errorCodeOf(error) });
      return false;
    }
  }

  /** Starts the periodic refresh; returns a function that stops it. */
  startRefreshing(): () => void {
    if (this.#kms === undefined) return () => undefined;
    const timer = setInterval(() => {
      this.refresh().catch((error: unknown) => publishKey({ event: 'refresh_failed', code: errorCodeOf(error) }));
    }, this.#refreshIntervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  #adopt(kms: { state: KmsKeyringState }, next: KmsKeyringState): void {
    const activeChanged = !next.keyring.activeKeyId.equals(kms.state.keyring.activeKeyId);
    kms.state = next;
    this.#documents.replaceKeyring(next.keyring);
    if (activeChanged) this.#activeSince = this.#now();
  }

  async #countRecordsUnder(keyId: KeyId, signal: AbortSignal | undefined): Promise<number> {
    const deadline = this.#now() + RETIRE_SCAN_MAX_MS;
    let count = 0;
    let after: ResealCursor | undefined;
    for (;;) {
      if (signal?.aborted === true) throw new KeyRetireRefusedError('the request was closed; nothing was retired');
      if (this.#now() > deadline) throw new KeyRetireRefusedError(`the scan did not finish within ${RETIRE_SCAN_MAX_MS / 60_000} minutes; nothing was retired`);
      const page = await this.#storage.listRecords(after, MAX_RESEAL_BATCH);
      for (const entry of page.entries) {
        if (isReservedRecord(entry.owner, entry.record)) continue;
        const used = await this.#documents.keyIdOfRecord(asOwnerId(entry.owner), asRecordId(entry.record));
        if (used?.equals(keyId) === true) count += 1;
      }
      const last = page.entries[page.entries.length - 1];
      if (!page.more || last === undefined) return count;
      after = { owner: last.owner, record: last.record };
    }
  }

  #requireKms(): { state: KmsKeyringState; readonly deps: KmsKeyringDeps } {
    if (this.#kms === undefined) throw new KeySourceNotKmsError();
    return this.#kms;
  }

  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#held >= MAX_ADMIN_OPERATIONS) return Promise.reject(new AdminBusyError());
    this.#held += 1;
    const run = this.#busy.then(operation, operation).finally(() => {
      this.#held -= 1;
    });
    this.#busy = run.catch(() => undefined);
    return run;
  }
}

/** The keyring document and the watermark pages are not documents: they are sealed under the identity key (or MACed by it), never re-sealed. */
function isReservedRecord(owner: Buffer, record: Buffer): boolean {
  return (owner.equals(KEYRING_OWNER) && record.equals(KEYRING_RECORD)) || isWatermarkOwner(owner);
}

function parseKeyIdHex(hex: string): KeyId | undefined {
  if (!new RegExp(`^[0-9a-f]{${KEY_ID_BYTES * 2}}$`).test(hex)) return undefined;
  return asKeyId(Buffer.from(hex, 'hex'));
}
