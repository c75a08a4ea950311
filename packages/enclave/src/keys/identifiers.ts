import { KeyringUsageError } from '../enclave-errors.js';
// Branded identifier types of the keyring: KeyId (8 bytes), OwnerId and
// RecordId (32 bytes each), with validators that check the length at the
// boundary so the core can trust the type.


declare const keyIdBrand: unique symbol;
declare const ownerIdBrand: unique symbol;
declare const recordIdBrand: unique symbol;

/** KEY_ID_BYTES = 8: first 8 bytes of HKDF-SHA256(master, info "http-enclave/v1/key-id"). */
export const KEY_ID_BYTES = 8;
/** OWNER_ID_BYTES = 32: HMAC-SHA256 output size. */
export const OWNER_ID_BYTES = 32;
/** RECORD_ID_BYTES = 32: HMAC-SHA256 output size. */
export const RECORD_ID_BYTES = 32;

/** Public identifier of a master key (not secret, stored in every sealed envelope). */
export type KeyId = Buffer & { readonly [keyIdBrand]: true };
/** Keyed pseudonym of a bearer token; the only owner identity the host ever sees. */
export type OwnerId = Buffer & { readonly [ownerIdBrand]: true };
/** Keyed pseudonym of (owner, document name); the host's record key. */
export type RecordId = Buffer & { readonly [recordIdBrand]: true };

function checkLength(kind: string, value: unknown, expected: number): asserts value is Buffer {
  if (!Buffer.isBuffer(value)) {
    throw new KeyringUsageError(`${kind} must be a Buffer, got ${typeof value}`);
  }
  if (value.length !== expected) {
    throw new KeyringUsageError(`${kind} must be ${expected} bytes, got ${value.length}`);
  }
}

export function asKeyId(value: Buffer): KeyId {
  checkLength('key id', value, KEY_ID_BYTES);
  return value as KeyId;
}

export function asOwnerId(value: Buffer): OwnerId {
  checkLength('owner id', value, OWNER_ID_BYTES);
  return value as OwnerId;
}

export function asRecordId(value: Buffer): RecordId {
  checkLength('record id', value, RECORD_ID_BYTES);
  return value as RecordId;
}

/** Lower-case hex form of a key id, for logs and map keys (key ids are public). */
export function keyIdToHex(keyId: KeyId): string {
  return keyId.toString('hex');
}
