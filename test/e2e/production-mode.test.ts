// ENCLAVE_MODE=production refuses every development-only choice, each on a
// start-up line of its own, and exits 78 before it opens anything (issue 8,
// point 2). Development mode labels the same choices in its log.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ENCLAVE_MAIN, runToExit } from '../support/processes.js';

const KMS_ARN = 'arn:aws:kms:eu-west-3:111122223333:key/6f1f9c4e-0c44-4a8e-9a39-1f0b5d0c2a11';

test('production mode refuses KEY_SOURCE=env, ATTESTATION_PROVIDER=dev, USE_TLS=false and AUTH_MODE=none, one line each', async () => {
  const { code, stderr } = await runToExit(ENCLAVE_MAIN, {
    ENCLAVE_MODE: 'production',
    KEY_SOURCE: 'env',
    ENCLAVE_KEY_BASE64: randomBytes(32).toString('base64'),
    ATTESTATION_PROVIDER: 'dev',
    USE_TLS: 'false',
    AUTH_MODE: 'none',
  });
  assert.equal(code, 78);
  const lines = stderr.trim().split('\n');
  assert.deepEqual(lines.map((line) => /^enclave: configuration error: ([A-Z_]+): .*refused in production mode/.exec(line)?.[1]), [
    'KEY_SOURCE',
    'ATTESTATION_PROVIDER',
    'USE_TLS',
    'AUTH_MODE',
  ], stderr);
});

test('production mode refuses ATTESTATION_PROVIDER=none, a custom KMS CA and a KMS endpoint outside amazonaws.com, one line each', async () => {
  const { code, stderr } = await runToExit(ENCLAVE_MAIN, {
    ENCLAVE_MODE: 'production',
    KEY_SOURCE: 'kms',
    KMS_KEY_ID: KMS_ARN,
    AWS_REGION: 'eu-west-3',
    KMS_ENDPOINT: 'https://kms.example.test:8443',
    KMS_CA_PATH: '/tmp/ca.pem',
  });
  assert.equal(code, 78);
  const lines = stderr.trim().split('\n');
  assert.ok(lines.every((line) => line.startsWith('enclave: configuration error: ')), stderr);
  const refused = lines.map((line) => /^enclave: configuration error: ([A-Z_]+): .*refused in production mode/.exec(line)?.[1]).filter((v) => v !== undefined);
  assert.deepEqual(refused, ['ATTESTATION_PROVIDER', 'KMS_CA_PATH', 'KMS_ENDPOINT'], stderr);
  // The attestation requirement of KEY_SOURCE=kms is its own line too.
  assert.ok(lines.some((line) => /ATTESTATION_PROVIDER: must be nsm/.test(line)), stderr);
});

test('production mode with KMS on its AWS endpoint and nsm passes configuration (and stops later, here, for want of /dev/nsm)', async () => {
  const { code, stderr } = await runToExit(ENCLAVE_MAIN, {
    ENCLAVE_MODE: 'production',
    KEY_SOURCE: 'kms',
    KMS_KEY_ID: KMS_ARN,
    AWS_REGION: 'eu-west-3',
    ATTESTATION_PROVIDER: 'nsm',
    ENCLAVE_LISTEN: 'tcp://127.0.0.1:0',
  });
  assert.equal(code, 1, stderr);
  assert.doesNotMatch(stderr, /configuration error/);
  assert.match(stderr, /ATTESTATION_UNAVAILABLE/);
});

test('development mode labels each development choice in its start-up log', async () => {
  // It stops at KMS (nothing answers on the egress address); the labels come first.
  const { output } = await runToExit(ENCLAVE_MAIN, {
    KEY_SOURCE: 'kms',
    KMS_KEY_ID: KMS_ARN,
    AWS_REGION: 'eu-west-3',
    KMS_ENDPOINT: 'https://localhost:9',
    KMS_CA_PATH: '/nonexistent/ca.pem',
    ATTESTATION_PROVIDER: 'dev',
    AUTH_MODE: 'none',
    ENCLAVE_LISTEN: 'tcp://127.0.0.1:0',
  }, 30_000);
  for (const variable of ['ATTESTATION_PROVIDER', 'AUTH_MODE', 'KMS_CA_PATH', 'KMS_ENDPOINT']) {
    assert.match(output, new RegExp(`"msg":"development mode: ${variable}: `), `${variable} labelled`);
  }
});

test('production mode refuses a debugger (issue 9, finding 3): NODE_OPTIONS, --inspect flags, an open inspector; each named on its own line, before any key is read', async () => {
  const base = { ENCLAVE_MODE: 'production', KEY_SOURCE: 'kms', KMS_KEY_ID: KMS_ARN, AWS_REGION: 'eu-west-3', ATTESTATION_PROVIDER: 'nsm' };
  const viaEnv = await runToExit(ENCLAVE_MAIN, { ...base, NODE_OPTIONS: '--inspect=127.0.0.1:0' });
  assert.equal(viaEnv.code, 78, viaEnv.stderr);
  const lines = viaEnv.stderr.trim().split('\n').filter((line) => !/Debugger listening|For help, see/.test(line));
  assert.ok(lines.some((line) => /^enclave: refused in production mode: NODE_OPTIONS is set/.test(line)), viaEnv.stderr);
  assert.ok(lines.some((line) => /^enclave: refused in production mode: the inspector is open/.test(line)), viaEnv.stderr);
  assert.ok(lines.every((line) => line.startsWith('enclave: ')), viaEnv.stderr);
  // Development mode runs, and says so.
  // (It stops at listen, on a socket path that cannot exist; the warning comes first.)
  const development = await runToExit(ENCLAVE_MAIN, {
    NODE_OPTIONS: '--inspect=127.0.0.1:0',
    ENCLAVE_KEY_BASE64: Buffer.alloc(32, 9).toString('base64'),
    ENCLAVE_LISTEN: 'unix:///nonexistent-directory/enclave.sock',
  });
  assert.match(development.output, /development mode: the inspector is open/);
});

test('production mode with ATTESTATION_PROVIDER=nsm refuses a TLS key from files (issue 10, item 2) unless ALLOW_TLS_KEY_FILES=true', async () => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'tls-files-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const base = {
      ENCLAVE_MODE: 'production',
      KEY_SOURCE: 'kms',
      KMS_KEY_ID: KMS_ARN,
      AWS_REGION: 'eu-west-3',
      ATTESTATION_PROVIDER: 'nsm',
      TLS_CERT_PATH: join(dir, 'cert.pem'),
      TLS_KEY_PATH: join(dir, 'key.pem'),
      ENCLAVE_LISTEN: 'unix:///nonexistent-directory/enclave.sock',
    };
    const refused = await runToExit(ENCLAVE_MAIN, base);
    assert.equal(refused.code, 78, refused.stderr);
    assert.match(refused.stderr, /^enclave: configuration error: TLS_KEY_PATH: a TLS key from files is refused in production mode with ATTESTATION_PROVIDER=nsm/m);
    // Allowed: start-up goes on past TLS (and stops here at the NSM device, which this machine has not), with the warning logged.
    const allowed = await runToExit(ENCLAVE_MAIN, { ...base, ALLOW_TLS_KEY_FILES: 'true' });
    assert.doesNotMatch(allowed.stderr, /a TLS key from files is refused/);
    assert.match(allowed.output, /ALLOW_TLS_KEY_FILES=true: the TLS key comes from files the operator can read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
