// Sealing and opening of stored records: AES-256-GCM under the per-owner key
// of the keyring, with size-bucket padding and the envelope of
// sealed-envelope.ts. Every failure to open throws StorageIntegrityError.

import { createCipheriv, createDecipheriv, randomBytes as cryptoRandomBytes } from 'node:crypto';

import type { Keyring } from '../keys/keyring.js';
import type { KeyId, OwnerId, RecordId } from '../keys/identifiers.js';
import { padPlaintext, unpadPlaintext } from './plaintext-padding.js';
import { NONCE_BYTES, TAG_BYTES, buildAdditionalData, decodeSealedEnvelope, encodeSealedEnvelope, toRecordVersion } from './sealed-envelope.js';
import { SealInputError, StorageIntegrityError } from '../enclave-errors.js';

const CIPHER = 'aes-256-gcm';

/** Random source: returns `size` fresh random bytes. Tests inject a fixed one. */
export type RandomBytes = (size: number) => Buffer;

export interface SealRecordInput {
  readonly keyring: Keyring;
  readonly owner: OwnerId;
  readonly record: RecordId;
  /** Record version bound into the AAD (u64); the storage compare-and-set version. */
  readonly version: bigint | number;
  readonly plaintext: Buffer;
  /** Master key to seal under; the keyring's active key when absent (watermark pages use the identity key). */
  readonly keyId?: KeyId;
  readonly randomBytes?: RandomBytes;
}

export interface OpenRecordInput {
  readonly keyring: Keyring;
  readonly owner: OwnerId;
  readonly record: RecordId;
  readonly version: bigint | number;
  readonly sealed: Buffer;
}

/** Seals `plaintext` under the keyring's active key (or `keyId`). Returns the envelope bytes. */
export function sealRecord(input: SealRecordInput): Buffer {
  const version = toRecordVersion(input.version);
  const keyId = input.keyId ?? input.keyring.activeKeyId;
  const key = input.keyring.sealingKey(keyId, input.owner);
  if (key === undefined) throw new SealInputError('the key id to seal under is missing from the keyring');
  const nonce = (input.randomBytes ?? cryptoRandomBytes)(NONCE_BYTES);
  if (!Buffer.isBuffer(nonce) || nonce.length !== NONCE_BYTES) {
    throw new SealInputError(`random source must return ${NONCE_BYTES} bytes, got ${Buffer.isBuffer(nonce) ? nonce.length : typeof nonce}`);
  }
  const padded = padPlaintext(input.plaintext);
  try {
    const cipher = createCipheriv(CIPHER, key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(buildAdditionalData({ keyId, owner: input.owner, record: input.record, version }));
    const ciphertext = Buffer.concat([cipher.update(padded), cipher.final()]);
    return encodeSealedEnvelope({ keyId, nonce, ciphertext, tag: cipher.getAuthTag() });
  } finally {
    padded.fill(0);
  }
}

/** Opens an envelope returned by the host; throws StorageIntegrityError on any mismatch. */
export function openRecord(input: OpenRecordInput): Buffer {
  const version = toRecordVersion(input.version);
  const parts = decodeSealedEnvelope(input.sealed);
  const key = input.keyring.sealingKey(parts.keyId, input.owner);
  if (key === undefined) {
    throw new StorageIntegrityError('UNKNOWN_KEY_ID', 'the keyring holds no master key with this key id');
  }
  // authTagLength pins the tag to 16 bytes: without it Node accepts a
  // truncated 4-byte tag (reference K2). The envelope codec already fixes
  // the tag length; this is the second lock.
  const decipher = createDecipheriv(CIPHER, key, parts.nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(buildAdditionalData({ keyId: parts.keyId, owner: input.owner, record: input.record, version }));
  decipher.setAuthTag(parts.tag);
  const padded = decipher.update(parts.ciphertext);
  try {
    decipher.final();
  } catch {
    padded.fill(0);
    throw new StorageIntegrityError('AUTHENTICATION_FAILED', `GCM tag check failed for a ${input.sealed.length}-byte envelope`);
  }
  try {
    return Buffer.from(unpadPlaintext(padded));
  } finally {
    padded.fill(0);
  }
}
