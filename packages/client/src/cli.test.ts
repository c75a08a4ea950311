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

// Issue 10, item 1: pin the code, not just "some genuine enclave".

const BASE1_PCR0 = 'ec74bfbe7f7445a6c7610e152935e028276f638042b74797b119648e13f7a3675796b721034c320f140ea001b41aeae2';

/** A measurements file as nitro-cli build-enclave / describe-eif print it. */
function measurementsFile(name: string, pcrs: Record<string, string>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ Measurements: { HashAlgorithm: 'Sha384 { ... }', ...pcrs } }, null, 2));
  return path;
}

test('verify-doc --measurements: the nitro-cli JSON pins PCRs; a set that does not match fails PCR_MISMATCH; one of two sets matching passes (rolling upgrade)', async () => {
  const right = measurementsFile('right.json', { PCR0: BASE1_PCR0 });
  const wrong = measurementsFile('wrong.json', { PCR0: 'ab'.repeat(48), PCR1: 'cd'.repeat(48) });
  const bare = join(dir, 'bare.json');
  writeFileSync(bare, JSON.stringify({ PCR0: BASE1_PCR0.toUpperCase() }));
  const pinned = await runCli(['verify-doc', base1, '--at', INSIDE_BASE1, '--measurements', right]);
  assert.equal(pinned.code, 0, pinned.stderr);
  assert.match(pinned.stdout, /^measurements: pinned/m);
  assert.equal((await runCli(['verify-doc', base1, '--at', INSIDE_BASE1, '--measurements', bare])).code, 0, 'the inner object alone, any case');
  const mismatch = await runCli(['verify-doc', base1, '--at', INSIDE_BASE1, '--measurements', wrong]);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.stderr, /PCR_MISMATCH/);
  const upgrade = await runCli(['verify-doc', base1, '--at', INSIDE_BASE1, '--measurements', wrong, '--measurements', right]);
  assert.equal(upgrade.code, 0, upgrade.stderr);
});

test('verify-doc without measurements says prominently that nothing is pinned', async () => {
  const { code, stdout } = await runCli(['verify-doc', base1, '--at', INSIDE_BASE1]);
  assert.equal(code, 0);
  assert.match(stdout, /MEASUREMENTS NOT PINNED/);
});

test('--measurements files that are not measurements are usage errors', async () => {
  const notJson = join(dir, 'not.json');
  writeFileSync(notJson, 'PCR0=abc');
  const noPcr = measurementsFile('no-pcr.json', {});
  const shortPcr = measurementsFile('short.json', { PCR0: 'abcd' });
  for (const file of [notJson, noPcr, shortPcr, join(dir, 'absent.json')]) {
    const { code, stderr } = await runCli(['verify-doc', base1, '--at', INSIDE_BASE1, '--measurements', file]);
    assert.equal(code, 2, `${file}: ${stderr}`);
    assert.match(stderr, /--measurements/);
  }
});

test('put and get with the AWS root and nothing pinned: a usage error before any connection; --insecure-any-enclave connects and warns', async () => {
  const { createServer } = await import('node:net');
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const env = { ...process.env, HTTP_ENCLAVE_TOKEN: 'a'.repeat(43) };
  const run = (args: string[]): Promise<{ code: number; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { timeout: 30_000, env }, (error, _stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stderr });
      });
    });
  try {
    for (const args of [['get', `https://127.0.0.1:${port}`], ['put', `https://127.0.0.1:${port}`, '--data', '{}']]) {
      const refused = await run(args);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /no measurements pinned/);
    }
    assert.equal(connections, 0, 'nothing was sent anywhere');
    const insecure = await run(['get', `https://127.0.0.1:${port}`, '--insecure-any-enclave']);
    assert.equal(insecure.code, 1);
    assert.match(insecure.stderr, /WARNING: --insecure-any-enclave/);
    assert.equal(connections, 1, 'it went on to connect');
    // Measurements as nitro-cli describe-eif prints them: put and get proceed (here to a server that hangs up), one set or two.
    const current = measurementsFile('eif-current.json', { PCR0: 'ab'.repeat(48), PCR1: 'cd'.repeat(48), PCR2: 'ef'.repeat(48) });
    const next = measurementsFile('eif-next.json', { PCR0: '12'.repeat(48), PCR1: '34'.repeat(48), PCR2: '56'.repeat(48) });
    const pinnedGet = await run(['get', `https://127.0.0.1:${port}`, '--measurements', current]);
    assert.equal(pinnedGet.code, 1, pinnedGet.stderr);
    assert.doesNotMatch(pinnedGet.stderr, /no measurements pinned|WARNING/);
    const pinnedPut = await run(['put', `https://127.0.0.1:${port}`, '--data', '{}', '--measurements', current, '--measurements', next]);
    assert.equal(pinnedPut.code, 1, pinnedPut.stderr);
    assert.equal(connections, 3, 'both went on to connect');
  } finally {
    server.close();
  }
});

test('--json: the report of verify-doc as JSON on stdout; a failed check as {"verified": false, …} with exit 1', async () => {
  const ok = await runCli(['verify-doc', base1, '--at', INSIDE_BASE1, '--json', '--pcr', `0=${BASE1_PCR0}`]);
  assert.equal(ok.code, 0, ok.stderr);
  const report = JSON.parse(ok.stdout) as { verified: boolean; anchor: string; moduleId: string; measurementsPinned: boolean; pcrs: Record<string, string>; checks: { name: string; outcome: string }[] };
  assert.equal(report.verified, true);
  assert.equal(report.anchor, 'aws');
  assert.equal(report.moduleId, 'i-0de38b2b6853cc9e8-enc0193685e7fee7d85');
  assert.equal(report.measurementsPinned, true);
  assert.equal(report.pcrs['0'], BASE1_PCR0);
  assert.ok(report.checks.length > 0);
  const failed = await runCli(['verify-doc', base1, '--at', '2025-01-06T16:07:05Z', '--json']);
  assert.equal(failed.code, 1);
  assert.deepEqual(
    { ...(JSON.parse(failed.stdout) as Record<string, unknown>), message: undefined },
    { verified: false, code: 'ATTESTATION_FAILED', reason: 'CERTIFICATE_EXPIRED', message: undefined },
  );
});

test('--clock-skew: leeway on certificate validity and document age alike (default 30 s, at most 600 s)', async () => {
  // base-1's leaf expires at the end of its window; 20 s past it passes with the default 30 s leeway, 45 s does not.
  const { readFileSync: read } = await import('node:fs');
  const vectors = JSON.parse(read(join(VECTORS, 'vectors.json'), 'utf8')) as { documents: { file: string; valid_time_window: { notAfter: string } }[] };
  const entry = vectors.documents.find((d) => d.file === 'base-1.b64');
  assert.ok(entry !== undefined);
  const after = (seconds: number): string => new Date(Date.parse(entry.valid_time_window.notAfter) + seconds * 1000).toISOString().replace('.000Z', 'Z');
  assert.equal((await runCli(['verify-doc', base1, '--at', after(20)])).code, 0, 'within the default leeway');
  const late = await runCli(['verify-doc', base1, '--at', after(45)]);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /CERTIFICATE_EXPIRED/);
  assert.equal((await runCli(['verify-doc', base1, '--at', after(45), '--clock-skew', '60'])).code, 0);
  const exact = await runCli(['verify-doc', base1, '--at', after(1), '--clock-skew', '0']);
  assert.match(exact.stderr, /CERTIFICATE_EXPIRED/);
  for (const bad of ['601', '-1', '1.5', 'x']) assert.equal((await runCli(['verify-doc', base1, '--at', INSIDE_BASE1, '--clock-skew', bad])).code, 2, bad);
});
