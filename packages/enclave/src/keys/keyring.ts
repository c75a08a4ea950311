// The keyring: master keys by key id, one active for writes, older ones kept
// to open records sealed before a rotation, plus the pseudonym keys for owner
// and record ids and a bounded cache of per-owner sealing keys.
//
// Decision (identity key): owner and record pseudonyms are derived from the
// keyring's IDENTITY key, the first (oldest) master key, which stays fixed
// for the life of a deployment. If they followed the active key, a rotation
// would change every owner id and record id and the host's rows would no
// longer be found. Consequences: (1) a rotation must keep the identity key in
// the keyring (it may stop being active for writes); (2) replacing the
// identity key itself is a migration that renames every record, not a
// rotation; (3) whoever learns the identity key can link tokens to owner ids
// forever, so it gets the same protection as any other master key.
//
// Key sources: 'env' (ENCLAVE_KEY_BASE64, one key, development only) builds
// through createKeyringFromEnvKey; a 'kms' source (KMS Decrypt with an
// attestation Recipient) will unwrap its keys and call createKeyring with
// source 'kms' and the whole list, oldest first.

import { createHmac, createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { computeOwnerId, computeRecordId, deriveKeyId, deriveKeyringMacKey, deriveOwnerPseudonymKey, deriveRecordPseudonymKey, deriveSealingKey } from './key-derivation.js';
import type { MasterKey } from './key-derivation.js';
import { BoundedLruCache } from './bounded-lru-cache.js';
import { MASTER_KEY_BYTES } from './master-key.js';
import { keyIdToHex } from './identifiers.js';
import type { KeyId, OwnerId, RecordId } from './identifiers.js';
import { KeyringUsageError } from '../enclave-errors.js';

/** Where the master keys came from. 'env' is insecure and for development only. */
export type KeySource = 'env' | 'kms';

/**
 * SEALING_KEY_CACHE_ENTRIES = 10 000 derived keys (a few MB at most with map
 * overhead): enough for the active owners of one enclave; a miss costs one HKDF.
 */
export const SEALING_KEY_CACHE_ENTRIES = 10_000;

export interface CreateKeyringOptions {
  readonly source: KeySource;
  /**
   * Raw 32-byte master keys, OLDEST FIRST; index 0 is the identity key. The
   * keyring copies each into a KeyObject and zeroes the given Buffers.
   */
  readonly masterKeys: readonly Buffer[];
  /** Key for new seals; defaults to the newest (last) key. */
  readonly activeKeyId?: KeyId;
  readonly sealingKeyCacheEntries?: number;
}

export class Keyring {
  readonly source: KeySource;
  readonly activeKeyId: KeyId;
  /** Key id of the identity key (index 0): owner and record pseudonyms come from it. */
  readonly identityKeyId: KeyId;
  readonly #mastersByKeyIdHex: ReadonlyMap<string, { readonly keyId: KeyId; readonly master: MasterKey }>;
  readonly #ownerPseudonymKey: KeyObject;
  readonly #recordPseudonymKey: KeyObject;
  readonly #keyringMacKey: KeyObject;
  readonly #sealingKeys: BoundedLruCache<string, KeyObject>;

  /** Use createKeyring / createKeyringFromEnvKey. */
  private constructor(
    source: KeySource,
    masters: readonly { readonly keyId: KeyId; readonly master: MasterKey }[],
    activeKeyId: KeyId,
    cacheEntries: number,
  ) {
    const identity = masters[0];
    if (identity === undefined) throw new KeyringUsageError('keyring needs at least one master key, got 0');
    this.source = source;
    this.activeKeyId = activeKeyId;
    this.identityKeyId = identity.keyId;
    this.#mastersByKeyIdHex = new Map(masters.map((entry) => [keyIdToHex(entry.keyId), entry]));
    this.#ownerPseudonymKey = deriveOwnerPseudonymKey(identity.master);
    this.#recordPseudonymKey = deriveRecordPseudonymKey(identity.master);
    this.#keyringMacKey = deriveKeyringMacKey(identity.master);
    this.#sealingKeys = new BoundedLruCache(cacheEntries);
  }

  /** @internal factory used by createKeyring. */
  static fromMasterKeys(options: CreateKeyringOptions): Keyring {
    const masters: { keyId: KeyId; master: MasterKey }[] = [];
    const seen = new Set<string>();
    for (const [index, raw] of options.masterKeys.entries()) {
      if (!Buffer.isBuffer(raw) || raw.length !== MASTER_KEY_BYTES) {
        throw new KeyringUsageError(
          `master key ${index} must be a ${MASTER_KEY_BYTES}-byte Buffer, got ${Buffer.isBuffer(raw) ? `${raw.length} bytes` : typeof raw}`,
        );
      }
      const master = createSecretKey(raw);
      raw.fill(0);
      const keyId = deriveKeyId(master);
      const hex = keyIdToHex(keyId);
      if (seen.has(hex)) throw new KeyringUsageError(`master key ${index} duplicates an earlier key (same key id)`);
      seen.add(hex);
      masters.push({ keyId, master });
    }
    const newest = masters[masters.length - 1];
    if (newest === undefined) throw new KeyringUsageError('keyring needs at least one master key, got 0');
    const active = options.activeKeyId ?? newest.keyId;
    if (!seen.has(keyIdToHex(active))) throw new KeyringUsageError('activeKeyId is not one of the master keys');
    return new Keyring(options.source, masters, active, options.sealingKeyCacheEntries ?? SEALING_KEY_CACHE_ENTRIES);
  }

  /**
   * A new keyring with one more master key, which becomes active (rotation).
   * The existing keys, and so the identity key, stay. `raw` is zeroed.
   */
  withAddedMasterKey(raw: Buffer): Keyring {
    if (!Buffer.isBuffer(raw) || raw.length !== MASTER_KEY_BYTES) throw new KeyringUsageError(`master key must be a ${MASTER_KEY_BYTES}-byte Buffer`);
    const master = createSecretKey(raw);
    raw.fill(0);
    const keyId = deriveKeyId(master);
    if (this.hasKeyId(keyId)) throw new KeyringUsageError('the added master key duplicates a key of the keyring (same key id)');
    const masters = [...this.#mastersByKeyIdHex.values(), { keyId, master }];
    return new Keyring(this.source, masters, keyId, this.#sealingKeys.capacity);
  }

  /** A new keyring without `keyId` (retirement). Neither the identity key nor the active key can be removed. */
  withoutKeyId(keyId: KeyId): Keyring {
    const hex = keyIdToHex(keyId);
    if (hex === keyIdToHex(this.identityKeyId)) throw new KeyringUsageError('the identity key cannot be removed: owner and record pseudonyms come from it');
    if (hex === keyIdToHex(this.activeKeyId)) throw new KeyringUsageError('the active key cannot be removed');
    if (!this.#mastersByKeyIdHex.has(hex)) throw new KeyringUsageError('no such key id in the keyring');
    const masters = [...this.#mastersByKeyIdHex.values()].filter((entry) => keyIdToHex(entry.keyId) !== hex);
    return new Keyring(this.source, masters, this.activeKeyId, this.#sealingKeys.capacity);
  }

  /** All key ids, oldest (identity) first. */
  get keyIds(): readonly KeyId[] {
    return [...this.#mastersByKeyIdHex.values()].map((entry) => entry.keyId);
  }

  hasKeyId(keyId: KeyId): boolean {
    return this.#mastersByKeyIdHex.has(keyIdToHex(keyId));
  }

  /** OwnerId = HMAC-SHA256(ownerKey, utf8(token)); independent of the active key. */
  ownerIdFromToken(token: string): OwnerId {
    if (typeof token !== 'string') throw new KeyringUsageError(`token must be a string, got ${typeof token}`);
    return computeOwnerId(this.#ownerPseudonymKey, token);
  }

  /**
   * RecordId = HMAC-SHA256(recordKey, owner || utf8(name)). The default
   * document of /private-data uses the name "" (empty string).
   */
  recordIdFromName(owner: OwnerId, name: string): RecordId {
    if (typeof name !== 'string') throw new KeyringUsageError(`record name must be a string, got ${typeof name}`);
    return computeRecordId(this.#recordPseudonymKey, owner, name);
  }

  /**
   * Per-owner AES-256-GCM key under the master key `keyId`, or undefined when
   * the keyring does not hold that key id (the caller decides what that means:
   * an integrity error when opening a stored record).
   */
  sealingKey(keyId: KeyId, owner: OwnerId): KeyObject | undefined {
    const keyIdHex = keyIdToHex(keyId);
    const cacheKey = `${keyIdHex}:${owner.toString('hex')}`;
    const cached = this.#sealingKeys.get(cacheKey);
    if (cached !== undefined) return cached;
    const entry = this.#mastersByKeyIdHex.get(keyIdHex);
    if (entry === undefined) return undefined;
    const derived = deriveSealingKey(entry.master, owner);
    this.#sealingKeys.set(cacheKey, derived);
    return derived;
  }

  /** HMAC-SHA256 of a stored keyring document under a key derived from the identity key (32 bytes). */
  keyringDocumentMac(document: Buffer): Buffer {
    return createHmac('sha256', this.#keyringMacKey).update(document).digest();
  }

  /** Number of cached sealing keys (bounded by the cache size). */
  get cachedSealingKeyCount(): number {
    return this.#sealingKeys.size;
  }
}

/** Builds a keyring from raw master keys (oldest first). For key sources such as 'kms'. */
export function createKeyring(options: CreateKeyringOptions): Keyring {
  return Keyring.fromMasterKeys(options);
}

/**
 * Keyring of the 'env' source: the single ENCLAVE_KEY_BASE64 key is both the
 * identity key and the active key. DEVELOPMENT ONLY: the host operator sets
 * this variable, so it protects nothing against the operator.
 */
export function createKeyringFromEnvKey(master: Buffer): Keyring {
  return createKeyring({ source: 'env', masterKeys: [master] });
}
