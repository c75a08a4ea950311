// AWS's certificate profile (issue 10, item 3): dev-anchored chains issued by
// OpenSSL at test time, each with one defect, each signing a document with
// its own leaf key, so the profile check is what must refuse it (not a
// signature or a link). Before the profile check, every one of these verified.

import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { test } from 'node:test';

import { expectedPcr4ForModuleId } from './attestation-policy.js';
import type { ReasonCode } from './reason-codes.js';
import { readCertificateProfile } from './certificate-profile.js';
import {
  BASIC_CONSTRAINTS,
  buildCertificate,
  derBitString,
  derExtension,
  derExtensions,
  derSequence,
  KEY_USAGE,
  p384SubjectPublicKeyInfo,
  V3,
} from './test-der-builder.js';
import { encodeTestCbor, ES384_PROTECTED, pemToDer, signTestDocument, TEST_MODULE_ID, testPayloadFields } from './test-support.js';
import {
  DEV_INTERMEDIATE_KEY_PEM,
  DEV_INTERMEDIATE_PEM,
  DEV_PKI_TIME,
  DEV_ROOT_PEM,
  issueTestCertificate,
  TEST_CA_EXTENSIONS,
  TEST_LEAF_EXTENSIONS,
  type IssuedTestCertificate,
} from './test-pki.js';
import { verifyAttestationDocument, type VerifyAttestationOptions } from './verify-attestation.js';

const PCR4 = expectedPcr4ForModuleId(TEST_MODULE_ID) ?? new Uint8Array(48);
const DEV: VerifyAttestationOptions = { now: DEV_PKI_TIME, root: { certificatePem: DEV_ROOT_PEM } };

/** A document whose cabundle is the dev root then `intermediates`, signed by `leaf`. */
function documentWith(intermediates: readonly IssuedTestCertificate[], leaf: IssuedTestCertificate): Uint8Array {
  const fields = testPayloadFields(PCR4, DEV_PKI_TIME.getTime() - 1000);
  fields.set('certificate', pemToDer(leaf.certificatePem));
  fields.set('cabundle', [pemToDer(DEV_ROOT_PEM), ...intermediates.map((certificate) => pemToDer(certificate.certificatePem))]);
  return signTestDocument(encodeTestCbor(fields), { keyPem: leaf.keyPem });
}

function verdict(intermediates: readonly IssuedTestCertificate[], leaf: IssuedTestCertificate): string {
  const result = verifyAttestationDocument(documentWith(intermediates, leaf), DEV);
  return result.ok ? 'ok' : `${result.reason}: ${result.message}`;
}

let counter = 0;
function ca(issuer: string, extensions = TEST_CA_EXTENSIONS, more: Partial<Parameters<typeof issueTestCertificate>[0]> = {}): IssuedTestCertificate {
  counter += 1;
  return issueTestCertificate({ name: `profile-ca-${counter}`, issuer, extensions, ...more });
}
function leafUnder(issuer: string, extensions = TEST_LEAF_EXTENSIONS, more: Partial<Parameters<typeof issueTestCertificate>[0]> = {}): IssuedTestCertificate {
  counter += 1;
  return issueTestCertificate({ name: `profile-leaf-${counter}`, issuer, extensions, ...more });
}

test('well-formed chains verify: one or two intermediates within pathLen, a non-critical unknown extension', () => {
  const intermediate = ca('root', 'basicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign\n');
  const second = ca(intermediate.name, 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n');
  assert.equal(verdict([intermediate], leafUnder(intermediate.name)), 'ok');
  assert.equal(verdict([intermediate, second], leafUnder(second.name)), 'ok');
  const noted = leafUnder(second.name, `${TEST_LEAF_EXTENSIONS}1.2.3.4=ASN1:UTF8String:not critical\n`);
  assert.equal(verdict([intermediate, second], noted), 'ok');
  // AWS's leaves: keyUsage digitalSignature + nonRepudiation, not critical.
  assert.equal(verdict([intermediate], leafUnder(intermediate.name, 'basicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature,nonRepudiation\n')), 'ok');
});

test('each defect of the chain profile is refused with its own code', () => {
  const good = ca('root');
  const pathZero = ca('root', 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n');
  const belowPathZero = ca(pathZero.name);
  const noBasicConstraints = ca('root', 'keyUsage=critical,keyCertSign,cRLSign\n');
  const nonCriticalBasicConstraints = ca('root', 'basicConstraints=CA:TRUE\nkeyUsage=critical,keyCertSign\n');
  const notCa = ca('root', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyCertSign\n');
  const noKeyCertSign = ca('root', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,cRLSign\n');
  const noKeyUsageCa = ca('root', 'basicConstraints=critical,CA:TRUE\n');
  const p256Ca = ca('root', TEST_CA_EXTENSIONS, { curve: 'prime256v1' });
  const sha256Ca = ca('root', TEST_CA_EXTENSIONS, { digest: 'sha256' });
  const criticalUnknownCa = ca('root', `${TEST_CA_EXTENSIONS}1.2.3.4=critical,ASN1:UTF8String:must understand\n`);
  const nonCriticalKeyUsageCa = ca('root', 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n');

  const cases: [string, IssuedTestCertificate[], IssuedTestCertificate, ReasonCode][] = [
    ['pathLen 0 with a CA below it', [pathZero, belowPathZero], leafUnder(belowPathZero.name), 'PATH_LENGTH_EXCEEDED'],
    ['leaf without digitalSignature', [good], leafUnder(good.name, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,nonRepudiation,keyAgreement\n'), 'KEY_USAGE_INVALID'],
    ['leaf without keyUsage', [good], leafUnder(good.name, 'basicConstraints=critical,CA:FALSE\n'), 'KEY_USAGE_INVALID'],
    ['CA without keyCertSign', [noKeyCertSign], leafUnder(noKeyCertSign.name), 'KEY_USAGE_INVALID'],
    ['CA without keyUsage', [noKeyUsageCa], leafUnder(noKeyUsageCa.name), 'KEY_USAGE_INVALID'],
    ['intermediate without basicConstraints', [noBasicConstraints], leafUnder(noBasicConstraints.name), 'BASIC_CONSTRAINTS_INVALID'],
    ['intermediate with a non-critical basicConstraints', [nonCriticalBasicConstraints], leafUnder(nonCriticalBasicConstraints.name), 'BASIC_CONSTRAINTS_INVALID'],
    ['intermediate with cA FALSE', [notCa], leafUnder(notCa.name), 'BASIC_CONSTRAINTS_INVALID'],
    ['leaf signed with ecdsa-with-SHA256', [good], leafUnder(good.name, TEST_LEAF_EXTENSIONS, { digest: 'sha256' }), 'CERTIFICATE_ALGORITHM_UNSUPPORTED'],
    ['leaf signed with ecdsa-with-SHA1', [good], leafUnder(good.name, TEST_LEAF_EXTENSIONS, { digest: 'sha1' }), 'CERTIFICATE_ALGORITHM_UNSUPPORTED'],
    ['leaf signed with ecdsa-with-SHA512', [good], leafUnder(good.name, TEST_LEAF_EXTENSIONS, { digest: 'sha512' }), 'CERTIFICATE_ALGORITHM_UNSUPPORTED'],
    ['intermediate signed with ecdsa-with-SHA256', [sha256Ca], leafUnder(sha256Ca.name), 'CERTIFICATE_ALGORITHM_UNSUPPORTED'],
    ['intermediate with a P-256 key', [p256Ca], leafUnder(p256Ca.name), 'CERTIFICATE_KEY_UNSUPPORTED'],
    ['leaf with an unknown critical extension', [good], leafUnder(good.name, `${TEST_LEAF_EXTENSIONS}1.2.3.4=critical,ASN1:UTF8String:must understand\n`), 'UNKNOWN_CRITICAL_EXTENSION'],
    ['intermediate with an unknown critical extension', [criticalUnknownCa], leafUnder(criticalUnknownCa.name), 'UNKNOWN_CRITICAL_EXTENSION'],
    ['leaf with a critical extendedKeyUsage (not processed)', [good], leafUnder(good.name, `${TEST_LEAF_EXTENSIONS}extendedKeyUsage=critical,serverAuth\n`), 'UNKNOWN_CRITICAL_EXTENSION'],
    // Found by the hostile review of this check: AWS's leaves all carry a critical basicConstraints cA FALSE, its CAs a critical keyUsage.
    ['leaf without basicConstraints', [good], leafUnder(good.name, 'keyUsage=critical,digitalSignature\n'), 'BASIC_CONSTRAINTS_INVALID'],
    ['leaf with a non-critical basicConstraints', [good], leafUnder(good.name, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n'), 'BASIC_CONSTRAINTS_INVALID'],
    ['leaf that may sign certificates', [good], leafUnder(good.name, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyCertSign\n'), 'KEY_USAGE_INVALID'],
    ['CA with a non-critical keyUsage', [nonCriticalKeyUsageCa], leafUnder(nonCriticalKeyUsageCa.name), 'KEY_USAGE_INVALID'],
  ];
  for (const [label, intermediates, leaf, reason] of cases) {
    const result = verdict(intermediates, leaf);
    assert.ok(result.startsWith(`${reason}:`), `${label}: expected ${reason}, got ${result}`);
  }
});

test('a leaf key that is not an uncompressed P-384 point is LEAF_KEY_UNSUPPORTED, never an exception or a crash (node:crypto aborted on the point at infinity)', () => {
  const intermediateDer = pemToDer(DEV_INTERMEDIATE_PEM);
  const issuerName = readCertificateProfile(intermediateDer, 'intermediate').subjectName;
  const leafExtensions = derExtensions(
    derExtension(BASIC_CONSTRAINTS, true, derSequence()),
    derExtension(KEY_USAGE, true, derBitString(7, Buffer.of(0x80))),
  );
  const points: [string, Buffer][] = [
    ['not on the curve', Buffer.concat([Buffer.of(0x04), Buffer.alloc(96, 1)])],
    ['the point at infinity', Buffer.of(0x00)],
    ['a compressed point', Buffer.concat([Buffer.of(0x03), Buffer.alloc(48, 7)])],
    ['a point one byte short', Buffer.concat([Buffer.of(0x04), Buffer.alloc(95, 1)])],
  ];
  for (const [label, point] of points) {
    const leaf = buildCertificate({
      issuerName,
      subjectCommonName: `bad-point-${label}`,
      subjectPublicKeyInfo: p384SubjectPublicKeyInfo(point),
      issuerKey: createPrivateKey(DEV_INTERMEDIATE_KEY_PEM),
      notBefore: new Date(DEV_PKI_TIME.getTime() - 86_400_000),
      notAfter: new Date(DEV_PKI_TIME.getTime() + 86_400_000),
      versionField: V3,
      trailingFields: [leafExtensions],
    });
    const fields = testPayloadFields(PCR4, DEV_PKI_TIME.getTime() - 1000);
    fields.set('certificate', leaf);
    fields.set('cabundle', [pemToDer(DEV_ROOT_PEM), intermediateDer]);
    // Nobody holds a key for this leaf: the signature is any 96 bytes (the crash came from verifying it).
    const document = encodeTestCbor([ES384_PROTECTED, new Map(), encodeTestCbor(fields), new Uint8Array(96).fill(1)]);
    const result = verifyAttestationDocument(document, DEV);
    assert.equal(result.ok ? 'ok' : result.reason, 'LEAF_KEY_UNSUPPORTED', label);
  }
});
