// TLS binding schemes: SPKI sliced from the certificate DER, our format, the
// evervault format against the real documents' user_data.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';

import { parseAttestationDocument } from './attestation-document.js';
import { decodeCoseSign1 } from './cose-sign1.js';
import { DEV_LEAF_PEM, DEV_ROOT_PEM, TEST_TLS_CERTIFICATE_PEM } from './test-pki.js';
import { loadBase64Vector, loadTextVector } from './test-support.js';
import { createTlsBindingUserData, findTlsBindingScheme, HTTP_ENCLAVE_TLS_BINDING_LABEL, subjectPublicKeyInfoDer } from './user-data-binding.js';

const TLS_VECTORS = ['evervault-1', 'evervault-4', 'evervault-5'];

test('the SPKI sliced from the DER equals node:crypto\'s export, for every certificate at hand', () => {
  const pems = [DEV_LEAF_PEM, DEV_ROOT_PEM, TEST_TLS_CERTIFICATE_PEM, ...TLS_VECTORS.map((n) => loadTextVector(`${n}.tls-cert.pem`))];
  for (const pem of pems) {
    const certificate = new X509Certificate(pem);
    assert.deepEqual(Buffer.from(subjectPublicKeyInfoDer(certificate)), certificate.publicKey.export({ type: 'spki', format: 'der' }));
  }
});

test('evervault documents: user_data is exactly the SPKI DER of their TLS certificate', () => {
  for (const name of TLS_VECTORS) {
    const document = parseAttestationDocument(decodeCoseSign1(loadBase64Vector(`${name}.b64`)).payload);
    const certificate = new X509Certificate(loadTextVector(`${name}.tls-cert.pem`));
    assert.deepEqual(document.userData, subjectPublicKeyInfoDer(certificate));
    assert.equal(findTlsBindingScheme(document.userData, certificate), 'evervault-spki-der');
    assert.equal(findTlsBindingScheme(document.userData, certificate, ['http-enclave-spki-sha256-v1']), null);
  }
});

test('our scheme: label || SHA-256(SPKI), 64 bytes, found only for the same key', () => {
  assert.equal(HTTP_ENCLAVE_TLS_BINDING_LABEL.length, 32);
  const tls = new X509Certificate(TEST_TLS_CERTIFICATE_PEM);
  const userData = createTlsBindingUserData(TEST_TLS_CERTIFICATE_PEM);
  assert.equal(userData.length, 64);
  assert.deepEqual(createTlsBindingUserData(tls.raw), userData);
  assert.equal(findTlsBindingScheme(userData, tls), 'http-enclave-spki-sha256-v1');
  assert.equal(findTlsBindingScheme(userData, new X509Certificate(DEV_LEAF_PEM)), null);
  assert.equal(findTlsBindingScheme(userData.subarray(0, 63), tls), null);
  assert.equal(findTlsBindingScheme(null, tls), null);
});

test('session scheme v2: label || SHA-256(SPKI) || exporter, 96 bytes; the key part found for the same key only; the exporter checked by the policy', async () => {
  const { createHash, randomBytes } = await import('node:crypto');
  const { checkTlsBinding } = await import('./attestation-policy.js');
  const { HTTP_ENCLAVE_TLS_SESSION_LABEL, sessionExporterOf } = await import('./user-data-binding.js');
  assert.equal(HTTP_ENCLAVE_TLS_SESSION_LABEL.length, 32);
  const tls = new X509Certificate(TEST_TLS_CERTIFICATE_PEM);
  const exporter = randomBytes(32);
  const userData = createTlsBindingUserData(tls, exporter);
  // Written from the spec, not by the encoder: label, digest of the SPKI, exporter.
  const expected = Buffer.concat([Buffer.from(HTTP_ENCLAVE_TLS_SESSION_LABEL, 'ascii'), createHash('sha256').update(subjectPublicKeyInfoDer(tls)).digest(), exporter]);
  assert.deepEqual(Buffer.from(userData), expected);
  assert.equal(findTlsBindingScheme(userData, tls), 'http-enclave-session-v2');
  assert.deepEqual(Buffer.from(sessionExporterOf(userData) ?? []), exporter);
  assert.equal(findTlsBindingScheme(userData, new X509Certificate(DEV_LEAF_PEM)), null, 'another key');
  const document = { userData } as unknown as Parameters<typeof checkTlsBinding>[0];
  assert.equal(checkTlsBinding(document, tls, ['http-enclave-session-v2'], exporter), 'http-enclave-session-v2');
  assert.throws(() => checkTlsBinding(document, tls, ['http-enclave-session-v2'], randomBytes(32)), { code: 'TLS_SESSION_MISMATCH' });
  const keyOnly = { userData: createTlsBindingUserData(tls) } as unknown as Parameters<typeof checkTlsBinding>[0];
  assert.equal(checkTlsBinding(keyOnly, tls, ['http-enclave-spki-sha256-v1']), 'http-enclave-spki-sha256-v1', 'without an exporter in the policy: key only');
  assert.throws(() => checkTlsBinding(keyOnly, tls, ['http-enclave-spki-sha256-v1'], exporter), { code: 'TLS_SESSION_MISMATCH' }, 'a key-only document cannot satisfy a session check');
});
