// TEST ONLY: a minimal DER writer and certificate builder, for certificates
// OpenSSL will not make (a key that is not a curve point, keyUsage with bits
// in its padding, explicit DEFAULT values, unique identifiers in the wrong
// place). The TBS bytes are exactly what the caller builds; the issuer's key
// signs them with ECDSA-SHA384 through node:crypto.

import { sign, type KeyObject } from 'node:crypto';

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.of(0x80 | bytes.length, ...bytes);
}

export function derTlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.of(tag), derLength(body.length), body]);
}

export const derSequence = (...content: Uint8Array[]): Buffer => derTlv(0x30, ...content);

export function derOid(dotted: string): Buffer {
  const [first = 0n, second = 0n, ...rest] = dotted.split('.').map(BigInt);
  const bytes: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const groups = [Number(arc & 0x7fn)];
    for (let value = arc >> 7n; value > 0n; value >>= 7n) groups.unshift(Number(value & 0x7fn) | 0x80);
    bytes.push(...groups);
  }
  return derTlv(0x06, Buffer.from(bytes));
}

export function derInteger(value: number): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return derTlv(0x02, (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.of(0), bytes]) : bytes);
}

export const derBoolean = (value: boolean): Buffer => derTlv(0x01, Buffer.of(value ? 0xff : 0x00));
export const derBitString = (unusedBits: number, ...content: Uint8Array[]): Buffer => derTlv(0x03, Buffer.of(unusedBits), ...content);
export const derOctetString = (...content: Uint8Array[]): Buffer => derTlv(0x04, ...content);
export const derCommonName = (commonName: string): Buffer => derSequence(derTlv(0x31, derSequence(derOid('2.5.4.3'), derTlv(0x0c, Buffer.from(commonName)))));

/** An Extension; `critical` undefined omits the BOOLEAN (DER for FALSE). */
export const derExtension = (oid: string, critical: boolean | undefined, value: Uint8Array): Buffer =>
  derSequence(derOid(oid), ...(critical === undefined ? [] : [derBoolean(critical)]), derOctetString(value));

export const ECDSA_WITH_SHA384 = derSequence(derOid('1.2.840.10045.4.3.3'));

/** A P-384 SubjectPublicKeyInfo around `point` (any bytes: that is the point of it). */
export const p384SubjectPublicKeyInfo = (point: Uint8Array): Buffer =>
  derSequence(derSequence(derOid('1.2.840.10045.2.1'), derOid('1.3.132.0.34')), derBitString(0, point));

function generalizedTime(date: Date): Buffer {
  return derTlv(0x18, Buffer.from(`${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`));
}

let serial = 5000;

export interface BuiltCertificate {
  /** The issuer Name's DER, byte for byte the issuing certificate's subject (readCertificateProfile(...).subjectName). */
  readonly issuerName: Uint8Array;
  readonly subjectCommonName: string;
  readonly subjectPublicKeyInfo: Uint8Array;
  readonly issuerKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Raw fields placed after subjectPublicKeyInfo (unique identifiers, the [3] extensions wrapper), as given. */
  readonly trailingFields: readonly Uint8Array[];
  /** The version field as given (e.g. derTlv(0xa0, derInteger(2)) for v3); omitted when null. */
  readonly versionField: Uint8Array | null;
}

/** Certificate ::= SEQUENCE { tbs, ecdsa-with-SHA384, BIT STRING signature }, the tbs exactly as described. */
export function buildCertificate(options: BuiltCertificate): Buffer {
  serial += 1;
  const tbs = derSequence(
    ...(options.versionField === null ? [] : [options.versionField]),
    derInteger(serial),
    ECDSA_WITH_SHA384,
    options.issuerName,
    derSequence(generalizedTime(options.notBefore), generalizedTime(options.notAfter)),
    derCommonName(options.subjectCommonName),
    options.subjectPublicKeyInfo,
    ...options.trailingFields,
  );
  return derSequence(tbs, ECDSA_WITH_SHA384, derBitString(0, sign('sha384', tbs, options.issuerKey)));
}

export const V3 = derTlv(0xa0, derInteger(2));
export const BASIC_CONSTRAINTS = '2.5.29.19';
export const KEY_USAGE = '2.5.29.15';
/** The [3] EXPLICIT extensions wrapper. */
export const derExtensions = (...extensions: Uint8Array[]): Buffer => derTlv(0xa3, derSequence(...extensions));
