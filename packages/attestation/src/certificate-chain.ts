// Certificate chain of a Nitro attestation document
// (attestation_process.md §3.2.3; reference notes §2).
//
//   cabundle[0]   root      pinned: SHA-256 of its DER equals the AWS Nitro
//                           root G1 fingerprint, or the given dev root's DER
//   cabundle[1..] intermediates (regional, zonal, instance), each issued and
//                           signed by the previous one, each a CA
//   certificate   leaf      issued and signed by the last cabundle entry, not
//                           a CA, EC P-384 key (it signs the COSE_Sign1)
//
// The bundle is ordered root first (every real document: root, regional,
// zonal, instance); we never trust cabundle[0] because it is there, only
// because its bytes hash to the pinned fingerprint. Every certificate,
// root included, must be valid at the caller's `now` (X.509 validity is
// inclusive at both ends). No CRL/OCSP: AWS states it does not use CRLs.
// Linking uses X509Certificate.checkIssued (OpenSSL X509_check_issued: names,
// key identifiers when present, keyCertSign when the issuer has keyUsage)
// plus a signature check with the issuer's key. Old documents (2021) lack
// SKI/AKI in the lower certificates, so key identifiers are not required.
// pathLenConstraint is not enforced (node:crypto does not expose it); the
// bundle length is bounded by MAX_CABUNDLE_ENTRIES instead.

import { createHash, X509Certificate } from 'node:crypto';

import { AttestationError } from './reason-codes.js';

/** SHA-256 of the DER of the AWS Nitro Enclaves root G1 (AWS docs, "Verifying the root of trust"; recomputed from root.pem). */
export const AWS_NITRO_ROOT_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';

/** The anchor: AWS's pinned root, or a development root given by the caller (e.g. a dev attester). */
export type TrustAnchor = { readonly kind: 'aws' } | { readonly kind: 'dev'; readonly certificate: X509Certificate };

export interface VerifiedChain {
  readonly anchor: 'aws' | 'dev';
  /** Root first, leaf last. */
  readonly certificates: readonly X509Certificate[];
  readonly leaf: X509Certificate;
}

function parseCertificate(der: Uint8Array, label: string): X509Certificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch {
    throw new AttestationError('CERTIFICATE_MALFORMED', `${label} (${der.length} bytes) is not an X.509 certificate`);
  }
  // node:crypto ignores bytes after the DER and also accepts PEM: insist on exactly one DER certificate.
  if (!certificate.raw.equals(der)) {
    throw new AttestationError('CERTIFICATE_MALFORMED', `${label} (${der.length} bytes) is not exactly one DER certificate`);
  }
  return certificate;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** OpenSSL's ASN1_TIME_print form, as node:crypto reports validFrom/validTo: "Oct 28 13:28:05 2019 GMT". */
const OPENSSL_TIME = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4}) GMT$/;

/** Parses node's validity text strictly (Date.parse accepts odd forms and misreads some). */
export function parseCertificateTime(text: string): number {
  const match = OPENSSL_TIME.exec(text);
  const month = match === null ? -1 : MONTHS.indexOf(match[1] ?? '');
  if (match === null || month < 0) throw new AttestationError('CERTIFICATE_MALFORMED', 'certificate validity time is not in the expected form');
  const [day, hour, minute, second, year] = [match[2], match[3], match[4], match[5], match[6]].map(Number) as [number, number, number, number, number];
  return Date.UTC(year, month, day, hour, minute, second);
}

function checkValidity(certificate: X509Certificate, label: string, nowMs: number, skewMs: number): void {
  const notBefore = parseCertificateTime(certificate.validFrom) - skewMs;
  const notAfter = parseCertificateTime(certificate.validTo) + skewMs;
  if (nowMs < notBefore) throw new AttestationError('CERTIFICATE_NOT_YET_VALID', `${label} is not valid before its notBefore`);
  if (nowMs > notAfter) throw new AttestationError('CERTIFICATE_EXPIRED', `${label} expired (notAfter passed)`);
}

function isIssuedBy(subject: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function fingerprintSha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * Verifies cabundle + certificate against the anchor at `now` (give or take
 * `clockSkewMs` on validity). Throws
 * AttestationError: CERTIFICATE_MALFORMED, CHAIN_UNTRUSTED_ROOT, CHAIN_BROKEN,
 * LEAF_KEY_UNSUPPORTED, CERTIFICATE_NOT_YET_VALID, CERTIFICATE_EXPIRED.
 */
export function verifyCertificateChain(cabundle: readonly Uint8Array[], leafDer: Uint8Array, anchor: TrustAnchor, now: Date, clockSkewMs = 0): VerifiedChain {
  const bundle = cabundle.map((der, index) => parseCertificate(der, `cabundle[${index}]`));
  const leaf = parseCertificate(leafDer, 'certificate');
  const root = bundle[0];
  if (root === undefined) throw new AttestationError('CHAIN_BROKEN', 'cabundle is empty');

  const pinned = anchor.kind === 'aws' ? AWS_NITRO_ROOT_SHA256 : fingerprintSha256(anchor.certificate.raw);
  if (fingerprintSha256(root.raw) !== pinned) {
    throw new AttestationError('CHAIN_UNTRUSTED_ROOT', `cabundle[0] is not the pinned ${anchor.kind === 'aws' ? 'AWS Nitro' : 'dev'} root`);
  }

  const certificates = [...bundle, leaf];
  for (let index = 1; index < certificates.length; index += 1) {
    const issuer = certificates[index - 1];
    const subject = certificates[index];
    if (issuer === undefined || subject === undefined) throw new AttestationError('CHAIN_BROKEN', 'chain index out of range');
    const label = index === certificates.length - 1 ? 'certificate' : `cabundle[${index}]`;
    if (!issuer.ca) throw new AttestationError('CHAIN_BROKEN', `the issuer of ${label} is not a CA`);
    if (!isIssuedBy(subject, issuer)) throw new AttestationError('CHAIN_BROKEN', `${label} is not issued and signed by the previous certificate`);
  }
  if (leaf.ca) throw new AttestationError('CHAIN_BROKEN', 'the leaf certificate is a CA');
  const key = leaf.publicKey;
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw new AttestationError('LEAF_KEY_UNSUPPORTED', 'the leaf certificate key is not EC P-384');
  }

  const nowMs = now.getTime();
  certificates.forEach((certificate, index) => {
    checkValidity(certificate, index === certificates.length - 1 ? 'certificate' : `cabundle[${index}]`, nowMs, clockSkewMs);
  });
  return { anchor: anchor.kind, certificates, leaf };
}
