// CMS EnvelopedData opener for KMS CiphertextForRecipient: the two real KMS
// blobs (parse only, no private key exists), an OpenSSL oracle round trip
// (DER and -stream BER), negative vectors asserting the exact reason, split
// content segments, and a bounded fast-check fuzz.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

import { MAX_CONTENT_CHUNKS, MAX_INPUT_BYTES, openCmsEnvelopedData, parseCmsEnvelopedData } from './cms-enveloped-data.js';
import { aesCbcAlgorithm, buildEnvelope, chunkedContent, contentInfo, encryptedContentInfo, indefinite, integer, keyTransRecipient, NULL, oaepAlgorithm, oid, OIDS, sealForRecipient, tlv, type EnvelopeMaterial } from './cms-test-builder.js';
import { CMS_ENVELOPE_REASONS, CmsEnvelopeError, type CmsEnvelopeReason } from '../../enclave-errors.js';

// This file runs from <repo>/packages/enclave/dist/keys/kms/; the repo root is five directories up.
const REPO = fileURLToPath(new URL('../../../../../', import.meta.url));
const VECTORS_DIR = process.env['HTTP_ENCLAVE_VECTORS_DIR'] ?? join(REPO, '..', 'shared', 'vectors', 'nitro');

interface CmsVector {
  readonly file: string;
  readonly length: number;
  readonly sha256: string;
  readonly expected: { readonly encrypted_key_hex: string; readonly iv_hex: string; readonly ciphertext_hex: string };
}
const cmsVectors = (JSON.parse(readFileSync(join(VECTORS_DIR, 'vectors.json'), 'utf8')) as { cms_vectors: CmsVector[] }).cms_vectors;
const loadVector = (file: string): Buffer => Buffer.from(readFileSync(join(VECTORS_DIR, file), 'utf8').trim(), 'base64');
// Read off the blobs themselves (vectors.json does not list them): 32-byte SKIs.
const RECORDED_SUBJECT_KEY_IDENTIFIERS: Record<string, string> = {
  'cms-kms-sdkc-1.b64': '7087b55df94ba3255cdf3c01840a2aa3ec93620625d601cf56f97bde7a3d2eb1',
  'cms-kms-sdkc-2.b64': '4e61df69e443b8e25c8ae83318cfc72d9b6a5176d2167790fdf819c086e6967a',
};

const seenReasons = new Set<CmsEnvelopeReason>();
function expectReason(action: () => unknown, reason: CmsEnvelopeReason, label: string): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof CmsEnvelopeError, `${label}: not a CmsEnvelopeError: ${String(error)}`);
    assert.equal(error.reason, reason, `${label}: ${error.message}`);
    assert.equal(error.code, 'KMS_ENVELOPE_INVALID');
    assert.equal(error.source, 'kms');
    seenReasons.add(reason);
    return true;
  });
}

// One RSA-2048 recipient for the whole file, plus an OpenSSL certificate for it.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const workDir = mkdtempSync(join(tmpdir(), 'cms-enveloped-data-'));
after(() => rmSync(workDir, { recursive: true, force: true }));
const keyPath = join(workDir, 'key.pem');
const certPath = join(workDir, 'cert.pem');
writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }));
writeFileSync(join(workDir, 'req.cnf'), '[req]\nprompt = no\ndistinguished_name = dn\nx509_extensions = v3\n[dn]\nCN = cms-test\n[v3]\nsubjectKeyIdentifier = hash\n');
execFileSync('openssl', ['req', '-x509', '-new', '-key', keyPath, '-config', join(workDir, 'req.cnf'), '-days', '1', '-out', certPath], { stdio: 'pipe' });
const certificateSubjectKeyIdentifier = Buffer.from(
  (/Subject Key Identifier:\s*([0-9A-F:]+)/.exec(execFileSync('openssl', ['x509', '-in', certPath, '-noout', '-ext', 'subjectKeyIdentifier'], { encoding: 'utf8' }))?.[1] ?? '').replace(/:/g, ''),
  'hex',
);

let sealCount = 0;
function sealWithOpenssl(plaintext: Buffer, stream: boolean): Buffer {
  const input = join(workDir, `plain-${sealCount}`);
  const output = join(workDir, `sealed-${sealCount++}.der`);
  writeFileSync(input, plaintext);
  const streaming = stream ? ['-stream'] : [];
  execFileSync('openssl', ['cms', '-encrypt', '-binary', ...streaming, '-aes-256-cbc', '-keyid', '-recip', certPath, '-keyopt', 'rsa_padding_mode:oaep',
    '-keyopt', 'rsa_oaep_md:sha256', '-keyopt', 'rsa_mgf1_md:sha256', '-outform', 'DER', '-in', input, '-out', output], { stdio: 'pipe' });
  return readFileSync(output);
}

const plaintext = randomBytes(32);
const material: EnvelopeMaterial = sealForRecipient(plaintext, publicKey, certificateSubjectKeyIdentifier);
const recipientSet = tlv(0x31, keyTransRecipient(material));
const standardElements = (): Buffer[] => [integer(2), recipientSet, encryptedContentInfo(material)];
const withRecipient = (recipient: Partial<Parameters<typeof keyTransRecipient>[0]>): Buffer =>
  contentInfo([integer(2), tlv(0x31, keyTransRecipient({ ...material, ...recipient })), encryptedContentInfo(material)]);
const withContentInfo = (info: Partial<Parameters<typeof encryptedContentInfo>[0]>): Buffer =>
  contentInfo([integer(2), recipientSet, encryptedContentInfo({ ...material, ...info })]);
const withVersion = (version: Buffer): Buffer => contentInfo([version, recipientSet, encryptedContentInfo(material)]);

test('both real KMS CiphertextForRecipient blobs parse to exactly the recorded fields', () => {
  assert.equal(cmsVectors.length, 2);
  for (const vector of cmsVectors) {
    const blob = loadVector(vector.file);
    assert.equal(blob.length, vector.length, vector.file);
    assert.equal(createHash('sha256').update(blob).digest('hex'), vector.sha256, vector.file);
    const parts = parseCmsEnvelopedData(blob);
    assert.equal(parts.encryptedKey.toString('hex'), vector.expected.encrypted_key_hex, vector.file);
    assert.equal(parts.iv.toString('hex'), vector.expected.iv_hex, vector.file);
    assert.equal(parts.encryptedContent.toString('hex'), vector.expected.ciphertext_hex, vector.file);
    assert.equal(parts.subjectKeyIdentifier.toString('hex'), RECORDED_SUBJECT_KEY_IDENTIFIERS[vector.file], vector.file);
    expectReason(() => openCmsEnvelopedData(blob, privateKey), 'KEY_UNWRAP_FAILED', `${vector.file} with a key that is not its recipient`);
    for (let length = 0; length < blob.length; length += 1) expectReason(() => parseCmsEnvelopedData(blob.subarray(0, length)), 'TRUNCATED', `${vector.file} prefix ${length}`);
  }
});

test('OpenSSL oracle: DER and -stream BER blobs for our key open to the plaintext; every prefix is TRUNCATED', () => {
  assert.equal(certificateSubjectKeyIdentifier.length, 20);
  for (const stream of [false, true]) {
    for (const size of [32, 32, 32, 1, 16, 3000]) {
      const expected = randomBytes(size);
      const blob = sealWithOpenssl(expected, stream);
      assert.equal(blob[1] === 0x80, stream, 'the -stream output uses indefinite lengths');
      assert.deepEqual(parseCmsEnvelopedData(blob).subjectKeyIdentifier, certificateSubjectKeyIdentifier);
      assert.deepEqual(openCmsEnvelopedData(blob, privateKey), expected, `stream=${stream} size=${size}`);
      expectReason(() => openCmsEnvelopedData(blob, otherKey), 'KEY_UNWRAP_FAILED', `stream=${stream} other key`);
      if (size !== 32) continue;
      for (let length = 0; length < blob.length; length += 1) expectReason(() => parseCmsEnvelopedData(blob.subarray(0, length)), 'TRUNCATED', `prefix ${length}`);
    }
  }
});

test('OpenSSL oracle, reverse: openssl cms -decrypt opens the blob our test builder makes', () => {
  const blobPath = join(workDir, 'built.der');
  writeFileSync(blobPath, buildEnvelope(material));
  const opened = execFileSync('openssl', ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', blobPath, '-inkey', keyPath, '-recip', certPath], { stdio: 'pipe' });
  assert.deepEqual(opened, plaintext);
  assert.deepEqual(openCmsEnvelopedData(buildEnvelope(material), privateKey), plaintext);
});

test('accepted variants: absent hash parameters, [0] primitive content, split and empty content segments', () => {
  const variants: Array<[string, Buffer]> = [
    ['hash parameters absent (OpenSSL 3 style)', withRecipient({ algorithm: oaepAlgorithm({ withNull: false }) })],
    ['[0] IMPLICIT primitive content', withContentInfo({ content: tlv(0x80, material.ciphertext) })],
    ['definite-length [0] constructed content', withContentInfo({ content: tlv(0xa0, tlv(0x04, material.ciphertext)) })],
    ['empty segments between', withContentInfo({ content: indefinite(0xa0, tlv(0x04), tlv(0x04, material.ciphertext), tlv(0x04)) })],
    [`${MAX_CONTENT_CHUNKS} segments`, withContentInfo({ content: indefinite(0xa0, ...Array.from({ length: MAX_CONTENT_CHUNKS - 1 }, () => tlv(0x04)), tlv(0x04, material.ciphertext)) })],
  ];
  for (const segmentBytes of [1, 3, 15, 16, 17, 47]) variants.push([`segments of ${segmentBytes}`, withContentInfo({ content: chunkedContent(material.ciphertext, segmentBytes) })]);
  for (const [label, blob] of variants) assert.deepEqual(openCmsEnvelopedData(blob, privateKey), plaintext, label);
});

test('structure: wrong types, versions, order, tags and lengths are rejected with the exact reason', () => {
  const recipientSetBytes = Buffer.from(recipientSet);
  recipientSetBytes.writeUInt16BE(recipientSetBytes.readUInt16BE(2) - 1, 2); // SET one byte shorter than its KeyTransRecipientInfo
  const issuerAndSerialNumber = tlv(0x30, tlv(0x30, tlv(0x31, tlv(0x30, oid('2.5.4.3'), tlv(0x0c, Buffer.from('x'))))), integer(1));
  const cases: Array<[string, Buffer, CmsEnvelopeReason]> = [
    ['oversize input', Buffer.alloc(MAX_INPUT_BYTES + 1), 'TOO_LARGE'],
    ['oversize content', withContentInfo({ ciphertext: Buffer.alloc(MAX_INPUT_BYTES) }), 'TOO_LARGE'],
    ['empty input', Buffer.alloc(0), 'TRUNCATED'],
    ['trailing byte', Buffer.concat([buildEnvelope(material), Buffer.of(0)]), 'TRAILING_BYTES'],
    ['trailing end-of-contents', Buffer.concat([buildEnvelope(material), Buffer.of(0, 0)]), 'TRAILING_BYTES'],
    ['ContentInfo is signedData', contentInfo(standardElements(), OIDS.signedData), 'WRONG_CONTENT_TYPE'],
    ['encrypted content type is signedData', withContentInfo({ contentType: OIDS.signedData }), 'WRONG_CONTENT_TYPE'],
    ['EnvelopedData version 0', withVersion(integer(0)), 'UNSUPPORTED_VERSION'],
    ['EnvelopedData version 3', withVersion(integer(3)), 'UNSUPPORTED_VERSION'],
    ['EnvelopedData version as 2-byte INTEGER', withVersion(tlv(0x02, Buffer.of(0, 2))), 'UNSUPPORTED_VERSION'],
    ['recipientInfos and encryptedContentInfo swapped', contentInfo([integer(2), encryptedContentInfo(material), recipientSet]), 'BAD_TAG'],
    ['originatorInfo present', contentInfo([integer(2), tlv(0xa0), recipientSet, encryptedContentInfo(material)]), 'BAD_TAG'],
    ['unprotectedAttrs present', contentInfo([...standardElements(), tlv(0xa1, tlv(0x30))]), 'BAD_TAG'],
    ['encryptedContent absent', withContentInfo({ content: Buffer.alloc(0) }), 'BAD_TAG'],
    ['IV and OID swapped', withContentInfo({ algorithm: tlv(0x30, tlv(0x04, material.iv), oid(OIDS.aes256Cbc)) }), 'BAD_TAG'],
    ['empty encryptedKey', withRecipient({ encryptedKey: Buffer.alloc(0) }), 'BAD_LENGTH'],
    ['segment with a [0] tag', withContentInfo({ content: indefinite(0xa0, tlv(0x80, material.ciphertext)) }), 'BAD_TAG'],
    ['high tag number form', withVersion(Buffer.of(0x1f, 0x02, 0x01, 0x02)), 'BAD_TAG'],
    ['non-minimal 1-octet length', withVersion(Buffer.of(0x02, 0x81, 0x01, 0x02)), 'BAD_LENGTH'],
    ['non-minimal 2-octet length', withVersion(Buffer.of(0x02, 0x82, 0x00, 0x01, 0x02)), 'BAD_LENGTH'],
    ['3 length octets', withVersion(Buffer.of(0x02, 0x83, 0x00, 0x00, 0x01, 0x02)), 'BAD_LENGTH'],
    ['reserved length 0xff', withVersion(Buffer.of(0x02, 0xff)), 'BAD_LENGTH'],
    ['indefinite length on a primitive', withVersion(Buffer.of(0x02, 0x80, 0x02, 0x00, 0x00)), 'BAD_LENGTH'],
    ['child overruns its definite parent', contentInfo([integer(2), recipientSetBytes, encryptedContentInfo(material)]), 'BAD_LENGTH'],
    ['encryptedKey of 255 bytes', withRecipient({ encryptedKey: material.encryptedKey.subarray(1) }), 'BAD_LENGTH'],
    ['NULL hash parameters with content', withRecipient({ algorithm: tlv(0x30, oid(OIDS.rsaesOaep), tlv(0x30, tlv(0xa0, tlv(0x30, oid(OIDS.sha256), tlv(0x05, Buffer.of(0)))))) }), 'BAD_LENGTH'],
    ['segmented segment', withContentInfo({ content: indefinite(0xa0, indefinite(0x24, tlv(0x04, material.ciphertext))) }), 'TOO_DEEP'],
    ['too many segments', withContentInfo({ content: indefinite(0xa0, ...Array.from({ length: MAX_CONTENT_CHUNKS }, () => tlv(0x04)), tlv(0x04, material.ciphertext)) }), 'TOO_MANY_CHUNKS'],
    ['two recipients', contentInfo([integer(2), tlv(0x31, keyTransRecipient(material), keyTransRecipient(material)), encryptedContentInfo(material)]), 'UNSUPPORTED_RECIPIENT'],
    ['no recipients', contentInfo([integer(2), tlv(0x31), encryptedContentInfo(material)]), 'UNSUPPORTED_RECIPIENT'],
    ['KeyAgreeRecipientInfo', contentInfo([integer(2), tlv(0x31, tlv(0xa1, integer(3))), encryptedContentInfo(material)]), 'UNSUPPORTED_RECIPIENT'],
    ['ktri version 0 with issuerAndSerialNumber', withRecipient({ version: 0, rid: issuerAndSerialNumber }), 'UNSUPPORTED_RECIPIENT'],
    ['ktri version 2 with issuerAndSerialNumber', withRecipient({ rid: issuerAndSerialNumber }), 'UNSUPPORTED_RECIPIENT'],
    ['empty subjectKeyIdentifier', withRecipient({ subjectKeyIdentifier: Buffer.alloc(0) }), 'UNSUPPORTED_RECIPIENT'],
    ['rsaEncryption (PKCS#1 v1.5)', withRecipient({ algorithm: tlv(0x30, oid(OIDS.rsaEncryption), NULL) }), 'WRONG_KEY_ENCRYPTION_ALGORITHM'],
    ['rsaesOaep without parameters (SHA-1)', withRecipient({ algorithm: tlv(0x30, oid(OIDS.rsaesOaep)) }), 'WRONG_KEY_ENCRYPTION_ALGORITHM'],
    ['rsaesOaep with empty parameters (SHA-1 defaults)', withRecipient({ algorithm: tlv(0x30, oid(OIDS.rsaesOaep), tlv(0x30)) }), 'WRONG_KEY_ENCRYPTION_ALGORITHM'],
    ['rsaesOaep hash SHA-1', withRecipient({ algorithm: oaepAlgorithm({ hash: OIDS.sha1 }) }), 'WRONG_KEY_ENCRYPTION_ALGORITHM'],
    ['rsaesOaep MGF1 with SHA-1', withRecipient({ algorithm: oaepAlgorithm({ mgfHash: OIDS.sha1 }) }), 'WRONG_KEY_ENCRYPTION_ALGORITHM'],
    ['rsaesOaep without maskGenFunc', withRecipient({ algorithm: tlv(0x30, oid(OIDS.rsaesOaep), tlv(0x30, tlv(0xa0, tlv(0x30, oid(OIDS.sha256), NULL)))) }), 'WRONG_KEY_ENCRYPTION_ALGORITHM'],
    ['rsaesOaep with pSourceFunc', withRecipient({ algorithm: oaepAlgorithm({ extra: [tlv(0xa2, tlv(0x30, oid(OIDS.pSpecified), tlv(0x04)))] }) }), 'WRONG_KEY_ENCRYPTION_ALGORITHM'],
    ['aes-128-cbc', withContentInfo({ algorithm: aesCbcAlgorithm(material.iv, OIDS.aes128Cbc) }), 'WRONG_CONTENT_ENCRYPTION_ALGORITHM'],
    ['aes-256-gcm', withContentInfo({ algorithm: tlv(0x30, oid(OIDS.aes256Gcm), tlv(0x30, tlv(0x04, randomBytes(12)), integer(16))) }), 'WRONG_CONTENT_ENCRYPTION_ALGORITHM'],
    ['IV of 8 bytes', withContentInfo({ algorithm: aesCbcAlgorithm(material.iv.subarray(0, 8)) }), 'WRONG_CONTENT_ENCRYPTION_ALGORITHM'],
    ['IV absent', withContentInfo({ algorithm: tlv(0x30, oid(OIDS.aes256Cbc)) }), 'WRONG_CONTENT_ENCRYPTION_ALGORITHM'],
    ['IV as NULL', withContentInfo({ algorithm: tlv(0x30, oid(OIDS.aes256Cbc), NULL) }), 'WRONG_CONTENT_ENCRYPTION_ALGORITHM'],
  ];
  // A constructed (0x24) encryptedKey replaces the primitive one.
  const constructedKey = keyTransRecipient(material);
  const keyOffset = constructedKey.length - material.encryptedKey.length - 4;
  assert.equal(constructedKey[keyOffset], 0x04);
  constructedKey[keyOffset] = 0x24;
  cases.push(['constructed encryptedKey', contentInfo([integer(2), tlv(0x31, constructedKey), encryptedContentInfo(material)]), 'BAD_TAG']);
  for (const [label, blob, reason] of cases) {
    expectReason(() => parseCmsEnvelopedData(blob), reason, label);
    expectReason(() => openCmsEnvelopedData(blob, privateKey), reason, `${label} (open)`);
  }
});

test('decryption: wrong key, bad content key, bad content lengths, tampering, plaintext cap', () => {
  const flippedKey = Buffer.from(material.encryptedKey);
  flippedKey[100] = (flippedKey[100] ?? 0) ^ 0x01;
  const flippedPreviousBlock = Buffer.from(material.ciphertext);
  flippedPreviousBlock[flippedPreviousBlock.length - 17] = (flippedPreviousBlock[flippedPreviousBlock.length - 17] ?? 0) ^ 0x01; // last padding byte 0x10 becomes 0x11
  const cases: Array<[string, Buffer, CmsEnvelopeReason]> = [
    ['encryptedKey for another key', buildEnvelope(sealForRecipient(plaintext, otherKey, material.subjectKeyIdentifier)), 'KEY_UNWRAP_FAILED'],
    ['flipped encryptedKey byte', withRecipient({ encryptedKey: flippedKey }), 'KEY_UNWRAP_FAILED'],
    ['16-byte content key', buildEnvelope(sealForRecipient(plaintext, publicKey, material.subjectKeyIdentifier, 16)), 'BAD_CONTENT_KEY'],
    ['empty content', withContentInfo({ ciphertext: Buffer.alloc(0), content: tlv(0x80) }), 'DECRYPT_FAILED'],
    ['content of 47 bytes', withContentInfo({ ciphertext: material.ciphertext.subarray(1) }), 'DECRYPT_FAILED'],
    ['content of 15 bytes', withContentInfo({ ciphertext: material.ciphertext.subarray(0, 15) }), 'DECRYPT_FAILED'],
    ['padding byte pushed to 0x11', withContentInfo({ ciphertext: flippedPreviousBlock }), 'DECRYPT_FAILED'],
  ];
  for (const [label, blob, reason] of cases) expectReason(() => openCmsEnvelopedData(blob, privateKey), reason, label);
  parseCmsEnvelopedData(withContentInfo({ ciphertext: Buffer.alloc(0), content: tlv(0x80) })); // structure alone is fine
  expectReason(() => openCmsEnvelopedData(buildEnvelope(material), privateKey, { maxPlaintextBytes: 31 }), 'TOO_LARGE', 'plaintext over the cap');
  expectReason(() => openCmsEnvelopedData(buildEnvelope(sealForRecipient(randomBytes(4096 + 16), publicKey, material.subjectKeyIdentifier)), privateKey), 'TOO_LARGE', 'default cap');
  assert.deepEqual(openCmsEnvelopedData(buildEnvelope(material), privateKey, { maxPlaintextBytes: 32 }), plaintext);
  assert.throws(() => openCmsEnvelopedData(buildEnvelope(material), publicKey), (error: unknown) => error instanceof Error && !(error instanceof CmsEnvelopeError));
  assert.throws(() => openCmsEnvelopedData(buildEnvelope(material), privateKey, { maxPlaintextBytes: 0 }), (error: unknown) => error instanceof Error && !(error instanceof CmsEnvelopeError));

  // Flipping the last ciphertext byte garbles the last block: padding fails except with ~1/256 luck, never yields the original.
  let failures = 0;
  for (let round = 0; round < 8; round += 1) {
    const sealed = sealForRecipient(plaintext, publicKey, material.subjectKeyIdentifier);
    const tampered = Buffer.from(sealed.ciphertext);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x80;
    try {
      assert.notDeepEqual(openCmsEnvelopedData(buildEnvelope({ ...sealed, ciphertext: tampered }), privateKey), plaintext);
    } catch (error) {
      if (!(error instanceof CmsEnvelopeError)) throw error;
      assert.equal(error.reason, 'DECRYPT_FAILED');
      failures += 1;
    }
  }
  assert.ok(failures >= 6, `${failures}/8 last-byte flips failed the padding check`);
  seenReasons.add('DECRYPT_FAILED');
  // CBC has no integrity: a changed IV changes the first block silently. Authenticity comes from TLS to KMS.
  const otherIv = Buffer.from(material.iv);
  otherIv[0] = (otherIv[0] ?? 0) ^ 0x01;
  const garbled = openCmsEnvelopedData(withContentInfo({ algorithm: aesCbcAlgorithm(otherIv) }), privateKey);
  assert.equal(garbled[0], (plaintext[0] ?? 0) ^ 0x01);
});

test('error messages carry no key, IV or content bytes', () => {
  const blob = buildEnvelope(sealForRecipient(plaintext, otherKey, material.subjectKeyIdentifier));
  try {
    openCmsEnvelopedData(blob, privateKey);
    assert.fail('expected KEY_UNWRAP_FAILED');
  } catch (error) {
    assert.ok(error instanceof CmsEnvelopeError);
    for (const secret of [plaintext, material.iv, material.subjectKeyIdentifier, material.encryptedKey.subarray(0, 8)]) {
      assert.ok(!error.message.toLowerCase().includes(secret.toString('hex')), 'no hex bytes in the message');
    }
  }
});

test('fuzz (fast-check): random bytes and mutated blobs only ever fail as CmsEnvelopeError, within 5 s and bounded heap', () => {
  const valid = buildEnvelope(material);
  const kms = loadVector('cms-kms-sdkc-1.b64');
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const attempt = (bytes: Buffer, open: boolean): void => {
    try {
      if (open) openCmsEnvelopedData(bytes, privateKey);
      else parseCmsEnvelopedData(bytes);
    } catch (error) {
      if (!(error instanceof CmsEnvelopeError)) throw error;
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => attempt(Buffer.from(bytes), false)), { numRuns: 2000, seed: 20261202 });
  const heads = fc.constantFrom(0x30, 0x31, 0xa0, 0xa1, 0x80, 0x24, 0x04, 0x06, 0x02, 0x05, 0x00, 0x81, 0x82, 0x83, 0xff);
  fc.assert(fc.property(fc.array(fc.oneof(heads, fc.integer({ min: 0, max: 255 })), { maxLength: 1024 }), (list) => attempt(Buffer.from(list), false)), { numRuns: 1000, seed: 7 });
  for (const [base, open, runs] of [[valid, true, 400], [kms, false, 1500]] as const) {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(base.length), fc.nat(base.length), fc.uint8Array({ maxLength: 8 }),
        (edits, cutStart, cutEnd, insert) => {
          const copy = Buffer.from(base);
          for (const [offset, byte] of edits) copy[offset] = byte;
          attempt(copy, open);
          const [from, to] = cutStart <= cutEnd ? [cutStart, cutEnd] : [cutEnd, cutStart];
          attempt(Buffer.concat([base.subarray(0, from), insert, base.subarray(to)]), open);
        },
      ),
      { numRuns: runs, seed: 3 },
    );
  }
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 5000, `fuzz took ${Math.round(elapsed)} ms`);
  assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024, 'heap growth bounded');
});

test('every reason in CMS_ENVELOPE_REASONS is produced by some test above', () => {
  assert.deepEqual([...CMS_ENVELOPE_REASONS].filter((reason) => !seenReasons.has(reason)), []);
});
