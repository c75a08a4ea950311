// Slices fields out of an X.509 certificate's DER bytes, as they are on the
// wire (never re-encoded by OpenSSL), so byte-for-byte comparisons hold:
//
//   Certificate    ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
//   TBSCertificate ::= SEQUENCE { [0] EXPLICIT version OPTIONAL, serialNumber,
//                                 signature, issuer, validity, subject,
//                                 subjectPublicKeyInfo, … }          (RFC 5280 §4.1)
//
// DER (X.690 §8.1): single-byte tags here, definite lengths, short form below
// 128, long form 0x81..0x84 otherwise. Every length is checked against its
// enclosing element before use.

export interface CertificateDerFields {
  /** Issuer Name (SEQUENCE) including tag and length. */
  readonly issuerName: Buffer;
  /** Subject Name (SEQUENCE) including tag and length. */
  readonly subjectName: Buffer;
  /** SubjectPublicKeyInfo (SEQUENCE) including tag and length. */
  readonly subjectPublicKeyInfo: Buffer;
}

export class CertificateDerError extends Error {
  readonly code = 'CERTIFICATE_DER_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'CertificateDerError';
  }
}

const TAG_SEQUENCE = 0x30;
const TAG_VERSION = 0xa0; // [0] EXPLICIT, constructed
/** Longest length form accepted: 4 bytes (a certificate is far below 4 GiB). */
const MAX_LENGTH_BYTES = 4;

interface Element {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

function readElement(der: Buffer, offset: number, limit: number): Element {
  if (offset + 2 > limit) throw new CertificateDerError(`element header at offset ${offset} runs past its parent`);
  const tag = der[offset] ?? 0;
  const first = der[offset + 1] ?? 0;
  let position = offset + 2;
  let length = first;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > MAX_LENGTH_BYTES || position + count > limit) {
      throw new CertificateDerError(`unsupported or truncated length at offset ${offset}`);
    }
    length = 0;
    for (let index = 0; index < count; index += 1) length = length * 256 + (der[position + index] ?? 0);
    position += count;
  }
  const end = position + length;
  if (end > limit) throw new CertificateDerError(`element at offset ${offset} (length ${length}) runs past its parent`);
  return { tag, start: offset, contentStart: position, end };
}

function expectSequence(element: Element, what: string): Element {
  if (element.tag !== TAG_SEQUENCE) throw new CertificateDerError(`${what} is not a SEQUENCE (tag 0x${element.tag.toString(16)})`);
  return element;
}

export function readCertificateDerFields(der: Buffer): CertificateDerFields {
  const certificate = expectSequence(readElement(der, 0, der.length), 'Certificate');
  const tbs = expectSequence(readElement(der, certificate.contentStart, certificate.end), 'tbsCertificate');
  let element = readElement(der, tbs.contentStart, tbs.end);
  if (element.tag === TAG_VERSION) element = readElement(der, element.end, tbs.end); // serialNumber
  const signature = readElement(der, element.end, tbs.end);
  const issuer = expectSequence(readElement(der, signature.end, tbs.end), 'issuer');
  const validity = expectSequence(readElement(der, issuer.end, tbs.end), 'validity');
  const subject = expectSequence(readElement(der, validity.end, tbs.end), 'subject');
  const spki = expectSequence(readElement(der, subject.end, tbs.end), 'subjectPublicKeyInfo');
  const slice = (e: Element): Buffer => Buffer.from(der.subarray(e.start, e.end));
  return { issuerName: slice(issuer), subjectName: slice(subject), subjectPublicKeyInfo: slice(spki) };
}
