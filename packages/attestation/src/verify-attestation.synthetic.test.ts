// Synthetic documents signed by the TEST dev PKI: every field rule, every
// policy path and the chain rules, each with a validly signed document so the
// code under test is the one that must reject it (not the signature check).

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';

import { expectedPcr4ForModuleId } from './attestation-policy.js';
import type { ReasonCode } from './reason-codes.js';
import {
  encodeTestCbor,
  pemToDer,
  signTestDocument,
  TEST_MODULE_ID,
  testPayloadFields,
  type TestCbor,
} from './test-support.js';
import {
  DEV_INTERMEDIATE_KEY_PEM,
  DEV_INTERMEDIATE_PEM,
  DEV_LEAF_PEM,
  DEV_P256_LEAF_KEY_PEM,
  DEV_P256_LEAF_PEM,
  DEV_PKI_TIME,
  DEV_ROOT_PEM,
  TEST_TLS_CERTIFICATE_PEM,
} from './test-pki.js';
import { createTlsBindingUserData, subjectPublicKeyInfoDer } from './user-data-binding.js';
import { MAX_DOCUMENT_BYTES, verifyAttestationDocument, type AttestationResult, type VerifyAttestationOptions } from './verify-attestation.js';

const PCR4 = expectedPcr4ForModuleId(TEST_MODULE_ID) ?? new Uint8Array(48);
const TIMESTAMP = DEV_PKI_TIME.getTime() - 1000;
const DEV: VerifyAttestationOptions = { now: DEV_PKI_TIME, root: { certificatePem: DEV_ROOT_PEM } };

type Edit = (fields: Map<TestCbor, TestCbor>) => void;

function document(edit: Edit = () => undefined, options: Parameters<typeof signTestDocument>[1] = {}): Uint8Array {
  const fields = testPayloadFields(PCR4, TIMESTAMP);
  edit(fields);
  return signTestDocument(encodeTestCbor(fields), options);
}

function expectFailure(result: AttestationResult, reason: ReasonCode, label: string): void {
  assert.equal(result.ok, false, `${label}: expected ${reason}, got ok`);
  if (!result.ok) {
    assert.equal(result.reason, reason, `${label}: ${result.message}`);
    assert.equal(result.checks.at(-1)?.outcome, 'failed');
  }
}

test('a dev-signed document verifies against the dev root only; null and absent optional fields are both "absent"', () => {
  const bytes = document();
  const result = verifyAttestationDocument(bytes, DEV);
  assert.ok(result.ok, result.ok ? '' : result.message);
  assert.equal(result.anchor, 'dev');
  assert.equal(result.document.userData, null);
  assert.deepEqual(
    result.checks.map((c) => `${c.name}:${c.outcome}`),
    [
      'envelope:passed',
      'payload:passed',
      'root:passed',
      'chain:passed',
      'validity:passed',
      'signature:passed',
      'debug-mode:passed',
      'pcrs:skipped',
      'pcr4-module-id:passed',
      'nonce:skipped',
      'document-age:skipped',
      'tls-binding:skipped',
    ],
  );
  expectFailure(verifyAttestationDocument(bytes, { ...DEV, root: 'aws' }), 'CHAIN_UNTRUSTED_ROOT', 'aws root');
  const absent = verifyAttestationDocument(
    document((f) => {
      f.delete('public_key');
      f.delete('user_data');
      f.delete('nonce');
    }),
    DEV,
  );
  assert.ok(absent.ok && absent.document.nonce === null && absent.document.publicKey === null);
});

test('indefinite-length payload map and unknown keys are accepted', () => {
  const fields = testPayloadFields(PCR4, TIMESTAMP);
  fields.set('future_field', [1, 2, 3]);
  const result = verifyAttestationDocument(signTestDocument(encodeTestCbor({ indefiniteMap: fields })), DEV);
  assert.ok(result.ok, result.ok ? '' : result.message);
});

test('field rules: each violation is DOCUMENT_FIELD_INVALID (or NITRO_TPM_DOCUMENT) on a validly signed document', () => {
  const big = (n: number): Uint8Array => new Uint8Array(n).fill(7);
  const manyPcrs = new Map<TestCbor, TestCbor>(Array.from({ length: 33 }, (_, i) => [i, big(48)] as [TestCbor, TestCbor]));
  const cases: [string, Edit, ReasonCode][] = [
    ['module_id missing', (f) => f.delete('module_id'), 'DOCUMENT_FIELD_INVALID'],
    ['module_id empty', (f) => f.set('module_id', ''), 'DOCUMENT_FIELD_INVALID'],
    ['module_id bytes', (f) => f.set('module_id', big(3)), 'DOCUMENT_FIELD_INVALID'],
    ['module_id 257 chars', (f) => f.set('module_id', 'i'.repeat(257)), 'DOCUMENT_FIELD_INVALID'],
    ['digest SHA256', (f) => f.set('digest', 'SHA256'), 'DOCUMENT_FIELD_INVALID'],
    ['digest missing', (f) => f.delete('digest'), 'DOCUMENT_FIELD_INVALID'],
    ['timestamp 0', (f) => f.set('timestamp', 0), 'DOCUMENT_FIELD_INVALID'],
    ['timestamp negative', (f) => f.set('timestamp', -5), 'DOCUMENT_FIELD_INVALID'],
    ['timestamp 2^53', (f) => f.set('timestamp', 2n ** 53n), 'DOCUMENT_FIELD_INVALID'],
    ['timestamp text', (f) => f.set('timestamp', '1700000000000'), 'DOCUMENT_FIELD_INVALID'],
    ['pcrs missing', (f) => f.delete('pcrs'), 'DOCUMENT_FIELD_INVALID'],
    ['pcrs empty', (f) => f.set('pcrs', new Map()), 'DOCUMENT_FIELD_INVALID'],
    ['pcrs 33 entries', (f) => f.set('pcrs', manyPcrs), 'DOCUMENT_FIELD_INVALID'],
    ['pcr index 32', (f) => f.set('pcrs', new Map<TestCbor, TestCbor>([[32, big(48)]])), 'DOCUMENT_FIELD_INVALID'],
    ['pcr index negative', (f) => f.set('pcrs', new Map<TestCbor, TestCbor>([[-1, big(48)]])), 'DOCUMENT_FIELD_INVALID'],
    ['pcr index text', (f) => f.set('pcrs', new Map<TestCbor, TestCbor>([['0', big(48)]])), 'DOCUMENT_FIELD_INVALID'],
    ['pcr 47 bytes', (f) => f.set('pcrs', new Map<TestCbor, TestCbor>([[0, big(47)]])), 'DOCUMENT_FIELD_INVALID'],
    ['pcr 0 bytes', (f) => f.set('pcrs', new Map<TestCbor, TestCbor>([[0, big(0)]])), 'DOCUMENT_FIELD_INVALID'],
    // digest is always SHA384, so a PCR is exactly 48 bytes (issue 10, item 3: these used to pass)
    ['pcr 32 bytes (SHA-256 length) in a SHA384 document', (f) => f.set('pcrs', new Map<TestCbor, TestCbor>([[0, big(32)]])), 'DOCUMENT_FIELD_INVALID'],
    ['pcr 64 bytes (SHA-512 length) in a SHA384 document', (f) => f.set('pcrs', new Map<TestCbor, TestCbor>([[0, big(64)]])), 'DOCUMENT_FIELD_INVALID'],
    ['pcrs array', (f) => f.set('pcrs', [big(48)]), 'DOCUMENT_FIELD_INVALID'],
    ['certificate missing', (f) => f.delete('certificate'), 'DOCUMENT_FIELD_INVALID'],
    ['certificate 1025 bytes', (f) => f.set('certificate', big(1025)), 'DOCUMENT_FIELD_INVALID'],
    ['certificate text', (f) => f.set('certificate', 'cert'), 'DOCUMENT_FIELD_INVALID'],
    ['cabundle empty', (f) => f.set('cabundle', []), 'DOCUMENT_FIELD_INVALID'],
    ['cabundle 9 entries', (f) => f.set('cabundle', Array.from({ length: 9 }, () => pemToDer(DEV_ROOT_PEM))), 'DOCUMENT_FIELD_INVALID'],
    ['cabundle entry empty', (f) => f.set('cabundle', [pemToDer(DEV_ROOT_PEM), big(0)]), 'DOCUMENT_FIELD_INVALID'],
    ['cabundle entry text', (f) => f.set('cabundle', [pemToDer(DEV_ROOT_PEM), 'x']), 'DOCUMENT_FIELD_INVALID'],
    ['cabundle map', (f) => f.set('cabundle', new Map()), 'DOCUMENT_FIELD_INVALID'],
    ['user_data 4097 bytes', (f) => f.set('user_data', big(4097)), 'DOCUMENT_FIELD_INVALID'],
    ['nonce 4097 bytes', (f) => f.set('nonce', big(4097)), 'DOCUMENT_FIELD_INVALID'],
    ['public_key text', (f) => f.set('public_key', 'key'), 'DOCUMENT_FIELD_INVALID'],
    ['nonce integer', (f) => f.set('nonce', 1), 'DOCUMENT_FIELD_INVALID'],
    ['user_data false', (f) => f.set('user_data', false), 'DOCUMENT_FIELD_INVALID'],
    ['integer key', (f) => f.set(1, 1), 'DOCUMENT_FIELD_INVALID'],
    ['nitrotpm_pcrs', (f) => f.set('nitrotpm_pcrs', new Map<TestCbor, TestCbor>([[0, big(48)]])), 'NITRO_TPM_DOCUMENT'],
    ['tpm module id', (f) => f.set('module_id', 'i-0123456789abcdef0-tpm0000000000000000'), 'NITRO_TPM_DOCUMENT'],
  ];
  for (const [label, edit, reason] of cases) expectFailure(verifyAttestationDocument(document(edit), DEV), reason, label);
  // Limits are inclusive: 4096-byte user fields, 1024-byte certificate-sized values are fine.
  const large = verifyAttestationDocument(
    document((f) => {
      f.set('user_data', big(4096));
      f.set('public_key', big(1024));
      f.set('nonce', big(1024));
    }),
    DEV,
  );
  assert.ok(large.ok, large.ok ? '' : large.message);
  // Payload that is not a map; payload that is not CBOR.
  expectFailure(verifyAttestationDocument(signTestDocument(encodeTestCbor([1])), DEV), 'DOCUMENT_FIELD_INVALID', 'payload array');
  expectFailure(verifyAttestationDocument(signTestDocument(Uint8Array.of(0xa1, 0x01)), DEV), 'CBOR_MALFORMED', 'payload truncated');
});

test('chain rules on signed documents: order, missing intermediate, CA leaf, P-256 leaf, unparseable and padded DER', () => {
  const root = pemToDer(DEV_ROOT_PEM);
  const intermediate = pemToDer(DEV_INTERMEDIATE_PEM);
  const cases: [string, Edit, Parameters<typeof signTestDocument>[1], ReasonCode][] = [
    ['bundle reversed', (f) => f.set('cabundle', [intermediate, root]), {}, 'CHAIN_UNTRUSTED_ROOT'],
    ['intermediate missing', (f) => f.set('cabundle', [root]), {}, 'CHAIN_BROKEN'],
    ['intermediate twice', (f) => f.set('cabundle', [root, intermediate, intermediate]), {}, 'CHAIN_BROKEN'],
    ['root twice (it would link to itself)', (f) => f.set('cabundle', [root, root, intermediate]), {}, 'CHAIN_BROKEN'],
    ['leaf in the bundle', (f) => f.set('cabundle', [root, intermediate, pemToDer(DEV_LEAF_PEM)]), {}, 'CHAIN_BROKEN'],
    [
      'a CA as leaf',
      (f) => {
        f.set('cabundle', [root]);
        f.set('certificate', intermediate);
      },
      { keyPem: DEV_INTERMEDIATE_KEY_PEM },
      'CHAIN_BROKEN',
    ],
    ['P-256 leaf', (f) => f.set('certificate', pemToDer(DEV_P256_LEAF_PEM)), { keyPem: DEV_P256_LEAF_KEY_PEM, padSignatureTo: 96 }, 'LEAF_KEY_UNSUPPORTED'],
    ['garbage leaf', (f) => f.set('certificate', new Uint8Array(600).fill(0x30)), {}, 'CERTIFICATE_MALFORMED'],
    ['leaf with a trailing byte', (f) => f.set('certificate', Uint8Array.of(...pemToDer(DEV_LEAF_PEM), 0)), {}, 'CERTIFICATE_MALFORMED'],
    ['PEM instead of DER', (f) => f.set('certificate', new TextEncoder().encode(DEV_LEAF_PEM.slice(0, 1000))), {}, 'CERTIFICATE_MALFORMED'],
  ];
  for (const [label, edit, options, reason] of cases) expectFailure(verifyAttestationDocument(document(edit, options), DEV), reason, label);
  // Signed by a key other than the leaf's.
  expectFailure(verifyAttestationDocument(document(() => undefined, { keyPem: DEV_INTERMEDIATE_KEY_PEM }), DEV), 'SIGNATURE_INVALID', 'wrong signer');
  // Validity at `now`, both ends.
  const bytes = document();
  expectFailure(verifyAttestationDocument(bytes, { ...DEV, now: new Date('2026-11-01T00:00:00Z') }), 'CERTIFICATE_NOT_YET_VALID', 'before');
  expectFailure(verifyAttestationDocument(bytes, { ...DEV, now: new Date('2060-01-01T00:00:00Z') }), 'CERTIFICATE_EXPIRED', 'after');
  // Unprotected header entries are not allowed in Nitro documents (they would be unsigned).
  expectFailure(
    verifyAttestationDocument(document(() => undefined, { unprotected: new Map<TestCbor, TestCbor>([[4, Uint8Array.of(1)]]) }), DEV),
    'COSE_MALFORMED',
    'unprotected kid',
  );
});

test('policy: debug mode, PCRs, PCR4 against module_id, nonce, age, future', () => {
  const zeroPcrs: Edit = (f) => {
    const pcrs = f.get('pcrs') as Map<TestCbor, TestCbor>;
    for (const i of [0, 1, 2]) pcrs.set(i, new Uint8Array(48));
  };
  expectFailure(verifyAttestationDocument(document(zeroPcrs), DEV), 'DEBUG_MODE', 'debug');
  const debug = verifyAttestationDocument(document(zeroPcrs), { ...DEV, policy: { allowDebug: true } });
  assert.ok(debug.ok && debug.debugMode);

  const pcr1 = '02'.repeat(48);
  assert.ok(verifyAttestationDocument(document(), { ...DEV, policy: { pcrs: { 1: pcr1, 4: Buffer.from(PCR4).toString('hex').toUpperCase() } } }).ok);
  expectFailure(verifyAttestationDocument(document(), { ...DEV, policy: { pcrs: { 1: '03'.repeat(48) } } }), 'PCR_MISMATCH', 'pcr1');
  assert.throws(() => verifyAttestationDocument(document(), { ...DEV, policy: { pcrs: { 1: '02'.repeat(32) } } }), TypeError, 'a policy PCR that is not 48 bytes is a programmer error');

  const wrongPcr4: Edit = (f) => (f.get('pcrs') as Map<TestCbor, TestCbor>).set(4, new Uint8Array(48).fill(9));
  expectFailure(verifyAttestationDocument(document(wrongPcr4), DEV), 'PCR4_MODULE_MISMATCH', 'pcr4');
  const unchecked = verifyAttestationDocument(document(wrongPcr4), { ...DEV, policy: { checkPcr4ModuleId: false } });
  assert.ok(unchecked.ok && unchecked.checks.some((c) => c.name === 'pcr4-module-id' && c.outcome === 'skipped'));
  const otherForm = verifyAttestationDocument(document((f) => { wrongPcr4(f); f.set('module_id', 'dev-module'); }), DEV);
  assert.ok(otherForm.ok && otherForm.checks.some((c) => c.name === 'pcr4-module-id' && c.outcome === 'skipped'));

  const nonce = Uint8Array.of(1, 2, 3);
  assert.ok(verifyAttestationDocument(document((f) => f.set('nonce', nonce)), { ...DEV, policy: { nonce } }).ok);
  expectFailure(verifyAttestationDocument(document((f) => f.set('nonce', nonce)), { ...DEV, policy: { nonce: Uint8Array.of(1, 2) } }), 'NONCE_MISMATCH', 'nonce prefix');
  expectFailure(verifyAttestationDocument(document(), { ...DEV, policy: { nonce } }), 'NONCE_MISMATCH', 'nonce null');

  assert.ok(verifyAttestationDocument(document(), { ...DEV, policy: { maxAgeMs: 1000 } }).ok);
  expectFailure(verifyAttestationDocument(document(), { ...DEV, policy: { maxAgeMs: 999 } }), 'DOCUMENT_TOO_OLD', 'age');
  const future = document((f) => f.set('timestamp', DEV_PKI_TIME.getTime() + 61_000));
  expectFailure(verifyAttestationDocument(future, { ...DEV, policy: { maxAgeMs: 1000 } }), 'DOCUMENT_FROM_FUTURE', 'future');
  assert.ok(verifyAttestationDocument(future, { ...DEV, policy: { maxAgeMs: 1000, maxClockSkewMs: 61_000 } }).ok);
  assert.ok(verifyAttestationDocument(future, DEV).ok, 'no freshness policy: no future check');
});

test('TLS binding: our scheme end to end; the evervault scheme on a synthetic document; wrong or absent user_data', () => {
  const tls = new X509Certificate(TEST_TLS_CERTIFICATE_PEM);
  const ours = createTlsBindingUserData(tls);
  assert.equal(ours.length, 64);
  assert.equal(Buffer.from(ours.subarray(0, 32)).toString('ascii'), 'http-enclave/tls-spki-sha256/v1:');
  const result = verifyAttestationDocument(document((f) => f.set('user_data', ours)), { ...DEV, policy: { tlsCertificate: TEST_TLS_CERTIFICATE_PEM } });
  assert.ok(result.ok);
  assert.equal(result.tlsBindingScheme, 'http-enclave-spki-sha256-v1');
  expectFailure(
    verifyAttestationDocument(document((f) => f.set('user_data', ours)), { ...DEV, policy: { tlsCertificate: tls, tlsBindingSchemes: ['evervault-spki-der'] } }),
    'TLS_BINDING_MISMATCH',
    'ours not accepted when only evervault is',
  );
  const evervault = verifyAttestationDocument(document((f) => f.set('user_data', subjectPublicKeyInfoDer(tls))), { ...DEV, policy: { tlsCertificate: tls.raw } });
  assert.ok(evervault.ok && evervault.tlsBindingScheme === 'evervault-spki-der');
  const flipped = Uint8Array.from(ours);
  flipped[63] = (flipped[63] ?? 0) ^ 1;
  expectFailure(verifyAttestationDocument(document((f) => f.set('user_data', flipped)), { ...DEV, policy: { tlsCertificate: tls } }), 'TLS_BINDING_MISMATCH', 'flipped');
  expectFailure(verifyAttestationDocument(document(), { ...DEV, policy: { tlsCertificate: tls } }), 'TLS_BINDING_MISMATCH', 'null user_data');
  // Binding a different certificate's key (the dev leaf) fails.
  expectFailure(
    verifyAttestationDocument(document((f) => f.set('user_data', createTlsBindingUserData(DEV_LEAF_PEM))), { ...DEV, policy: { tlsCertificate: tls } }),
    'TLS_BINDING_MISMATCH',
    'other key',
  );
});

test('programmer errors throw TypeError; oversized input is INPUT_TOO_LARGE, not an exception', () => {
  const bytes = document();
  const bad: unknown[] = [
    { root: 'aws' },
    { now: new Date(Number.NaN), root: 'aws' },
    { now: Date.now(), root: 'aws' },
    { now: DEV_PKI_TIME, root: 'dev' },
    { now: DEV_PKI_TIME, root: { certificatePem: 'not a pem' } },
    { now: DEV_PKI_TIME, root: 'aws', policy: { pcrs: { 0: 'zz' } } },
    { now: DEV_PKI_TIME, root: 'aws', policy: { pcrs: { 0: '00'.repeat(47) } } },
    { now: DEV_PKI_TIME, root: 'aws', policy: { pcrs: { 32: '00'.repeat(48) } } },
    { now: DEV_PKI_TIME, root: 'aws', policy: { maxAgeMs: -1 } },
    { now: DEV_PKI_TIME, root: 'aws', policy: { clockSkewMs: 600_001 } },
    { now: DEV_PKI_TIME, root: 'aws', policy: { clockSkewMs: -1 } },
    { now: DEV_PKI_TIME, root: 'aws', policy: { tlsCertificate: 'nope' } },
    { now: DEV_PKI_TIME, root: 'aws', policy: { tlsBindingSchemes: [] } },
    { now: DEV_PKI_TIME, root: 'aws', policy: { tlsBindingSchemes: ['sha1'] } },
  ];
  for (const options of bad) assert.throws(() => verifyAttestationDocument(bytes, options as VerifyAttestationOptions), TypeError, JSON.stringify(options));
  assert.throws(() => verifyAttestationDocument('bytes' as unknown as Uint8Array, DEV), TypeError);
  expectFailure(verifyAttestationDocument(new Uint8Array(MAX_DOCUMENT_BYTES + 1), DEV), 'INPUT_TOO_LARGE', 'too large');
  expectFailure(verifyAttestationDocument(new Uint8Array(0), DEV), 'CBOR_MALFORMED', 'empty');
});

test('a signed document whose timestamp is outside its own leaf certificate validity: TIMESTAMP_OUTSIDE_LEAF_VALIDITY (issue 10, item 3)', async () => {
  const { X509Certificate } = await import('node:crypto');
  const { DEV_LEAF_PEM } = await import('./test-pki.js');
  const leaf = new X509Certificate(DEV_LEAF_PEM);
  const before = Date.parse(leaf.validFrom) - 60_000;
  const after = Date.parse(leaf.validTo) + 60_000;
  for (const timestamp of [before, after]) {
    const bytes = document((fields) => fields.set('timestamp', timestamp));
    expectFailure(verifyAttestationDocument(bytes, DEV), 'TIMESTAMP_OUTSIDE_LEAF_VALIDITY', new Date(timestamp).toISOString());
  }
  assert.ok(verifyAttestationDocument(document(), DEV).ok, 'inside: verifies');
});
