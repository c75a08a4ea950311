// TLS posture of the enclave through the real host, with both certificate
// kinds: the seed's RSA-2048 files and the generated ECDSA P-256 key.
// openssl s_client must fail with TLS 1.1 and with static-RSA key exchange
// (AES128-GCM-SHA256) over TLS 1.2; ECDHE-AEAD over 1.2 and TLS 1.3 succeed.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

/** Runs `openssl s_client` with the given options; resolves with whether a session was established and the output. */
function sClient(port: number, args: string[]): Promise<{ connected: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      // openssl prints "Cipher is (NONE)" / "no peer certificate available" on failure and exits 1.
      const connected = code === 0 && /Cipher is (?!\(NONE\))/.test(output);
      resolve({ connected, output });
    });
    child.stdin.end('Q\n');
  });
}

const cases: Array<{ kind: string; files: boolean }> = [
  { kind: 'RSA-2048 certificate files (the seed openssl command)', files: true },
  { kind: 'generated ECDSA P-256 key', files: false },
];

for (const { kind, files } of cases) {
  describe(`TLS with ${kind}`, () => {
    let stack: Stack;
    let certDir: string;

    before(async () => {
      certDir = mkdtempSync(join(tmpdir(), 'http-enclave-certs-'));
      const enclaveEnv: Record<string, string> = {};
      if (files) {
        // The seed README's command, verbatim, run in a scratch directory at test time.
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '365', '-nodes', '-subj', '/CN=localhost'], {
          cwd: certDir,
          stdio: 'ignore',
        });
        enclaveEnv['TLS_CERT_PATH'] = join(certDir, 'cert.pem');
        enclaveEnv['TLS_KEY_PATH'] = join(certDir, 'key.pem');
      }
      stack = await startStack({ enclaveEnv });
    });
    after(async () => {
      await stack?.stop();
      rmSync(certDir, { recursive: true, force: true });
    });

    test('serves the API end to end and presents the certificate it logged', async () => {
      const health = await sendRequest(stack.port, { path: '/healthz' });
      assert.equal(health.status, 200);
      assert.deepEqual(health.json(), { status: 'ok', storage: 'ok' });
      const logged = await stack.enclave.waitForLog(files ? 'loaded TLS certificate and key from files' : 'generated an in-memory TLS key and self-signed certificate');
      assert.equal(health.peerFingerprint256, logged['certificateSha256']);
    });

    test('TLS 1.1 is refused', async () => {
      const result = await sClient(stack.port, ['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']);
      assert.equal(result.connected, false, result.output);
    });

    test('static-RSA key exchange (AES128-GCM-SHA256) over TLS 1.2 is refused', async () => {
      const result = await sClient(stack.port, ['-tls1_2', '-cipher', 'AES128-GCM-SHA256']);
      assert.equal(result.connected, false, result.output);
    });

    test('CBC suites over TLS 1.2 are refused', async () => {
      const cbc = files ? 'ECDHE-RSA-AES128-SHA' : 'ECDHE-ECDSA-AES128-SHA';
      const result = await sClient(stack.port, ['-tls1_2', '-cipher', cbc]);
      assert.equal(result.connected, false, result.output);
    });

    test('ECDHE with AES-GCM over TLS 1.2, and TLS 1.3, are accepted', async () => {
      const suite = files ? 'ECDHE-RSA-AES128-GCM-SHA256' : 'ECDHE-ECDSA-AES128-GCM-SHA256';
      const tls12 = await sClient(stack.port, ['-tls1_2', '-cipher', suite]);
      assert.equal(tls12.connected, true, tls12.output);
      const tls13 = await sClient(stack.port, ['-tls1_3']);
      assert.equal(tls13.connected, true, tls13.output);
      assert.match(tls13.output, /TLSv1\.3/);
    });
  });
}
