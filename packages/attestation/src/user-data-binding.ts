// How an attestation document's user_data binds a TLS certificate's key.
//
// Three named schemes, and only these:
//
//   'http-enclave-session-v2' (ours since issue 10; what our enclave puts in user_data)
//       user_data = ASCII "http-enclave/tls-spki-export/v2:"   (32 bytes)
//                   || SHA-256(SubjectPublicKeyInfo DER)       (32 bytes)
//                   || TLS exporter of the connection that asked (32 bytes)
//       96 bytes. The exporter (RFC 8446 §7.5 / RFC 5705) is computed by both
//       ends of the one TLS session, label TLS_EXPORTER_LABEL, context = the
//       request's nonce. Binding the key alone is not enough when the TLS key
//       is in files the operator can read: a relay with that key terminates
//       the client's TLS, fetches a genuine document over its own connection
//       and hands it back; its session, and so its exporter, differs from the
//       client's. A client that cannot export (a browser) can still check the
//       key part, and loses exactly that protection.
//
//   'http-enclave-spki-sha256-v1' (ours before issue 10)
//       user_data = ASCII "http-enclave/tls-spki-sha256/v1:"   (32 bytes)
//                   || SHA-256(SubjectPublicKeyInfo DER)       (32 bytes)
//       64 bytes in all: within the 512-byte limit that strict verifiers
//       apply; the label names the format and version, so the bytes cannot be
//       mistaken for another application's user_data.
//
//   'evervault-spki-der' (needed for the real evervault-1/-4/-5 documents)
//       user_data = the SubjectPublicKeyInfo DER itself (91 bytes for P-256,
//       120 for P-384): evervault/attestation-doc-validation compares
//       user_data with the TLS certificate's SPKI.
//
// Both bind the KEY (SPKI), not the whole certificate, so a certificate
// re-issued for the same key stays bound. The SPKI is taken from the
// certificate's DER bytes as received (not re-exported by OpenSSL), so the
// comparison is byte for byte.

import { createHash, X509Certificate } from 'node:crypto';

export const TLS_BINDING_SCHEMES = ['http-enclave-session-v2', 'http-enclave-spki-sha256-v1', 'evervault-spki-der'] as const;
export type TlsBindingScheme = (typeof TLS_BINDING_SCHEMES)[number];

/** ASCII label that started our user_data before issue 10; 32 bytes. */
export const HTTP_ENCLAVE_TLS_BINDING_LABEL = 'http-enclave/tls-spki-sha256/v1:';
/** ASCII label that starts our session-bound user_data; 32 bytes. */
export const HTTP_ENCLAVE_TLS_SESSION_LABEL = 'http-enclave/tls-spki-export/v2:';
/** TLS exporter label (RFC 5705 §4: not IANA-registered, so EXPERIMENTAL-). */
export const TLS_EXPORTER_LABEL = 'EXPERIMENTAL-http-enclave-attestation-v2';
/** Bytes of exporter output in user_data. */
export const TLS_EXPORTER_BYTES = 32;

/** A TLS certificate as an X509Certificate, PEM text or DER bytes. */
export type TlsCertificateInput = X509Certificate | string | Uint8Array;

export function toX509Certificate(input: TlsCertificateInput): X509Certificate {
  if (input instanceof X509Certificate) return input;
  return new X509Certificate(typeof input === 'string' ? input : Buffer.from(input));
}

interface DerElement {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** Reads one DER TLV at `offset` (single-byte tags, definite lengths); null when malformed. */
function readDerElement(der: Uint8Array, offset: number, limit: number): DerElement | null {
  const tag = der[offset];
  let lengthByte = der[offset + 1];
  if (tag === undefined || lengthByte === undefined) return null;
  let position = offset + 2;
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count < 1 || count > 3) return null;
    length = 0;
    for (let i = 0; i < count; i += 1) {
      lengthByte = der[position];
      if (lengthByte === undefined) return null;
      length = length * 256 + lengthByte;
      position += 1;
    }
  }
  const end = position + length;
  if (end > limit) return null;
  return { tag, start: offset, contentStart: position, end };
}

const DER_SEQUENCE = 0x30;
const DER_CONTEXT_0_CONSTRUCTED = 0xa0;

/**
 * The SubjectPublicKeyInfo DER of a certificate, sliced from its DER
 * (RFC 5280 §4.1: Certificate → tbsCertificate → [version] serialNumber
 * signature issuer validity subject subjectPublicKeyInfo).
 */
export function subjectPublicKeyInfoDer(certificate: X509Certificate): Uint8Array {
  const der = new Uint8Array(certificate.raw);
  const outer = readDerElement(der, 0, der.length);
  const tbs = outer?.tag === DER_SEQUENCE ? readDerElement(der, outer.contentStart, outer.end) : null;
  if (tbs === null || tbs.tag !== DER_SEQUENCE) throw new TypeError('certificate DER has no tbsCertificate');
  let element = readDerElement(der, tbs.contentStart, tbs.end);
  if (element?.tag === DER_CONTEXT_0_CONSTRUCTED) element = readDerElement(der, element.end, tbs.end);
  // serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo.
  for (let skip = 0; skip < 5 && element !== null; skip += 1) element = readDerElement(der, element.end, tbs.end);
  if (element === null || element.tag !== DER_SEQUENCE) throw new TypeError('certificate DER has no subjectPublicKeyInfo');
  return der.slice(element.start, element.end);
}

/**
 * user_data for `certificate`: scheme 'http-enclave-session-v2' when the
 * connection's `exporter` is given, else 'http-enclave-spki-sha256-v1'.
 */
export function createTlsBindingUserData(certificate: TlsCertificateInput, exporter?: Uint8Array): Uint8Array {
  if (exporter !== undefined && exporter.length !== TLS_EXPORTER_BYTES) throw new TypeError(`a TLS exporter value is ${TLS_EXPORTER_BYTES} bytes`);
  const spki = subjectPublicKeyInfoDer(toX509Certificate(certificate));
  const label = new TextEncoder().encode(exporter === undefined ? HTTP_ENCLAVE_TLS_BINDING_LABEL : HTTP_ENCLAVE_TLS_SESSION_LABEL);
  const digest = createHash('sha256').update(spki).digest();
  return Buffer.concat([label, digest, ...(exporter === undefined ? [] : [exporter])]);
}

/** The TLS exporter value carried by session-bound user_data; null for the other schemes. */
export function sessionExporterOf(userData: Uint8Array | null): Uint8Array | null {
  const label = new TextEncoder().encode(HTTP_ENCLAVE_TLS_SESSION_LABEL);
  if (userData === null || userData.length !== label.length + 32 + TLS_EXPORTER_BYTES) return null;
  if (!bytesEqual(userData.subarray(0, label.length), label)) return null;
  return userData.slice(label.length + 32);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** The first of `schemes` under which `userData` binds `certificate`'s key, or null. */
export function findTlsBindingScheme(
  userData: Uint8Array | null,
  certificate: X509Certificate,
  schemes: readonly TlsBindingScheme[] = TLS_BINDING_SCHEMES,
): TlsBindingScheme | null {
  if (userData === null) return null;
  for (const scheme of schemes) {
    if (scheme === 'http-enclave-session-v2') {
      // The key part must bind this certificate; the exporter part is the policy's to check (tlsExporter).
      const exporter = sessionExporterOf(userData);
      if (exporter !== null && bytesEqual(userData, createTlsBindingUserData(certificate, exporter))) return scheme;
      continue;
    }
    const expected = scheme === 'http-enclave-spki-sha256-v1' ? createTlsBindingUserData(certificate) : subjectPublicKeyInfoDer(certificate);
    if (bytesEqual(userData, expected)) return scheme;
  }
  return null;
}
