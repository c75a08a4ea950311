// How the attestation document binds the enclave's TLS key: the value the
// enclave puts in `user_data`.
//
//   user_data = ASCII "http-enclave/tls-spki-sha256/v1:"     (32 bytes)
//               || SHA-256(SubjectPublicKeyInfo DER)         (32 bytes)
//
// 64 bytes: inside the 512-byte user_data limit of AWS's validation rules
// (reference §1.2, §0.9), so strict verifiers accept it. The label names the
// format and its version, so the bytes cannot be mistaken for another
// application's user_data. It binds the KEY (the SPKI, sliced byte for byte
// from the certificate's DER), not the whole certificate: a certificate
// re-issued for the same key stays bound, and a client checks it against
// the SPKI of the certificate its TLS connection actually presented.
//
// The verifier (packages/attestation, user-data-binding.ts, scheme
// 'http-enclave-spki-sha256-v1') defines the same bytes; the two must stay
// equal.

import { createHash } from 'node:crypto';

import { readCertificateDerFields } from './certificate-der.js';

export const TLS_BINDING_LABEL = 'http-enclave/tls-spki-sha256/v1:';
/** Label (32) + SHA-256 (32). */
export const TLS_BINDING_BYTES = 64;

/** user_data binding the key of `certificateDer` (DER X.509). */
export function tlsBindingUserData(certificateDer: Buffer): Buffer {
  const { subjectPublicKeyInfo } = readCertificateDerFields(certificateDer);
  return Buffer.concat([Buffer.from(TLS_BINDING_LABEL, 'ascii'), createHash('sha256').update(subjectPublicKeyInfo).digest()]);
}
