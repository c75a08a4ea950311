import { ConfigInvalidError } from '../enclave-errors.js';
// Parsing of the development master key from ENCLAVE_KEY_BASE64: strict
// standard base64 (RFC 4648 section 4, with padding, as printed by
// `openssl rand -base64 32`) that must decode to exactly 32 bytes.


/** MASTER_KEY_BYTES = 32: AES-256 / HKDF-SHA256 input keying material size. */
export const MASTER_KEY_BYTES = 32;
export const MASTER_KEY_VARIABLE = 'ENCLAVE_KEY_BASE64';

// Standard alphabet only, groups of 4, padding only at the end. Buffer.from(…,
// 'base64') silently skips characters outside the alphabet and also accepts
// base64url, so the shape is checked first and the round trip afterwards.
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes ENCLAVE_KEY_BASE64. Leading and trailing whitespace (the newline
 * that `openssl rand -base64 32` prints) is trimmed; anything else that is
 * not standard base64 is rejected. The returned Buffer is a fresh
 * allocation outside Node's shared pool, so the caller can zero it.
 */
export function parseMasterKeyBase64(value: string | undefined): Buffer<ArrayBuffer> {
  if (value === undefined) {
    throw new ConfigInvalidError([{ variable: MASTER_KEY_VARIABLE, problem: `is not set (expected base64 of ${MASTER_KEY_BYTES} bytes)` }]);
  }
  const trimmed = value.trim();
  if (trimmed.length === 0) {
    throw new ConfigInvalidError([{ variable: MASTER_KEY_VARIABLE, problem: `is empty (expected base64 of ${MASTER_KEY_BYTES} bytes)` }]);
  }
  if (!STANDARD_BASE64.test(trimmed)) {
    throw new ConfigInvalidError([{ variable: MASTER_KEY_VARIABLE, problem: `is not standard padded base64 (length ${trimmed.length} characters)` }]);
  }
  const decoded = Buffer.from(trimmed, 'base64');
  try {
    // Round trip: rejects non-canonical encodings (non-zero bits in the last
    // character before the padding), which Buffer would silently accept.
    if (decoded.toString('base64') !== trimmed) {
      throw new ConfigInvalidError([{ variable: MASTER_KEY_VARIABLE, problem: `is not canonical base64 (decoded length ${decoded.length} bytes)` }]);
    }
    if (decoded.length !== MASTER_KEY_BYTES) {
      throw new ConfigInvalidError([{ variable: MASTER_KEY_VARIABLE, problem: `must decode to exactly ${MASTER_KEY_BYTES} bytes, got ${decoded.length} bytes` }]);
    }
    const key = Buffer.alloc(MASTER_KEY_BYTES);
    decoded.copy(key);
    return key;
  } finally {
    decoded.fill(0);
  }
}
