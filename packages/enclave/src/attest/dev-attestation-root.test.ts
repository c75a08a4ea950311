// The dev root: generated, or loaded from a key and certificate file pair
// (made by OpenSSL or by our builder), and every refusal with CONFIG_INVALID
// naming the variable.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { createSelfSignedCertificate, derToPem } from '../tls/certificate-builder.js';
import { createDevAttestationProvider } from './dev-attestation-provider.js';
import { generateDevAttestationRoot, loadDevAttestationRoot } from './dev-attestation-root.js';
import { ConfigInvalidError } from '../enclave-errors.js';

const OPENSSL = '/usr/bin/openssl';
const now = new Date();
let directory: string;
before(() => {
  directory = mkdtempSync(join(tmpdir(), 'he-dev-root-'));
});
after(() => rmSync(directory, { recursive: true, force: true }));

function writePair(name: string, options: { curve?: string; ca?: boolean; commonName?: string } = {}): { keyPath: string; certPath: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: options.curve ?? 'secp384r1' });
  const der = createSelfSignedCertificate({
    subjectCommonName: options.commonName ?? 'my dev root',
    privateKey,
    serialNumber: Buffer.from([7]),
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 86_400_000),
    signatureHash: 'sha384',
    isCertificateAuthority: options.ca ?? true,
    keyUsage: options.ca === false ? ['digitalSignature'] : ['keyCertSign', 'cRLSign'],
  });
  const keyPath = join(directory, `${name}.key`);
  const certPath = join(directory, `${name}.pem`);
  writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(certPath, derToPem(der));
  return { keyPath, certPath };
}

function rejectsWith(variables: readonly string[], run: () => unknown): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ConfigInvalidError, String(error));
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.deepEqual([...error.variables].sort(), [...variables].sort());
    assert.match(error.message, new RegExp(`^${variables[0]}: `));
    return true;
  });
}

test('a generated root is a P-384 CA named DEV, and its fingerprint is the SHA-256 of its DER', () => {
  const root = generateDevAttestationRoot(now);
  const certificate = new X509Certificate(root.certificateDer);
  assert.equal(root.source, 'generated');
  assert.ok(certificate.ca);
  assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  assert.match(certificate.subject, /DEV/);
  assert.equal(root.fingerprintSha256, createHash('sha256').update(root.certificateDer).digest('hex'));
});

test('a root made with openssl req -x509 loads, and documents chain to it across "restarts"', () => {
  const keyPath = join(directory, 'openssl.key');
  const certPath = join(directory, 'openssl.pem');
  execFileSync(OPENSSL, ['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', keyPath]);
  execFileSync(OPENSSL, [
    'req', '-x509', '-new', '-key', keyPath, '-sha384', '-days', '30', '-subj', '/CN=team dev attestation root', '-out', certPath,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  // After OpenSSL stamped notBefore (whole seconds): the module-level `now` may predate it.
  const loadedAt = new Date(Date.now() + 1000);
  const first = loadDevAttestationRoot({ keyPath, certPath, now: loadedAt });
  const second = loadDevAttestationRoot({ keyPath, certPath, now: loadedAt });
  assert.equal(first.source, 'files');
  assert.equal(first.fingerprintSha256, second.fingerprintSha256);
  assert.equal(first.fingerprintSha256, new X509Certificate(execFileSync(OPENSSL, ['x509', '-in', certPath, '-outform', 'DER'])).fingerprint256.replace(/:/g, '').toLowerCase());
  const measurements = { pcr0: Buffer.alloc(48, 1), pcr1: Buffer.alloc(48, 2), pcr2: Buffer.alloc(48, 3) };
  const provider = createDevAttestationProvider({ root: second, measurements, now: () => loadedAt });
  assert.equal(provider.rootFingerprintSha256, first.fingerprintSha256);
});

test('refusals name the variable: unreadable, unparseable, wrong curve, mismatched, not a CA, foreign subject, expired', () => {
  const good = writePair('good');
  assert.equal(loadDevAttestationRoot({ ...good, now }).commonName, 'my dev root');
  rejectsWith(['ATTESTATION_DEV_ROOT_CERT_PATH'], () => loadDevAttestationRoot({ ...good, certPath: join(directory, 'missing.pem'), now }));
  rejectsWith(['ATTESTATION_DEV_ROOT_KEY_PATH'], () => loadDevAttestationRoot({ ...good, keyPath: join(directory, 'missing.key'), now }));
  writeFileSync(join(directory, 'garbage'), 'not pem');
  rejectsWith(['ATTESTATION_DEV_ROOT_CERT_PATH'], () => loadDevAttestationRoot({ ...good, certPath: join(directory, 'garbage'), now }));
  rejectsWith(['ATTESTATION_DEV_ROOT_KEY_PATH'], () => loadDevAttestationRoot({ ...good, keyPath: join(directory, 'garbage'), now }));
  const p256 = writePair('p256', { curve: 'prime256v1' });
  rejectsWith(['ATTESTATION_DEV_ROOT_KEY_PATH'], () => loadDevAttestationRoot({ ...p256, now }));
  const other = writePair('other');
  rejectsWith(['ATTESTATION_DEV_ROOT_KEY_PATH', 'ATTESTATION_DEV_ROOT_CERT_PATH'], () => loadDevAttestationRoot({ keyPath: other.keyPath, certPath: good.certPath, now }));
  const leaf = writePair('leaf', { ca: false });
  rejectsWith(['ATTESTATION_DEV_ROOT_CERT_PATH'], () => loadDevAttestationRoot({ ...leaf, now }));
  rejectsWith(['ATTESTATION_DEV_ROOT_CERT_PATH'], () => loadDevAttestationRoot({ ...good, now: new Date(now.getTime() + 2 * 86_400_000) }));
  // A subject with more than a CN cannot be reproduced as the issuer name.
  const keyPath = join(directory, 'multi.key');
  const certPath = join(directory, 'multi.pem');
  execFileSync(OPENSSL, ['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', keyPath]);
  execFileSync(OPENSSL, ['req', '-x509', '-new', '-key', keyPath, '-sha384', '-days', '30', '-subj', '/O=Example/CN=root', '-out', certPath, '-addext', 'basicConstraints=critical,CA:TRUE']);
  rejectsWith(['ATTESTATION_DEV_ROOT_CERT_PATH'], () => loadDevAttestationRoot({ keyPath, certPath, now }));
});
