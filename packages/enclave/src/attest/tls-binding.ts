// How the attestation document binds the enclave's TLS key and the client's
// TLS session: the value the enclave puts in `user_data` (issue 10, item 2).
//
//   user_data = ASCII "http-enclave/tls-spki-export/v2:"     (32 bytes)
//               || SHA-256(SubjectPublicKeyInfo DER)         (32 bytes)
//               || TLS exporter of the asking connection     (32 bytes)
//
// The exporter (RFC 8446 §7.5 / RFC 5705; label TLS_EXPORTER_LABEL, context
// = the request's nonce) is a secret both ends of that one TLS session
// compute and nobody else can: a relay that holds the TLS key (files the
// operator can read) and fetches a genuine document over its own connection
// gets its own session's value, which the client's comparison refuses. A
// client that cannot export (a browser) can still check the key part.
//
// Without an exporter (no TLS socket; tests) the v1 form is the first 64
// bytes with label "http-enclave/tls-spki-sha256/v1:".
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
export const TLS_SESSION_BINDING_LABEL = 'http-enclave/tls-spki-export/v2:';
/** RFC 5705 §4: a label that is not IANA-registered starts with EXPERIMENTAL. */
export const TLS_EXPORTER_LABEL = 'EXPERIMENTAL-http-enclave-attestation-v2';
export const TLS_EXPORTER_BYTES = 32;
/** Label (32) + SHA-256 (32), then the exporter (32) in the session form. */
export const TLS_BINDING_BYTES = 64;

/** user_data binding the key of `certificateDer` (DER X.509), and the session when `exporter` is given. */
export function tlsBindingUserData(certificateDer: Buffer, exporter?: Buffer): Buffer {
  const { subjectPublicKeyInfo } = readCertificateDerFields(certificateDer);
  const label = exporter === undefined ? TLS_BINDING_LABEL : TLS_SESSION_BINDING_LABEL;
  return Buffer.concat([Buffer.from(label, 'ascii'), createHash('sha256').update(subjectPublicKeyInfo).digest(), ...(exporter === undefined ? [] : [exporter])]);
}

/** The exporter value of this TLS session for a document asked with `nonce` (the same on the client's end). */
export function attestationExporter(socket: { exportKeyingMaterial(length: number, label: string, context?: Buffer): Buffer }, nonce: Buffer): Buffer {
  return socket.exportKeyingMaterial(TLS_EXPORTER_BYTES, TLS_EXPORTER_LABEL, nonce);
}
