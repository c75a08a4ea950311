// The enclave's HTTP error catalogue. Every error a client can see is one of
// these classes, with a stable `code`, its HTTP status and its source (who is
// at fault). docs/errors.md lists the same codes; a test keeps them in sync.
// Messages are fixed strings or name fields and lengths: never a value from
// the request, a token, a key or stored data.

export type ErrorSource = 'client' | 'storage' | 'enclave';

export abstract class ApiError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  abstract readonly source: ErrorSource;
}

function define(code: string, status: number, source: ErrorSource, defaultMessage: string) {
  return class extends ApiError {
    readonly code = code;
    readonly status = status;
    readonly source = source;
    constructor(message: string = defaultMessage) {
      super(message);
      this.name = `${code}Error`;
    }
  };
}

export const AuthRequiredError = define('AUTH_REQUIRED', 401, 'client', 'an Authorization: Bearer token is required');
export const AuthTokenMalformedError = define(
  'AUTH_TOKEN_MALFORMED',
  401,
  'client',
  'the bearer token must be 22 to 512 base64url characters (at least 16 random bytes)',
);
export const InvalidJsonError = define('INVALID_JSON', 400, 'client', 'the request body is not valid JSON');
export const InvalidNameError = define(
  'INVALID_NAME',
  400,
  'client',
  'a document name is 1 to 128 characters of A-Z a-z 0-9 . _ ~ -',
);
export const InvalidNonceError = define(
  'INVALID_NONCE',
  400,
  'client',
  'the nonce query parameter is required: 1 to 512 bytes as an even number of hex digits',
);
export const InvalidRequestError = define('INVALID_REQUEST', 400, 'client', 'the request is malformed');
export const NotFoundError = define('NOT_FOUND', 404, 'client', 'no document is stored under this name');
export const AttestationUnavailableError = define(
  'ATTESTATION_UNAVAILABLE',
  404,
  'enclave',
  'this enclave serves no attestation documents (ATTESTATION_PROVIDER=none, or no TLS certificate to bind)',
);
export const RouteNotFoundError = define('ROUTE_NOT_FOUND', 404, 'client', 'no such endpoint');
export const MethodNotAllowedError = define('METHOD_NOT_ALLOWED', 405, 'client', 'method not allowed on this endpoint');
export const RequestTimeoutError = define('REQUEST_TIMEOUT', 408, 'client', 'the request did not arrive in time');
export const WriteConflictError = define('WRITE_CONFLICT', 409, 'client', 'the document changed concurrently; retry');
export const BodyTooLargeError = define('BODY_TOO_LARGE', 413, 'client', 'the request body is larger than MAX_BODY_BYTES');
export const UnsupportedMediaTypeError = define('UNSUPPORTED_MEDIA_TYPE', 415, 'client', 'Content-Type must be application/json');
export const HeadersTooLargeError = define('HEADERS_TOO_LARGE', 431, 'client', 'request headers are too large');
export const AttestationRateLimitedError = define('ATTESTATION_RATE_LIMITED', 429, 'client', 'too many attestation documents asked for (on this connection, or by everyone); retry later');
/** 429 for an owner creating new records faster than RECORD_CREATES_PER_SECOND; `retryAfterSeconds` goes into Retry-After. */
export class RecordCreateRateLimitedError extends ApiError {
  readonly code = 'RECORD_CREATE_RATE_LIMITED';
  readonly status = 429;
  readonly source = 'client' as const;
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds = 1) {
    super('this token creates new records faster than the enclave allows (RECORD_CREATES_PER_SECOND); retry later');
    this.name = 'RECORD_CREATE_RATE_LIMITEDError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
export const ExpectationFailedError = define('EXPECTATION_FAILED', 417, 'client', 'the only expectation this server meets is Expect: 100-continue');
export const AdminForbiddenError = define('ADMIN_FORBIDDEN', 403, 'client', 'the admin token is missing or wrong');
export const AdminBusyError = define('ADMIN_BUSY', 409, 'client', 'another admin operation is running and one is waiting; retry when they are done');
export const KeyUnknownError = define('KEY_UNKNOWN', 404, 'client', 'the keyring holds no key with this id');
export const KeyRetireRefusedError = define('KEY_RETIRE_REFUSED', 409, 'client', 'this key cannot be retired now (identity key, active key, or records still sealed under it)');
export const KeySourceNotKmsError = define('KEY_SOURCE_NOT_KMS', 409, 'client', 'key rotation needs KEY_SOURCE=kms');
export const InvalidAdminRequestError = define('INVALID_ADMIN_REQUEST', 400, 'client', 'the admin request body is not what this endpoint takes');
export const KmsUnavailableError = define('KMS_UNAVAILABLE', 503, 'enclave', 'KMS refused or could not be reached; the keyring is unchanged');
export const InternalError = define('INTERNAL', 500, 'enclave', 'internal error');
export const StorageIntegrityApiError = define(
  'STORAGE_INTEGRITY',
  502,
  'storage',
  'stored data failed authentication; it was changed, swapped or truncated outside the enclave',
);
export const StorageRollbackError = define(
  'STORAGE_ROLLBACK',
  502,
  'storage',
  'storage returned an older version of a record than this enclave has already seen',
);
export const StorageBadReplyError = define('STORAGE_BAD_REPLY', 502, 'storage', 'storage sent a malformed or unexpected reply');
export const OverloadedError = define('OVERLOADED', 503, 'enclave', 'too many request bodies in flight (BODY_MEMORY_BUDGET_BYTES); retry later');
export const StorageUnavailableError = define('STORAGE_UNAVAILABLE', 503, 'storage', 'storage is unavailable or too slow; retry later');
export const StorageFullError = define('STORAGE_FULL', 507, 'storage', 'storage is full: writes fail until the operator frees space; reads still work');

/** Every class above, for the catalogue test and docs/errors.md. */
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
  StorageIntegrityApiError,
  StorageRollbackError,
  StorageBadReplyError,
  StorageUnavailableError,
  StorageFullError,
  OverloadedError,
] as const;

export function errorBody(error: ApiError): string {
  return JSON.stringify({ error: { code: error.code, message: error.message } });
}
