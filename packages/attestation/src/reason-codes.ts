// Stable reason codes of the attestation verifier. Callers and tests match on
// the code, never on the message; a code, once published, keeps its meaning.
// README.md lists the same codes (reason-codes.test.ts keeps the two in sync).

/** Every code with the condition that produces it, in the order checks run. */
export const REASON_CODES = {
  INPUT_TOO_LARGE: 'the document is longer than MAX_DOCUMENT_BYTES (checked before decoding)',
  CBOR_MALFORMED:
    'the bytes are not exactly one well-formed CBOR item within the decoder limits (truncation, trailing bytes, reserved additional info, duplicate map key, depth/item/length limit, float or unknown simple value), in the envelope or in the payload',
  COSE_MALFORMED:
    'the CBOR item is not a COSE_Sign1 (array of 4, untagged or tag 18): wrong shape or types, protected header not exactly {1: alg}, unprotected header not an empty map, payload missing, signature not 96 bytes',
  UNSUPPORTED_ALGORITHM: 'the protected header names an algorithm other than ES384 (-35)',
  ENVELOPE_NOT_CANONICAL:
    'the COSE_Sign1 envelope (tag, array, header and payload heads, signature) is not in canonical definite encoding: a non-minimal head or an indefinite length re-encodes a document without changing what is signed',
  NITRO_TPM_DOCUMENT: 'the payload is a NitroTPM (EC2 instance) document ("nitrotpm_pcrs" or a "-tpm…" module_id), not an enclave document',
  DOCUMENT_FIELD_INVALID:
    'a payload field is missing, has the wrong type, or breaks its size/range rule (module_id, digest, timestamp, pcrs, certificate, cabundle, public_key, user_data, nonce)',
  CERTIFICATE_MALFORMED: 'certificate or a cabundle entry is not a parseable DER X.509 certificate',
  CHAIN_UNTRUSTED_ROOT:
    'cabundle does not start at (or is not issued by) the pinned root: the AWS Nitro root by SHA-256 fingerprint, or the given dev root',
  CERTIFICATE_ALGORITHM_UNSUPPORTED:
    'a certificate of the chain (root included) is not signed with ecdsa-with-SHA384, carries algorithm parameters, or names another algorithm inside tbsCertificate',
  CERTIFICATE_KEY_UNSUPPORTED: 'a CA certificate of the chain (root or cabundle entry) has a key that is not an uncompressed EC P-384 point',
  LEAF_KEY_UNSUPPORTED: 'the leaf certificate key is not an uncompressed EC P-384 point that OpenSSL accepts',
  UNKNOWN_CRITICAL_EXTENSION: 'a certificate of the chain has a critical extension other than basicConstraints and keyUsage',
  CHAIN_BROKEN:
    'a certificate is not issued and signed by the previous one (its issuer Name is not byte for byte the previous subject Name, or the signature fails), a certificate appears twice, the leaf is a CA, or the bundle is too long',
  BASIC_CONSTRAINTS_INVALID:
    'a CA certificate of the chain (root or cabundle entry) has no critical basicConstraints with cA TRUE, or the leaf has no critical basicConstraints (cA FALSE)',
  KEY_USAGE_INVALID:
    'a CA certificate of the chain has no critical keyUsage with keyCertSign, or the leaf has no keyUsage with digitalSignature or may sign certificates (keyCertSign)',
  PATH_LENGTH_EXCEEDED: "more CA certificates follow a CA certificate than its basicConstraints pathLenConstraint allows",
  CERTIFICATE_EXPIRED: 'a certificate of the chain (root included) has notAfter before the verification time',
  CERTIFICATE_NOT_YET_VALID: 'a certificate of the chain (root included) has notBefore after the verification time',
  TIMESTAMP_OUTSIDE_LEAF_VALIDITY: 'the document timestamp is outside the validity period of its own leaf certificate',
  SIGNATURE_INVALID: 'the ES384 COSE signature does not verify with the leaf key over the Sig_structure of the bytes as received',
  DEBUG_MODE: 'PCR0, PCR1 and PCR2 are all zero (debug enclave) and the policy does not allow debug documents',
  PCR_MISMATCH: 'an expected PCR is absent from the document or differs from the policy value',
  PCR4_MODULE_MISMATCH: 'PCR4 is not SHA-384(48 zero bytes || instance id) for the instance id in module_id',
  NONCE_MISMATCH: 'the policy expects a nonce and the document has none or a different one',
  DOCUMENT_TOO_OLD: 'the document timestamp is older than policy.maxAgeMs before the verification time',
  DOCUMENT_FROM_FUTURE: 'with policy.maxAgeMs set: the document timestamp is more than policy.maxClockSkewMs after the verification time',
  TLS_BINDING_MISMATCH: 'the policy names a TLS certificate and user_data binds no key, or another key, under the accepted schemes',
  TLS_SESSION_MISMATCH:
    "the policy names this connection's TLS exporter and user_data binds no TLS session, or another one (a relay that holds the enclave's TLS key)",
} as const;

export type ReasonCode = keyof typeof REASON_CODES;

export const REASON_CODE_LIST: readonly ReasonCode[] = Object.freeze(Object.keys(REASON_CODES) as ReasonCode[]);

/**
 * A verification failure inside the package. `verifyAttestationDocument`
 * catches it and returns `{ ok: false, reason: code }`; the lower-level
 * exports (decoders, chain check) throw it. Messages name fields and give
 * lengths or types, never attacker-chosen values.
 */
export class AttestationError extends Error {
  override readonly name = 'AttestationError';
  readonly code: ReasonCode;

  constructor(code: ReasonCode, message: string) {
    super(message);
    this.code = code;
  }
}
