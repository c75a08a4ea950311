// The enclave's error catalogue: every code the enclave can raise, in one
// file (docs/errors.md lists the same; test/consistency/docs-match-code.test.ts
// keeps them equal). Each class has a stable `code`, the HTTP `status` it is
// answered with, who is at fault (`source`) and the standard `cause`.
//
// Three groups:
// - API_ERROR_CLASSES: the codes a client can receive. Only these are ever
//   written into an HTTP answer, with their message.
// - Start-up and key release (KEY_RELEASE_ERROR_CLASSES): configuration,
//   KMS, CMS and keyring failures that stop start-up; an admin request that
//   meets one answers KMS_UNAVAILABLE (or WRITE_CONFLICT) with it as cause.
// - Bugs and internal signals (INTERNAL_ERROR_CLASSES): an HTTP answer for
//   one of these is INTERNAL, with the class logged and never its message.
//
// Integrity failures keep their reason (STORAGE_INTEGRITY_REASONS), logged as
// a code. Messages are fixed strings, names, lengths and reason codes: never a
// value from a request, a token, a key or stored data.

import { CodedError, ConfigInvalidError } from '@http-enclave/program';
import { SEAL_FAILURE_REASONS } from '@http-enclave/protocol';

export { ConfigInvalidError, type ConfigProblem } from '@http-enclave/program';

/** Who is at fault: the client, the host's storage, KMS (through the host), the host itself, the configuration, or the enclave (a bug). */
export type EnclaveErrorSource = 'client' | 'storage' | 'kms' | 'host' | 'config' | 'enclave';

export class EnclaveError extends CodedError {
  declare readonly source: EnclaveErrorSource;
  constructor(code: string, status: number, source: EnclaveErrorSource, message: string, options?: ErrorOptions) {
    super(code, status, source, message, options);
  }
}

function define(code: string, status: number, source: EnclaveErrorSource, defaultMessage: string) {
  return class extends EnclaveError {
    constructor(message: string = defaultMessage, options?: ErrorOptions) {
      super(code, status, source, message, options);
    }
  };
}

/** A class of `define` whose instances also carry a stable `reason` (one of a listed vocabulary), named first in the message. */
function defineWithReason<Reason extends string>(code: string, status: number, source: EnclaveErrorSource, defaultMessage: string) {
  return class extends EnclaveError {
    readonly reason: Reason;
    constructor(reason: Reason, message: string = defaultMessage, options?: ErrorOptions) {
      super(code, status, source, `${reason}: ${message}`, options);
      this.reason = reason;
    }
  };
}

// ---------------------------------------------------------------- HTTP API

export class AuthRequiredError extends define('AUTH_REQUIRED', 401, 'client', 'an Authorization: Bearer token is required') {}
export class AuthTokenMalformedError extends define('AUTH_TOKEN_MALFORMED', 401, 'client', 'the bearer token must be 22 to 512 base64url characters (at least 16 random bytes)') {}
export class InvalidJsonError extends define('INVALID_JSON', 400, 'client', 'the request body is not valid JSON') {}
export class InvalidNameError extends define('INVALID_NAME', 400, 'client', 'a document name is 1 to 128 characters of A-Z a-z 0-9 . _ ~ -') {}
export class InvalidNonceError extends define('INVALID_NONCE', 400, 'client', 'the nonce query parameter is required: 1 to 512 bytes as an even number of hex digits') {}
export class InvalidRequestError extends define('INVALID_REQUEST', 400, 'client', 'the request is malformed') {}
export class NotFoundError extends define('NOT_FOUND', 404, 'client', 'no document is stored under this name') {}
/** 404 on GET /attestation without a provider; at start-up, the configured provider cannot run here (exit 1). */
export class AttestationUnavailableError extends define('ATTESTATION_UNAVAILABLE', 404, 'enclave', 'this enclave serves no attestation documents (ATTESTATION_PROVIDER=none, or no TLS certificate to bind)') {}
export class RouteNotFoundError extends define('ROUTE_NOT_FOUND', 404, 'client', 'no such endpoint') {}
export class MethodNotAllowedError extends define('METHOD_NOT_ALLOWED', 405, 'client', 'method not allowed on this endpoint') {}
export class RequestTimeoutError extends define('REQUEST_TIMEOUT', 408, 'client', 'the request did not arrive in time') {}
export class WriteConflictError extends define('WRITE_CONFLICT', 409, 'client', 'the document changed concurrently; retry') {}
export class BodyTooLargeError extends define('BODY_TOO_LARGE', 413, 'client', 'the request body is larger than MAX_BODY_BYTES') {}
export class UnsupportedMediaTypeError extends define('UNSUPPORTED_MEDIA_TYPE', 415, 'client', 'Content-Type must be application/json') {}
export class HeadersTooLargeError extends define('HEADERS_TOO_LARGE', 431, 'client', 'request headers are too large') {}
export class ExpectationFailedError extends define('EXPECTATION_FAILED', 417, 'client', 'the only expectation this server meets is Expect: 100-continue') {}
export class AttestationRateLimitedError extends define('ATTESTATION_RATE_LIMITED', 429, 'client', 'too many attestation documents asked for (on this connection, or by everyone); retry later') {}

/** 429 for an owner creating new records faster than RECORD_CREATES_PER_SECOND; `retryAfterSeconds` goes into Retry-After. */
export class RecordCreateRateLimitedError extends define('RECORD_CREATE_RATE_LIMITED', 429, 'client', 'this token creates new records faster than the enclave allows (RECORD_CREATES_PER_SECOND); retry later') {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds = 1) {
    super();
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class AdminForbiddenError extends define('ADMIN_FORBIDDEN', 403, 'client', 'the admin token is missing or wrong') {}
/** An admin operation runs and another waits: a third is refused rather than queued without bound. */
export class AdminBusyError extends define('ADMIN_BUSY', 409, 'client', 'another admin operation is running and one is waiting; retry when they are done') {}
export class KeyUnknownError extends define('KEY_UNKNOWN', 404, 'client', 'the keyring holds no key with this id') {}
export class KeyRetireRefusedError extends define('KEY_RETIRE_REFUSED', 409, 'client', 'this key cannot be retired now (identity key, active key, or records still sealed under it)') {}
export class KeySourceNotKmsError extends define('KEY_SOURCE_NOT_KMS', 409, 'client', 'key rotation needs KEY_SOURCE=kms') {}
export class InvalidAdminRequestError extends define('INVALID_ADMIN_REQUEST', 400, 'client', 'the admin request body is not what this endpoint takes') {}
export class KmsUnavailableError extends define('KMS_UNAVAILABLE', 503, 'enclave', 'KMS refused or could not be reached; the keyring is unchanged') {}
export class InternalError extends define('INTERNAL', 500, 'enclave', 'internal error') {}

/**
 * Stable reasons of STORAGE_INTEGRITY, one per check of openRecord, plus a
 * watermark page that does not decode. The list lives with the telemetry
 * vocabulary (@http-enclave/protocol), where seal_failures_total takes them.
 */
export const STORAGE_INTEGRITY_REASONS = SEAL_FAILURE_REASONS;
export type StorageIntegrityReason = (typeof STORAGE_INTEGRITY_REASONS)[number];

const STORAGE_INTEGRITY_MESSAGE = 'stored data failed authentication; it was changed, swapped or truncated outside the enclave';

/**
 * A blob the (untrusted) host returned failed a structural or cryptographic
 * check. The client sees the code and the fixed message; `reason` and
 * `detail` (sizes, offsets) are for the enclave's own log.
 */
export class StorageIntegrityError extends define('STORAGE_INTEGRITY', 502, 'storage', STORAGE_INTEGRITY_MESSAGE) {
  readonly reason: StorageIntegrityReason;
  readonly detail: string;
  constructor(reason: StorageIntegrityReason = 'AUTHENTICATION_FAILED', detail = '', options?: ErrorOptions) {
    super(STORAGE_INTEGRITY_MESSAGE, options);
    this.reason = reason;
    this.detail = detail;
  }
}

export class StorageRollbackError extends define('STORAGE_ROLLBACK', 502, 'storage', 'storage returned an older version of a record than this enclave has already seen') {}
export class StorageBadReplyError extends define('STORAGE_BAD_REPLY', 502, 'storage', 'storage sent a malformed or unexpected reply') {}
export class OverloadedError extends define('OVERLOADED', 503, 'enclave', 'too many request bodies in flight (BODY_MEMORY_BUDGET_BYTES); retry later') {}
export class StorageUnavailableError extends define('STORAGE_UNAVAILABLE', 503, 'storage', 'storage is unavailable or too slow; retry later') {}

/** The host answered ERROR Full: a kind of unavailable (so `instanceof StorageUnavailableError`), which retrying does not cure until space is freed. */
export class StorageFullError extends StorageUnavailableError {
  override readonly code: string = 'STORAGE_FULL';
  override readonly status: number = 507;
  constructor(message = 'storage is full: writes fail until the operator frees space; reads still work', options?: ErrorOptions) {
    super(message, options);
    this.name = 'STORAGE_FULLError';
  }
}

/** Every code a client can receive, in the order of docs/errors.md ("HTTP API"). */
export const API_ERROR_CLASSES = [
  AuthRequiredError,
  AuthTokenMalformedError,
  InvalidJsonError,
  InvalidNameError,
  InvalidNonceError,
  InvalidRequestError,
  NotFoundError,
  AttestationUnavailableError,
  RouteNotFoundError,
  MethodNotAllowedError,
  RequestTimeoutError,
  WriteConflictError,
  BodyTooLargeError,
  UnsupportedMediaTypeError,
  HeadersTooLargeError,
  ExpectationFailedError,
  AttestationRateLimitedError,
  RecordCreateRateLimitedError,
  AdminForbiddenError,
  AdminBusyError,
  KeyUnknownError,
  KeyRetireRefusedError,
  KeySourceNotKmsError,
  InvalidAdminRequestError,
  KmsUnavailableError,
  InternalError,
  StorageIntegrityError,
  StorageRollbackError,
  StorageBadReplyError,
  StorageUnavailableError,
  StorageFullError,
  OverloadedError,
] as const;

const API_ERROR_CODES: ReadonlySet<string> = new Set(API_ERROR_CLASSES.map((Class) => new Class().code));

/** The error as a client may see it: itself when its code is an API code, else INTERNAL (whose cause it becomes). */
export function toApiError(error: unknown): EnclaveError {
  if (error instanceof EnclaveError && API_ERROR_CODES.has(error.code)) return error;
  return new InternalError(undefined, { cause: error });
}

export function errorBody(error: EnclaveError): string {
  return JSON.stringify({ error: { code: error.code, message: error.message } });
}

// ------------------------------------------------ start-up and key release

/** Why a KMS request failed: the `reason` of KMS_REQUEST_FAILED. */
export const KMS_FAILURE_REASONS = [
  'KMS_REFUSED', // KMS answered with an error (AccessDeniedException, IncorrectKeyException, …): never retried
  'KMS_UNREACHABLE', // the forwarder, the TLS connection or KMS failed past every attempt, or the certificate failed verification
  'KMS_TIMEOUT', // no answer within KMS_TIMEOUT_MS, past every attempt
  'KMS_BAD_REPLY', // not what KMS sends: not JSON, a missing or malformed field, too large
  'KMS_PLAINTEXT_REFUSED', // an answer with `Plaintext` to a request with a Recipient
  'AWS_CREDENTIALS_UNAVAILABLE', // the host has no AWS credentials to give (AWS_CREDENTIALS_SOURCE)
] as const;
export type KmsFailureReason = (typeof KMS_FAILURE_REASONS)[number];

/** A KMS call failed; `awsErrorType` is KMS's `__type` (e.g. AccessDeniedException) when KMS answered with an error. */
export class KmsRequestError extends define('KMS_REQUEST_FAILED', 503, 'kms', 'a KMS request failed') {
  readonly reason: KmsFailureReason;
  readonly awsErrorType: string | undefined;
  constructor(reason: KmsFailureReason, message: string, awsErrorType?: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
    this.awsErrorType = awsErrorType;
  }
}

/** Every reason of KMS_ENVELOPE_INVALID, in the order the CMS opener can report them. */
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
 * accept, or does not open with the enclave's recipient key. Source `kms`: the
 * bytes came from KMS through the host, which may have altered them. The
 * message gives offsets, lengths, tags and OIDs, never key or content bytes.
 */
export class CmsEnvelopeError extends defineWithReason<CmsEnvelopeReason>('KMS_ENVELOPE_INVALID', 503, 'kms', 'CiphertextForRecipient is not an envelope this enclave opens') {}

/** Why the stored keyring could not be used: the `reason` of KEYRING_INVALID. */
export const KEYRING_DOCUMENT_REASONS = [
  'KEYRING_MALFORMED', // the stored document does not parse (format v1, keyring-document.ts)
  'KEYRING_KEY_ID_MISMATCH', // a key KMS released does not have the key id stored beside it
  'KEYRING_AUTHENTICATION_FAILED', // the document's MAC does not verify under its identity key
  'KEYRING_WRONG_KEY_LENGTH', // KMS released something other than 32 bytes
] as const;
export type KeyringDocumentReason = (typeof KEYRING_DOCUMENT_REASONS)[number];

/** The wrapped keyring the host returned is malformed or does not authenticate. */
export class KeyringDocumentError extends defineWithReason<KeyringDocumentReason>('KEYRING_INVALID', 502, 'storage', 'the stored keyring is malformed or does not authenticate') {}

/** Another enclave changed the stored keyring during this operation: reload and retry (an admin request answers WRITE_CONFLICT). */
export class KeyringChangedError extends define('KEYRING_CONFLICT', 409, 'storage', 'the stored keyring changed during this operation (another enclave rotated or created it); reload and retry') {}

/** The egress forwarder refused or garbled the CONNECT exchange; `forwarderStatus` is its HTTP status, or 0 without a valid status line. */
export class EgressTunnelError extends define('EGRESS_REFUSED', 502, 'host', 'the egress forwarder refused the tunnel') {
  readonly forwarderStatus: number;
  constructor(forwarderStatus: number, message: string) {
    super(message);
    this.forwarderStatus = forwarderStatus;
  }
}

/** The host answered CREDENTIALS with ERROR NoCredentials: no source configured, or it could not get any. */
export class AwsCredentialsUnavailableError extends define('AWS_CREDENTIALS_UNAVAILABLE', 503, 'host', 'the host has no AWS credentials to give') {}

/** A measured package holds a symbolic link or a special file, or a dependency cannot be found (dev PCR0). */
export class CodeMeasurementError extends define('CODE_MEASUREMENT_FAILED', 500, 'config', 'the code measurement failed') {}

/** The NSM answered {"Error": code} (InvalidIndex, InputTooLarge, ...). */
export class NsmResponseError extends define('NSM_ERROR', 500, 'enclave', 'the NSM answered an error') {
  readonly nsmCode: string;
  constructor(nsmCode: string) {
    super(`the NSM answered Error: ${nsmCode}`);
    this.nsmCode = nsmCode;
  }
}

/** The NSM's answer is not the documented shape: never trusted, never passed on. */
export class NsmMalformedResponseError extends define('NSM_MALFORMED_RESPONSE', 500, 'enclave', 'malformed NSM response') {}

/** Start-up and key-release codes, in the order of docs/errors.md ("Start-up and key release"). */
export const KEY_RELEASE_ERROR_CLASSES = [
  ConfigInvalidError,
  KmsRequestError,
  CmsEnvelopeError,
  KeyringDocumentError,
  KeyringChangedError,
  EgressTunnelError,
  AwsCredentialsUnavailableError,
  CodeMeasurementError,
  NsmResponseError,
  NsmMalformedResponseError,
] as const;

// -------------------------------------------------- bugs and internal signals

/** The client went away mid-body; nobody is left to answer. */
export class RequestAbortedError extends define('REQUEST_ABORTED', 499, 'client', 'the client closed the connection before the body was complete') {}
/** A request to an attestation provider outside its limits (the endpoint validates first). */
export class AttestationRequestError extends define('ATTESTATION_REQUEST_INVALID', 500, 'enclave', 'attestation request outside the provider limits') {}
export class CborEncodeError extends define('CBOR_ENCODE', 500, 'enclave', 'invalid input to the CBOR encoder') {}
export class AttestationSigningError extends define('ATTESTATION_SIGNING', 500, 'enclave', 'cannot sign with this key') {}
export class CertificateBuildError extends define('CERTIFICATE_BUILD', 500, 'enclave', 'invalid input to the certificate builder') {}
export class CertificateDerError extends define('CERTIFICATE_DER_INVALID', 500, 'enclave', 'the certificate does not parse') {}
export class KeyringUsageError extends define('KEYRING_USAGE', 500, 'enclave', 'misuse of the keyring API') {}
export class SealInputError extends define('SEAL_INPUT_INVALID', 500, 'enclave', 'invalid input to sealRecord or openRecord') {}

/** Codes that are bugs or internal signals, in the order of docs/errors.md ("Internal"). */
export const INTERNAL_ERROR_CLASSES = [
  RequestAbortedError,
  AttestationRequestError,
  CborEncodeError,
  AttestationSigningError,
  CertificateBuildError,
  CertificateDerError,
  KeyringUsageError,
  SealInputError,
] as const;

/** Printable ASCII only, at most `max` characters: for text that came from outside (KMS messages, a forwarder's status line). */
export function sanitizeOutsideText(text: string, max = 200): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
