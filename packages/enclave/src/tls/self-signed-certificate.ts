// The enclave's ephemeral TLS identity: a P-256 key generated in enclave
// memory and a self-signed certificate for it. Used when no certificate files
// are configured; clients trust it through attestation (the attestation
// document binds this certificate), not through a public CA.

import { X509Certificate, generateKeyPairSync, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { isIP } from 'node:net';

import { createSelfSignedCertificate, derToPem } from './certificate-builder.js';
import { CertificateBuildError } from '../enclave-errors.js';

/** notBefore = now − 1 h: tolerates clients whose clocks run up to an hour behind the enclave. */
export const EPHEMERAL_CERTIFICATE_BACKDATE_MS = 60 * 60 * 1000;
/**
 * notAfter = now + 30 days. The key lives only as long as the process; a
 * short validity limits how long a leaked key stays usable, and 30 days is
 * longer than any expected process lifetime between deployments. The server
 * must generate a fresh identity (server.setSecureContext) before expiry if
 * it ever runs longer.
 */
export const EPHEMERAL_CERTIFICATE_VALIDITY_MS = 30 * 24 * 60 * 60 * 1000;
/** 16 random bytes (128 bits), high bit cleared so the INTEGER stays positive (RFC 5280 4.1.2.2). */
export const SERIAL_NUMBER_BYTES = 16;

export interface TlsMaterial {
  readonly keyPem: string;
  readonly certPem: string;
  /** SHA-256 of the DER certificate, upper-case colon hex as `openssl x509 -fingerprint -sha256` prints. */
  readonly fingerprintSha256: string;
}

export interface GenerateEphemeralTlsIdentityOptions {
  readonly now: Date;
  readonly commonName?: string;
  /** DNS names and IP literals; IP literals go into iPAddress SAN entries. */
  readonly altNames?: readonly string[];
  readonly randomBytes?: (size: number) => Buffer;
}

export const DEFAULT_COMMON_NAME = 'localhost';
export const DEFAULT_ALT_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

export function generateEphemeralTlsIdentity(options: GenerateEphemeralTlsIdentityOptions): TlsMaterial {
  const now = options.now.getTime();
  if (Number.isNaN(now)) throw new CertificateBuildError('now must be a valid Date');
  const altNames = options.altNames ?? DEFAULT_ALT_NAMES;
  const serialNumber = (options.randomBytes ?? cryptoRandomBytes)(SERIAL_NUMBER_BYTES);
  if (serialNumber.length !== SERIAL_NUMBER_BYTES) throw new CertificateBuildError(`random source returned ${serialNumber.length} bytes, expected ${SERIAL_NUMBER_BYTES}`);
  // Clear the sign bit and set the next one: positive, non-zero, always 16 encoded bytes.
  serialNumber[0] = ((serialNumber[0] ?? 0) & 0x7f) | 0x40;

  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = createSelfSignedCertificate({
    subjectCommonName: options.commonName ?? DEFAULT_COMMON_NAME,
    privateKey,
    serialNumber,
    notBefore: new Date(now - EPHEMERAL_CERTIFICATE_BACKDATE_MS),
    notAfter: new Date(now + EPHEMERAL_CERTIFICATE_VALIDITY_MS),
    signatureHash: 'sha256',
    isCertificateAuthority: false,
    keyUsage: ['digitalSignature'], // ECDHE_ECDSA only signs; no keyEncipherment for EC keys
    extendedKeyUsage: ['serverAuth'],
    dnsNames: altNames.filter((altName) => isIP(altName) === 0),
    ipAddresses: altNames.filter((altName) => isIP(altName) !== 0),
  });
  const certPem = derToPem(der);
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem,
    fingerprintSha256: new X509Certificate(der).fingerprint256,
  };
}
