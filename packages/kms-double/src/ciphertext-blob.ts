// The double's CiphertextBlob: opaque to clients, as KMS's is. Layout:
//
//   offset  size  field
//   0       1     version = 0x01
//   1       16    key id (the UUID of the KMS key, as 16 bytes)
//   17      12    nonce (random)
//   29      n     AES-256-GCM ciphertext of the plaintext
//   29+n    16    GCM tag
//
// AAD = "kms-double/ciphertext-blob/v1\0" || version || key id ||
//       canonical EncryptionContext, where the context is encoded as its
//       pairs sorted by key (UTF-8 byte order), each
//       u32be(len key) || key || u32be(len value) || value.
// So a blob opens only under its own key and its exact EncryptionContext.
// Plaintext ≤ 4096 bytes (KMS's Encrypt/Decrypt limit); blob ≤ 6144 bytes.

import { createCipheriv, createDecipheriv, randomBytes as cryptoRandomBytes } from 'node:crypto';

export const CIPHERTEXT_BLOB_VERSION = 0x01;
export const KEY_ID_BYTES = 16;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES;
/** KMS: Plaintext up to 4096 bytes. */
export const MAX_PLAINTEXT_BYTES = 4096;
/** KMS: CiphertextBlob 1..6144 bytes. */
export const MAX_CIPHERTEXT_BLOB_BYTES = 6144;
const AAD_DOMAIN = Buffer.from('kms-double/ciphertext-blob/v1\0', 'ascii');

export type EncryptionContext = Readonly<Record<string, string>>;

export function uuidToBytes(uuid: string): Buffer {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid)) throw new TypeError('key id must be a lower-case UUID');
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

export function bytesToUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function encodeEncryptionContext(context: EncryptionContext): Buffer {
  const entries = Object.entries(context).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  const parts: Buffer[] = [];
  for (const [key, value] of entries) {
    const keyLength = Buffer.alloc(4);
    keyLength.writeUInt32BE(key.length);
    const valueLength = Buffer.alloc(4);
    valueLength.writeUInt32BE(value.length);
    parts.push(keyLength, key, valueLength, value);
  }
  return Buffer.concat(parts);
}

function aad(header: Buffer, context: EncryptionContext): Buffer {
  return Buffer.concat([AAD_DOMAIN, header.subarray(0, 1 + KEY_ID_BYTES), encodeEncryptionContext(context)]);
}

export function sealCiphertextBlob(
  keyId: string,
  key: Uint8Array,
  plaintext: Uint8Array,
  context: EncryptionContext,
  randomBytes: (size: number) => Buffer = cryptoRandomBytes,
): Buffer {
  if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new RangeError(`plaintext of ${plaintext.length} bytes exceeds ${MAX_PLAINTEXT_BYTES}`);
  const header = Buffer.concat([Buffer.of(CIPHERTEXT_BLOB_VERSION), uuidToBytes(keyId), randomBytes(NONCE_BYTES)]);
  const cipher = createCipheriv('aes-256-gcm', key, header.subarray(1 + KEY_ID_BYTES));
  cipher.setAAD(aad(header, context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, body, cipher.getAuthTag()]);
}

/** The key id a blob names, or null when the blob is not one of ours (length, version). */
export function readCiphertextBlobKeyId(blob: Uint8Array): string | null {
  if (blob.length < HEADER_BYTES + TAG_BYTES || blob.length > MAX_CIPHERTEXT_BLOB_BYTES) return null;
  if (blob[0] !== CIPHERTEXT_BLOB_VERSION) return null;
  return bytesToUuid(blob.subarray(1, 1 + KEY_ID_BYTES));
}

/** Opens a blob; null when it does not authenticate (tampered, other key, other context). */
export function openCiphertextBlob(blob: Uint8Array, key: Uint8Array, context: EncryptionContext): Buffer | null {
  if (readCiphertextBlobKeyId(blob) === null) return null;
  const bytes = Buffer.from(blob);
  const header = bytes.subarray(0, HEADER_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(1 + KEY_ID_BYTES));
  decipher.setAAD(aad(header, context));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return null;
  }
}
