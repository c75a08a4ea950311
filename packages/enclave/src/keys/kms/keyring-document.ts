// The wrapped keyring, format v1: what the host stores for KEY_SOURCE=kms, as
// the blob of one reserved record (KEYRING_OWNER, KEYRING_RECORD) on the
// ordinary storage channel. The host sees KMS ciphertext only.
//
// Layout (integers big-endian):
//
//   offset  size  field
//   0       4     magic "HEKR" (0x48 0x45 0x4b 0x52)
//   4       1     format version = 0x01
//   5       1     n, number of keys, 1..MAX_KEYRING_KEYS
//   6       1     index of the active key (< n)
//   7       …     n entries, OLDEST FIRST (entry 0 is the identity key, keyring.ts):
//                   keyId[8]          first 8 bytes of HKDF(master, "http-enclave/v1/key-id")
//                   blobLength u16    1..6144 (KMS's CiphertextBlob limit)
//                   blob[blobLength]  KMS CiphertextBlob of the 32-byte master key
//   end-32  32    MAC = HMAC-SHA256(K, every byte before it),
//                 K = HKDF-SHA256(identity master, info "http-enclave/v1/keyring-mac")
//
// The MAC can only be checked after KMS has released the keys; then every
// released key's own id must equal the id listed beside its blob. Together
// they stop the host from relabelling keys, changing which one is active or
// splicing entries from another keyring. What remains for the host (README,
// threat model): replaying an older authentic keyring (a key added later is
// missing, so its records fail with UNKNOWN_KEY_ID, detected), or answering
// "no keyring" at first start so a new, empty deployment is created.
//
// Every blob was made by KMS GenerateDataKey under KMS_KEY_ID with the
// encryption context KEYRING_ENCRYPTION_CONTEXT; Decrypt passes both, so KMS
// itself refuses a blob the host made under another KMS key.

import { timingSafeEqual } from 'node:crypto';
import { KEY_ID_BYTES, asKeyId, type KeyId } from '../identifiers.js';
import { KeyringDocumentError } from '../../enclave-errors.js';

export const KEYRING_MAGIC = Buffer.from('HEKR', 'ascii');
export const KEYRING_FORMAT_VERSION = 1;
/** MAX_KEYRING_KEYS = 32: one rotation a month for over two years before a retirement is due. */
export const MAX_KEYRING_KEYS = 32;
/** KMS's CiphertextBlob limit. */
export const MAX_WRAPPED_KEY_BYTES = 6144;
export const KEYRING_MAC_BYTES = 32;
const HEADER_BYTES = 7;
/** Largest document: header, 32 entries of the largest blob, MAC (about 197 KiB, far below a storage blob's limit). */
export const MAX_KEYRING_DOCUMENT_BYTES = HEADER_BYTES + MAX_KEYRING_KEYS * (KEY_ID_BYTES + 2 + MAX_WRAPPED_KEY_BYTES) + KEYRING_MAC_BYTES;

/** Reserved storage pseudonyms of the keyring record: all zero, never an HMAC output in practice (2^-256). */
export const KEYRING_OWNER = Buffer.alloc(32);
export const KEYRING_RECORD = Buffer.alloc(32);

/** Bound into every KMS call on the keyring: KMS refuses a Decrypt whose context differs. */
export const KEYRING_ENCRYPTION_CONTEXT: Readonly<Record<string, string>> = Object.freeze({ 'http-enclave': 'master-keyring/v1' });

export interface WrappedKey {
  readonly keyId: KeyId;
  /** KMS CiphertextBlob. */
  readonly blob: Buffer;
}

export interface KeyringDocument {
  /** Oldest first; entry 0 is the identity key. */
  readonly keys: readonly WrappedKey[];
  readonly activeIndex: number;
}

/** The bytes that the MAC covers (everything but the MAC). */
export function encodeKeyringDocumentBody(document: KeyringDocument): Buffer {
  const { keys, activeIndex } = document;
  if (keys.length < 1 || keys.length > MAX_KEYRING_KEYS) throw new RangeError(`keyring holds 1..${MAX_KEYRING_KEYS} keys, got ${keys.length}`);
  if (!Number.isInteger(activeIndex) || activeIndex < 0 || activeIndex >= keys.length) throw new RangeError('active index out of range');
  const parts: Buffer[] = [KEYRING_MAGIC, Buffer.from([KEYRING_FORMAT_VERSION, keys.length, activeIndex])];
  for (const key of keys) {
    if (key.keyId.length !== KEY_ID_BYTES) throw new RangeError(`key id must be ${KEY_ID_BYTES} bytes`);
    if (key.blob.length < 1 || key.blob.length > MAX_WRAPPED_KEY_BYTES) throw new RangeError(`wrapped key must be 1..${MAX_WRAPPED_KEY_BYTES} bytes, got ${key.blob.length}`);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(key.blob.length);
    parts.push(key.keyId, length, key.blob);
  }
  return Buffer.concat(parts);
}

/** The stored form: body ‖ MAC. */
export function encodeKeyringDocument(document: KeyringDocument, mac: (body: Buffer) => Buffer): Buffer {
  const body = encodeKeyringDocumentBody(document);
  return Buffer.concat([body, mac(body)]);
}

export interface DecodedKeyringDocument extends KeyringDocument {
  readonly body: Buffer;
  readonly mac: Buffer;
}

/** Parses the structure only; the caller checks the MAC once the keys are released (verifyKeyringMac). */
export function decodeKeyringDocument(bytes: Buffer): DecodedKeyringDocument {
  const malformed = (detail: string): KeyringDocumentError => new KeyringDocumentError('KEYRING_MALFORMED', detail);
  if (bytes.length > MAX_KEYRING_DOCUMENT_BYTES) throw malformed(`document is ${bytes.length} bytes, at most ${MAX_KEYRING_DOCUMENT_BYTES}`);
  if (bytes.length < HEADER_BYTES + KEYRING_MAC_BYTES) throw malformed(`document is ${bytes.length} bytes, too short`);
  if (!bytes.subarray(0, 4).equals(KEYRING_MAGIC)) throw malformed('bad magic');
  if (bytes[4] !== KEYRING_FORMAT_VERSION) throw malformed(`unsupported format version ${bytes[4] ?? -1}`);
  const count = bytes[5] ?? 0;
  const activeIndex = bytes[6] ?? 0;
  if (count < 1 || count > MAX_KEYRING_KEYS) throw malformed(`key count ${count} outside 1..${MAX_KEYRING_KEYS}`);
  if (activeIndex >= count) throw malformed(`active index ${activeIndex} not below key count ${count}`);
  const end = bytes.length - KEYRING_MAC_BYTES;
  const keys: WrappedKey[] = [];
  let offset = HEADER_BYTES;
  for (let index = 0; index < count; index += 1) {
    if (offset + KEY_ID_BYTES + 2 > end) throw malformed(`entry ${index} truncated`);
    const keyId = asKeyId(Buffer.from(bytes.subarray(offset, offset + KEY_ID_BYTES)));
    const length = bytes.readUInt16BE(offset + KEY_ID_BYTES);
    offset += KEY_ID_BYTES + 2;
    if (length < 1 || length > MAX_WRAPPED_KEY_BYTES) throw malformed(`entry ${index}: wrapped key length ${length} outside 1..${MAX_WRAPPED_KEY_BYTES}`);
    if (offset + length > end) throw malformed(`entry ${index} truncated`);
    keys.push({ keyId, blob: Buffer.from(bytes.subarray(offset, offset + length)) });
    offset += length;
  }
  if (offset !== end) throw malformed(`${end - offset} unexpected bytes before the MAC`);
  const ids = new Set(keys.map((key) => key.keyId.toString('hex')));
  if (ids.size !== keys.length) throw malformed('two entries share a key id');
  return { keys, activeIndex, body: Buffer.from(bytes.subarray(0, end)), mac: Buffer.from(bytes.subarray(end)) };
}

export function verifyKeyringMac(document: DecodedKeyringDocument, mac: (body: Buffer) => Buffer): void {
  const expected = mac(document.body);
  if (expected.length !== document.mac.length || !timingSafeEqual(expected, document.mac)) {
    throw new KeyringDocumentError('KEYRING_AUTHENTICATION_FAILED', 'the stored keyring does not authenticate under its identity key');
  }
}
