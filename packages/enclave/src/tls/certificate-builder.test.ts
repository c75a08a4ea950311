// Tests of the X.509 builder beyond the TLS leaf: a P-384 CA + leaf chain
// (the shape the attestation chain will need), checked by Node and OpenSSL.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { createCertificate, createSelfSignedCertificate, derToPem, ipAddressBytes } from './certificate-builder.js';
import { CertificateBuildError } from '../enclave-errors.js';

const OPENSSL = '/usr/bin/openssl';
const now = new Date('2026-01-01T00:00:00Z');
const later = new Date('2051-01-01T00:00:00Z'); // exercises GeneralizedTime

test('P-384 CA and leaf chain verify in Node and OpenSSL', () => {
  const ca = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const leaf = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const caDer = createSelfSignedCertificate({
    subjectCommonName: 'http-enclave test root',
    privateKey: ca.privateKey,
    serialNumber: Buffer.from([1]),
    notBefore: now,
    notAfter: later,
    signatureHash: 'sha384',
    isCertificateAuthority: true,
    pathLength: 0,
    keyUsage: ['keyCertSign', 'cRLSign'],
  });
  const leafDer = createCertificate({
    subjectCommonName: 'enclave leaf',
    publicKey: leaf.publicKey,
    issuer: { commonName: 'http-enclave test root', privateKey: ca.privateKey },
    serialNumber: Buffer.from('00ff', 'hex'),
    notBefore: now,
    notAfter: later,
    signatureHash: 'sha384',
    isCertificateAuthority: false,
    keyUsage: ['digitalSignature'],
    extendedKeyUsage: ['serverAuth', 'clientAuth'],
    dnsNames: ['enclave.example'],
  });
  const caCert = new X509Certificate(caDer);
  const leafCert = new X509Certificate(leafDer);
  assert.equal(caCert.ca, true);
  assert.equal(leafCert.ca, false);
  assert.ok(caCert.verify(ca.publicKey));
  assert.ok(leafCert.verify(ca.publicKey));
  assert.ok(leafCert.checkIssued(caCert));
  assert.equal(leafCert.serialNumber.toUpperCase(), 'FF');
  assert.equal(new Date(leafCert.validTo).getTime(), later.getTime());

  const directory = mkdtempSync(join(tmpdir(), 'he-chain-'));
  try {
    writeFileSync(join(directory, 'ca.pem'), derToPem(caDer));
    writeFileSync(join(directory, 'leaf.pem'), derToPem(leafDer));
    const verify = execFileSync(OPENSSL, ['verify', '-attime', String(now.getTime() / 1000 + 60), '-CAfile', join(directory, 'ca.pem'), join(directory, 'leaf.pem')], { encoding: 'utf8' });
    assert.match(verify, /leaf\.pem: OK/);
    const caText = execFileSync(OPENSSL, ['x509', '-in', join(directory, 'ca.pem'), '-noout', '-text'], { encoding: 'utf8' });
    assert.match(caText, /secp384r1/);
    assert.match(caText, /CA:TRUE, pathlen:0/);
    assert.match(caText, /Certificate Sign, CRL Sign/);
    assert.match(caText, /ecdsa-with-SHA384/);
    const leafText = execFileSync(OPENSSL, ['x509', '-in', join(directory, 'leaf.pem'), '-noout', '-text'], { encoding: 'utf8' });
    assert.match(leafText, /Authority Key Identifier/);
    assert.match(leafText, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(leafText, /Not After : Jan {2}1 00:00:00 2051 GMT/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('IP addresses encode to network-order bytes', () => {
  assert.equal(ipAddressBytes('127.0.0.1').toString('hex'), '7f000001');
  assert.equal(ipAddressBytes('::1').toString('hex'), `${'00'.repeat(15)}01`);
  assert.equal(ipAddressBytes('2001:db8::8a2e:370:7334').toString('hex'), '20010db80000000000008a2e03707334');
  assert.equal(ipAddressBytes('::ffff:192.0.2.1').toString('hex'), '00000000000000000000ffffc0000201');
  assert.throws(() => ipAddressBytes('localhost'), CertificateBuildError);
});

test('bad specifications are CERTIFICATE_BUILD errors', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const base = {
    subjectCommonName: 'x', privateKey, serialNumber: Buffer.from([1]), notBefore: now, notAfter: later,
    signatureHash: 'sha256' as const, isCertificateAuthority: false, keyUsage: ['digitalSignature' as const],
  };
  const bad: ((typeof base) & Record<string, unknown>)[] = [
    { ...base, serialNumber: Buffer.alloc(21, 1) },
    { ...base, serialNumber: Buffer.alloc(2) },
    { ...base, notAfter: now },
    { ...base, pathLength: 0 },
    { ...base, subjectCommonName: '' },
    { ...base, privateKey: rsa.privateKey },
    { ...base, dnsNames: ['bad name'] },
  ];
  for (const spec of bad) {
    assert.throws(() => createSelfSignedCertificate(spec), (error: unknown) => error instanceof CertificateBuildError && error.code === 'CERTIFICATE_BUILD');
  }
});
