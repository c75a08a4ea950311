// Error class of the CMS EnvelopedData opener for KMS CiphertextForRecipient
// (cms-enveloped-data.ts). One code, KMS_ENVELOPE_INVALID, with a stable
// `reason` that callers and tests match on. Messages give offsets, lengths,
// tags and OIDs only, never key bytes, content bytes or plaintext.

/** Every reason, in the order the opener can report them. */
export const CMS_ENVELOPE_REASONS = [
  'TOO_LARGE', // input over MAX_INPUT_BYTES, or plaintext over maxPlaintextBytes
  'TRUNCATED', // input ends inside an element or before an end-of-contents
  'TRAILING_BYTES', // bytes after the outer ContentInfo
  'BAD_TAG', // unexpected tag, element missing or out of order, extra element
  'BAD_LENGTH', // non-minimal / over-long length, indefinite on a primitive, child overruns its parent, fixed-size field of the wrong size
  'TOO_DEEP', // nesting beyond the grammar (a segmented string inside a segmented string)
  'TOO_MANY_CHUNKS', // more encryptedContent segments than MAX_CONTENT_CHUNKS
  'WRONG_CONTENT_TYPE', // ContentInfo not envelopedData, or encrypted content not id-data
  'UNSUPPORTED_VERSION', // EnvelopedData version other than 2
  'UNSUPPORTED_RECIPIENT', // not exactly one KeyTransRecipientInfo v2 with a subjectKeyIdentifier
  'WRONG_KEY_ENCRYPTION_ALGORITHM', // not rsaesOaep with SHA-256 and MGF1-SHA-256, empty label
  'WRONG_CONTENT_ENCRYPTION_ALGORITHM', // not aes-256-cbc with a 16-byte IV
  'KEY_UNWRAP_FAILED', // RSA-OAEP decryption of encryptedKey failed
  'BAD_CONTENT_KEY', // unwrapped content key is not 32 bytes
  'DECRYPT_FAILED', // content empty, not a multiple of 16, or CBC/PKCS#7 padding failure
] as const;

export type CmsEnvelopeReason = (typeof CMS_ENVELOPE_REASONS)[number];

/**
 * A CiphertextForRecipient that is malformed, uses algorithms we do not
 * accept, or does not decrypt with the enclave's recipient key. Source `kms`:
 * the bytes came from KMS through the host, so the host may have altered them.
 */
export class CmsEnvelopeError extends Error {
  readonly code = 'KMS_ENVELOPE_INVALID';
  readonly source = 'kms';
  readonly reason: CmsEnvelopeReason;
  constructor(reason: CmsEnvelopeReason, message: string) {
    super(`${reason}: ${message}`);
    this.name = 'CmsEnvelopeError';
    this.reason = reason;
  }
}
