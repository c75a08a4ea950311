// Tests of loadTlsIdentity: files, generated, one file missing, and unusable files.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { generateEphemeralTlsIdentity } from './self-signed-certificate.js';
import { loadTlsIdentity } from './tls-identity.js';
import { ConfigInvalidError } from '../enclave-errors.js';

const now = new Date();
let directory = '';
let certPath = '';
let keyPath = '';

before(() => {
  directory = mkdtempSync(join(tmpdir(), 'he-tls-identity-'));
  certPath = join(directory, 'cert.pem');
  keyPath = join(directory, 'key.pem');
  execFileSync('/usr/bin/openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-keyout', keyPath, '-out', certPath, '-days', '365', '-nodes', '-subj', '/CN=localhost'], { stdio: 'ignore' });
});
after(() => rmSync(directory, { recursive: true, force: true }));

function assertConfigInvalid(fn: () => unknown, messagePattern: RegExp, mustNotContain?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigInvalidError);
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.match(error.message, messagePattern);
    if (mustNotContain !== undefined) assert.ok(!error.message.includes(mustNotContain));
    return true;
  });
}

test('both files exist: source files, parsed and matched', () => {
  const identity = loadTlsIdentity({ certPath, keyPath, now });
  assert.equal(identity.source, 'files');
  assert.equal(identity.fingerprintSha256, new X509Certificate(identity.certPem).fingerprint256);
  // A pattern for the PEM header of the key openssl generated at test time, not a key.
  assert.match(identity.keyPem, /^-{5}BEGIN PRIVATE KEY-{5}\n/);
});

test('neither file exists: source generated', () => {
  const identity = loadTlsIdentity({ certPath: join(directory, 'none.pem'), keyPath: join(directory, 'none.key'), now });
  assert.equal(identity.source, 'generated');
  assert.equal(new X509Certificate(identity.certPem).publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
});

test('exactly one file exists: CONFIG_INVALID naming the missing variable', () => {
  assertConfigInvalid(() => loadTlsIdentity({ certPath, keyPath: join(directory, 'missing.key'), now }), /^TLS_KEY_PATH: file does not exist while TLS_CERT_PATH does/);
  assertConfigInvalid(() => loadTlsIdentity({ certPath: join(directory, 'missing.pem'), keyPath, now }), /^TLS_CERT_PATH: file does not exist while TLS_KEY_PATH does/);
  // injected existence check
  assertConfigInvalid(() => loadTlsIdentity({ certPath: 'a', keyPath: 'b', now, exists: (path) => path === 'a' }), /^TLS_KEY_PATH/);
});

test('unparseable certificate or key: CONFIG_INVALID naming the variable, no content echoed', () => {
  const canary = 'CANARY-not-a-certificate-91f2';
  const garbage = join(directory, 'garbage.pem');
  writeFileSync(garbage, `-----BEGIN CERTIFICATE-----\n${canary}\n-----END CERTIFICATE-----\n`);
  assertConfigInvalid(() => loadTlsIdentity({ certPath: garbage, keyPath, now }), /^TLS_CERT_PATH: not a parseable X\.509 certificate/, canary);
  assertConfigInvalid(() => loadTlsIdentity({ certPath, keyPath: garbage, now }), /^TLS_KEY_PATH: not a parseable unencrypted private key/, canary);
});

test('unreadable file: CONFIG_INVALID with the errno code', () => {
  const subdirectory = join(directory, 'a-directory');
  mkdirSync(subdirectory);
  assertConfigInvalid(() => loadTlsIdentity({ certPath: subdirectory, keyPath, now }), /^TLS_CERT_PATH: file could not be read \(EISDIR\)/);
});

test('key that does not match the certificate: CONFIG_INVALID', () => {
  const other = generateEphemeralTlsIdentity({ now });
  const otherKey = join(directory, 'other.key');
  writeFileSync(otherKey, other.keyPem);
  assertConfigInvalid(() => loadTlsIdentity({ certPath, keyPath: otherKey, now }), /does not match the certificate/);
});
