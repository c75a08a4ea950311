// Errors of the attested client, each with a stable `code`. A failed
// attestation check carries the verifier's reason code as well.

import type { ReasonCode } from '@http-enclave/attestation';

export type ClientErrorCode =
  | 'CONNECT_FAILED'
  | 'ATTESTATION_FETCH_FAILED'
  | 'ATTESTATION_FAILED'
  | 'CERTIFICATE_NOT_ATTESTED'
  | 'MEASUREMENTS_REQUIRED'
  | 'REQUEST_FAILED';

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
