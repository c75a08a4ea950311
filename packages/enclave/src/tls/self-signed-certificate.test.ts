// Tests of the ephemeral TLS identity: parsing and verification in Node,
// acceptance by `openssl x509`, validity window, serial number, SANs.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { test } from 'node:test';

import { EPHEMERAL_CERTIFICATE_BACKDATE_MS, EPHEMERAL_CERTIFICATE_VALIDITY_MS, generateEphemeralTlsIdentity } from './self-signed-certificate.js';

const OPENSSL = '/usr/bin/openssl';
const now = new Date('2026-03-01T12:00:00Z');

test('generated certificate parses, is self-signed and matches its key', () => {
  const identity = generateEphemeralTlsIdentity({ now, commonName: 'localhost', altNames: ['localhost', '127.0.0.1', '::1'] });
  const certificate = new X509Certificate(identity.certPem);
  const privateKey = createPrivateKey(identity.keyPem);
  assert.ok(certificate.verify(certificate.publicKey));
  assert.ok(certificate.checkPrivateKey(privateKey));
  assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(certificate.subject, 'CN=localhost');
  assert.equal(certificate.issuer, 'CN=localhost');
  assert.equal(certificate.ca, false);
  assert.equal(certificate.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  assert.equal(certificate.checkHost('localhost'), 'localhost');
  assert.equal(certificate.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(certificate.checkIP('::1'), '::1');
  assert.equal(new Date(certificate.validFrom).getTime(), now.getTime() - EPHEMERAL_CERTIFICATE_BACKDATE_MS);
  assert.equal(new Date(certificate.validTo).getTime(), now.getTime() + EPHEMERAL_CERTIFICATE_VALIDITY_MS);
  assert.equal(identity.fingerprintSha256, certificate.fingerprint256);
  assert.match(identity.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

test('serial number: 16 bytes from the random source, positive', () => {
  const identity = generateEphemeralTlsIdentity({ now, randomBytes: (size) => Buffer.alloc(size, 0xff) });
  const serial = new X509Certificate(identity.certPem).serialNumber;
  assert.equal(serial, `7F${'FF'.repeat(15)}`);
  const low = generateEphemeralTlsIdentity({ now, randomBytes: (size) => Buffer.alloc(size, 0) });
  assert.equal(new X509Certificate(low.certPem).serialNumber, `40${'00'.repeat(15)}`);
});

test('openssl x509 accepts it and shows prime256v1 and the SANs', () => {
  const identity = generateEphemeralTlsIdentity({ now });
  const text = execFileSync(OPENSSL, ['x509', '-noout', '-text'], { input: identity.certPem, encoding: 'utf8' });
  assert.match(text, /prime256v1/);
  assert.match(text, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /CA:FALSE/);
  const fingerprint = execFileSync(OPENSSL, ['x509', '-noout', '-fingerprint', '-sha256'], { input: identity.certPem, encoding: 'utf8' });
  assert.equal(fingerprint.trim().split('=')[1], identity.fingerprintSha256);
});

test('each call generates a new key', () => {
  const first = generateEphemeralTlsIdentity({ now });
  const second = generateEphemeralTlsIdentity({ now });
  assert.notEqual(first.fingerprintSha256, second.fingerprintSha256);
  assert.notEqual(first.keyPem, second.keyPem);
});
