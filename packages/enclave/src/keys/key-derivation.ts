// Key derivations of the keyring, all HKDF-SHA256 (RFC 5869) or HMAC-SHA256
// (RFC 2104) over a 32-byte master key. The info strings are domain
// separators: each derived key serves exactly one purpose, and a new purpose
// gets a new info string, never a reused one.
//
// | purpose                 | ikm              | salt           | info                     | L  |
// |-------------------------|------------------|----------------|--------------------------|----|
// | key id (public)         | master           | empty          | http-enclave/v1/key-id   | 8  |
// | owner pseudonym key     | identity master  | empty          | http-enclave/v1/owner-id | 32 |
// | record pseudonym key    | identity master  | empty          | http-enclave/v1/record-id| 32 |
// | per-owner sealing key   | master of key id | owner id (32)  | http-enclave/v1/seal     | 32 |
//
// RFC 5869 section 2.2 (Extract): an empty salt is treated as HashLen zero
// bytes, which is fine because the master key is already uniformly random
// (section 3.1). Section 2.3 (Expand): the first L bytes of T(1) || T(2) …,
// so asking for L = 8 gives exactly "the first 8 bytes" of a longer output.
// The owner id as salt of the sealing key follows section 3.1 ("salt … may
// be a non-secret value"): it separates owners without needing secrecy.

import { createHmac, createSecretKey, hkdfSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { KEY_ID_BYTES, asKeyId, asOwnerId, asRecordId } from './identifiers.js';
import type { KeyId, OwnerId, RecordId } from './identifiers.js';

export const KEY_ID_INFO = 'http-enclave/v1/key-id';
export const OWNER_ID_INFO = 'http-enclave/v1/owner-id';
export const RECORD_ID_INFO = 'http-enclave/v1/record-id';
export const SEAL_INFO = 'http-enclave/v1/seal';
export const KEYRING_MAC_INFO = 'http-enclave/v1/keyring-mac';

/** SEALING_KEY_BYTES = 32: AES-256-GCM key size. */
export const SEALING_KEY_BYTES = 32;
/** PSEUDONYM_KEY_BYTES = 32: HMAC-SHA256 key = hash output size (RFC 2104 section 3). */
export const PSEUDONYM_KEY_BYTES = 32;

const EMPTY_SALT = Buffer.alloc(0);

/** Master keys are held as KeyObjects: the bytes live in native memory, not in a JS Buffer. */
export type MasterKey = KeyObject;

function hkdfSha256(ikm: KeyObject, salt: Buffer, info: string, length: number): Buffer {
  // hkdfSync returns an ArrayBuffer; Buffer.from(ArrayBuffer) wraps it
  // without copying and without using the shared allocation pool.
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

/** Derives a secret key and moves it into a KeyObject, zeroing the temporary Buffer. */
function hkdfSha256SecretKey(ikm: KeyObject, salt: Buffer, info: string, length: number): KeyObject {
  const bytes = hkdfSha256(ikm, salt, info, length);
  try {
    return createSecretKey(bytes);
  } finally {
    bytes.fill(0);
  }
}

export function deriveKeyId(master: MasterKey): KeyId {
  return asKeyId(hkdfSha256(master, EMPTY_SALT, KEY_ID_INFO, KEY_ID_BYTES));
}

export function deriveOwnerPseudonymKey(identityMaster: MasterKey): KeyObject {
  return hkdfSha256SecretKey(identityMaster, EMPTY_SALT, OWNER_ID_INFO, PSEUDONYM_KEY_BYTES);
}

export function deriveRecordPseudonymKey(identityMaster: MasterKey): KeyObject {
  return hkdfSha256SecretKey(identityMaster, EMPTY_SALT, RECORD_ID_INFO, PSEUDONYM_KEY_BYTES);
}

/** MAC key of the stored keyring document (kms/keyring-document.ts), from the identity key. */
export function deriveKeyringMacKey(identityMaster: MasterKey): KeyObject {
  return hkdfSha256SecretKey(identityMaster, EMPTY_SALT, KEYRING_MAC_INFO, PSEUDONYM_KEY_BYTES);
}

export function deriveSealingKey(master: MasterKey, owner: OwnerId): KeyObject {
  return hkdfSha256SecretKey(master, owner, SEAL_INFO, SEALING_KEY_BYTES);
}

/** OwnerId = HMAC-SHA256(ownerKey, utf8(token)). */
export function computeOwnerId(ownerKey: KeyObject, token: string): OwnerId {
  const id = createHmac('sha256', ownerKey).update(token, 'utf8').digest();
  return asOwnerId(id);
}

/**
 * RecordId = HMAC-SHA256(recordKey, owner || utf8(name)). The owner id has a
 * fixed length (32), so the concatenation is unambiguous.
 */
export function computeRecordId(recordKey: KeyObject, owner: OwnerId, name: string): RecordId {
  const id = createHmac('sha256', recordKey).update(owner).update(name, 'utf8').digest();
  return asRecordId(id);
}
