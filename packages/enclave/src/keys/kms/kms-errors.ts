// Error classes of the KMS key source. Every one stops start-up in any mode:
// there is no fallback to another key source, ever. Messages name the
// operation, the AWS error type and lengths; never a key, a credential, a
// ciphertext or an attestation document.

/** Why a KMS request failed, as a stable sub-code (docs/errors.md, "Key release"). */
export const KMS_FAILURE_REASONS = [
  'KMS_REFUSED', // KMS answered with an error (AccessDeniedException, IncorrectKeyException, …): never retried
  'KMS_UNREACHABLE', // the forwarder, the TLS connection or KMS failed past every attempt, or the certificate failed verification
  'KMS_TIMEOUT', // no answer within KMS_TIMEOUT_MS, past every attempt
  'KMS_BAD_REPLY', // not what KMS sends: not JSON, a missing or malformed field, too large
  'KMS_PLAINTEXT_REFUSED', // an answer with `Plaintext` to a request with a Recipient
  'AWS_CREDENTIALS_UNAVAILABLE', // the host has no AWS credentials to give (AWS_CREDENTIALS_SOURCE)
] as const;
export type KmsFailureReason = (typeof KMS_FAILURE_REASONS)[number];

/** A KMS call failed. Source: the outside world (start-up error, or 503 for an admin request). */
export class KmsRequestError extends Error {
  readonly code = 'KMS_REQUEST_FAILED';
  readonly source = 'kms';
  readonly reason: KmsFailureReason;
  /** KMS's `__type` (e.g. AccessDeniedException) when KMS answered with an error. */
  readonly awsErrorType: string | undefined;
  constructor(reason: KmsFailureReason, message: string, awsErrorType?: string) {
    super(message);
    this.name = 'KmsRequestError';
    this.reason = reason;
    this.awsErrorType = awsErrorType;
  }
}

/** Why the stored keyring could not be used (docs/errors.md, "Key release"). */
export const KEYRING_DOCUMENT_REASONS = [
  'KEYRING_MALFORMED', // the stored document does not parse (format v1, keyring-document.ts)
  'KEYRING_KEY_ID_MISMATCH', // a key KMS released does not have the key id stored beside it
  'KEYRING_AUTHENTICATION_FAILED', // the document's MAC does not verify under its identity key
  'KEYRING_WRONG_KEY_LENGTH', // KMS released something other than 32 bytes
] as const;
export type KeyringDocumentReason = (typeof KEYRING_DOCUMENT_REASONS)[number];

/** The wrapped keyring the host returned is malformed or does not authenticate. Start-up error. */
export class KeyringDocumentError extends Error {
  readonly code = 'KEYRING_INVALID';
  readonly source = 'storage';
  readonly reason: KeyringDocumentReason;
  constructor(reason: KeyringDocumentReason, message: string) {
    super(`${reason}: ${message}`);
    this.name = 'KeyringDocumentError';
    this.reason = reason;
  }
}

/** The egress forwarder refused or garbled the CONNECT exchange. */
export class EgressTunnelError extends Error {
  readonly code = 'EGRESS_REFUSED';
  readonly source = 'host';
  /** The forwarder's HTTP status, or 0 when it sent no valid status line. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'EgressTunnelError';
    this.status = status;
  }
}

/** Printable ASCII only, at most `max` characters: for text that came from outside (KMS messages). */
export function sanitizeOutsideText(text: string, max = 200): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
