// user_data = "http-enclave/tls-spki-sha256/v1:" || SHA-256(SPKI DER), with
// the SPKI sliced from the certificate's own DER bytes.

import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { test } from 'node:test';

import { generateEphemeralTlsIdentity } from '../tls/self-signed-certificate.js';
import { readCertificateDerFields } from './certificate-der.js';
import { TLS_BINDING_BYTES, tlsBindingUserData } from './tls-binding.js';
import { CertificateDerError } from '../enclave-errors.js';

test('the binding is the label and the SHA-256 of the certificate\'s SubjectPublicKeyInfo: 64 bytes', () => {
  const certificate = new X509Certificate(generateEphemeralTlsIdentity({ now: new Date() }).certPem);
  const binding = tlsBindingUserData(Buffer.from(certificate.raw));
  const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  assert.equal(binding.length, TLS_BINDING_BYTES);
  assert.equal(binding.subarray(0, 32).toString('ascii'), 'http-enclave/tls-spki-sha256/v1:');
  assert.deepEqual(binding.subarray(32), createHash('sha256').update(spki).digest());
  // A second certificate for another key binds differently.
  const other = new X509Certificate(generateEphemeralTlsIdentity({ now: new Date() }).certPem);
  assert.notDeepEqual(tlsBindingUserData(Buffer.from(other.raw)), binding);
});

test('the DER reader finds issuer, subject and SPKI, and refuses truncated or foreign bytes', () => {
  const certificate = new X509Certificate(generateEphemeralTlsIdentity({ now: new Date(), commonName: 'enclave.test' }).certPem);
  const der = Buffer.from(certificate.raw);
  const fields = readCertificateDerFields(der);
  assert.deepEqual(fields.subjectPublicKeyInfo, certificate.publicKey.export({ type: 'spki', format: 'der' }));
  assert.ok(fields.subjectName.includes(Buffer.from('enclave.test')));
  assert.deepEqual(fields.issuerName, fields.subjectName, 'self-signed');
  for (const bad of [der.subarray(0, 100), Buffer.from('3003020100', 'hex'), Buffer.from('04020000', 'hex'), Buffer.alloc(0), Buffer.from('3084ffffffff', 'hex')]) {
    assert.throws(() => readCertificateDerFields(bad), (error: unknown) => error instanceof CertificateDerError && error.code === 'CERTIFICATE_DER_INVALID');
  }
});
