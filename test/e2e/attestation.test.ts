// Attestation end to end with the dev provider, through the real host:
// the client verifies before it sends, pins the attested key, refuses a
// TLS-terminating man in the middle before sending anything, refuses a
// replayed document and a policy with other PCRs, and re-attests when the
// enclave comes back with a new TLS key.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createTlsServer, connect as tlsConnect, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createAttestedClient, AttestedClientError } from '@http-enclave/client';
import { fetch as undiciFetch } from 'undici';
import { REPO_ROOT } from '../support/processes.js';
import { newToken } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

const CLI = join(REPO_ROOT, 'packages', 'client', 'dist', 'cli.js');

function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000, env: { PATH: process.env['PATH'] ?? '', ...env } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

/** A TLS-terminating proxy with its own key (the operator's man in the middle); records what clients send it in clear. */
function startManInTheMiddle(upstreamPort: number, keyPem: string, certPem: string): Promise<{ server: TlsServer; port: number; seen: () => string }> {
  let seen = '';
  const server = createTlsServer({ key: keyPem, cert: certPem }, (downstream: TLSSocket) => {
    const upstream = tlsConnect({ host: '127.0.0.1', port: upstreamPort, servername: 'localhost', rejectUnauthorized: false });
    downstream.on('data', (chunk: Buffer) => (seen += chunk.toString('latin1')));
    downstream.pipe(upstream).pipe(downstream);
    downstream.on('error', () => upstream.destroy());
    upstream.on('error', () => downstream.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, seen: () => seen })));
}

/** fetch wraps a connection failure in a TypeError whose cause is the dispatcher's error. */
function causeOf(error: unknown): unknown {
  return error instanceof Error && error.cause !== undefined ? error.cause : error;
}
function causeCode(error: unknown): string | undefined {
  const cause = causeOf(error);
  return cause instanceof AttestedClientError ? cause.code : undefined;
}
function causeReason(error: unknown): string | undefined {
  const cause = causeOf(error);
  return cause instanceof AttestedClientError ? cause.reason : undefined;
}

/** A dev root the client can pin, made at test time (P-384, as Nitro's): root-key.pem and root.pem in `dir`; returns the certificate's path. */
function makeDevRoot(dir: string): string {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1', '-sha384', '-nodes', '-days', '30',
    '-subj', '/CN=http-enclave dev attestation root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', join(dir, 'root-key.pem'), '-out', join(dir, 'root.pem')], { stdio: 'ignore' });
  return join(dir, 'root.pem');
}

describe('attestation with the dev provider through the real host', () => {
  let dir: string;
  let stack: Stack;
  let rootPem: string;
  let url: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'http-enclave-attest-'));
    rootPem = makeDevRoot(dir);
    stack = await startStack({
      enclaveEnv: {
        ATTESTATION_PROVIDER: 'dev',
        ATTESTATION_DEV_ROOT_KEY_PATH: join(dir, 'root-key.pem'),
        ATTESTATION_DEV_ROOT_CERT_PATH: rootPem,
      },
    });
    url = `https://127.0.0.1:${stack.port}`;
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('verify succeeds and prints the report; put and get work after verification', async () => {
    const verified = await runCli(['verify', url, '--root', rootPem]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /attestation: VERIFIED \(DEV ROOT/);
    assert.match(verified.stdout, /tls binding: user_data binds the presented certificate's key and this TLS session \(http-enclave-session-v2\)/);
    const token = await newToken();
    const put = await runCli(['put', url, 'notes', '--root', rootPem, '--data', '{"attested":true}'], { HTTP_ENCLAVE_TOKEN: token });
    assert.equal(put.code, 0, put.stderr);
    assert.deepEqual(JSON.parse(put.stdout), { name: 'notes', version: 1 });
    const get = await runCli(['get', url, 'notes', '--root', rootPem], { HTTP_ENCLAVE_TOKEN: token });
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.trim(), '{"attested":true}');
  });

  test('a TLS-terminating man in the middle with another key: the client refuses before sending anything', async () => {
    const mitmDir = mkdtempSync(join(dir, 'mitm-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(mitmDir, 'key.pem'), '-out', join(mitmDir, 'cert.pem')], { stdio: 'ignore' });
    const { readFileSync } = await import('node:fs');
    const mitm = await startManInTheMiddle(stack.port, readFileSync(join(mitmDir, 'key.pem'), 'utf8'), readFileSync(join(mitmDir, 'cert.pem'), 'utf8'));
    try {
      const token = await newToken();
      const body = '{"secret":"must-not-reach-the-mitm"}';
      const put = await runCli(['put', `https://127.0.0.1:${mitm.port}`, '--root', rootPem, '--data', body], { HTTP_ENCLAVE_TOKEN: token });
      assert.equal(put.code, 1);
      assert.match(put.stderr, /ATTESTATION_FAILED TLS_BINDING_MISMATCH/);
      // The only thing the man in the middle saw in clear is the request for a document.
      assert.match(mitm.seen(), /^GET \/attestation\?nonce=[0-9a-f]{64} HTTP\/1\.1\r\n/);
      assert.equal(mitm.seen().includes(token), false);
      assert.equal(mitm.seen().includes('must-not-reach'), false);
      assert.doesNotMatch(mitm.seen(), /private-data/);
    } finally {
      mitm.server.close();
    }
  });

  test('the library pins measurements: a list of sets (one matching is enough) or a callback; the AWS root without any refuses to send before connecting', async () => {
    const { readFileSync } = await import('node:fs');
    const root = { certificatePem: readFileSync(rootPem, 'utf8') };
    const probe = createAttestedClient({ url, root });
    const pcr0 = Buffer.from((await probe.verify()).result.document.pcrs.get(0) ?? []).toString('hex');
    probe.close();
    const token = await newToken();
    const get = { path: '/private-data/nothing', headers: { authorization: `Bearer ${token}` } };
    const pinned = createAttestedClient({ url, root, policy: { pcrSets: [{ 0: 'ab'.repeat(48) }, { 0: pcr0 }] } });
    assert.equal((await pinned.request(get)).status, 404, 'one of two sets matches');
    pinned.close();
    const wrongSets = createAttestedClient({ url, root, policy: { pcrSets: [{ 0: 'ab'.repeat(48) }] } });
    await assert.rejects(wrongSets.request(get), (error: unknown) => error instanceof AttestedClientError && error.reason === 'PCR_MISMATCH');
    wrongSets.close();
    const refusing = createAttestedClient({ url, root, acceptMeasurements: () => false });
    await assert.rejects(refusing.request(get), (error: unknown) => error instanceof AttestedClientError && error.reason === 'PCR_MISMATCH');
    refusing.close();
    let seenPcr0 = '';
    const accepting = createAttestedClient({ url, root, acceptMeasurements: (pcrs) => ((seenPcr0 = Buffer.from(pcrs.get(0) ?? []).toString('hex')), true) });
    assert.equal((await accepting.request(get)).status, 404);
    assert.equal(seenPcr0, pcr0);
    accepting.close();
    // The AWS root with nothing pinned: refused before any byte goes out (this dev enclave would fail the AWS chain anyway; the refusal comes first).
    const unpinned = createAttestedClient({ url, root: 'aws' });
    await assert.rejects(unpinned.request(get), (error: unknown) => error instanceof AttestedClientError && error.code === 'MEASUREMENTS_REQUIRED');
    unpinned.close();
    const insecure = createAttestedClient({ url, root: 'aws', insecureAnyEnclave: true });
    await assert.rejects(insecure.request(get), (error: unknown) => error instanceof AttestedClientError && error.code === 'ATTESTATION_FAILED', 'insecureAnyEnclave goes on to attest');
    insecure.close();
  });

  test('the document is served at /.well-known/attestation too; one connection gets at most 8, then 429 ATTESTATION_RATE_LIMITED with Retry-After', async () => {
    const { Agent, request } = await import('node:https');
    const agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    const ask = (path: string): Promise<{ status: number; body: Buffer; headers: Record<string, unknown>; socketId: unknown }> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: stack.port, path, agent, servername: 'localhost', headers: { accept: 'application/cbor' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers, socketId: res.socket }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const answers: Awaited<ReturnType<typeof ask>>[] = [];
      for (let index = 0; index < 9; index += 1) answers.push(await ask(`${index % 2 === 0 ? '/.well-known/attestation' : '/attestation'}?nonce=${'ab'.repeat(32)}`));
      assert.ok(answers.every((answer) => answer.socketId === answers[0]?.socketId), 'one connection');
      assert.deepEqual(answers.slice(0, 8).map((answer) => answer.status), [200, 200, 200, 200, 200, 200, 200, 200]);
      assert.equal(answers[0]?.body[0], 0x84, 'a COSE_Sign1 array from the alias');
      const limited = answers[8];
      assert.equal(limited?.status, 429);
      assert.equal((JSON.parse(limited.body.toString()) as { error: { code: string } }).error.code, 'ATTESTATION_RATE_LIMITED');
      assert.equal(limited.headers['retry-after'], '1');
    } finally {
      agent.destroy();
    }
    // A new connection is served again.
    const fresh = await fetchDocument(stack.port, 'cd'.repeat(32));
    assert.ok(fresh.document.length > 0);
  });

  test('client.agent is a drop-in https.Agent: https.request works unchanged and attested; a man in the middle or another host is refused before any byte of the request', async () => {
    const { readFileSync } = await import('node:fs');
    const { request } = await import('node:https');
    const root = { certificatePem: readFileSync(rootPem, 'utf8') };
    const token = await newToken();
    const send = (agent: import('node:https').Agent, port: number, method: string, path: string, body?: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method, path, agent, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) } }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const client = createAttestedClient({ url, root });
    try {
      assert.equal((await send(client.agent, stack.port, 'PUT', '/private-data/agent', '{"via":"agent"}')).status, 201);
      assert.deepEqual(await send(client.agent, stack.port, 'GET', '/private-data/agent'), { status: 200, body: '{"via":"agent"}' });
      assert.ok(client.pinned !== undefined, 'the connection was attested');
      await assert.rejects(send(client.agent, stack.port + 1, 'GET', '/healthz'), (error: unknown) => error instanceof AttestedClientError && error.code === 'REQUEST_FAILED');
    } finally {
      client.close();
    }
    const mitmDir = mkdtempSync(join(dir, 'agent-mitm-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(mitmDir, 'key.pem'), '-out', join(mitmDir, 'cert.pem')], { stdio: 'ignore' });
    const mitm = await startManInTheMiddle(stack.port, readFileSync(join(mitmDir, 'key.pem'), 'utf8'), readFileSync(join(mitmDir, 'cert.pem'), 'utf8'));
    const fooled = createAttestedClient({ url: `https://127.0.0.1:${mitm.port}`, root });
    try {
      await assert.rejects(send(fooled.agent, mitm.port, 'PUT', '/private-data/agent', '{"secret":"must-not-reach"}'), (error: unknown) => error instanceof AttestedClientError && error.code === 'ATTESTATION_FAILED');
      assert.equal(mitm.seen().includes('must-not-reach'), false);
      assert.equal(mitm.seen().includes(token), false);
    } finally {
      fooled.close();
      mitm.server.close();
    }
    const unpinned = createAttestedClient({ url, root: 'aws' });
    await assert.rejects(send(unpinned.agent, stack.port, 'GET', '/healthz'), (error: unknown) => error instanceof AttestedClientError && error.code === 'MEASUREMENTS_REQUIRED');
    unpinned.close();
  });

  test('client.dispatcher is a drop-in undici Dispatcher: fetch (undici\'s and the global one) works unchanged and attested; another origin, a wrong PCR and the AWS root without pins are refused', async () => {
    const { readFileSync } = await import('node:fs');
    const root = { certificatePem: readFileSync(rootPem, 'utf8') };
    const token = await newToken();
    const client = createAttestedClient({ url, root });
    try {
      const put = await undiciFetch(`${url}/private-data/fetched`, {
        method: 'PUT', dispatcher: client.dispatcher, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"via":"fetch"}',
      });
      assert.equal(put.status, 201);
      assert.ok(client.pinned !== undefined, 'the connection was attested');
      const got = await undiciFetch(`${url}/private-data/fetched`, { dispatcher: client.dispatcher, headers: { authorization: `Bearer ${token}` } });
      assert.deepEqual([got.status, await got.text()], [200, '{"via":"fetch"}']);
      // Node's global fetch takes the same dispatcher (its types come from Node's bundled undici, one major older: hence the cast).
      const global = await fetch(`${url}/private-data/fetched`, { dispatcher: client.dispatcher, headers: { authorization: `Bearer ${token}` } } as unknown as RequestInit);
      assert.deepEqual([global.status, await global.text()], [200, '{"via":"fetch"}']);
      await assert.rejects(undiciFetch(`https://127.0.0.1:${stack.port + 1}/healthz`, { dispatcher: client.dispatcher }), (error: unknown) => causeCode(error) === 'REQUEST_FAILED');
    } finally {
      client.close();
    }
    // Pinned to other measurements: refused before a byte of the request, by the dispatcher and the agent alike.
    const wrongPcr = createAttestedClient({ url, root, policy: { pcrs: { 0: `${'00'.repeat(47)}01` } } });
    try {
      await assert.rejects(
        undiciFetch(`${url}/private-data/fetched`, { dispatcher: wrongPcr.dispatcher, headers: { authorization: `Bearer ${token}` } }),
        (error: unknown) => causeCode(error) === 'ATTESTATION_FAILED' && causeReason(error) === 'PCR_MISMATCH',
      );
      const { get } = await import('node:https');
      await assert.rejects(
        new Promise((resolve, reject) => get({ host: '127.0.0.1', port: stack.port, path: '/healthz', agent: wrongPcr.agent }, resolve).on('error', reject)),
        (error: unknown) => error instanceof AttestedClientError && error.code === 'ATTESTATION_FAILED' && error.reason === 'PCR_MISMATCH',
      );
    } finally {
      wrongPcr.close();
    }
    const unpinned = createAttestedClient({ url, root: 'aws' });
    await assert.rejects(undiciFetch(`${url}/healthz`, { dispatcher: unpinned.dispatcher }), (error: unknown) => causeCode(error) === 'MEASUREMENTS_REQUIRED');
    unpinned.close();
  });

  test('once admitted, a connection has no deadline of the attestation\'s (a slow answer is not cut off); close() ends connections still being set up and refuses later requests', async () => {
    const { readFileSync } = await import('node:fs');
    const { createServer, connect } = await import('node:net');
    const root = { certificatePem: readFileSync(rootPem, 'utf8') };
    const live = new Set<import('node:net').Socket>();
    // A TCP proxy that counts open connections (TLS passes through it untouched).
    const proxy = createServer((client) => {
      live.add(client);
      client.on('close', () => live.delete(client));
      const upstream = connect(stack.port, '127.0.0.1');
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `https://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    try {
      // The request's body comes 1.5 s after its head, on a connection admitted with timeoutMs 1 s: it used to be cut off.
      const slow = createAttestedClient({ url, root, timeoutMs: 1_000 });
      try {
        const { request } = await import('node:https');
        const token = await newToken();
        const status = await new Promise<number>((resolve, reject) => {
          const req = request(
            { host: '127.0.0.1', port: stack.port, method: 'PUT', path: '/private-data/slow', agent: slow.agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': 7 } },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.on('error', reject);
          req.flushHeaders();
          req.on('socket', () => setTimeout(() => req.end('{"a":1}'), 1_500));
        });
        assert.equal(status, 201);
      } finally {
        slow.close();
      }

      const closing = createAttestedClient({ url: proxyUrl, root, timeoutMs: 5_000 });
      const pending = closing.request({ path: '/healthz' });
      closing.close();
      await assert.rejects(pending, (error: unknown) => error instanceof AttestedClientError && error.code === 'REQUEST_FAILED');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(live.size, 0, 'no connection left open after close()');
      await assert.rejects(closing.request({ path: '/healthz' }), (error: unknown) => error instanceof AttestedClientError && error.code === 'REQUEST_FAILED');
    } finally {
      proxy.close();
    }
  });

  test('a replayed document (another nonce) is refused; the client pinned to other PCRs refuses', async () => {
    // Record a document for nonce A with the live certificate, as an attacker could.
    const nonceA = 'aa'.repeat(32);
    const { document, certificatePem } = await fetchDocument(stack.port, nonceA);
    const file = join(dir, 'recorded.cbor');
    writeFileSync(file, document);
    const certFile = join(dir, 'enclave-cert.pem');
    writeFileSync(certFile, certificatePem);
    const original = await runCli(['verify-doc', file, '--root', rootPem, '--nonce', nonceA, '--tls-cert', certFile]);
    assert.equal(original.code, 0, original.stderr);
    const replayed = await runCli(['verify-doc', file, '--root', rootPem, '--nonce', 'bb'.repeat(32), '--tls-cert', certFile]);
    assert.equal(replayed.code, 1);
    assert.match(replayed.stderr, /NONCE_MISMATCH/);

    const otherPcrs = await runCli(['verify', url, '--root', rootPem, '--pcr', `0=${'00'.repeat(47)}01`]);
    assert.equal(otherPcrs.code, 1);
    assert.match(otherPcrs.stderr, /PCR_MISMATCH/);
    const noRoot = await runCli(['verify', url]);
    assert.equal(noRoot.code, 1, 'the dev root is never trusted unless given');
    assert.match(noRoot.stderr, /CHAIN_UNTRUSTED_ROOT/);
  });

  test('the library pins the attested key, and re-attests when the enclave returns with a new TLS key', async () => {
    const client = createAttestedClient({ url, root: { certificatePem: (await import('node:fs')).readFileSync(rootPem, 'utf8') } });
    try {
      const token = await newToken();
      const first = await client.request({ method: 'POST', path: '/private-data', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"n":1}' });
      assert.equal(first.status, 201);
      const pinnedBefore = client.pinned?.certificate.fingerprint256;
      assert.ok(pinnedBefore !== undefined);
      await stack.restartEnclave(); // a generated TLS key: a new certificate
      const second = await client.request({ path: '/private-data', headers: { authorization: `Bearer ${token}` } });
      assert.equal(second.status, 200);
      assert.equal(second.body.toString(), '{"n":1}');
      assert.notEqual(client.pinned?.certificate.fingerprint256, pinnedBefore);
    } finally {
      client.close();
    }
    // And a client whose policy the new enclave does not meet gets no connection at all.
    const strict = createAttestedClient({ url, root: { certificatePem: (await import('node:fs')).readFileSync(rootPem, 'utf8') }, policy: { pcrs: { 0: '11'.repeat(48) } } });
    try {
      await assert.rejects(strict.request({ path: '/healthz' }), (error: unknown) => error instanceof AttestedClientError && error.code === 'ATTESTATION_FAILED' && error.reason === 'PCR_MISMATCH');
    } finally {
      strict.close();
    }
  });
});

/** GET /attestation over one TLS connection; returns the CBOR document and the certificate that connection presented. */
function fetchDocument(port: number, nonceHex: string): Promise<{ document: Buffer; certificatePem: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      socket.write(`GET /attestation?nonce=${nonceHex} HTTP/1.1\r\nHost: localhost\r\nAccept: application/cbor\r\nConnection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, split).toString('latin1');
      if (!head.startsWith('HTTP/1.1 200')) {
        reject(new Error(`attestation request failed: ${head.split('\r\n')[0]}`));
        return;
      }
      const certificate = socket.getPeerX509Certificate();
      resolve({ document: all.subarray(split + 4), certificatePem: certificate?.toString() ?? '' });
    });
  });
}

describe('an operator that holds the enclave TLS key (issue 10, item 2)', () => {
  let dir: string;
  let stack: Stack;
  let rootPem: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'http-enclave-relay-'));
    rootPem = makeDevRoot(dir);
    // The enclave's TLS key comes from files, which the operator can read (they are in the image).
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'tls-key.pem'), '-out', join(dir, 'tls-cert.pem')], { stdio: 'ignore' });
    stack = await startStack({
      enclaveEnv: {
        ATTESTATION_PROVIDER: 'dev',
        ATTESTATION_DEV_ROOT_KEY_PATH: join(dir, 'root-key.pem'),
        ATTESTATION_DEV_ROOT_CERT_PATH: rootPem,
        TLS_CERT_PATH: join(dir, 'tls-cert.pem'),
        TLS_KEY_PATH: join(dir, 'tls-key.pem'),
      },
    });
  });
  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a relay with the enclave's own key and certificate gets a genuine document over its own connection: put, get, verify, the library, its Agent and its Dispatcher refuse it (TLS_SESSION_MISMATCH) before anything is sent", async () => {
    const { readFileSync } = await import('node:fs');
    const relay = await startManInTheMiddle(stack.port, readFileSync(join(dir, 'tls-key.pem'), 'utf8'), readFileSync(join(dir, 'tls-cert.pem'), 'utf8'));
    try {
      const token = await newToken();
      const put = await runCli(['put', `https://127.0.0.1:${relay.port}`, '--root', rootPem, '--data', '{"secret":"must-not-reach-the-relay"}'], { HTTP_ENCLAVE_TOKEN: token });
      assert.equal(put.code, 1, put.stdout);
      assert.match(put.stderr, /ATTESTATION_FAILED TLS_SESSION_MISMATCH/);
      assert.match(relay.seen(), /^GET \/attestation\?nonce=[0-9a-f]{64} HTTP\/1\.1\r\n/);
      assert.equal(relay.seen().includes(token), false);
      assert.equal(relay.seen().includes('must-not-reach'), false);
      const get = await runCli(['get', `https://127.0.0.1:${relay.port}`, 'some-id', '--root', rootPem], { HTTP_ENCLAVE_TOKEN: token });
      assert.equal(get.code, 1, get.stdout);
      assert.match(get.stderr, /ATTESTATION_FAILED TLS_SESSION_MISMATCH/);
      const verify = await runCli(['verify', `https://127.0.0.1:${relay.port}`, '--root', rootPem]);
      assert.equal(verify.code, 1, verify.stdout);
      assert.match(verify.stderr, /TLS_SESSION_MISMATCH/);

      // The library, its https.Agent and its undici Dispatcher: the same refusal, before the request.
      const root = { certificatePem: readFileSync(rootPem, 'utf8') };
      const client = createAttestedClient({ url: `https://127.0.0.1:${relay.port}`, root });
      try {
        const refusedSession = (error: unknown): boolean =>
          (error instanceof AttestedClientError ? error : causeOf(error)) instanceof AttestedClientError && (causeReason(error) ?? (error as AttestedClientError).reason) === 'TLS_SESSION_MISMATCH';
        await assert.rejects(
          client.request({ method: 'POST', path: '/private-data', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"secret":"must-not-reach-the-relay"}' }),
          refusedSession,
        );
        const { request } = await import('node:https');
        await assert.rejects(
          new Promise((resolve, reject) => {
            const req = request({ host: '127.0.0.1', port: relay.port, method: 'PUT', path: '/private-data/x', agent: client.agent, headers: { authorization: `Bearer ${token}` } }, resolve);
            req.on('error', reject);
            req.end('{"secret":"must-not-reach-the-relay"}');
          }),
          refusedSession,
        );
        await assert.rejects(
          undiciFetch(`https://127.0.0.1:${relay.port}/private-data/x`, { method: 'PUT', dispatcher: client.dispatcher, headers: { authorization: `Bearer ${token}` }, body: '{"secret":"must-not-reach-the-relay"}' }),
          refusedSession,
        );
      } finally {
        client.close();
      }
      assert.equal(relay.seen().includes(token), false);
      assert.equal(relay.seen().includes('must-not-reach'), false);
      const requestLines = relay.seen().match(/^[A-Z]+ \S+ HTTP\/1\.1$/gm) ?? [];
      assert.ok(requestLines.length >= 6, `one attestation request per refused entry point, saw ${requestLines.length}`);
      for (const line of requestLines) assert.match(line, /^GET \/attestation\?nonce=[0-9a-f]{64} HTTP\/1\.1$/, 'the relay saw nothing but attestation requests');

      // The key part alone still matches (same key): what a client that cannot export (a browser) would see.
      const direct = await runCli(['verify', `https://127.0.0.1:${stack.port}`, '--root', rootPem]);
      assert.equal(direct.code, 0, direct.stderr);
    } finally {
      relay.server.close();
    }
  });

  test('the operator passes the first connection through, then takes over later ones with the enclave\'s key: every new connection is attested, so the takeover is refused (a hostile review found the client trusted a certificate it had seen)', async () => {
    const { readFileSync } = await import('node:fs');
    const { createServer, connect } = await import('node:net');
    const { TLSSocket } = await import('node:tls');
    const keyPem = readFileSync(join(dir, 'tls-key.pem'), 'utf8');
    const certPem = readFileSync(join(dir, 'tls-cert.pem'), 'utf8');
    let connections = 0;
    let seen = '';
    const passedThrough: import('node:net').Socket[] = [];
    const proxy = createServer((client) => {
      connections += 1;
      if (connections === 1) {
        // Untouched: the client attests the real enclave through it.
        const upstream = connect(stack.port, '127.0.0.1');
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        passedThrough.push(client, upstream);
        return;
      }
      // Later connections: TLS ends here, with the enclave's own key and certificate.
      const terminated = new TLSSocket(client, { isServer: true, key: keyPem, cert: certPem });
      const upstream = tlsConnect({ host: '127.0.0.1', port: stack.port, servername: 'localhost', rejectUnauthorized: false });
      terminated.on('data', (chunk: Buffer) => (seen += chunk.toString('latin1')));
      terminated.pipe(upstream).pipe(terminated);
      terminated.on('error', () => upstream.destroy());
      upstream.on('error', () => terminated.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as { port: number }).port;
    const client = createAttestedClient({ url: `https://127.0.0.1:${proxyPort}`, root: { certificatePem: readFileSync(rootPem, 'utf8') } });
    try {
      const token = await newToken();
      const first = await client.request({ method: 'PUT', path: '/private-data/takeover', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"n":1}' });
      assert.equal(first.status, 201);
      for (const socket of passedThrough) socket.destroy(); // the operator drops it; the client must reconnect
      await new Promise((resolve) => setTimeout(resolve, 100));
      await assert.rejects(
        client.request({ path: '/private-data/takeover', headers: { authorization: `Bearer ${token}` } }),
        (error: unknown) => error instanceof AttestedClientError && error.code === 'ATTESTATION_FAILED' && error.reason === 'TLS_SESSION_MISMATCH',
      );
      assert.ok(connections >= 2, 'the client came back through the operator');
      assert.equal(seen.includes(token), false, 'the token never reached the operator in clear');
      for (const line of seen.match(/^[A-Z]+ \S+ HTTP\/1\.1$/gm) ?? []) assert.match(line, /^GET \/attestation\?nonce=/);
    } finally {
      client.close();
      proxy.close();
    }
  });
});
