// Configuration errors stop start-up with one clear line naming the
// variable and an exit code other than 0; nothing secret is printed.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ENCLAVE_MAIN, HOST_MAIN, runToExit } from '../support/processes.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'http-enclave-startup-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function enclaveEnv(extra: Record<string, string>): Record<string, string> {
  return {
    ENCLAVE_LISTEN: `unix://${join(dir, 'e.sock')}`,
    TLS_CERT_PATH: join(dir, 'no-cert.pem'),
    TLS_KEY_PATH: join(dir, 'no-key.pem'),
    ...extra,
  };
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  return lines[0] ?? '';
}

describe('enclave start-up errors', () => {
  test('no key: one line naming ENCLAVE_KEY_BASE64, exit 78', async () => {
    const { code, stderr } = await runToExit(ENCLAVE_MAIN, enclaveEnv({}));
    assert.equal(code, 78);
    assert.match(oneLine(stderr), /^enclave: configuration error: .*ENCLAVE_KEY_BASE64/);
  });

  test('a 31-byte key: one line naming ENCLAVE_KEY_BASE64 and the length, never the value', async () => {
    const key = randomBytes(31).toString('base64');
    const { code, stderr, output } = await runToExit(ENCLAVE_MAIN, enclaveEnv({ ENCLAVE_KEY_BASE64: key }));
    assert.equal(code, 78);
    const line = oneLine(stderr);
    assert.match(line, /ENCLAVE_KEY_BASE64/);
    assert.match(line, /31/);
    assert.equal(output.includes(key), false);
  });

  test('only one of the two TLS files: one line naming the missing variable', async () => {
    const certPath = join(dir, 'only-cert.pem');
    writeFileSync(certPath, 'not used');
    const { code, stderr } = await runToExit(
      ENCLAVE_MAIN,
      enclaveEnv({ ENCLAVE_KEY_BASE64: randomBytes(32).toString('base64'), TLS_CERT_PATH: certPath }),
    );
    assert.equal(code, 78);
    assert.match(oneLine(stderr), /^enclave: configuration error: .*TLS_KEY_PATH/);
  });

  test('several bad variables are all reported in the one line', async () => {
    const { code, stderr } = await runToExit(ENCLAVE_MAIN, enclaveEnv({ USE_TLS: 'yes', MAX_BODY_BYTES: 'lots', STORAGE_ADDR: 'ftp://x:1' }));
    assert.equal(code, 78);
    const line = oneLine(stderr);
    for (const name of ['USE_TLS', 'MAX_BODY_BYTES', 'STORAGE_ADDR', 'ENCLAVE_KEY_BASE64']) assert.match(line, new RegExp(name));
  });

  test('ATTESTATION_PROVIDER=nsm without /dev/nsm support: one line with ATTESTATION_UNAVAILABLE, exit 1', async () => {
    const { code, stderr } = await runToExit(ENCLAVE_MAIN, enclaveEnv({ ENCLAVE_KEY_BASE64: randomBytes(32).toString('base64'), ATTESTATION_PROVIDER: 'nsm' }));
    assert.equal(code, 1);
    assert.match(oneLine(stderr), /^enclave: cannot start attestation \(ATTESTATION_UNAVAILABLE\): ATTESTATION_PROVIDER=nsm: the nsm provider needs \/dev\/nsm and the native addon/);
  });

  test('a dev root key without its certificate: one line naming ATTESTATION_DEV_ROOT_CERT_PATH, exit 78', async () => {
    const { code, stderr } = await runToExit(
      ENCLAVE_MAIN,
      enclaveEnv({ ENCLAVE_KEY_BASE64: randomBytes(32).toString('base64'), ATTESTATION_PROVIDER: 'dev', ATTESTATION_DEV_ROOT_KEY_PATH: join(dir, 'root.key') }),
    );
    assert.equal(code, 78);
    assert.match(oneLine(stderr), /^enclave: configuration error: ATTESTATION_DEV_ROOT_CERT_PATH: must be set too/);
  });

  test('port in use: one line saying what to do, exit 1', async () => {
    const blocker = await listenOnFreePort();
    try {
      const port = (blocker.address() as { port: number }).port;
      const { code, stderr } = await runToExit(
        ENCLAVE_MAIN,
        enclaveEnv({ ENCLAVE_KEY_BASE64: randomBytes(32).toString('base64'), ENCLAVE_LISTEN: `tcp://127.0.0.1:${port}` }),
      );
      assert.equal(code, 1);
      assert.match(oneLine(stderr), /^enclave: cannot listen on ENCLAVE_LISTEN=tcp:\/\/127\.0\.0\.1:\d+: address already in use/);
    } finally {
      blocker.close();
    }
  });
});

describe('host start-up errors', () => {
  test('port in use: one line naming BIND_ADDR with an example, exit 1', async () => {
    const blocker = await listenOnFreePort();
    try {
      const port = (blocker.address() as { port: number }).port;
      const { code, stderr } = await runToExit(HOST_MAIN, {
        BIND_ADDR: `127.0.0.1:${port}`,
        STORAGE_LISTEN: `unix://${join(dir, 's.sock')}`,
        EGRESS_LISTEN: `unix://${join(dir, 'e.sock')}`,
        ADMIN_LISTEN: 'off',
        TELEMETRY_LISTEN: 'off',
        STORAGE_PATH: join(dir, 'db.sqlite'),
        ENCLAVE_ADDR: `unix://${join(dir, 'e.sock')}`,
      });
      assert.notEqual(code, 0);
      const line = oneLine(stderr);
      assert.match(line, /BIND_ADDR/);
      assert.match(line, /already in use/);
      assert.match(line, /BIND_ADDR=\S+:\d+/);
    } finally {
      blocker.close();
    }
  });

  test('a malformed variable: one line naming it, exit 78', async () => {
    const { code, stderr } = await runToExit(HOST_MAIN, { BIND_ADDR: 'nowhere', STORAGE_PATH: join(dir, 'db2.sqlite') });
    assert.equal(code, 78);
    assert.match(oneLine(stderr), /^host: .*BIND_ADDR/);
  });
});

function listenOnFreePort(): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
