import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigInvalidError } from '@http-enclave/program';
import { HOST_ENV_VARIABLES, loadHostConfig } from './config.js';
import { formatEgressAllowList } from './egress/egress-allow-list.js';

function configError(env: NodeJS.ProcessEnv): ConfigInvalidError {
  try {
    loadHostConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigInvalidError);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error;
  }
  assert.fail('expected CONFIG_INVALID');
}

/** The problems of `env`, each `NAME: problem`. */
const problemsOf = (env: NodeJS.ProcessEnv): string[] => configError(env).problems.map((p) => `${p.variable}: ${p.problem}`);

test('defaults match the seed and the documented table', () => {
  const config = loadHostConfig({});
  assert.deepEqual(config.bindAddress, { scheme: 'tcp', host: '0.0.0.0', port: 443 });
  assert.deepEqual(config.enclaveAddress, { scheme: 'tcp', host: '127.0.0.1', port: 5005 });
  assert.deepEqual(config.storageListenAddress, { scheme: 'tcp', host: '127.0.0.1', port: 5006 });
  assert.equal(config.storagePath, './data/http-enclave.db');
  assert.equal(config.maxConnections, 900); // below the enclave's MAX_CONNECTIONS (1000): the host sheds load first
  assert.equal(config.maxConnectionsPerSource, 64);
  assert.equal(config.connectTimeoutMs, 5_000);
  assert.equal(config.idleTimeoutMs, 300_000);
  assert.equal(config.drainTimeoutMs, 30_000);
  assert.equal(config.logLevel, 'info');
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.bindAddress));
  const byName = new Map(HOST_ENV_VARIABLES.map((v) => [v.name, v.default]));
  assert.equal(byName.get('BIND_ADDR'), '0.0.0.0:443');
  assert.equal(byName.get('ENCLAVE_CID'), '16');
  assert.equal(byName.get('ENCLAVE_PORT'), '5005');
  assert.equal(byName.get('ENCLAVE_ADDR'), null);
  assert.equal(HOST_ENV_VARIABLES.length, 30); // 11 of the seed, HOST_MAX_CONNECTIONS_PER_SOURCE, 5 AWS credential variables, AWS_REGION, 5 EGRESS_*, ADMIN_LISTEN, TELEMETRY_LISTEN, STORAGE_BACKEND and 4 DATABASE_*
  assert.equal(config.storageBackend, 'sqlite');
  assert.equal(config.database, undefined);
  assert.deepEqual(config.telemetryListenAddress, { scheme: 'tcp', host: '127.0.0.1', port: 5008 });
  assert.deepEqual(config.adminListenAddress, { scheme: 'tcp', host: '127.0.0.1', port: 8404 });
  assert.equal(loadHostConfig({ ADMIN_LISTEN: 'off' }).adminListenAddress, undefined);
});

test('accepts every address syntax the contract names', () => {
  const config = loadHostConfig({
    BIND_ADDR: 'tcp://[::1]:8443',
    ENCLAVE_ADDR: 'unix:///run/enclave.sock',
    STORAGE_LISTEN: 'unix:///run/storage.sock',
    HOST_DRAIN_TIMEOUT_MS: '0',
    LOG_LEVEL: 'debug',
  });
  assert.deepEqual(config.bindAddress, { scheme: 'tcp', host: '::1', port: 8443 });
  assert.deepEqual(config.enclaveAddress, { scheme: 'unix', path: '/run/enclave.sock' });
  assert.equal(config.drainTimeoutMs, 0);
  assert.deepEqual(loadHostConfig({ BIND_ADDR: 'unix:///tmp/in.sock' }).bindAddress, { scheme: 'unix', path: '/tmp/in.sock' });
});

test('ENCLAVE_ADDR wins over ENCLAVE_CID; ENCLAVE_CID alone means vsock', () => {
  const explicit = loadHostConfig({ ENCLAVE_ADDR: 'tcp://10.0.0.2:7000', ENCLAVE_CID: '16', ENCLAVE_PORT: '5005' });
  assert.deepEqual(explicit.enclaveAddress, { scheme: 'tcp', host: '10.0.0.2', port: 7000 });
  const vsock = loadHostConfig({ ENCLAVE_CID: '16', ENCLAVE_PORT: '6000' });
  assert.deepEqual(vsock.enclaveAddress, { scheme: 'vsock', cid: 16, port: 6000 });
  const tcp = loadHostConfig({ ENCLAVE_PORT: '6001' });
  assert.deepEqual(tcp.enclaveAddress, { scheme: 'tcp', host: '127.0.0.1', port: 6001 });
});

test('every bad value is named', () => {
  const cases: Array<[string, string]> = [
    ['BIND_ADDR', 'localhost'],
    ['BIND_ADDR', 'vsock://any:443'],
    ['BIND_ADDR', ''],
    ['ENCLAVE_ADDR', 'http://x:1'],
    ['ENCLAVE_ADDR', 'vsock://any:5005'],
    ['ENCLAVE_CID', '-1'],
    ['ENCLAVE_CID', '4294967296'],
    ['ENCLAVE_PORT', '0'],
    ['ENCLAVE_PORT', '65536'],
    ['ENCLAVE_PORT', '0x10'],
    ['ENCLAVE_PORT', ' 5005'],
    ['STORAGE_LISTEN', '127.0.0.1:5006'],
    ['STORAGE_LISTEN', 'unix://relative.sock'],
    ['STORAGE_PATH', ':memory:'],
    ['STORAGE_PATH', 'a\0b'],
    ['HOST_MAX_CONNECTIONS', '0'],
    ['HOST_MAX_CONNECTIONS', '1e3'],
    ['HOST_CONNECT_TIMEOUT_MS', '5000.5'],
    ['HOST_CONNECT_TIMEOUT_MS', '+5000'],
    ['HOST_IDLE_TIMEOUT_MS', '99'],
    ['HOST_IDLE_TIMEOUT_MS', '0100'],
    ['HOST_DRAIN_TIMEOUT_MS', '3600001'],
    ['HOST_DRAIN_TIMEOUT_MS', 'forever'],
    ['LOG_LEVEL', 'INFO'],
    ['LOG_LEVEL', 'trace'],
    ['HOST_IDLE_TIMEOUT', '5000'],
  ];
  for (const [name, value] of cases) {
    const error = configError({ [name]: value });
    assert.deepEqual(
      error.problems.map((p) => p.variable),
      [name],
      `${name}=${JSON.stringify(value)} should be reported alone, got ${error.message}`,
    );
    assert.ok(error.message.startsWith(`${name}: `));
    assert.ok(!error.message.includes('\n') && !error.message.includes('\0'));
  }
});

test('a bad ENCLAVE_CID is reported even when ENCLAVE_ADDR wins', () => {
  assert.deepEqual(configError({ ENCLAVE_ADDR: 'tcp://127.0.0.1:1', ENCLAVE_CID: 'sixteen' }).problems.map((p) => p.variable), ['ENCLAVE_CID']);
});

test('several errors in one one-line message, in a stable order', () => {
  const error = configError({ BIND_ADDR: 'nope', ENCLAVE_PORT: 'x', HOST_IDLE_TIMEOUT_MS: '-5', LOG_LEVEL: 'loud' });
  assert.deepEqual(
    error.problems.map((p) => p.variable),
    ['BIND_ADDR', 'ENCLAVE_PORT', 'HOST_IDLE_TIMEOUT_MS', 'LOG_LEVEL'],
  );
  assert.match(error.message, /^BIND_ADDR: [^;]+; ENCLAVE_PORT: [^;]+; HOST_IDLE_TIMEOUT_MS: [^;]+; LOG_LEVEL: must be one of debug, info, warn, error$/);
});

test('egress defaults: KMS of us-east-1 (standard and FIPS) on 443, listener on 5007', () => {
  const config = loadHostConfig({});
  assert.equal(config.awsRegion, 'us-east-1');
  assert.deepEqual(config.egressListenAddress, { scheme: 'tcp', host: '127.0.0.1', port: 5007 });
  assert.equal(formatEgressAllowList(config.egressAllowList), 'kms.us-east-1.amazonaws.com:443,kms-fips.us-east-1.amazonaws.com:443');
  assert.equal(config.egressMaxConnections, 64);
  assert.equal(config.egressConnectTimeoutMs, 5_000);
  assert.equal(config.egressIdleTimeoutMs, 60_000);
  assert.ok(Object.isFrozen(config.egressListenAddress) && Object.isFrozen(config.egressAllowList));
  const byName = new Map(HOST_ENV_VARIABLES.map((v) => [v.name, v.default]));
  assert.equal(byName.get('EGRESS_ALLOW'), 'kms.${AWS_REGION}.amazonaws.com:443,kms-fips.${AWS_REGION}.amazonaws.com:443');
  assert.equal(byName.get('EGRESS_LISTEN'), 'tcp://127.0.0.1:5007');
});

test('egress: the default allow-list follows AWS_REGION (amazonaws.com.cn in cn-*); EGRESS_ALLOW replaces it; off disables the listener', () => {
  assert.equal(
    formatEgressAllowList(loadHostConfig({ AWS_REGION: 'eu-central-2' }).egressAllowList),
    'kms.eu-central-2.amazonaws.com:443,kms-fips.eu-central-2.amazonaws.com:443',
  );
  assert.equal(
    formatEgressAllowList(loadHostConfig({ AWS_REGION: 'cn-northwest-1' }).egressAllowList),
    'kms.cn-northwest-1.amazonaws.com.cn:443,kms-fips.cn-northwest-1.amazonaws.com.cn:443',
  );
  assert.equal(loadHostConfig({ AWS_REGION: 'us-gov-west-1' }).awsRegion, 'us-gov-west-1');
  const custom = loadHostConfig({ AWS_REGION: 'eu-west-1', EGRESS_ALLOW: 'kms.*.amazonaws.com:443, 127.0.0.1:8443,[::1]:8443' });
  assert.equal(formatEgressAllowList(custom.egressAllowList), 'kms.*.amazonaws.com:443,127.0.0.1:8443,[::1]:8443');
  const off = loadHostConfig({ EGRESS_LISTEN: 'off', EGRESS_MAX_CONNECTIONS: '1', EGRESS_CONNECT_TIMEOUT_MS: '10', EGRESS_IDLE_TIMEOUT_MS: '100' });
  assert.equal(off.egressListenAddress, undefined);
  assert.equal(off.egressMaxConnections, 1);
  assert.deepEqual(loadHostConfig({ EGRESS_LISTEN: 'unix:///run/egress.sock' }).egressListenAddress, { scheme: 'unix', path: '/run/egress.sock' });
});

test('every bad egress value is named', () => {
  const cases: Array<[string, string]> = [
    ['AWS_REGION', 'US-EAST-1'],
    ['AWS_REGION', 'useast1'],
    ['AWS_REGION', 'us-east'],
    ['AWS_REGION', 'us-east-1 '],
    ['AWS_REGION', ''],
    ['EGRESS_LISTEN', 'OFF'],
    ['EGRESS_LISTEN', '127.0.0.1:5007'],
    ['EGRESS_LISTEN', ''],
    ['EGRESS_ALLOW', '*:443'],
    ['EGRESS_ALLOW', 'kms.*.amazonaws.com:*'],
    ['EGRESS_ALLOW', 'kms-*.amazonaws.com:443'],
    ['EGRESS_ALLOW', 'kms.us-east-1.amazonaws.com'],
    ['EGRESS_ALLOW', 'a.example.com:443,'],
    ['EGRESS_ALLOW', 'a.example.com:443\nb.example.com:443'],
    ['EGRESS_MAX_CONNECTIONS', '0'],
    ['EGRESS_MAX_CONNECTIONS', '10001'],
    ['EGRESS_CONNECT_TIMEOUT_MS', '9'],
    ['EGRESS_CONNECT_TIMEOUT_MS', '5s'],
    ['EGRESS_IDLE_TIMEOUT_MS', '99'],
    ['EGRESS_IDLE_TIMEOUT_MS', '86400001'],
    ['EGRESS_ALLOWED', 'kms.us-east-1.amazonaws.com:443'],
  ];
  for (const [name, value] of cases) {
    const error = configError({ [name]: value });
    assert.deepEqual(
      error.problems.map((p) => p.variable),
      [name],
      `${name}=${JSON.stringify(value)} should be reported alone, got ${error.message}`,
    );
    assert.ok(error.message.startsWith(`${name}: `));
    assert.ok(!error.message.includes('\n') && !error.message.includes('\0'));
  }
  // A bad region is reported once: the default EGRESS_ALLOW that depends on it is not built.
  assert.deepEqual(configError({ AWS_REGION: 'mars' }).problems.map((p) => p.variable), ['AWS_REGION']);
  // With an explicit EGRESS_ALLOW both are checked on their own.
  assert.deepEqual(configError({ AWS_REGION: 'mars', EGRESS_ALLOW: '*' }).problems.map((p) => p.variable), ['AWS_REGION', 'EGRESS_ALLOW']);
});

test('shared rules: EGRESS_ADDR (the enclave\'s, from a shared .env) is left alone; an empty credential variable is refused without echoing anything', () => {
  assert.equal(loadHostConfig({ EGRESS_ADDR: 'tcp://127.0.0.1:5007', ENCLAVE_LISTEN: 'x', KMS_KEY_ID: 'x' }).logLevel, 'info');
  assert.deepEqual(configError({ AWS_SECRET_ACCESS_KEY: ' ' }).problems, [{ variable: 'AWS_SECRET_ACCESS_KEY', problem: 'is empty (unset it, or give it a value)' }]);
  assert.deepEqual(configError({ HOST_DRAIN_TIMEOUT_MS: '' }).problems, [{ variable: 'HOST_DRAIN_TIMEOUT_MS', problem: 'is empty (unset it to use the default)' }]);
  assert.match(configError({ EGRESS_ALOW: '*' }).message, /^EGRESS_ALOW: unknown variable \(the host reads no such variable/);
});

test('STORAGE_BACKEND=postgres takes DATABASE_URL and its limits; the URL is required there, refused with sqlite, and never echoed', () => {
  const url = 'postgres://app:s3cret-pw@db.internal:5432/he?sslmode=verify-full';
  const config = loadHostConfig({ STORAGE_BACKEND: 'postgres', DATABASE_URL: url, DATABASE_POOL_SIZE: '4' });
  assert.equal(config.storageBackend, 'postgres');
  assert.deepEqual(config.database, { url, poolSize: 4, statementTimeoutMs: 5_000, connectTimeoutMs: 5_000 });
  assert.deepEqual(problemsOf({ STORAGE_BACKEND: 'postgres' }), ['DATABASE_URL: is required with STORAGE_BACKEND=postgres']);
  assert.deepEqual(problemsOf({ DATABASE_URL: url }), ['DATABASE_URL: only used with STORAGE_BACKEND=postgres']);
  assert.deepEqual(problemsOf({ STORAGE_BACKEND: 'mysql' }), ['STORAGE_BACKEND: must be one of sqlite, postgres']);
  const malformed = problemsOf({ STORAGE_BACKEND: 'postgres', DATABASE_URL: 'mysql://app:s3cret-pw@db/x', DATABASE_STATEMENT_TIMEOUT_MS: '5' });
  assert.deepEqual(malformed, ['DATABASE_URL: must be a postgres:// or postgresql:// URL', 'DATABASE_STATEMENT_TIMEOUT_MS: must be in 100..600000']);
  assert.ok(!malformed.join(' ').includes('s3cret'));
});
