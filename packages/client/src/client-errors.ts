// The client's error catalogue (the user's trust domain): every code the
// library and the CLI raise, in this one file. Each has a stable `code` and
// the standard `cause`; a failed attestation check carries the verifier's
// reason code as well. docs/errors.md ("Client") lists the same codes.

import type { ReasonCode } from '@http-enclave/attestation';

/** Every code, in the order a request meets them (docs/errors.md lists the same; a test compares). */
export const CLIENT_ERROR_CODES = [
  'MEASUREMENTS_REQUIRED',
  'CONNECT_FAILED',
  'ATTESTATION_FETCH_FAILED',
  'ATTESTATION_FAILED',
  'REQUEST_FAILED',
] as const;

export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

export class AttestedClientError extends Error {
  readonly code: ClientErrorCode;
  /** The verifier's reason when code is ATTESTATION_FAILED. */
  readonly reason: ReasonCode | undefined;
  constructor(code: ClientErrorCode, message: string, reason?: ReasonCode, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AttestedClientError';
    this.code = code;
    this.reason = reason;
  }
}

/** A command line the CLI cannot run (exit 2). */
export class UsageError extends Error {
  readonly code = 'USAGE';
}
