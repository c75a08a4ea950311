// Errors of the attested client, each with a stable `code`. A failed
// attestation check carries the verifier's reason code as well.

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
  constructor(code: ClientErrorCode, message: string, reason?: ReasonCode) {
    super(message);
    this.name = 'AttestedClientError';
    this.code = code;
    this.reason = reason;
  }
}
