// The attestation variables of the enclave's configuration: default `none`,
// an unknown value is an error, and the dev root files are both or neither
// and only with `dev`.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { EnclaveConfigError, loadEnclaveConfig } from './config.js';

const base = { ENCLAVE_KEY_BASE64: randomBytes(32).toString('base64') };

function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadEnclaveConfig(env);
  } catch (error) {
    if (error instanceof EnclaveConfigError) return error.problems;
    throw error;
  }
  return [];
}

test('ATTESTATION_PROVIDER defaults to none (never dev) and accepts nsm and dev', () => {
  assert.equal(loadEnclaveConfig(base).attestationProvider, 'none');
  assert.equal(loadEnclaveConfig({ ...base, ATTESTATION_PROVIDER: 'dev' }).attestationProvider, 'dev');
  assert.equal(loadEnclaveConfig({ ...base, ATTESTATION_PROVIDER: 'nsm' }).attestationProvider, 'nsm');
  assert.deepEqual(problemsOf({ ...base, ATTESTATION_PROVIDER: 'aws' }), ['ATTESTATION_PROVIDER: must be one of none, nsm, dev']);
});

test('the dev root files: both or neither, only with dev', () => {
  const both = { ATTESTATION_DEV_ROOT_KEY_PATH: '/k.pem', ATTESTATION_DEV_ROOT_CERT_PATH: '/c.pem' };
  const config = loadEnclaveConfig({ ...base, ATTESTATION_PROVIDER: 'dev', ...both });
  assert.equal(config.attestationDevRootKeyPath, '/k.pem');
  assert.equal(config.attestationDevRootCertPath, '/c.pem');
  assert.equal(loadEnclaveConfig({ ...base, ATTESTATION_PROVIDER: 'dev' }).attestationDevRootKeyPath, undefined);
  assert.deepEqual(problemsOf({ ...base, ATTESTATION_PROVIDER: 'dev', ATTESTATION_DEV_ROOT_KEY_PATH: '/k.pem' }), [
    'ATTESTATION_DEV_ROOT_CERT_PATH: must be set too when ATTESTATION_DEV_ROOT_KEY_PATH is set (both or neither)',
  ]);
  assert.deepEqual(problemsOf({ ...base, ATTESTATION_PROVIDER: 'dev', ATTESTATION_DEV_ROOT_CERT_PATH: '/c.pem' }), [
    'ATTESTATION_DEV_ROOT_KEY_PATH: must be set too when ATTESTATION_DEV_ROOT_CERT_PATH is set (both or neither)',
  ]);
  assert.deepEqual(problemsOf({ ...base, ...both }), [
    'ATTESTATION_DEV_ROOT_KEY_PATH: only used with ATTESTATION_PROVIDER=dev',
    'ATTESTATION_DEV_ROOT_CERT_PATH: only used with ATTESTATION_PROVIDER=dev',
  ]);
});

test('the Nitro image addresses: ENCLAVE_LISTEN=vsock://any:5005 and STORAGE_ADDR=vsock://3:5006 are accepted', () => {
  const config = loadEnclaveConfig({ ...base, ENCLAVE_LISTEN: 'vsock://any:5005', STORAGE_ADDR: 'vsock://3:5006' });
  assert.deepEqual(config.listen, { scheme: 'vsock', cid: 'any', port: 5005 });
  assert.deepEqual(config.storageAddress, { scheme: 'vsock', cid: 3, port: 5006 });
  assert.match(problemsOf({ ...base, ENCLAVE_LISTEN: 'vsock://x:5005' }).join(';'), /^ENCLAVE_LISTEN: /);
});

test('KEY_SOURCE=kms: KMS_KEY_ID must be the full key ARN in AWS_REGION (an alias resolves in the account of the host-supplied credentials)', () => {
  const kms = { KEY_SOURCE: 'kms', ATTESTATION_PROVIDER: 'dev', AWS_REGION: 'eu-west-3' };
  const arn = 'arn:aws:kms:eu-west-3:111122223333:key/6f1f9c4e-0c44-4a8e-9a39-1f0b5d0c2a11';
  assert.equal(loadEnclaveConfig({ ...kms, KMS_KEY_ID: arn }).kms?.keyId, arn);
  assert.equal(loadEnclaveConfig({ ...kms, KMS_KEY_ID: 'arn:aws:kms:eu-west-3:111122223333:key/mrk-0123456789abcdef0123456789abcdef' }).kms?.region, 'eu-west-3');
  for (const keyId of ['alias/http-enclave', 'arn:aws:kms:eu-west-3:111122223333:alias/http-enclave', '6f1f9c4e-0c44-4a8e-9a39-1f0b5d0c2a11', `${arn} `.repeat(2)]) {
    assert.match(problemsOf({ ...kms, KMS_KEY_ID: keyId }).join(';'), /^KMS_KEY_ID: must be the full key ARN/, keyId);
  }
  assert.deepEqual(problemsOf({ ...kms, KMS_KEY_ID: arn.replace('eu-west-3', 'us-east-1') }), ['KMS_KEY_ID: the key ARN is in region us-east-1, but AWS_REGION is eu-west-3']);
  assert.deepEqual(problemsOf({ ...kms, KMS_KEY_ID: arn, ENCLAVE_KEY_BASE64: base.ENCLAVE_KEY_BASE64 }), ['ENCLAVE_KEY_BASE64: must not be set with KEY_SOURCE=kms (the keyring comes from KMS only)']);
  assert.deepEqual(problemsOf({ ...base, KMS_KEY_ID: arn }), ['KMS_KEY_ID: only used with KEY_SOURCE=kms']);
  assert.deepEqual(problemsOf({ KEY_SOURCE: 'kms', KMS_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/6f1f9c4e-0c44-4a8e-9a39-1f0b5d0c2a11' }), [
    'ATTESTATION_PROVIDER: must be nsm (or dev in development) with KEY_SOURCE=kms: KMS releases keys only against an attestation document',
  ]);
});
