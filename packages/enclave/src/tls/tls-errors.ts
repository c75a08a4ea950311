// Error classes of the tls/ folder: TLS configuration problems (start-up) and
// misuse of the certificate builder. Messages name variables and reasons,
// never file contents or key material.

export type TlsConfigVariable = 'TLS_CERT_PATH' | 'TLS_KEY_PATH';

/** TLS_CERT_PATH / TLS_KEY_PATH point at missing, unreadable, unparseable or mismatched files. */
export class TlsConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly source = 'config';
  readonly variables: readonly TlsConfigVariable[];
  constructor(variables: readonly TlsConfigVariable[], message: string) {
    super(message);
    this.name = 'TlsConfigError';
    this.variables = variables;
  }
}

/** Invalid arguments to the DER writer or certificate builder: an enclave bug. */
export class CertificateBuildError extends Error {
  readonly code = 'CERTIFICATE_BUILD';
  readonly source = 'internal';
  constructor(message: string) {
    super(message);
    this.name = 'CertificateBuildError';
  }
}
