// Slices fields out of an X.509 certificate's DER bytes, as they are on the
// wire (never re-encoded by OpenSSL), so byte-for-byte comparisons hold:
//
//   Certificate    ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
//   TBSCertificate ::= SEQUENCE { [0] EXPLICIT version OPTIONAL, serialNumber,
//                                 signature, issuer, validity, subject,
//                                 subjectPublicKeyInfo, … }          (RFC 5280 §4.1)
//
// The reading is the attestation package's strict DER reader (the one the
// client's chain check uses: definite, shortest lengths, every length checked
// against its parent); this file only gives the enclave its own error class.

import { AttestationError, readCertificateProfile } from '@http-enclave/attestation';
import { CertificateDerError } from '../enclave-errors.js';

export interface CertificateDerFields {
  /** Issuer Name (SEQUENCE) including tag and length. */
  readonly issuerName: Buffer;
  /** Subject Name (SEQUENCE) including tag and length. */
  readonly subjectName: Buffer;
  /** SubjectPublicKeyInfo (SEQUENCE) including tag and length. */
  readonly subjectPublicKeyInfo: Buffer;
}

export function readCertificateDerFields(der: Buffer): CertificateDerFields {
  try {
    const profile = readCertificateProfile(der, 'certificate');
    return {
      issuerName: Buffer.from(profile.issuerName),
      subjectName: Buffer.from(profile.subjectName),
      subjectPublicKeyInfo: Buffer.from(profile.subjectPublicKeyInfo),
    };
  } catch (error) {
    if (error instanceof AttestationError) throw new CertificateDerError(error.message);
    throw error;
  }
}
