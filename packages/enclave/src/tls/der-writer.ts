import { CertificateBuildError } from '../enclave-errors.js';
// A minimal DER (ITU-T X.690) encoder: just the universal types an X.509
// certificate needs, plus context-specific tags.
//
// Why hand-written: Node has X509Certificate for *reading* certificates but no
// builder. The npm options would put a dependency tree inside the measured
// enclave image (PCR0): node-forge signs certificates with RSA only, and
// @peculiar/x509 pulls in asn1 schema, reflect-metadata, tsyringe, pvtsutils
// and more. This encoder is about 150 lines with no parsing (so no hostile
// input reaches it), and the tests check its output with OpenSSL and with
// crypto.X509Certificate.
//
// Every function returns a complete TLV (tag, definite length, value) as a
// Buffer; constructed types take already-encoded children.


/** DER tag bytes used here (X.690 section 8; class and constructed bits included). */
export const DerTag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OBJECT_IDENTIFIER: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** X.690 8.1.3: definite form; short form below 128, long form otherwise (10.1: minimal octets). */
function encodeLength(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw new CertificateBuildError(`DER length must be a non-negative integer, got ${String(length)}`);
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV with a single-byte tag (tag numbers 0..30 only). */
export function derTlv(tag: number, content: Buffer): Buffer {
  if ((tag & 0x1f) === 0x1f) throw new CertificateBuildError('multi-byte DER tags are not supported');
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function derSequence(...children: Buffer[]): Buffer {
  return derTlv(DerTag.SEQUENCE, Buffer.concat(children));
}

/** SET OF: X.690 11.6 requires the encodings sorted as octet strings. */
export function derSet(...children: Buffer[]): Buffer {
  return derTlv(DerTag.SET, Buffer.concat([...children].sort(Buffer.compare)));
}

/**
 * INTEGER from an unsigned big-endian magnitude (X.690 8.3): leading zero
 * bytes are removed, and one 0x00 is prepended when the high bit is set so
 * the value stays positive.
 */
export function derInteger(value: Buffer | number): Buffer {
  let magnitude: Buffer;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new CertificateBuildError('DER INTEGER from number must be a non-negative safe integer');
    const hex = value.toString(16);
    magnitude = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
  } else {
    magnitude = value;
  }
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start += 1;
  let body = magnitude.subarray(start);
  if (body.length === 0) body = Buffer.from([0]);
  if (((body[0] ?? 0) & 0x80) !== 0) body = Buffer.concat([Buffer.from([0]), body]);
  return derTlv(DerTag.INTEGER, body);
}

/** OBJECT IDENTIFIER from dotted form (X.690 8.19): first two arcs as 40·a+b, then base-128 arcs. */
export function derOid(dotted: string): Buffer {
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) throw new CertificateBuildError('OID must be dotted decimal with at least two arcs');
  const arcs = dotted.split('.').map((arc) => BigInt(arc));
  const [first = 0n, second = 0n, ...rest] = arcs;
  if (first < 2n && second > 39n) throw new CertificateBuildError('OID second arc must be below 40 when the first arc is 0 or 1');
  const bytes: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const group = [Number(arc & 0x7fn)];
    for (let rest7 = arc >> 7n; rest7 > 0n; rest7 >>= 7n) group.unshift(Number(rest7 & 0x7fn) | 0x80);
    bytes.push(...group);
  }
  return derTlv(DerTag.OBJECT_IDENTIFIER, Buffer.from(bytes));
}

export function derUtf8String(value: string): Buffer {
  return derTlv(DerTag.UTF8_STRING, Buffer.from(value, 'utf8'));
}

/** PrintableString (X.680 41.4): A-Z a-z 0-9 space ' ( ) + , - . / : = ? */
export function derPrintableString(value: string): Buffer {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value)) throw new CertificateBuildError('value has characters outside PrintableString');
  return derTlv(DerTag.PRINTABLE_STRING, Buffer.from(value, 'ascii'));
}

export function derIa5String(value: string): Buffer {
  if (!/^[\x00-\x7f]*$/.test(value)) throw new CertificateBuildError('value has characters outside IA5String');
  return derTlv(DerTag.IA5_STRING, Buffer.from(value, 'ascii'));
}

function wholeSecondsUtc(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new CertificateBuildError('time must be a valid Date');
  // "YYYY-MM-DDTHH:MM:SS.sssZ" -> "YYYYMMDDHHMMSSZ" (DER: seconds present, no fraction, Z)
  return `${date.toISOString().slice(0, 19).replace(/[-:T]/g, '')}Z`;
}

/** UTCTime YYMMDDHHMMSSZ, years 1950..2049 (X.690 11.8, RFC 5280 4.1.2.5.1). */
export function derUtcTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 2049) throw new CertificateBuildError(`UTCTime covers 1950..2049, got year ${year}`);
  return derTlv(DerTag.UTC_TIME, Buffer.from(wholeSecondsUtc(date).slice(2), 'ascii'));
}

/** GeneralizedTime YYYYMMDDHHMMSSZ (X.690 11.7, RFC 5280 4.1.2.5.2). */
export function derGeneralizedTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new CertificateBuildError(`GeneralizedTime covers 0000..9999, got year ${year}`);
  return derTlv(DerTag.GENERALIZED_TIME, Buffer.from(wholeSecondsUtc(date), 'ascii'));
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export function derCertificateTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049 ? derUtcTime(date) : derGeneralizedTime(date);
}

/** BIT STRING (X.690 8.6): first content octet = number of unused bits in the last octet. */
export function derBitString(bytes: Buffer, unusedBits = 0): Buffer {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) {
    throw new CertificateBuildError(`BIT STRING unused bits must be 0..7 (0 when empty), got ${unusedBits}`);
  }
  return derTlv(DerTag.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

export function derOctetString(bytes: Buffer): Buffer {
  return derTlv(DerTag.OCTET_STRING, bytes);
}

export function derNull(): Buffer {
  return derTlv(DerTag.NULL, Buffer.alloc(0));
}

/** BOOLEAN (X.690 11.1: TRUE is 0xFF in DER). */
export function derBoolean(value: boolean): Buffer {
  return derTlv(DerTag.BOOLEAN, Buffer.from([value ? 0xff : 0x00]));
}

/** [n] EXPLICIT: constructed context-specific tag wrapping one complete TLV. */
export function derContextExplicit(tagNumber: number, inner: Buffer): Buffer {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) throw new CertificateBuildError('context tag number must be 0..30');
  return derTlv(0xa0 | tagNumber, inner);
}

/** [n] IMPLICIT over a primitive type: context-specific primitive tag with the raw content octets. */
export function derContextImplicitPrimitive(tagNumber: number, content: Buffer): Buffer {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) throw new CertificateBuildError('context tag number must be 0..30');
  return derTlv(0x80 | tagNumber, content);
}
