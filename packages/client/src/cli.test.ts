// The `http-enclave` command as a user runs it (a child process), on real
// Nitro documents from ../shared/vectors: exit 0 with a report, 1 with the
// reason for a failed check, 2 for a usage error.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, 'cli.js');
const VECTORS = join(here, '..', '..', '..', '..', 'shared', 'vectors', 'nitro');
const dir = mkdtempSync(join(tmpdir(), 'http-enclave-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const base1 = join(VECTORS, 'base-1.b64');
const INSIDE_BASE1 = '2024-11-30T17:00:00Z';

test('verify-doc: a genuine document inside its validity window verifies (exit 0, report)', async () => {
  const { code, stdout } = await runCli(['verify-doc', base1, '--at', INSIDE_BASE1]);
  assert.equal(code, 0);
  assert.match(stdout, /^attestation: VERIFIED$/m);
  assert.match(stdout, /module: +i-0de38b2b6853cc9e8-enc0193685e7fee7d85/);
  assert.match(stdout, /CN=aws\.nitro-enclaves/);
});

test('verify-doc: raw CBOR on disk is detected as well as base64; Unix seconds for --at', async () => {
  const raw = join(dir, 'base-1.cbor');
  writeFileSync(raw, Buffer.from(readFileSync(base1, 'utf8').trim(), 'base64'));
  const { code } = await runCli(['verify-doc', raw, '--at', String(Date.parse(INSIDE_BASE1) / 1000)]);
  assert.equal(code, 0);
});

test('verify-doc: outside its window the document fails as expired (exit 1, reason printed)', async () => {
  const { code, stderr } = await runCli(['verify-doc', base1, '--at', '2025-01-06T16:07:05Z']);
  assert.equal(code, 1);
  assert.match(stderr, /CERTIFICATE_EXPIRED/);
});

test('verify-doc: a wrong expected PCR fails with PCR_MISMATCH; the right one passes', async () => {
  const wrong = await runCli(['verify-doc', base1, '--at', INSIDE_BASE1, '--pcr', `0=${'ab'.repeat(48)}`]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /PCR_MISMATCH/);
  const pcr0 = 'ec74bfbe7f7445a6c7610e152935e028276f638042b74797b119648e13f7a3675796b721034c320f140ea001b41aeae2';
  const right = await runCli(['verify-doc', base1, '--at', INSIDE_BASE1, '--pcr', `0=${pcr0}`]);
  assert.equal(right.code, 0, right.stderr);
});

test('verify-doc: a debug-mode document needs --allow-debug; the TLS binding is checked with --tls-cert', async () => {
  const doc = join(VECTORS, 'evervault-1.b64');
  const at = '2023-09-18T15:05:00Z';
  const refused = await runCli(['verify-doc', doc, '--at', at]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /DEBUG_MODE/);
  const bound = await runCli(['verify-doc', doc, '--at', at, '--allow-debug', '--tls-cert', join(VECTORS, 'evervault-1.tls-cert.pem')]);
  assert.equal(bound.code, 0, bound.stderr);
  assert.match(bound.stdout, /tls binding: user_data binds/);
  const otherCert = await runCli(['verify-doc', doc, '--at', at, '--allow-debug', '--tls-cert', join(VECTORS, 'evervault-4.tls-cert.pem')]);
  assert.equal(otherCert.code, 1);
  assert.match(otherCert.stderr, /TLS_BINDING_MISMATCH/);
});

test('usage errors exit 2: no command, unknown option, bad --pcr, bad --at, unreadable file, non-https URL', async () => {
  for (const args of [
    [],
    ['verify-doc', base1, '--bogus'],
    ['verify-doc', base1, '--pcr', '0=zz'],
    ['verify-doc', base1, '--at', 'yesterday'],
    ['verify-doc', join(dir, 'missing.b64')],
    ['verify', 'http://127.0.0.1:1'],
    ['frobnicate'],
  ]) {
    const { code } = await runCli(args);
    assert.equal(code, 2, `args ${args.join(' ')}`);
  }
});
