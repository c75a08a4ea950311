// The enclave's configuration: the attestation variables (default `none`,
// dev root files both or neither and only with `dev`), KMS settings, and the
// rules both programs share (exact values, empty is an error, unknown names
// with the enclave's prefixes are typos, every problem `NAME: problem`).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { ConfigInvalidError } from '@http-enclave/program';
import { ENCLAVE_ENV_VARIABLES, loadEnclaveConfig, PRODUCTION_REFUSAL_SUFFIX } from './config.js';

const base = { ENCLAVE_KEY_BASE64: randomBytes(32).toString('base64') };

function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadEnclaveConfig(env);
  } catch (error) {
    if (error instanceof ConfigInvalidError) return error.problems.map((p) => `${p.variable}: ${p.problem}`);
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

test('values are taken exactly as written: the documented lower-case words, plain decimal integers, no surrounding blanks', () => {
  assert.equal(loadEnclaveConfig({ ...base, USE_TLS: 'false', AUTH_MODE: 'none', LOG_LEVEL: 'debug' }).useTls, false);
  for (const [name, value, problem] of [
    ['USE_TLS', 'FALSE', 'must be one of true, false'],
    ['USE_TLS', ' true', 'must be one of true, false'],
    ['AUTH_MODE', 'Token', 'must be one of token, none'],
    ['LOG_LEVEL', 'INFO', 'must be one of debug, info, warn, error'],
    ['ENCLAVE_MODE', 'Production', 'must be one of production, development'],
    ['MAX_CONNECTIONS', ' 10', 'must be a decimal integer in 1..1000000'],
    ['MAX_CONNECTIONS', '010', 'must be a decimal integer in 1..1000000'],
    ['MAX_CONNECTIONS', '0', 'must be in 1..1000000'],
    ['TELEMETRY_ADDR', 'OFF', undefined],
  ] as const) {
    const problems = problemsOf({ ...base, [name]: value });
    assert.equal(problems.length, 1, `${name}=${JSON.stringify(value)}: ${problems.join('; ')}`);
    assert.ok(problems[0]?.startsWith(`${name}: `), problems[0]);
    if (problem !== undefined) assert.equal(problems[0], `${name}: ${problem}`);
  }
  assert.equal(loadEnclaveConfig({ ...base, TELEMETRY_ADDR: 'off' }).telemetryAddress, undefined);
});

test('an empty value is an error (unset it to use the default), for every variable the enclave declares, read or not', () => {
  assert.deepEqual(problemsOf({ ...base, MAX_BODY_BYTES: '' }), ['MAX_BODY_BYTES: is empty (unset it to use the default)']);
  assert.deepEqual(problemsOf({ ...base, TLS_CERT_PATH: '  ' }), ['TLS_CERT_PATH: is empty (unset it to use the default)']);
  // AWS_REGION is read with KEY_SOURCE=kms only; empty, it is still a mistake.
  assert.deepEqual(problemsOf({ ...base, AWS_REGION: '' }), ['AWS_REGION: is empty (unset it to use the default)']);
  assert.deepEqual(problemsOf({ ENCLAVE_KEY_BASE64: '' }), ['ENCLAVE_KEY_BASE64: is empty (it needs a value)']);
  assert.deepEqual(problemsOf({}), ['ENCLAVE_KEY_BASE64: is not set (expected base64 of 32 bytes)']);
});

test('an unknown name with the enclave\'s prefixes is a typo; the host\'s ENCLAVE_ADDR and ENCLAVE_CID, the KMS double\'s KMS_DOUBLE_* and other prefixes are left alone', () => {
  assert.deepEqual(problemsOf({ ...base, ENCLAVE_LISTEN_ADDR: 'x', KMS_KEYID: 'x', TLS_CERT: 'x' }).map((p) => p.split(':')[0]), ['ENCLAVE_LISTEN_ADDR', 'KMS_KEYID', 'TLS_CERT']);
  assert.match(problemsOf({ ...base, ATTESTATION_PROVIDERS: 'nsm' })[0] ?? '', /^ATTESTATION_PROVIDERS: unknown variable/);
  assert.deepEqual(problemsOf({ ...base, ENCLAVE_ADDR: 'tcp://127.0.0.1:1', ENCLAVE_CID: '16', HOST_MAX_CONNECTIONS: '5', BIND_ADDR: 'x', NODE_ENV: 'production', KMS_DOUBLE_PORT: '0' }), []);
});

test('the master key is never repeated in a problem', () => {
  const key = randomBytes(31).toString('base64');
  const problems = problemsOf({ ENCLAVE_KEY_BASE64: key, USE_TLS: 'maybe' });
  assert.deepEqual(problems.map((p) => p.split(':')[0]), ['USE_TLS', 'ENCLAVE_KEY_BASE64']);
  assert.match(problems.join(';'), /ENCLAVE_KEY_BASE64: must decode to exactly 32 bytes, got 31 bytes/);
  assert.ok(!problems.join(';').includes(key));
});

test('production mode: each development choice is a problem ending with the refusal suffix; development mode labels them', () => {
  const problems = problemsOf({ ...base, ENCLAVE_MODE: 'production', USE_TLS: 'false' });
  assert.deepEqual(problems.filter((p) => p.endsWith(PRODUCTION_REFUSAL_SUFFIX)).map((p) => p.split(':')[0]), ['KEY_SOURCE', 'ATTESTATION_PROVIDER', 'USE_TLS']);
  assert.deepEqual(loadEnclaveConfig({ ...base, USE_TLS: 'false' }).developmentChoices.map((c) => c.split(':')[0]), ['KEY_SOURCE', 'ATTESTATION_PROVIDER', 'USE_TLS']);
});

test('cross-variable rules: ENCLAVE_LISTEN follows ENCLAVE_PORT; body budget and header timeout bounds', () => {
  assert.deepEqual(loadEnclaveConfig({ ...base, ENCLAVE_PORT: '6005' }).listen, { scheme: 'tcp', host: '127.0.0.1', port: 6005 });
  assert.deepEqual(loadEnclaveConfig({ ...base, ENCLAVE_PORT: '6005', ENCLAVE_LISTEN: 'unix:///tmp/e.sock' }).listen, { scheme: 'unix', path: '/tmp/e.sock' });
  assert.deepEqual(problemsOf({ ...base, MAX_BODY_BYTES: '2000', BODY_MEMORY_BUDGET_BYTES: '1000' }), ['BODY_MEMORY_BUDGET_BYTES: must be at least MAX_BODY_BYTES (or no upload of the largest size could ever be accepted)']);
  assert.deepEqual(problemsOf({ ...base, HEADERS_TIMEOUT_MS: '40000' }), ['HEADERS_TIMEOUT_MS: must not be larger than REQUEST_TIMEOUT_MS']);
  // A bad value is reported once, not again by the rule that compares it.
  assert.deepEqual(problemsOf({ ...base, HEADERS_TIMEOUT_MS: '40000', REQUEST_TIMEOUT_MS: 'soon' }), ['REQUEST_TIMEOUT_MS: must be a decimal integer in 100..3600000']);
});

test('ENCLAVE_ENV_VARIABLES comes from the schema: 37 variables, documented defaults', () => {
  const byName = new Map(ENCLAVE_ENV_VARIABLES.map((v) => [v.name, v.default]));
  assert.equal(ENCLAVE_ENV_VARIABLES.length, 37);
  assert.equal(byName.get('ENCLAVE_LISTEN'), 'tcp://127.0.0.1:${ENCLAVE_PORT}');
  assert.equal(byName.get('ENCLAVE_KEY_BASE64'), '(required with KEY_SOURCE=env)');
  assert.equal(byName.get('KMS_ENDPOINT'), '(unset)');
  assert.equal(byName.get('MAX_BODY_BYTES'), '1048576');
});
