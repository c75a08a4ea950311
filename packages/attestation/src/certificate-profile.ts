// The parts of an X.509 certificate (RFC 5280 §4.1) the chain profile
// checks, read from its DER bytes:
//
//   Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
//   TBSCertificate ::= SEQUENCE {
//     version [0] EXPLICIT INTEGER DEFAULT v1, serialNumber INTEGER,
//     signature AlgorithmIdentifier,           -- must equal signatureAlgorithm
//     issuer Name, validity, subject Name,
//     subjectPublicKeyInfo SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING },
//     issuerUniqueID [1] IMPLICIT OPTIONAL, subjectUniqueID [2] IMPLICIT OPTIONAL,
//     extensions [3] EXPLICIT SEQUENCE OF Extension OPTIONAL }   -- v3 only
//   AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }
//   Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
//   BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }  -- 2.5.29.19
//   KeyUsage ::= BIT STRING { digitalSignature (0), …, keyCertSign (5), … }                       -- 2.5.29.15
//
// An extension appearing twice is malformed (RFC 5280 §4.2). Nothing here
// judges the values: certificate-chain.ts applies the AWS profile to them.

import {
  decodeDerBoolean,
  decodeObjectIdentifier,
  decodeSmallUnsigned,
  derContent,
  DER_TAG,
  expectDerElement,
  readDerChildren,
  type DerElement,
} from './der-reader.js';
import { AttestationError } from './reason-codes.js';

export const OID = Object.freeze({
  ECDSA_WITH_SHA384: '1.2.840.10045.4.3.3',
  EC_PUBLIC_KEY: '1.2.840.10045.2.1',
  SECP384R1: '1.3.132.0.34',
  BASIC_CONSTRAINTS: '2.5.29.19',
  KEY_USAGE: '2.5.29.15',
});

export interface CertificateExtensionInfo {
  readonly oid: string;
  readonly critical: boolean;
}

export interface CertificateProfile {
  /** 1, 2 or 3 (the encoded INTEGER plus one). */
  readonly version: number;
  /** The issuer Name (SEQUENCE, tag and length included), a view of the input. */
  readonly issuerName: Uint8Array;
  /** The subject Name (SEQUENCE, tag and length included), a view of the input. */
  readonly subjectName: Uint8Array;
  /** The SubjectPublicKeyInfo (SEQUENCE, tag and length included), a view of the input. */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** Dotted OID of the outer signatureAlgorithm. */
  readonly signatureAlgorithm: string;
  /** Whether the outer signatureAlgorithm carries parameters (ECDSA ones must not, RFC 5758 §3.2). */
  readonly signatureAlgorithmHasParameters: boolean;
  /** Whether tbsCertificate.signature is byte-for-byte the outer signatureAlgorithm (RFC 5280 §4.1.1.2). */
  readonly signatureAlgorithmsMatch: boolean;
  /** Dotted OID of the subject key's algorithm. */
  readonly publicKeyAlgorithm: string;
  /** Dotted OID of the named curve when the key parameters are one, else null. */
  readonly namedCurve: string | null;
  /** The subjectPublicKey BIT STRING's content after its unused-bits byte (an EC point: 04 || x || y), or null when bits are unused. */
  readonly publicKeyBytes: Uint8Array | null;
  readonly extensions: readonly CertificateExtensionInfo[];
  /** Null when the extension is absent. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLength: number | null } | null;
  /** Null when the extension is absent. */
  readonly keyUsage: { readonly digitalSignature: boolean; readonly keyCertSign: boolean } | null;
}

function malformed(label: string, message: string): AttestationError {
  return new AttestationError('CERTIFICATE_MALFORMED', `${label}: ${message}`);
}

function readAlgorithmIdentifier(der: Uint8Array, element: DerElement, label: string): { oid: string; parameters: DerElement | null } {
  const [algorithm, parameters, extra] = readDerChildren(der, element);
  if (algorithm?.tag !== DER_TAG.OBJECT_IDENTIFIER || extra !== undefined) throw malformed(label, 'AlgorithmIdentifier is not { OID, parameters? }');
  return { oid: decodeObjectIdentifier(derContent(der, algorithm)), parameters: parameters ?? null };
}

function readBasicConstraints(value: Uint8Array, label: string): { ca: boolean; pathLength: number | null } {
  const sequence = expectDerElement(value, 0, value.length, DER_TAG.SEQUENCE, `${label} basicConstraints`);
  if (sequence.end !== value.length) throw malformed(label, 'bytes after basicConstraints');
  const children = readDerChildren(value, sequence);
  let index = 0;
  let ca = false;
  if (children[index]?.tag === DER_TAG.BOOLEAN) {
    ca = decodeDerBoolean(derContent(value, children[index] as DerElement));
    index += 1;
  }
  let pathLength: number | null = null;
  if (children[index]?.tag === DER_TAG.INTEGER) {
    pathLength = decodeSmallUnsigned(derContent(value, children[index] as DerElement));
    index += 1;
  }
  if (index !== children.length) throw malformed(label, 'basicConstraints holds unexpected elements');
  return { ca, pathLength };
}

function readKeyUsage(value: Uint8Array, label: string): { digitalSignature: boolean; keyCertSign: boolean } {
  const bits = expectDerElement(value, 0, value.length, DER_TAG.BIT_STRING, `${label} keyUsage`);
  if (bits.end !== value.length) throw malformed(label, 'bytes after keyUsage');
  const content = derContent(value, bits);
  const unused = content[0];
  if (unused === undefined || unused > 7 || (content.length === 1 && unused !== 0)) throw malformed(label, 'keyUsage BIT STRING is malformed');
  // DER (X.690 §11.2.1): the unused bits of the last byte are zero. OpenSSL masks them; reading them would see bits it does not.
  const last = content[content.length - 1] ?? 0;
  if (content.length > 1 && (last & ((1 << unused) - 1)) !== 0) throw malformed(label, 'keyUsage BIT STRING has bits set in its unused part');
  const first = content[1] ?? 0;
  return { digitalSignature: (first & 0x80) !== 0, keyCertSign: (first & 0x04) !== 0 };
}

/** Reads the profile fields of one DER certificate; throws CERTIFICATE_MALFORMED. */
export function readCertificateProfile(der: Uint8Array, label: string): CertificateProfile {
  const certificate = expectDerElement(der, 0, der.length, DER_TAG.SEQUENCE, `${label} Certificate`);
  if (certificate.end !== der.length) throw malformed(label, 'bytes after the certificate');
  const [tbs, outerAlgorithm, signatureValue, extra] = readDerChildren(der, certificate);
  if (tbs?.tag !== DER_TAG.SEQUENCE || outerAlgorithm?.tag !== DER_TAG.SEQUENCE || signatureValue?.tag !== DER_TAG.BIT_STRING || extra !== undefined) {
    throw malformed(label, 'Certificate is not { tbsCertificate, signatureAlgorithm, signatureValue }');
  }
  const fields = readDerChildren(der, tbs);
  let index = 0;
  let version = 1;
  if (fields[0]?.tag === 0xa0) {
    const versionElement = fields[0];
    const integer = expectDerElement(der, versionElement.contentStart, versionElement.end, DER_TAG.INTEGER, `${label} version`);
    if (integer.end !== versionElement.end) throw malformed(label, 'bytes after the version');
    version = decodeSmallUnsigned(derContent(der, integer)) + 1;
    if (version > 3) throw malformed(label, `unknown certificate version ${version}`);
    if (version === 1) throw malformed(label, 'version v1 encoded explicitly (DER omits the default)');
    index = 1;
  }
  const [serial, innerAlgorithm, issuer, validity, subject, spki] = fields.slice(index, index + 6);
  if (serial?.tag !== DER_TAG.INTEGER || innerAlgorithm?.tag !== DER_TAG.SEQUENCE || issuer?.tag !== DER_TAG.SEQUENCE
    || validity?.tag !== DER_TAG.SEQUENCE || subject?.tag !== DER_TAG.SEQUENCE || spki?.tag !== DER_TAG.SEQUENCE) {
    throw malformed(label, 'tbsCertificate fields are not in the RFC 5280 order');
  }
  // Then, in this order and each at most once: issuerUniqueID [1] and subjectUniqueID [2] (IMPLICIT BIT
  // STRING, so primitive 0x81 and 0x82, version 2 or 3 only), extensions [3] (0xa3).
  let extensionsElement: DerElement | null = null;
  const optionalTags = fields.slice(index + 6).map((optional) => optional.tag);
  const expectedOrder = [0x81, 0x82, 0xa3].filter((tag) => optionalTags.includes(tag));
  if (optionalTags.length !== expectedOrder.length || optionalTags.some((tag, position) => tag !== expectedOrder[position])) {
    throw malformed(label, 'tbsCertificate ends with fields other than issuerUniqueID, subjectUniqueID and extensions, in that order, once each');
  }
  if (version === 1 && optionalTags.some((tag) => tag !== 0xa3)) throw malformed(label, 'unique identifiers in a version 1 certificate');
  for (const optional of fields.slice(index + 6)) if (optional.tag === 0xa3) extensionsElement = optional;

  const outer = readAlgorithmIdentifier(der, outerAlgorithm, label);
  const signatureAlgorithmsMatch = Buffer.from(der.subarray(innerAlgorithm.start, innerAlgorithm.end)).equals(der.subarray(outerAlgorithm.start, outerAlgorithm.end));

  const [keyAlgorithmElement, keyBits, spkiExtra] = readDerChildren(der, spki);
  if (keyAlgorithmElement?.tag !== DER_TAG.SEQUENCE || keyBits?.tag !== DER_TAG.BIT_STRING || spkiExtra !== undefined) {
    throw malformed(label, 'subjectPublicKeyInfo is not { algorithm, subjectPublicKey }');
  }
  const keyAlgorithm = readAlgorithmIdentifier(der, keyAlgorithmElement, label);
  const namedCurve = keyAlgorithm.parameters?.tag === DER_TAG.OBJECT_IDENTIFIER ? decodeObjectIdentifier(derContent(der, keyAlgorithm.parameters)) : null;
  const keyContent = derContent(der, keyBits);
  const publicKeyBytes = keyContent[0] === 0 ? keyContent.subarray(1) : null;

  const extensions: CertificateExtensionInfo[] = [];
  let basicConstraints: CertificateProfile['basicConstraints'] = null;
  let keyUsage: CertificateProfile['keyUsage'] = null;
  if (extensionsElement !== null) {
    if (version !== 3) throw malformed(label, `extensions in a version ${version} certificate`);
    const list = expectDerElement(der, extensionsElement.contentStart, extensionsElement.end, DER_TAG.SEQUENCE, `${label} extensions`);
    if (list.end !== extensionsElement.end) throw malformed(label, 'bytes after the extensions');
    const extensionElements = readDerChildren(der, list);
    if (extensionElements.length === 0) throw malformed(label, 'an empty extensions list (RFC 5280: SIZE (1..MAX))');
    for (const extension of extensionElements) {
      if (extension.tag !== DER_TAG.SEQUENCE) throw malformed(label, 'an extension is not a SEQUENCE');
      const parts = readDerChildren(der, extension);
      const [oidElement] = parts;
      const criticalElement = parts.length === 3 ? parts[1] : undefined;
      const valueElement = parts[parts.length - 1];
      if (oidElement?.tag !== DER_TAG.OBJECT_IDENTIFIER || valueElement?.tag !== DER_TAG.OCTET_STRING || parts.length < 2 || parts.length > 3
        || (criticalElement !== undefined && criticalElement.tag !== DER_TAG.BOOLEAN)) {
        throw malformed(label, 'an extension is not { OID, critical?, OCTET STRING }');
      }
      const oid = decodeObjectIdentifier(derContent(der, oidElement));
      const critical = criticalElement === undefined ? false : decodeDerBoolean(derContent(der, criticalElement));
      // DER (X.690 §11.5): a value equal to the DEFAULT is omitted, so an encoded critical is TRUE.
      if (criticalElement !== undefined && !critical) throw malformed(label, 'an extension encodes critical FALSE (DER omits the default)');
      if (extensions.some((seen) => seen.oid === oid)) throw malformed(label, `extension ${oid} appears twice`);
      extensions.push({ oid, critical });
      const value = derContent(der, valueElement);
      if (oid === OID.BASIC_CONSTRAINTS) basicConstraints = readBasicConstraints(value, label);
      else if (oid === OID.KEY_USAGE) keyUsage = readKeyUsage(value, label);
    }
  }

  return {
    version,
    issuerName: der.subarray(issuer.start, issuer.end),
    subjectName: der.subarray(subject.start, subject.end),
    subjectPublicKeyInfo: der.subarray(spki.start, spki.end),
    signatureAlgorithm: outer.oid,
    signatureAlgorithmHasParameters: outer.parameters !== null,
    signatureAlgorithmsMatch,
    publicKeyAlgorithm: keyAlgorithm.oid,
    namedCurve,
    publicKeyBytes,
    extensions,
    basicConstraints,
    keyUsage,
  };
}
