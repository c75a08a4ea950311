// Error classes of the attest/ folder. The HTTP-facing codes
// (INVALID_NONCE, ATTESTATION_UNAVAILABLE) live in http/api-errors.ts; these
// are start-up and internal failures. Messages name variables, lengths and
// reasons: never file contents or key material.

export type AttestationConfigVariable = 'ATTESTATION_PROVIDER' | 'ATTESTATION_DEV_ROOT_KEY_PATH' | 'ATTESTATION_DEV_ROOT_CERT_PATH';

/** The dev root files are missing, unreadable, unparseable, mismatched or unfit for a root. Exit 78 like any config error. */
export class AttestationConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly source = 'config';
  readonly variables: readonly AttestationConfigVariable[];
  constructor(variables: readonly AttestationConfigVariable[], message: string) {
    super(message);
    this.name = 'AttestationConfigError';
    this.variables = variables;
  }
}

/** The configured provider cannot run on this machine (`nsm` without /dev/nsm or the addon, or an NSM that does not answer). */
export class AttestationProviderUnavailableError extends Error {
  readonly code = 'ATTESTATION_UNAVAILABLE';
  readonly source = 'config';
  constructor(message: string) {
    super(message);
    this.name = 'AttestationProviderUnavailableError';
  }
}

/** A request to a provider outside the limits (the endpoint validates first, so this is an enclave bug). */
export class AttestationRequestError extends Error {
  readonly code = 'ATTESTATION_REQUEST_INVALID';
  readonly source = 'internal';
  constructor(message: string) {
    super(message);
    this.name = 'AttestationRequestError';
  }
}

/** Invalid input to the CBOR encoder: an enclave bug. */
export class CborEncodeError extends Error {
  readonly code = 'CBOR_ENCODE';
  readonly source = 'internal';
  constructor(message: string) {
    super(message);
    this.name = 'CborEncodeError';
  }
}

/** Signing with an unfit key: an enclave bug. */
export class AttestationSigningError extends Error {
  readonly code = 'ATTESTATION_SIGNING';
  readonly source = 'internal';
  constructor(message: string) {
    super(message);
    this.name = 'AttestationSigningError';
  }
}
