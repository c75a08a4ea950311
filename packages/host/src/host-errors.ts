// The host's error catalogue: every code the host (the operator's trust
// domain) throws or logs as a refusal, one class each, built on CodedError.
// docs/errors.md ("## Host") lists the same codes; a test keeps them equal.
// `status` is the HTTP status the host answers with where it answers one (the
// egress forwarder's refusals, /readyz), else 500. Messages are fixed texts,
// names, lengths and codes: never bytes of a stream, a key or a credential.
//
// Some classes carry a cause's code across a boundary (a thread, a retry
// loop) in `reason`: an errno, a SQLite code, or another code of this list.
// CONFIG_INVALID is the host's too, but its class is the shared
// ConfigInvalidError (@http-enclave/program).

import { CodedError } from '@http-enclave/program';

/**
 * Who has to act: `config` a setting is wrong; `environment` the machine
 * (ports, files, disk); `storage` the SQLite database; `aws` IMDS or the AWS
 * credentials; `enclave` the enclave asked for something refused; `upstream`
 * a destination behind the egress forwarder.
 */
export type HostErrorSource = 'config' | 'environment' | 'storage' | 'aws' | 'enclave' | 'upstream';

export class HostError extends CodedError {
  declare readonly source: HostErrorSource;
  constructor(code: string, status: number, source: HostErrorSource, message: string, options?: ErrorOptions) {
    super(code, status, source, message, options);
  }
}

/** A class of the catalogue, with its code, status and source readable without an instance. */
export interface HostErrorClass {
  readonly code: string;
  readonly status: number;
  readonly source: HostErrorSource;
  // Constructors differ (some take fields, not a message); `never[]` accepts every one of them.
  new (...args: never[]): HostError;
}

function define(code: string, status: number, source: HostErrorSource, defaultMessage: string) {
  return class extends HostError {
    static readonly code = code;
    static readonly status = status;
    static readonly source = source;
    constructor(message: string = defaultMessage, options?: ErrorOptions) {
      super(code, status, source, message, options);
    }
  };
}

// Start-up.

/** The settings that name a listener. */
export type ListenVariable = 'BIND_ADDR' | 'STORAGE_LISTEN' | 'EGRESS_LISTEN' | 'ADMIN_LISTEN' | 'TELEMETRY_LISTEN';

/** A listener could not be opened. `variable` says which setting to change; `reason` is the errno (EADDRINUSE, EACCES, ...) or TRANSPORT_UNSUPPORTED. */
export class HostListenError extends define('HOST_LISTEN_FAILED', 500, 'environment', 'a listener could not be opened') {
  readonly reason: string;
  readonly variable: ListenVariable;
  readonly address: string;
  constructor(variable: ListenVariable, address: string, reason: string, options?: ErrorOptions) {
    super(`cannot listen on ${variable}=${address}: ${reason}`, options);
    this.variable = variable;
    this.address = address;
    this.reason = reason;
  }
}

/** Bad EGRESS_ALLOW syntax. `message` names the entry (config text, never stream bytes) and the rule it breaks. */
export const EgressAllowListError = define('EGRESS_ALLOW_INVALID', 500, 'config', 'EGRESS_ALLOW is invalid');

// Storage.

export type StorageStartStage = 'open' | 'listen' | 'worker';

/** The storage worker could not start. `reason` is the cause's code (EADDRINUSE, SQLITE_CANTOPEN, STORE_SCHEMA_TOO_NEW, WORKER_EXITED, ...). */
export class StorageStartError extends define('STORAGE_START_FAILED', 500, 'storage', 'the storage worker could not start') {
  readonly stage: StorageStartStage;
  readonly reason: string;
  constructor(stage: StorageStartStage, reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.stage = stage;
    this.reason = reason;
  }
}

/** The storage worker exited after it was ready: the host cannot store anything any more. */
export const StorageWorkerExitedError = define('STORAGE_WORKER_EXITED', 500, 'storage', 'the storage worker exited');

/** A readiness write that failed (/readyz answers 503): `reason` is the store's code (SQLITE_FULL, SQLITE_READONLY, ...), PROBE_TIMEOUT, STORAGE_CLOSING or STORAGE_CLOSED. */
export class StorageProbeError extends define('STORAGE_PROBE_FAILED', 503, 'storage', 'storage does not take writes') {
  readonly reason: string;
  constructor(reason: string, options?: ErrorOptions) {
    super(`storage does not take writes: ${reason}`, options);
    this.reason = reason;
  }
}

/** A request the store refuses before touching the database (bad pseudonym length, version out of range). */
export const RecordStoreInputError = define('STORE_BAD_INPUT', 500, 'enclave', 'the storage request is out of range');

/** A stored row breaks an invariant the schema does not enforce (a key that is not 32 bytes). */
export const RecordStoreCorruptError = define('STORE_CORRUPT', 500, 'storage', 'a stored row breaks an invariant');

/** The database was written by a newer schema than this program knows. */
export class RecordStoreSchemaError extends define('STORE_SCHEMA_TOO_NEW', 500, 'storage', 'the database schema is newer than this host supports') {
  constructor(found: number, supported: number, options?: ErrorOptions) {
    super(`database schema version ${found} is newer than the supported ${supported}; run a newer host`, options);
  }
}

/** The store could not be set up with the durability it promises (for example WAL refused by the file system). */
export const RecordStoreSetupError = define('STORE_SETUP_FAILED', 500, 'storage', 'the store could not be set up');

/** The PostgreSQL database has no schema yet, or an older one: `npm run migrate` brings it up to date (never done silently at start). */
export class RecordStoreSchemaOutdatedError extends define('STORE_SCHEMA_OUTDATED', 500, 'storage', 'the database schema is older than this host needs') {
  constructor(found: number, needed: number, options?: ErrorOptions) {
    super(`database schema version ${found} is older than the ${needed} this host needs; run npm run migrate`, options);
  }
}

/** The database did not answer (connection refused or lost, a statement past its timeout, shutting down); `reason` is the SQLSTATE or errno. Answered ERROR Unavailable. */
export class RecordStoreUnavailableError extends define('STORE_UNAVAILABLE', 500, 'storage', 'the database did not answer') {
  readonly reason: string;
  constructor(reason: string, options?: ErrorOptions) {
    super(`the database did not answer (${reason})`, options);
    this.reason = reason;
  }
}

/** The database is out of space (PostgreSQL disk_full, 53100). Answered ERROR Full. */
export const RecordStoreFullError = define('STORE_FULL', 500, 'storage', 'the database is out of disk space');

// AWS credentials (handed to the enclave through storage, for KMS).

/** IMDS did not answer (refused, reset, timed out, 5xx) after every attempt. */
export const ImdsUnavailable = define('IMDS_UNAVAILABLE', 500, 'aws', 'IMDS did not answer');

/** IMDS answered, but not with what the documentation says (status, size, shape). */
export const ImdsBadResponse = define('IMDS_BAD_RESPONSE', 500, 'aws', 'IMDS answered something unexpected');

/** One IMDS attempt failed in a way worth another; `reason` is ECONNREFUSED, TIMEOUT, HTTP_503, DEADLINE, ... Never leaves the client: after the last attempt it becomes IMDS_UNAVAILABLE. */
export class TransientImdsError extends define('IMDS_ATTEMPT_FAILED', 500, 'aws', 'an IMDS attempt failed') {
  readonly reason: string;
  constructor(reason: string, options?: ErrorOptions) {
    super(`IMDS attempt failed: ${reason}`, options);
    this.reason = reason;
  }
}

/** No source configured (none), or the env source without AWS_ACCESS_KEY_ID. */
export const AwsCredentialsNotConfigured = define('AWS_CREDENTIALS_NOT_CONFIGURED', 500, 'config', 'no AWS credentials are configured');

/** Credentials that fail validation; the message names the field and its length, never its value. */
export const AwsCredentialsInvalid = define('AWS_CREDENTIALS_INVALID', 500, 'aws', 'the AWS credentials are invalid');

/** A CREDENTIALS request of the storage worker failed; `reason` is the main thread provider's code (IMDS_UNAVAILABLE, ...) or CREDENTIALS_TIMEOUT. */
export class CredentialsRequestError extends define('CREDENTIALS_REQUEST_FAILED', 500, 'aws', 'credentials unavailable') {
  readonly reason: string;
  constructor(reason: string, options?: ErrorOptions) {
    super(`credentials unavailable: ${reason}`, options);
    this.reason = reason;
  }
}

// Egress refusals: the forwarder answers the enclave's CONNECT with `status`
// and closes; the log line of the refusal carries the code.

export const EgressBadRequestError = define('EGRESS_BAD_REQUEST', 400, 'enclave', 'the CONNECT request head is malformed');
export const EgressHeadTooLargeError = define('EGRESS_HEAD_TOO_LARGE', 400, 'enclave', 'the CONNECT request head is too large');
export const EgressNotAllowedError = define('EGRESS_NOT_ALLOWED', 403, 'enclave', 'the destination is not in EGRESS_ALLOW');
export const EgressMethodNotAllowedError = define('EGRESS_METHOD_NOT_ALLOWED', 405, 'enclave', 'the only method is CONNECT');
export const EgressHeadTimeoutError = define('EGRESS_HEAD_TIMEOUT', 408, 'enclave', 'the CONNECT request head did not arrive in time');
export const EgressUpstreamFailedError = define('EGRESS_UPSTREAM_FAILED', 502, 'upstream', 'the connection to the destination failed');
export const EgressMaxConnectionsError = define('EGRESS_MAX_CONNECTIONS', 503, 'enclave', 'too many egress connections are open');
export const EgressConnectTimeoutError = define('EGRESS_CONNECT_TIMEOUT', 504, 'upstream', 'the destination did not accept the connection in time');

/** Every class above, for the catalogue test and docs/errors.md ("## Host"). */
export const HOST_ERROR_CLASSES: readonly HostErrorClass[] = Object.freeze([
  HostListenError,
  EgressAllowListError,
  StorageStartError,
  StorageWorkerExitedError,
  StorageProbeError,
  RecordStoreInputError,
  RecordStoreCorruptError,
  RecordStoreSchemaError,
  RecordStoreSetupError,
  RecordStoreSchemaOutdatedError,
  RecordStoreUnavailableError,
  RecordStoreFullError,
  ImdsUnavailable,
  ImdsBadResponse,
  TransientImdsError,
  AwsCredentialsNotConfigured,
  AwsCredentialsInvalid,
  CredentialsRequestError,
  EgressBadRequestError,
  EgressHeadTooLargeError,
  EgressNotAllowedError,
  EgressMethodNotAllowedError,
  EgressHeadTimeoutError,
  EgressUpstreamFailedError,
  EgressMaxConnectionsError,
  EgressConnectTimeoutError,
]);

/**
 * The most specific code of an error, for a log field or /readyz: a carrier's
 * `reason` (SQLITE_FULL inside STORAGE_PROBE_FAILED), else its `code`, else
 * UNKNOWN. Never the message.
 */
export function specificCode(error: unknown): string {
  if (error instanceof HostError && 'reason' in error && typeof error.reason === 'string' && error.reason.length > 0) return error.reason;
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' && error.code.length > 0) return error.code;
  return 'UNKNOWN';
}
