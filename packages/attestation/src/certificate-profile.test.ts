// The hand-written DER reader (der-reader.ts, certificate-profile.ts) against
// @peculiar/asn1-x509 + asn1js as an oracle (dev dependencies only), on every
// certificate of every real Nitro document in vectors/ and on certificates
// OpenSSL issues here with unusual extensions; then DER rules the oracle is
// lenient about, each with a crafted input.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';

import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, Certificate, KeyUsage, KeyUsageFlags } from '@peculiar/asn1-x509';
import { fromBER } from 'asn1js';

import { decodeCoseSign1 } from './cose-sign1.js';
import { parseAttestationDocument } from './attestation-document.js';
import { readCertificateProfile, type CertificateProfile } from './certificate-profile.js';
import { decodeObjectIdentifier, readDerElement } from './der-reader.js';
import { AttestationError } from './reason-codes.js';
import {
  BASIC_CONSTRAINTS,
  buildCertificate,
  derBitString,
  derCommonName,
  derExtension,
  derExtensions,
  derInteger,
  derSequence,
  derTlv,
  KEY_USAGE,
  V3,
} from './test-der-builder.js';
import { loadBase64Vector, loadVectorIndex, pemToDer } from './test-support.js';
import { DEV_INTERMEDIATE_PEM, DEV_LEAF_PEM, DEV_P256_LEAF_PEM, DEV_ROOT_PEM, issueTestCertificate, TEST_TLS_CERTIFICATE_PEM } from './test-pki.js';

/** What the oracle says of the fields readCertificateProfile reports. */
function oracleProfile(der: Uint8Array): Omit<CertificateProfile, 'issuerName' | 'subjectName' | 'subjectPublicKeyInfo' | 'signatureAlgorithmsMatch'> & { issuer: Buffer; subject: Buffer } {
  const certificate = AsnConvert.parse(Buffer.from(der), Certificate);
  const tbs = certificate.tbsCertificate;
  const keyParameters = tbs.subjectPublicKeyInfo.algorithm.parameters;
  let namedCurve: string | null = null;
  if (keyParameters) {
    const parsed = fromBER(keyParameters);
    if (parsed.result.idBlock.tagNumber === 6) namedCurve = parsed.result.valueBlock.toString();
  }
  const extensions = [...(tbs.extensions ?? [])].map((extension) => ({ oid: extension.extnID, critical: extension.critical }));
  const basic = tbs.extensions?.find((extension) => extension.extnID === '2.5.29.19');
  const usage = tbs.extensions?.find((extension) => extension.extnID === '2.5.29.15');
  const basicValue = basic ? AsnConvert.parse(basic.extnValue, BasicConstraints) : null;
  const usageBits = usage ? AsnConvert.parse(usage.extnValue, KeyUsage).toNumber() : null;
  return {
    version: tbs.version + 1,
    signatureAlgorithm: certificate.signatureAlgorithm.algorithm,
    signatureAlgorithmHasParameters: certificate.signatureAlgorithm.parameters !== undefined && certificate.signatureAlgorithm.parameters !== null,
    publicKeyAlgorithm: tbs.subjectPublicKeyInfo.algorithm.algorithm,
    namedCurve,
    publicKeyBytes: Buffer.from(tbs.subjectPublicKeyInfo.subjectPublicKey),
    extensions,
    basicConstraints: basicValue === null ? null : { ca: basicValue.cA, pathLength: basicValue.pathLenConstraint ?? null },
    keyUsage: usageBits === null ? null : {
      digitalSignature: (usageBits & KeyUsageFlags.digitalSignature) !== 0,
      keyCertSign: (usageBits & KeyUsageFlags.keyCertSign) !== 0,
    },
    issuer: Buffer.from(AsnConvert.serialize(tbs.issuer)),
    subject: Buffer.from(AsnConvert.serialize(tbs.subject)),
  };
}

function ourProfile(der: Uint8Array): ReturnType<typeof oracleProfile> {
  const { issuerName, subjectName, subjectPublicKeyInfo: _spki, signatureAlgorithmsMatch, ...rest } = readCertificateProfile(der, 'test');
  assert.ok(signatureAlgorithmsMatch, 'every certificate here names one algorithm twice');
  return {
    ...rest,
    publicKeyBytes: rest.publicKeyBytes === null ? null : Buffer.from(rest.publicKeyBytes),
    extensions: [...rest.extensions],
    issuer: Buffer.from(issuerName),
    subject: Buffer.from(subjectName),
  };
}

function vectorCertificates(): Uint8Array[] {
  const certificates: Uint8Array[] = [];
  // Enclave documents only (a NitroTPM document is not one; its payload does not parse as one).
  for (const entry of loadVectorIndex().documents.filter((document) => document.expected_valid && !(document.module_id ?? '').includes('-tpm'))) {
    const document = parseAttestationDocument(decodeCoseSign1(loadBase64Vector(entry.file)).payload);
    certificates.push(...document.cabundle, document.certificate);
  }
  return certificates;
}

test('on every certificate of every genuine Nitro document, the reader agrees with the oracle', () => {
  const certificates = vectorCertificates();
  assert.ok(certificates.length >= 20, `only ${certificates.length} certificates`);
  for (const der of certificates) assert.deepEqual(ourProfile(der), oracleProfile(der));
  // AWS's profile, as the chain check expects it: the root and every CA critical cA TRUE with keyCertSign, leaves digitalSignature.
  const leaves = certificates.map((der) => readCertificateProfile(der, 'x')).filter((profile) => profile.basicConstraints?.ca !== true);
  assert.ok(leaves.length >= 5 && leaves.every((leaf) => leaf.keyUsage?.digitalSignature === true));
});

test('on generated certificates with unusual extensions, the reader agrees with the oracle', () => {
  const generated = [
    issueTestCertificate({ name: 'oracle-a', issuer: 'root', extensions: 'basicConstraints=critical,CA:TRUE,pathlen:300\nkeyUsage=critical,keyCertSign,digitalSignature,cRLSign,decipherOnly\n' }),
    issueTestCertificate({ name: 'oracle-b', issuer: 'root', extensions: 'basicConstraints=CA:FALSE\n1.2.3.4.5.6.7.8.9.1000000=critical,ASN1:UTF8String:x\nsubjectAltName=DNS:a.test\n' }),
    issueTestCertificate({ name: 'oracle-c', issuer: 'root', extensions: 'keyUsage=keyAgreement\nextendedKeyUsage=critical,serverAuth,clientAuth\n', curve: 'prime256v1', digest: 'sha256' }),
    issueTestCertificate({ name: 'oracle-d', issuer: 'root', extensions: 'subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n', digest: 'sha1' }),
  ].map((issued) => pemToDer(issued.certificatePem));
  const fixed = [DEV_ROOT_PEM, DEV_INTERMEDIATE_PEM, DEV_LEAF_PEM, DEV_P256_LEAF_PEM, TEST_TLS_CERTIFICATE_PEM].map(pemToDer);
  for (const der of [...generated, ...fixed]) assert.deepEqual(ourProfile(der), oracleProfile(der));
  assert.deepEqual(readCertificateProfile(generated[0] as Uint8Array, 'a').basicConstraints, { ca: true, pathLength: 300 });
});

function codeOf(action: () => unknown): string {
  try {
    action();
    return 'accepted';
  } catch (error) {
    return error instanceof AttestationError ? error.code : `threw ${String(error)}`;
  }
}

test('DER rules: definite, shortest lengths, low tag numbers, bounded by the parent', () => {
  const ok = readDerElement(Uint8Array.of(0x04, 0x81, 0x80, ...new Uint8Array(0x80)), 0, 0x83);
  assert.deepEqual([ok.contentStart, ok.end], [3, 0x83]);
  const cases: [string, number[]][] = [
    ['indefinite length', [0x30, 0x80, 0x00, 0x00]],
    ['long form for a short length', [0x04, 0x81, 0x01, 0x00]],
    ['long form with a leading zero byte', [0x04, 0x82, 0x00, 0x80, ...new Uint8Array(0x80)]],
    ['five length bytes', [0x04, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00]],
    ['high tag number', [0x1f, 0x81, 0x00, 0x00]],
    ['length past the parent', [0x04, 0x05, 0x00]],
    ['header past the parent', [0x04]],
  ];
  for (const [label, bytes] of cases) {
    assert.equal(codeOf(() => readDerElement(Uint8Array.from(bytes), 0, bytes.length)), 'CERTIFICATE_MALFORMED', label);
  }
  assert.equal(decodeObjectIdentifier(Uint8Array.of(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03)), '1.2.840.10045.4.3.3');
  assert.equal(decodeObjectIdentifier(Uint8Array.of(0x88, 0x37)), '2.999');
  assert.equal(codeOf(() => decodeObjectIdentifier(Uint8Array.of(0x2a, 0x80, 0x01))), 'CERTIFICATE_MALFORMED', 'OID arc with a leading 0x80');
  assert.equal(codeOf(() => decodeObjectIdentifier(Uint8Array.of(0x2a, 0x86))), 'CERTIFICATE_MALFORMED', 'OID ending inside an arc');
});

test('certificate structure: trailing bytes, duplicate extensions, extensions in a v1 certificate, a bad BOOLEAN are malformed', () => {
  const leaf = Buffer.from(pemToDer(DEV_LEAF_PEM));
  assert.equal(codeOf(() => readCertificateProfile(Buffer.concat([leaf, Buffer.of(0)]), 'x')), 'CERTIFICATE_MALFORMED', 'trailing byte');
  assert.equal(codeOf(() => readCertificateProfile(leaf.subarray(0, leaf.length - 1), 'x')), 'CERTIFICATE_MALFORMED', 'truncated');
  // The leaf's basicConstraints extension is 30 0c 06 03 55 1d 13 01 01 ff 04 02 30 00; turning its
  // critical BOOLEAN ff into 01 breaks DER; renaming keyUsage (55 1d 0f) to basicConstraints duplicates one.
  const basic = leaf.indexOf(Buffer.from('0603551d130101ff', 'hex'));
  assert.ok(basic > 0);
  const badBoolean = Buffer.from(leaf);
  badBoolean[basic + 7] = 0x01;
  assert.equal(codeOf(() => readCertificateProfile(badBoolean, 'x')), 'CERTIFICATE_MALFORMED', 'BOOLEAN 01');
  const usage = leaf.indexOf(Buffer.from('0603551d0f', 'hex'));
  assert.ok(usage > 0);
  const duplicated = Buffer.from(leaf);
  duplicated[usage + 4] = 0x13;
  assert.equal(codeOf(() => readCertificateProfile(duplicated, 'x')), 'CERTIFICATE_MALFORMED', 'extension twice');
  // Version v3 (a0 03 02 01 02) → v1 (02 01 00 would change lengths; set the INTEGER to 0 instead).
  const version = leaf.indexOf(Buffer.from('a003020102', 'hex'));
  assert.ok(version > 0 && version < 10);
  const v1 = Buffer.from(leaf);
  v1[version + 4] = 0x00;
  assert.equal(codeOf(() => readCertificateProfile(v1, 'x')), 'CERTIFICATE_MALFORMED', 'extensions in v1');
  assert.equal(codeOf(() => readCertificateProfile(leaf, 'x')), 'accepted');
});

test('DER the review found accepted: explicit DEFAULTs, misplaced unique identifiers, an empty extensions list, keyUsage bits in the padding are malformed', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = derCommonName('der-rules.test');
  const build = (versionField: Uint8Array | null, trailingFields: Uint8Array[]): Buffer =>
    buildCertificate({
      issuerName: name,
      subjectCommonName: 'der-rules.test',
      subjectPublicKeyInfo: spki,
      issuerKey: privateKey,
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 86_400_000),
      versionField,
      trailingFields,
    });
  const basic = derExtension(BASIC_CONSTRAINTS, true, derSequence());
  const issuerUniqueId = derTlv(0x81, Buffer.of(0x00, 0xaa));
  const subjectUniqueId = derTlv(0x82, Buffer.of(0x00, 0xbb));
  // The baseline of each case is accepted, so each refusal below is the rule named.
  assert.equal(codeOf(() => readCertificateProfile(build(V3, [derExtensions(basic)]), 'x')), 'accepted');
  assert.equal(codeOf(() => readCertificateProfile(build(V3, [issuerUniqueId, subjectUniqueId, derExtensions(basic)]), 'x')), 'accepted');
  assert.equal(codeOf(() => readCertificateProfile(build(null, []), 'x')), 'accepted', 'a v1 certificate without extensions');
  assert.equal(codeOf(() => readCertificateProfile(build(V3, [derExtensions(derExtension(KEY_USAGE, true, derBitString(7, Buffer.of(0x80))))]), 'x')), 'accepted');
  const cases: [string, Buffer][] = [
    ['critical encoded as FALSE', build(V3, [derExtensions(derExtension(BASIC_CONSTRAINTS, false, derSequence()))])],
    ['version v1 encoded explicitly', build(derTlv(0xa0, derInteger(0)), [])],
    ['unique identifiers in a v1 certificate', build(null, [issuerUniqueId])],
    ['a constructed unique identifier', build(V3, [derTlv(0xa1, derBitString(0, Buffer.of(0xaa))), derExtensions(basic)])],
    ['unique identifiers out of order', build(V3, [subjectUniqueId, issuerUniqueId, derExtensions(basic)])],
    ['a unique identifier after the extensions', build(V3, [derExtensions(basic), issuerUniqueId])],
    ['an empty extensions list', build(V3, [derTlv(0xa3, derSequence())])],
    ['keyUsage with a bit set in its unused part', build(V3, [derExtensions(derExtension(KEY_USAGE, true, derBitString(3, Buffer.of(0x84))))])],
  ];
  for (const [label, der] of cases) assert.equal(codeOf(() => readCertificateProfile(der, 'x')), 'CERTIFICATE_MALFORMED', label);
});
