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
// Checks run in three steps, so that each defect has its own code and a
// reordered or foreign chain is CHAIN_BROKEN rather than a profile defect:
//
// 1. Each certificate alone (read from the DER by certificate-profile.ts):
//    signed with ecdsa-with-SHA384 (no parameters, the same in
//    tbsCertificate) (CERTIFICATE_ALGORITHM_UNSUPPORTED); an EC P-384 key
//    given as an uncompressed point, 97 bytes from 0x04, checked before
//    OpenSSL sees it (node:crypto crashes on the point at infinity)
//    (CERTIFICATE_KEY_UNSUPPORTED, the leaf's LEAF_KEY_UNSUPPORTED); no
//    critical extension but basicConstraints and keyUsage
//    (UNKNOWN_CRITICAL_EXTENSION).
// 2. Links (CHAIN_BROKEN): each certificate's issuer Name is byte for byte
//    the previous certificate's subject Name (as Go's crypto/x509 compares
//    them; every real chain does), and its signature verifies with the
//    previous certificate's key. Old documents (2021) lack SKI/AKI in the
//    lower certificates, so key identifiers are not compared.
// 3. Positions (AWS's profile, reference §2; every real chain has it):
//    root and cabundle[1..] have a critical basicConstraints with cA TRUE
//    (BASIC_CONSTRAINTS_INVALID) and a critical keyUsage with keyCertSign
//    (KEY_USAGE_INVALID); the leaf is not a CA (CHAIN_BROKEN), has a
//    critical basicConstraints (BASIC_CONSTRAINTS_INVALID), and keyUsage
//    with digitalSignature and without keyCertSign (KEY_USAGE_INVALID),
//    and its key decodes (LEAF_KEY_UNSUPPORTED); a CA's
//    pathLenConstraint p allows at most p CA certificates below it before
//    the leaf (PATH_LENGTH_EXCEEDED).
// Then validity, root included.

import { createHash, X509Certificate, type KeyObject } from 'node:crypto';

import { OID, readCertificateProfile, type CertificateProfile } from './certificate-profile.js';
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
  /** The leaf's public key (it signs the COSE_Sign1), decoded once here. */
  readonly leafKey: KeyObject;
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

/** An uncompressed P-384 point: 0x04, then x and y of 48 bytes each (SEC 1 §2.3.3). */
const P384_POINT_BYTES = 97;

/** Step 1: what each certificate must be wherever it sits. */
function checkCertificateAlone(profile: CertificateProfile, label: string, isLeaf: boolean): void {
  if (profile.signatureAlgorithm !== OID.ECDSA_WITH_SHA384 || profile.signatureAlgorithmHasParameters || !profile.signatureAlgorithmsMatch) {
    throw new AttestationError('CERTIFICATE_ALGORITHM_UNSUPPORTED', `${label} is not signed with ecdsa-with-SHA384 (signature algorithm ${profile.signatureAlgorithm})`);
  }
  // An uncompressed P-384 point, 04 || x || y (every AWS key): the point at infinity and other encodings never reach OpenSSL.
  const point = profile.publicKeyBytes;
  if (profile.publicKeyAlgorithm !== OID.EC_PUBLIC_KEY || profile.namedCurve !== OID.SECP384R1 || point === null || point.length !== P384_POINT_BYTES || point[0] !== 0x04) {
    throw new AttestationError(isLeaf ? 'LEAF_KEY_UNSUPPORTED' : 'CERTIFICATE_KEY_UNSUPPORTED', `${label} key is not an uncompressed EC P-384 point`);
  }
  const unknown = profile.extensions.find((extension) => extension.critical && extension.oid !== OID.BASIC_CONSTRAINTS && extension.oid !== OID.KEY_USAGE);
  if (unknown !== undefined) throw new AttestationError('UNKNOWN_CRITICAL_EXTENSION', `${label} has a critical extension the verifier does not process (${unknown.oid})`);
}

/** Step 2: `subject` names `issuer` as its issuer, byte for byte, and carries its signature. */
function isIssuedBy(subject: X509Certificate, subjectProfile: CertificateProfile, issuer: X509Certificate, issuerProfile: CertificateProfile): boolean {
  if (!Buffer.from(subjectProfile.issuerName).equals(issuerProfile.subjectName)) return false;
  try {
    return subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Step 3 for a certificate in a CA position (root or cabundle entry). */
function checkCaPosition(profile: CertificateProfile, label: string, casBelow: number): void {
  const basicConstraints = profile.basicConstraints;
  const critical = profile.extensions.some((extension) => extension.oid === OID.BASIC_CONSTRAINTS && extension.critical);
  if (basicConstraints === null || !basicConstraints.ca || !critical) {
    throw new AttestationError('BASIC_CONSTRAINTS_INVALID', `${label} issues certificates but has no critical basicConstraints with cA TRUE`);
  }
  const keyUsageCritical = profile.extensions.some((extension) => extension.oid === OID.KEY_USAGE && extension.critical);
  if (profile.keyUsage?.keyCertSign !== true || !keyUsageCritical) {
    throw new AttestationError('KEY_USAGE_INVALID', `${label} issues certificates but has no critical keyUsage with keyCertSign`);
  }
  if (basicConstraints.pathLength !== null && casBelow > basicConstraints.pathLength) {
    throw new AttestationError('PATH_LENGTH_EXCEEDED', `${label} allows ${basicConstraints.pathLength} CA certificate(s) below it, the chain has ${casBelow}`);
  }
}

/** Step 3 for the leaf. */
function checkLeafPosition(profile: CertificateProfile): void {
  if (profile.basicConstraints?.ca === true) throw new AttestationError('CHAIN_BROKEN', 'the leaf certificate is a CA');
  const critical = profile.extensions.some((extension) => extension.oid === OID.BASIC_CONSTRAINTS && extension.critical);
  if (profile.basicConstraints === null || !critical) {
    throw new AttestationError('BASIC_CONSTRAINTS_INVALID', 'certificate (the leaf) has no critical basicConstraints saying cA FALSE');
  }
  if (profile.keyUsage?.digitalSignature !== true) throw new AttestationError('KEY_USAGE_INVALID', 'certificate (the leaf) has no keyUsage with digitalSignature');
  if (profile.keyUsage.keyCertSign) throw new AttestationError('KEY_USAGE_INVALID', 'certificate (the leaf) may sign certificates (keyCertSign)');
}

/** The leaf's key as node:crypto holds it; a point OpenSSL cannot decode is LEAF_KEY_UNSUPPORTED, not an exception. */
function leafPublicKey(leaf: X509Certificate): KeyObject {
  try {
    return leaf.publicKey;
  } catch {
    throw new AttestationError('LEAF_KEY_UNSUPPORTED', 'the leaf certificate key is not a valid P-384 point');
  }
}

function fingerprintSha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * Verifies cabundle + certificate against the anchor at `now` (give or take
 * `clockSkewMs` on validity). Throws
 * AttestationError: CERTIFICATE_MALFORMED, CHAIN_UNTRUSTED_ROOT,
 * CERTIFICATE_ALGORITHM_UNSUPPORTED, CERTIFICATE_KEY_UNSUPPORTED,
 * UNKNOWN_CRITICAL_EXTENSION, BASIC_CONSTRAINTS_INVALID, KEY_USAGE_INVALID,
 * PATH_LENGTH_EXCEEDED, CHAIN_BROKEN, LEAF_KEY_UNSUPPORTED, CERTIFICATE_NOT_YET_VALID, CERTIFICATE_EXPIRED.
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
  const leafIndex = certificates.length - 1;
  const labelOf = (index: number): string => (index === leafIndex ? 'certificate' : `cabundle[${index}]`);
  const profiles = [...cabundle, leafDer].map((der, index) => readCertificateProfile(der, labelOf(index)));
  profiles.forEach((profile, index) => checkCertificateAlone(profile, labelOf(index), index === leafIndex));
  // A certificate twice (a root repeated as its own intermediate) links to itself; no real chain has one.
  if (new Set(certificates.map((certificate) => certificate.fingerprint256)).size !== certificates.length) {
    throw new AttestationError('CHAIN_BROKEN', 'a certificate appears twice in the chain');
  }
  for (let index = 1; index < certificates.length; index += 1) {
    const [issuer, subject, issuerProfile, subjectProfile] = [certificates[index - 1], certificates[index], profiles[index - 1], profiles[index]];
    if (issuer === undefined || subject === undefined || issuerProfile === undefined || subjectProfile === undefined) {
      throw new AttestationError('CHAIN_BROKEN', 'chain index out of range');
    }
    if (!isIssuedBy(subject, subjectProfile, issuer, issuerProfile)) {
      throw new AttestationError('CHAIN_BROKEN', `${labelOf(index)} is not issued and signed by the previous certificate`);
    }
  }
  profiles.forEach((profile, index) => {
    if (index === leafIndex) checkLeafPosition(profile);
    else checkCaPosition(profile, labelOf(index), leafIndex - index - 1);
  });

  const leafKey = leafPublicKey(leaf);

  const nowMs = now.getTime();
  certificates.forEach((certificate, index) => {
    checkValidity(certificate, index === certificates.length - 1 ? 'certificate' : `cabundle[${index}]`, nowMs, clockSkewMs);
  });
  return { anchor: anchor.kind, certificates, leaf, leafKey };
}
