// X.509 v3 certificate builder (RFC 5280) on top of der-writer.ts, for ECDSA
// keys: the enclave's ephemeral P-256 TLS certificate today, and later a
// P-384 attestation chain (pass `issuer` to sign with a parent key).
//
// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
// TBSCertificate ::= SEQUENCE {
//   [0] EXPLICIT version v3(2), serialNumber INTEGER, signature AlgorithmIdentifier,
//   issuer Name, validity SEQUENCE { notBefore, notAfter }, subject Name,
//   subjectPublicKeyInfo, [3] EXPLICIT extensions }                          (RFC 5280 4.1)
// Signature: ecdsa-with-SHA256 / -SHA384 (RFC 5758 3.2, parameters absent),
// value = DER Ecdsa-Sig-Value, which is what crypto.sign returns for EC keys.

import { createHash, createPublicKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

import { derBitString, derBoolean, derCertificateTime, derContextExplicit, derContextImplicitPrimitive, derInteger, derOctetString, derOid, derSequence, derSet, derUtf8String } from './der-writer.js';
import { CertificateBuildError } from '../enclave-errors.js';

export type CertificateSignatureHash = 'sha256' | 'sha384';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extendedKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** KeyUsage bit numbers (RFC 5280 4.2.1.3). */
const KEY_USAGE_BITS = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;
export type KeyUsage = keyof typeof KEY_USAGE_BITS;
export type ExtendedKeyUsage = 'serverAuth' | 'clientAuth';

/** RFC 5280 4.1.2.2: serial numbers are positive and at most 20 octets. */
export const MAX_SERIAL_NUMBER_BYTES = 20;

export interface CertificateIssuer {
  readonly commonName: string;
  readonly privateKey: KeyObject;
}

export interface CertificateSpec {
  readonly subjectCommonName: string;
  /** The subject's public key (EC). */
  readonly publicKey: KeyObject;
  /** Signing party. Omitted in createSelfSignedCertificate, where the subject signs. */
  readonly issuer: CertificateIssuer;
  /** Unsigned big-endian serial, 1..20 bytes, non-zero. */
  readonly serialNumber: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly signatureHash: CertificateSignatureHash;
  readonly isCertificateAuthority: boolean;
  /** pathLenConstraint; only for CA certificates. */
  readonly pathLength?: number;
  readonly keyUsage: readonly KeyUsage[];
  readonly extendedKeyUsage?: readonly ExtendedKeyUsage[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

export interface SelfSignedCertificateSpec extends Omit<CertificateSpec, 'issuer' | 'publicKey'> {
  readonly privateKey: KeyObject;
}

function name(commonName: string): Buffer {
  // Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue);
  // UTF8String as RFC 5280 4.1.2.4 requires for new certificates.
  if (commonName.length === 0 || commonName.length > 64) {
    throw new CertificateBuildError(`common name must be 1..64 characters (ub-common-name), got ${commonName.length}`);
  }
  return derSequence(derSet(derSequence(derOid(OID.commonName), derUtf8String(commonName))));
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
  // DER omits a BOOLEAN equal to its DEFAULT (X.690 11.5).
  return critical
    ? derSequence(derOid(oid), derBoolean(true), derOctetString(value))
    : derSequence(derOid(oid), derOctetString(value));
}

function keyUsageBits(usages: readonly KeyUsage[]): Buffer {
  if (usages.length === 0) throw new CertificateBuildError('keyUsage needs at least one usage');
  const bytes = Buffer.alloc(2);
  for (const usage of usages) {
    const bit = KEY_USAGE_BITS[usage];
    bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  }
  // DER named bit list (X.690 11.2.2): drop trailing zero bits.
  const used = (bytes[1] ?? 0) !== 0 ? bytes : bytes.subarray(0, 1);
  const last = used[used.length - 1] ?? 0;
  let unused = 0;
  while (unused < 7 && (last & (1 << unused)) === 0) unused += 1;
  return derBitString(used, unused);
}

/** Textual IPv4/IPv6 address to its 4 or 16 network-order bytes (RFC 5280 4.2.1.6 iPAddress). */
export function ipAddressBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address) || address.includes('%')) throw new CertificateBuildError(`not an IP address literal (length ${address.length})`);
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two hex groups first.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_match, a: string, b: string, c: string, d: string) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`);
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const [head = '', tail] = text.split('::');
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  if (groups.length !== 8) throw new CertificateBuildError('IPv6 address did not expand to 8 groups');
  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(group, index * 2));
  return bytes;
}

function subjectAltName(dnsNames: readonly string[], ipAddresses: readonly string[]): Buffer {
  // GeneralName: dNSName [2] IA5String, iPAddress [7] OCTET STRING (both IMPLICIT).
  const names: Buffer[] = [];
  for (const dns of dnsNames) {
    if (!/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(dns) || dns.length > 253) {
      throw new CertificateBuildError(`DNS name is not a valid host name (length ${dns.length})`);
    }
    names.push(derContextImplicitPrimitive(2, Buffer.from(dns, 'ascii')));
  }
  for (const ip of ipAddresses) names.push(derContextImplicitPrimitive(7, ipAddressBytes(ip)));
  return derSequence(...names);
}

/** Bytes of one coordinate of a point on the curves we issue for. */
const COORDINATE_BYTES: Readonly<Record<string, number>> = { prime256v1: 32, secp384r1: 48 };

/**
 * RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value
 * (the uncompressed EC point 04||X||Y, which ends the SPKI DER encoding).
 *
 * The point is taken from the SPKI DER export, never from a JWK export: in
 * Node 20, a JWK export of an EC KeyObject holds the key's
 * mutex while it allocates JS objects; a garbage collection then may run the
 * destructor of the key-generation job, which takes the same mutex, and the
 * process deadlocks (measured here: 20 000 generate+export rounds with a small
 * young generation hang with JWK and finish with DER).
 */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const curve = publicKey.asymmetricKeyDetails?.namedCurve ?? '';
  const coordinateBytes = COORDINATE_BYTES[curve];
  if (coordinateBytes === undefined) throw new CertificateBuildError('public key is not a P-256 or P-384 EC key');
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const point = spki.subarray(spki.length - (1 + 2 * coordinateBytes));
  if (point[0] !== 0x04) throw new CertificateBuildError('public key point is not in uncompressed form');
  return createHash('sha1').update(point).digest();
}

function checkEcKey(key: KeyObject, kind: 'public' | 'private', role: string): void {
  if (key.type !== kind || key.asymmetricKeyType !== 'ec') {
    throw new CertificateBuildError(`${role} must be an EC ${kind} KeyObject, got ${key.type} ${key.asymmetricKeyType ?? ''}`.trim());
  }
}

/** Builds and signs a certificate; returns its DER encoding. */
export function createCertificate(spec: CertificateSpec): Buffer {
  checkEcKey(spec.publicKey, 'public', 'subject public key');
  checkEcKey(spec.issuer.privateKey, 'private', 'issuer private key');
  const serial = spec.serialNumber;
  if (serial.length === 0 || serial.length > MAX_SERIAL_NUMBER_BYTES || serial.every((byte) => byte === 0)) {
    throw new CertificateBuildError(`serial number must be 1..${MAX_SERIAL_NUMBER_BYTES} bytes and non-zero, got ${serial.length} bytes`);
  }
  if (!(spec.notBefore.getTime() < spec.notAfter.getTime())) throw new CertificateBuildError('notBefore must be before notAfter');
  if (spec.pathLength !== undefined && (!spec.isCertificateAuthority || !Number.isSafeInteger(spec.pathLength) || spec.pathLength < 0)) {
    throw new CertificateBuildError('pathLength needs a CA certificate and a non-negative integer');
  }
  const signatureAlgorithm = derSequence(derOid(spec.signatureHash === 'sha256' ? OID.ecdsaWithSha256 : OID.ecdsaWithSha384));
  const issuerPublicKey = createPublicKey(spec.issuer.privateKey);
  const selfSigned = issuerPublicKey.equals(spec.publicKey);

  const basicConstraintsValue = derSequence(
    ...(spec.isCertificateAuthority ? [derBoolean(true)] : []),
    ...(spec.pathLength !== undefined ? [derInteger(spec.pathLength)] : []),
  );
  const extensions: Buffer[] = [
    extension(OID.basicConstraints, true, basicConstraintsValue), // RFC 5280 4.2.1.9: critical in CA certificates
    extension(OID.keyUsage, true, keyUsageBits(spec.keyUsage)), // 4.2.1.3: SHOULD be critical
  ];
  if (spec.extendedKeyUsage !== undefined && spec.extendedKeyUsage.length > 0) {
    extensions.push(extension(OID.extendedKeyUsage, false, derSequence(...spec.extendedKeyUsage.map((usage) => derOid(OID[usage])))));
  }
  const dnsNames = spec.dnsNames ?? [];
  const ipAddresses = spec.ipAddresses ?? [];
  if (dnsNames.length + ipAddresses.length > 0) {
    extensions.push(extension(OID.subjectAltName, false, subjectAltName(dnsNames, ipAddresses)));
  }
  extensions.push(extension(OID.subjectKeyIdentifier, false, derOctetString(keyIdentifier(spec.publicKey)))); // 4.2.1.2
  if (!selfSigned) {
    // 4.2.1.1: AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING, … }
    extensions.push(extension(OID.authorityKeyIdentifier, false, derSequence(derContextImplicitPrimitive(0, keyIdentifier(issuerPublicKey)))));
  }

  const tbsCertificate = derSequence(
    derContextExplicit(0, derInteger(2)), // version v3
    derInteger(serial),
    signatureAlgorithm,
    name(spec.issuer.commonName),
    derSequence(derCertificateTime(spec.notBefore), derCertificateTime(spec.notAfter)),
    name(spec.subjectCommonName),
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    derContextExplicit(3, derSequence(...extensions)),
  );
  const signature = sign(spec.signatureHash, tbsCertificate, { key: spec.issuer.privateKey, dsaEncoding: 'der' });
  return derSequence(tbsCertificate, signatureAlgorithm, derBitString(signature));
}

/** Self-signed certificate: the subject's own key signs, issuer name = subject name. */
export function createSelfSignedCertificate(spec: SelfSignedCertificateSpec): Buffer {
  const { privateKey, ...rest } = spec;
  checkEcKey(privateKey, 'private', 'private key');
  return createCertificate({
    ...rest,
    publicKey: createPublicKey(privateKey),
    issuer: { commonName: spec.subjectCommonName, privateKey },
  });
}

/** PEM armour (RFC 7468): base64 in 64-character lines. */
export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
