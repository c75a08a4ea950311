// Error classes of record sealing. StorageIntegrityError covers every way a
// blob returned by the (untrusted) host can fail to open; SealInputError is
// an enclave-side misuse of the sealing API. Messages give sizes and reasons,
// never plaintext, keys or ids derived from tokens.

/** Stable sub-codes of STORAGE_INTEGRITY, one per check in openRecord. */
export type StorageIntegrityReason =
  | 'ENVELOPE_TOO_SHORT'
  | 'ENVELOPE_TOO_LONG'
  | 'BAD_MAGIC'
  | 'UNSUPPORTED_FORMAT_VERSION'
  | 'BAD_CIPHERTEXT_LENGTH'
  | 'UNKNOWN_KEY_ID'
  | 'AUTHENTICATION_FAILED'
  | 'BAD_PADDING';

/** A stored blob failed a structural or cryptographic check. Source: host/storage (HTTP 502). */
export class StorageIntegrityError extends Error {
  readonly code = 'STORAGE_INTEGRITY';
  readonly source = 'storage';
  readonly httpStatus = 502;
  readonly reason: StorageIntegrityReason;
  constructor(reason: StorageIntegrityReason, detail: string) {
    super(`sealed record failed integrity check (${reason}): ${detail}`);
    this.name = 'StorageIntegrityError';
    this.reason = reason;
  }
}

/** Invalid arguments to sealRecord/openRecord (too large, bad version): an enclave bug (HTTP 500). */
export class SealInputError extends Error {
  readonly code = 'SEAL_INPUT_INVALID';
  readonly source = 'internal';
  readonly httpStatus = 500;
  constructor(message: string) {
    super(message);
    this.name = 'SealInputError';
  }
}
