// Sealed record envelope, format v1: the byte string the enclave hands to the
// untrusted host for storage. This file is its only codec.
//
// Layout (all integers big-endian):
//
//   offset   size  field
//   0        2     magic "HE" (0x48 0x45)
//   2        1     format version = 0x01
//   3        8     key id: first 8 bytes of HKDF-SHA256(master, "", "http-enclave/v1/key-id")
//   11       12    nonce: fresh random 96 bits per seal (NIST SP 800-38D section 8.2.2)
//   23       n     ciphertext: AES-256-GCM of the padded plaintext (plaintext-padding.ts),
//                  n is a bucket size: 256, 512, …, 65536, then multiples of 65536
//   23+n     16    GCM tag, always the full 128 bits (tag truncation is refused)
//
// Total length = 39 + n; minimum 295 bytes (n = 256), maximum 39 + MAX_PADDED_BYTES.
//
// Additional authenticated data (not stored; rebuilt by the reader from what it
// expects, so the host cannot swap, splice or relabel blobs):
//
//   ASCII "http-enclave/record" (19 bytes)
//   || u8 format version (1)
//   || key id (8)
//   || owner id (32)
//   || record id (32)
//   || u64be record version (8)                                   = 100 bytes
//
// Key: per-owner sealing key = HKDF-SHA256(master of key id, salt = owner id,
// info = "http-enclave/v1/seal"), 32 bytes (keys/key-derivation.ts).
//
// Decoding checks, in order, each a StorageIntegrityError reason:
// ENVELOPE_TOO_LONG (checked first, before any other work), ENVELOPE_TOO_SHORT,
// BAD_MAGIC, UNSUPPORTED_FORMAT_VERSION, BAD_CIPHERTEXT_LENGTH (not a bucket
// size); then in seal-record.ts UNKNOWN_KEY_ID, AUTHENTICATION_FAILED, BAD_PADDING.

import { KEY_ID_BYTES, OWNER_ID_BYTES, RECORD_ID_BYTES, asKeyId } from '../keys/identifiers.js';
import type { KeyId, OwnerId, RecordId } from '../keys/identifiers.js';
import { MAX_PADDED_BYTES, MIN_BUCKET_BYTES, isValidPaddedSize } from './plaintext-padding.js';
import { SealInputError, StorageIntegrityError } from '../enclave-errors.js';

export const ENVELOPE_MAGIC = Buffer.from([0x48, 0x45]); // "HE"
export const ENVELOPE_FORMAT_VERSION = 1;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_ID_OFFSET = 3;
export const NONCE_OFFSET = KEY_ID_OFFSET + KEY_ID_BYTES; // 11
export const HEADER_BYTES = NONCE_OFFSET + NONCE_BYTES; // 23
/** MIN_ENVELOPE_BYTES = 295: header + smallest bucket + tag. */
export const MIN_ENVELOPE_BYTES = HEADER_BYTES + MIN_BUCKET_BYTES + TAG_BYTES;
/** MAX_ENVELOPE_BYTES = header + largest bucket (1 MiB + 64 KiB) + tag. */
export const MAX_ENVELOPE_BYTES = HEADER_BYTES + MAX_PADDED_BYTES + TAG_BYTES;

export const AAD_LABEL = Buffer.from('http-enclave/record', 'ascii');
export const AAD_BYTES = AAD_LABEL.length + 1 + KEY_ID_BYTES + OWNER_ID_BYTES + RECORD_ID_BYTES + 8;
/** Record versions are u64 in the AAD. */
export const MAX_RECORD_VERSION = (1n << 64n) - 1n;

export interface SealedEnvelopeParts {
  readonly keyId: KeyId;
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

export function encodeSealedEnvelope(parts: SealedEnvelopeParts): Buffer {
  if (parts.nonce.length !== NONCE_BYTES) throw new SealInputError(`nonce must be ${NONCE_BYTES} bytes, got ${parts.nonce.length}`);
  if (parts.tag.length !== TAG_BYTES) throw new SealInputError(`tag must be ${TAG_BYTES} bytes, got ${parts.tag.length}`);
  if (!isValidPaddedSize(parts.ciphertext.length)) {
    throw new SealInputError(`ciphertext length ${parts.ciphertext.length} is not a bucket size`);
  }
  const envelope = Buffer.alloc(HEADER_BYTES + parts.ciphertext.length + TAG_BYTES);
  ENVELOPE_MAGIC.copy(envelope, 0);
  envelope.writeUInt8(ENVELOPE_FORMAT_VERSION, 2);
  parts.keyId.copy(envelope, KEY_ID_OFFSET);
  parts.nonce.copy(envelope, NONCE_OFFSET);
  parts.ciphertext.copy(envelope, HEADER_BYTES);
  parts.tag.copy(envelope, HEADER_BYTES + parts.ciphertext.length);
  return envelope;
}

/** Structural decode of a blob from the host. Returned parts are views into `sealed`. */
export function decodeSealedEnvelope(sealed: Buffer): SealedEnvelopeParts {
  if (!Buffer.isBuffer(sealed)) throw new SealInputError(`sealed record must be a Buffer, got ${typeof sealed}`);
  if (sealed.length > MAX_ENVELOPE_BYTES) {
    throw new StorageIntegrityError('ENVELOPE_TOO_LONG', `${sealed.length} bytes, maximum ${MAX_ENVELOPE_BYTES}`);
  }
  if (sealed.length < MIN_ENVELOPE_BYTES) {
    throw new StorageIntegrityError('ENVELOPE_TOO_SHORT', `${sealed.length} bytes, minimum ${MIN_ENVELOPE_BYTES}`);
  }
  if (sealed[0] !== ENVELOPE_MAGIC[0] || sealed[1] !== ENVELOPE_MAGIC[1]) {
    throw new StorageIntegrityError('BAD_MAGIC', 'first 2 bytes are not "HE"');
  }
  const formatVersion = sealed.readUInt8(2);
  if (formatVersion !== ENVELOPE_FORMAT_VERSION) {
    throw new StorageIntegrityError('UNSUPPORTED_FORMAT_VERSION', `format version ${formatVersion}, supported ${ENVELOPE_FORMAT_VERSION}`);
  }
  const ciphertextLength = sealed.length - HEADER_BYTES - TAG_BYTES;
  if (!isValidPaddedSize(ciphertextLength)) {
    throw new StorageIntegrityError('BAD_CIPHERTEXT_LENGTH', `ciphertext length ${ciphertextLength} is not a bucket size`);
  }
  return {
    keyId: asKeyId(sealed.subarray(KEY_ID_OFFSET, NONCE_OFFSET)),
    nonce: sealed.subarray(NONCE_OFFSET, HEADER_BYTES),
    ciphertext: sealed.subarray(HEADER_BYTES, HEADER_BYTES + ciphertextLength),
    tag: sealed.subarray(HEADER_BYTES + ciphertextLength),
  };
}

/** Normalises a record version to a u64 bigint; throws SealInputError when out of range. */
export function toRecordVersion(version: bigint | number): bigint {
  if (typeof version === 'number') {
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new SealInputError(`record version must be a non-negative safe integer, got a ${Number.isInteger(version) ? 'out-of-range' : 'non-integer'} number`);
    }
    return BigInt(version);
  }
  if (typeof version !== 'bigint' || version < 0n || version > MAX_RECORD_VERSION) {
    throw new SealInputError(`record version must be a u64, got ${typeof version === 'bigint' ? 'an out-of-range bigint' : typeof version}`);
  }
  return version;
}

export interface AdditionalDataFields {
  readonly keyId: KeyId;
  readonly owner: OwnerId;
  readonly record: RecordId;
  readonly version: bigint;
}

export function buildAdditionalData(fields: AdditionalDataFields): Buffer {
  const aad = Buffer.alloc(AAD_BYTES);
  let offset = AAD_LABEL.copy(aad, 0);
  offset = aad.writeUInt8(ENVELOPE_FORMAT_VERSION, offset);
  offset += fields.keyId.copy(aad, offset);
  offset += fields.owner.copy(aad, offset);
  offset += fields.record.copy(aad, offset);
  aad.writeBigUInt64BE(fields.version, offset);
  return aad;
}
