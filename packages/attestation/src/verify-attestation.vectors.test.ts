// Real Nitro documents (../shared/vectors/nitro/vectors.json): every genuine
// enclave document verifies inside its validity window with its recorded
// PCRs and fails outside it; every negative, the derived ones and the
// NitroTPM document are rejected with an exact code; TLS binding on the
// documents that carry a certificate.

import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { test } from 'node:test';

import { AWS_NITRO_ROOT_SHA256 } from './certificate-chain.js';
import { loadBase64Vector, loadTextVector, loadVectorIndex, type VectorDocument } from './test-support.js';
import { verifyAttestationDocument, type AttestationResult } from './verify-attestation.js';
import type { ReasonCode } from './reason-codes.js';

const index = loadVectorIndex();
const enclaveDocuments = index.documents.filter((d) => d.expected_valid && d.pcrs_key === 'pcrs');
const SECOND = 1000;

function recordedPcrs(document: VectorDocument): Record<number, string> {
  const pcrs: Record<number, string> = {};
  for (const i of [0, 1, 2, 3, 4, 8] as const) {
    const hex = document[`pcr${i}`];
    if (hex !== undefined) pcrs[i] = hex;
  }
  return pcrs;
}

function window(document: VectorDocument): { notBefore: number; notAfter: number } {
  assert.ok(document.valid_time_window, `${document.file} has a window`);
  return { notBefore: Date.parse(document.valid_time_window.notBefore), notAfter: Date.parse(document.valid_time_window.notAfter) };
}

function expectFailure(result: AttestationResult, reason: ReasonCode, label: string): void {
  assert.equal(result.ok, false, `${label}: expected ${reason}, got ok`);
  if (!result.ok) assert.equal(result.reason, reason, `${label}: ${result.message}`);
}

test('the index holds 12 genuine enclave documents and the root fingerprint we pin', () => {
  assert.equal(enclaveDocuments.length, 12);
  assert.equal(index.root.sha256_fingerprint_of_DER, AWS_NITRO_ROOT_SHA256);
  const rootDer = new X509Certificate(loadTextVector(index.root.file)).raw;
  assert.equal(createHash('sha256').update(rootDer).digest('hex'), AWS_NITRO_ROOT_SHA256);
});

for (const document of enclaveDocuments) {
  test(`${document.file}: valid inside its window with its recorded PCRs, expired / not yet valid outside`, () => {
    const bytes = loadBase64Vector(document.file);
    const { notBefore, notAfter } = window(document);
    assert.ok(document.timestamp_ms !== null);
    const policy = { pcrs: recordedPcrs(document), allowDebug: true } as const;
    for (const at of [notBefore, document.timestamp_ms, Math.floor((notBefore + notAfter) / 2), notAfter]) {
      const result = verifyAttestationDocument(bytes, { now: new Date(at), root: 'aws', policy });
      assert.ok(result.ok, `${document.file} at ${new Date(at).toISOString()}: ${result.ok ? '' : `${result.reason} ${result.message}`}`);
      assert.equal(result.document.moduleId, document.module_id);
      assert.equal(result.document.timestamp, document.timestamp_ms);
      assert.equal(result.debugMode, document.debug_mode_pcr0_1_2_all_zero);
      assert.equal(result.anchor, 'aws');
      // PCR4 = SHA-384(0^48 || instance id) holds for every real enclave document.
      assert.deepEqual(
        result.checks.find((c) => c.name === 'pcr4-module-id'),
        { name: 'pcr4-module-id', outcome: 'passed' },
      );
      assert.ok(result.checks.every((c) => c.outcome !== 'failed'));
    }
    expectFailure(verifyAttestationDocument(bytes, { now: new Date(notAfter + SECOND), root: 'aws', policy }), 'CERTIFICATE_EXPIRED', 'notAfter + 1 s');
    expectFailure(verifyAttestationDocument(bytes, { now: new Date(notBefore - SECOND), root: 'aws', policy }), 'CERTIFICATE_NOT_YET_VALID', 'notBefore - 1 s');
    expectFailure(verifyAttestationDocument(bytes, { now: new Date(), root: 'aws', policy }), 'CERTIFICATE_EXPIRED', 'wall clock');
  });
}

test('debug-mode documents are rejected unless allowed; production ones pass without allowDebug', () => {
  for (const document of enclaveDocuments) {
    const result = verifyAttestationDocument(loadBase64Vector(document.file), { now: new Date(document.timestamp_ms ?? 0), root: 'aws' });
    if (document.debug_mode_pcr0_1_2_all_zero === true) expectFailure(result, 'DEBUG_MODE', document.file);
    else assert.ok(result.ok, document.file);
  }
});

test('repository expectations: evervault-4 PCRs, marlin PCR0/1/2/4 before the timestamp, eternis nonce', () => {
  const evervault4 = enclaveDocuments.find((d) => d.file === 'evervault-4.b64');
  const marlin = enclaveDocuments.find((d) => d.file === 'marlin-1.b64');
  const eternis = enclaveDocuments.find((d) => d.file === 'eternis-1.b64');
  assert.ok(evervault4 && marlin && eternis);
  const asPolicy = (pcrs: Record<string, string> | string | undefined): Record<number, string> =>
    Object.fromEntries(Object.entries(typeof pcrs === 'object' ? pcrs : {}).map(([key, hex]) => [Number(key.replace('pcr', '')), hex]));

  const ev = loadBase64Vector(evervault4.file);
  const evPcrs = asPolicy(evervault4.repo_expectation?.expected_pcrs);
  assert.ok(verifyAttestationDocument(ev, { now: new Date(1674054914 * SECOND), root: 'aws', policy: { pcrs: evPcrs } }).ok);
  const wrongPcr8 = { ...evPcrs, 8: `${'0'.repeat(88)}50000000` };
  expectFailure(verifyAttestationDocument(ev, { now: new Date(1674054914 * SECOND), root: 'aws', policy: { pcrs: wrongPcr8 } }), 'PCR_MISMATCH', 'evervault-4 wrong pcr8');
  expectFailure(verifyAttestationDocument(ev, { now: new Date(1674054914 * SECOND), root: 'aws', policy: { pcrs: { 20: '00'.repeat(48) } } }), 'PCR_MISMATCH', 'absent PCR');

  const ma = loadBase64Vector(marlin.file);
  assert.ok(verifyAttestationDocument(ma, { now: new Date(1708930774 * SECOND), root: 'aws', policy: { pcrs: asPolicy(marlin.repo_expectation?.expected_pcrs) } }).ok);
  // Same time with a freshness policy: the document is 147 s in the future, beyond the default 60 s skew.
  expectFailure(
    verifyAttestationDocument(ma, { now: new Date(1708930774 * SECOND), root: 'aws', policy: { maxAgeMs: 60_000 } }),
    'DOCUMENT_FROM_FUTURE',
    'marlin with maxAge',
  );
  assert.ok(verifyAttestationDocument(ma, { now: new Date(1708930774 * SECOND), root: 'aws', policy: { maxAgeMs: 60_000, maxClockSkewMs: 300_000 } }).ok);

  const et = loadBase64Vector(eternis.file);
  const at = { now: new Date(1726606091 * SECOND), root: 'aws' } as const;
  const nonce = Buffer.from(eternis.repo_expectation?.expected_nonce_hex ?? '', 'hex');
  assert.equal(nonce.length, 20);
  assert.ok(verifyAttestationDocument(et, { ...at, policy: { allowDebug: true, nonce, maxAgeMs: 5 * 60_000 } }).ok);
  expectFailure(verifyAttestationDocument(et, { ...at, policy: { allowDebug: true, nonce: Buffer.alloc(20) } }), 'NONCE_MISMATCH', 'eternis zero nonce');
  expectFailure(verifyAttestationDocument(et, { ...at, policy: { allowDebug: true, maxAgeMs: 30_000 } }), 'DOCUMENT_TOO_OLD', 'eternis 61 s old');
  const uid2 = loadBase64Vector('uid2-1.b64');
  expectFailure(
    verifyAttestationDocument(uid2, { now: new Date(1619410153100), root: 'aws', policy: { allowDebug: true, nonce: Buffer.alloc(1) } }),
    'NONCE_MISMATCH',
    'uid2 has no nonce',
  );
});

test('negative real documents and the NitroTPM document are rejected with exact codes', () => {
  const expected: Record<string, { readonly reason: ReasonCode; readonly at: number }> = {
    'base-2-corrupt.b64': { reason: 'CBOR_MALFORMED', at: Date.parse('2026-01-03T20:41:07.402Z') },
    'eternis-invalid.b64': { reason: 'SIGNATURE_INVALID', at: Date.parse('2024-07-23T21:29:40.771Z') },
    'vaportpm-1.b64': { reason: 'NITRO_TPM_DOCUMENT', at: Date.parse('2026-02-03T11:00:00Z') },
  };
  const negatives = index.documents.filter((d) => !d.expected_valid || d.pcrs_key !== 'pcrs');
  assert.deepEqual(negatives.map((d) => d.file).sort(), Object.keys(expected).sort());
  for (const document of negatives) {
    const entry = expected[document.file];
    assert.ok(entry);
    const result = verifyAttestationDocument(loadBase64Vector(document.file), { now: new Date(entry.at), root: 'aws', policy: { allowDebug: true } });
    expectFailure(result, entry.reason, document.file);
  }
});

test('derived negatives from base-1: exact codes; tag 18 is accepted (policy choice, the tag is not signed)', () => {
  const now = new Date('2024-11-30T18:06:40Z');
  const expected: Record<string, ReasonCode | 'ok'> = {
    'derived-base-1-sig-bitflip.b64': 'SIGNATURE_INVALID',
    'derived-base-1-pcr0-bitflip.b64': 'SIGNATURE_INVALID',
    'derived-uid2-style-b64char3.b64': 'COSE_MALFORMED',
    'derived-base-1-trailing-byte.b64': 'CBOR_MALFORMED',
    'derived-base-1-tag18.b64': 'ok',
    'derived-base-1-alg-es256.b64': 'UNSUPPORTED_ALGORITHM',
  };
  assert.deepEqual(index.derived_negative_documents.map((d) => d.file).sort(), Object.keys(expected).sort());
  for (const { file } of index.derived_negative_documents) {
    const result = verifyAttestationDocument(loadBase64Vector(file), { now, root: 'aws' });
    if (expected[file] === 'ok') assert.ok(result.ok, file);
    else expectFailure(result, expected[file] as ReasonCode, file);
  }
});

test('TLS binding: evervault-1/-4/-5 bind their *.tls-cert.pem under evervault-spki-der; other certificates do not bind', () => {
  const certificates = ['evervault-1', 'evervault-4', 'evervault-5'].map((name) => loadTextVector(`${name}.tls-cert.pem`));
  for (const [i, name] of ['evervault-1', 'evervault-4', 'evervault-5'].entries()) {
    const document = enclaveDocuments.find((d) => d.file === `${name}.b64`);
    assert.ok(document?.timestamp_ms);
    const bytes = loadBase64Vector(document.file);
    const now = new Date(document.timestamp_ms);
    const pem = certificates[i] ?? '';
    for (const tlsCertificate of [pem, new X509Certificate(pem), new X509Certificate(pem).raw]) {
      const result = verifyAttestationDocument(bytes, { now, root: 'aws', policy: { allowDebug: true, tlsCertificate } });
      assert.ok(result.ok, `${name}: ${result.ok ? '' : result.message}`);
      assert.equal(result.tlsBindingScheme, 'evervault-spki-der');
      assert.deepEqual(result.checks.at(-1), { name: 'tls-binding', outcome: 'passed' });
    }
    // Only our scheme accepted: the evervault binding no longer counts.
    expectFailure(
      verifyAttestationDocument(bytes, { now, root: 'aws', policy: { allowDebug: true, tlsCertificate: pem, tlsBindingSchemes: ['http-enclave-spki-sha256-v1'] } }),
      'TLS_BINDING_MISMATCH',
      `${name} own scheme only`,
    );
    // Another document's certificate is not bound.
    const other = certificates[(i + 1) % certificates.length] ?? '';
    expectFailure(verifyAttestationDocument(bytes, { now, root: 'aws', policy: { allowDebug: true, tlsCertificate: other } }), 'TLS_BINDING_MISMATCH', `${name} other cert`);
  }
  // A document without user_data binds nothing.
  expectFailure(
    verifyAttestationDocument(loadBase64Vector('base-1.b64'), { now: new Date('2024-11-30T18:06:40Z'), root: 'aws', policy: { tlsCertificate: certificates[0] ?? '' } }),
    'TLS_BINDING_MISMATCH',
    'base-1 without user_data',
  );
});

test('a dev root that is not the document root: CHAIN_UNTRUSTED_ROOT; the AWS root given as dev root works', () => {
  const bytes = loadBase64Vector('base-1.b64');
  const now = new Date('2024-11-30T18:06:40Z');
  const otherSelfSigned = loadTextVector('evervault-1.tls-cert.pem');
  expectFailure(verifyAttestationDocument(bytes, { now, root: { certificatePem: otherSelfSigned } }), 'CHAIN_UNTRUSTED_ROOT', 'other root');
  const result = verifyAttestationDocument(bytes, { now, root: { certificatePem: loadTextVector(index.root.file) } });
  assert.ok(result.ok);
  assert.equal(result.anchor, 'dev');
});
