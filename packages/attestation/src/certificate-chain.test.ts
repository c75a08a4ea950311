// Certificate chain helpers: validity-time parsing and the pinned root.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';

import { AWS_NITRO_ROOT_SHA256, parseCertificateTime, verifyCertificateChain } from './certificate-chain.js';
import { AttestationError } from './reason-codes.js';
import { DEV_INTERMEDIATE_PEM, DEV_LEAF_PEM, DEV_PKI_TIME, DEV_ROOT_PEM } from './test-pki.js';
import { loadTextVector, loadVectorIndex, pemToDer } from './test-support.js';

test('validity times are parsed strictly from node\'s OpenSSL text form', () => {
  assert.equal(parseCertificateTime('Oct 28 13:28:05 2019 GMT'), Date.parse('2019-10-28T13:28:05Z'));
  assert.equal(parseCertificateTime('Oct  8 13:28:05 2049 GMT'), Date.parse('2049-10-08T13:28:05Z'));
  for (const bad of ['2019-10-28T13:28:05Z', 'Foo 28 13:28:05 2019 GMT', 'Oct 28 13:28:05 2019', '']) {
    assert.throws(() => parseCertificateTime(bad), (e: unknown) => e instanceof AttestationError && e.code === 'CERTIFICATE_MALFORMED');
  }
  const root = new X509Certificate(loadTextVector(loadVectorIndex().root.file));
  assert.equal(new Date(parseCertificateTime(root.validTo)).toISOString(), '2049-10-28T14:28:05.000Z');
});

test('the dev chain verifies with its root; the AWS anchor refuses it; validity is inclusive', () => {
  const bundle = [pemToDer(DEV_ROOT_PEM), pemToDer(DEV_INTERMEDIATE_PEM)];
  const leaf = pemToDer(DEV_LEAF_PEM);
  const chain = verifyCertificateChain(bundle, leaf, { kind: 'dev', certificate: new X509Certificate(DEV_ROOT_PEM) }, DEV_PKI_TIME);
  assert.equal(chain.certificates.length, 3);
  assert.equal(chain.leaf.subject.includes('i-0123456789abcdef0'), true);
  assert.throws(
    () => verifyCertificateChain(bundle, leaf, { kind: 'aws' }, DEV_PKI_TIME),
    (e: unknown) => e instanceof AttestationError && e.code === 'CHAIN_UNTRUSTED_ROOT',
  );
  const notBefore = parseCertificateTime(new X509Certificate(DEV_LEAF_PEM).validFrom);
  const anchor = { kind: 'dev', certificate: new X509Certificate(DEV_ROOT_PEM) } as const;
  verifyCertificateChain(bundle, leaf, anchor, new Date(notBefore));
  assert.throws(
    () => verifyCertificateChain(bundle, leaf, anchor, new Date(notBefore - 1)),
    (e: unknown) => e instanceof AttestationError && e.code === 'CERTIFICATE_NOT_YET_VALID',
  );
  assert.match(AWS_NITRO_ROOT_SHA256, /^[0-9a-f]{64}$/);
});
