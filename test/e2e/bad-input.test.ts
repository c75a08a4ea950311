// Bad input of every kind gets its status and stable code, never echoes the
// request, and leaves the enclave serving. Storage faults (down, silent)
// give 503 STORAGE_UNAVAILABLE within the storage timeout.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { ENCLAVE_MAIN, startProgram, type RunningProgram } from '../support/processes.js';
import { newToken, sendRequest, type TestResponse } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

function assertError(res: TestResponse, status: number, code: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${res.body.toString()}`);
  assert.equal(res.errorCode(), code);
  const body = res.json() as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message']);
  assert.doesNotMatch(body.error.message, /\bat .*\.js:\d+/, 'no stack trace');
}

/** Sends raw bytes over TLS and returns everything the server answers until it closes or goes quiet. */
function rawExchange(port: number, payload: string, quietMs = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => socket.write(payload));
    let text = '';
    let timer = setTimeout(() => socket.destroy(), quietMs);
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), quietMs);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.on('error', (e) => (text.length > 0 ? undefined : reject(e)));
  });
}

describe('bad input through the real stack', () => {
  let stack: Stack;
  let token: string;
  before(async () => {
    stack = await startStack({ enclaveEnv: { MAX_BODY_BYTES: '4096' } });
    token = await newToken();
  });
  after(async () => {
    await stack?.stop();
  });

  test('invalid JSON: 400 INVALID_JSON, and the body is echoed neither in the answer nor in the logs', async () => {
    const canary = `secret${randomBytes(8).toString('hex')}`;
    const res = await sendRequest(stack.port, { method: 'POST', path: '/private-data', token, body: `{"a": ${canary}` });
    assertError(res, 400, 'INVALID_JSON');
    assert.equal(res.body.includes(canary), false);
    assert.equal(stack.allOutput().includes(canary), false);
  });

  test('invalid UTF-8 and an empty body are invalid JSON', async () => {
    assertError(await sendRequest(stack.port, { method: 'POST', path: '/private-data', token, body: Buffer.from([0x22, 0xff, 0x22]) }), 400, 'INVALID_JSON');
    assertError(await sendRequest(stack.port, { method: 'POST', path: '/private-data', token, body: '' }), 400, 'INVALID_JSON');
  });

  test('a body above MAX_BODY_BYTES: 413 from Content-Length before reading, and when chunked', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(5000) });
    assertError(await sendRequest(stack.port, { method: 'POST', path: '/private-data', token, body: big }), 413, 'BODY_TOO_LARGE');
    // Declared 1 GiB, nothing sent: answered at once, not after buffering.
    const declared = await rawExchange(
      stack.port,
      `POST /private-data HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n`,
    );
    assert.match(declared, /^HTTP\/1\.1 413 /);
    assert.match(declared, /"BODY_TOO_LARGE"/);
    const chunked = await rawExchange(
      stack.port,
      `POST /private-data HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n${'x'.repeat(5000)}\r\n`,
    );
    assert.match(chunked, /^HTTP\/1\.1 413 /);
  });

  test('wrong content type: 415; wrong method: 405 with Allow; unknown path: 404; bad name: 400', async () => {
    assertError(await sendRequest(stack.port, { method: 'POST', path: '/private-data', token, body: '{}', headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    const put = await sendRequest(stack.port, { method: 'PUT', path: '/private-data', token, body: '{}' });
    assertError(put, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(put.headers['allow'], 'GET, POST');
    assertError(await sendRequest(stack.port, { method: 'PATCH', path: '/private-data/x', token, body: '{}' }), 405, 'METHOD_NOT_ALLOWED');
    assertError(await sendRequest(stack.port, { path: '/nothing-here', token }), 404, 'ROUTE_NOT_FOUND');
    assertError(await sendRequest(stack.port, { path: '/private-data/a%2Fb', token }), 400, 'INVALID_NAME');
    assertError(await sendRequest(stack.port, { path: `/private-data/${'n'.repeat(129)}`, token }), 400, 'INVALID_NAME');
  });

  test('authentication: missing 401 AUTH_REQUIRED, other scheme 401, weak token 401 AUTH_TOKEN_MALFORMED', async () => {
    assertError(await sendRequest(stack.port, { path: '/private-data' }), 401, 'AUTH_REQUIRED');
    assertError(await sendRequest(stack.port, { path: '/private-data', headers: { authorization: 'Basic dXNlcjpwYXNz' } }), 401, 'AUTH_REQUIRED');
    assertError(await sendRequest(stack.port, { path: '/private-data', token: 'a'.repeat(40) }), 401, 'AUTH_TOKEN_MALFORMED');
    assertError(await sendRequest(stack.port, { path: '/private-data', token: 'abc def' }), 401, 'AUTH_REQUIRED');
  });

  test('malformed HTTP and oversized headers get 400 / 431 JSON and the connection closes', async () => {
    const bad = await rawExchange(stack.port, 'GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 400 /);
    assert.match(bad, /"INVALID_REQUEST"/);
    const huge = await rawExchange(stack.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    const smuggle = await rawExchange(stack.port, 'POST /private-data HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    assert.match(smuggle, /^HTTP\/1\.1 400 /);
  });

  test('Host header (issue 9, finding 9): missing in HTTP/1.1 or given twice: 400 INVALID_REQUEST as JSON, and the connection closes', async () => {
    for (const [what, head] of [
      ['missing', 'GET /healthz HTTP/1.1\r\n\r\n'],
      ['twice', 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n'],
      ['twice, same value', 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n'],
    ] as const) {
      const answer = await rawExchange(stack.port, head);
      assert.match(answer, /^HTTP\/1\.1 400 /, `${what}: ${answer.slice(0, 80)}`);
      assert.match(answer, /\r\ncontent-type: application\/json/i, what);
      assert.match(answer, /\r\nconnection: close/i, what);
      assert.match(answer, /"code":"INVALID_REQUEST"/, what);
    }
    // HTTP/1.0 has no Host requirement; one Host header is the normal case.
    assert.match(await rawExchange(stack.port, 'GET /healthz HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 /);
    assert.match(await rawExchange(stack.port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
  });

  test('after all of that the enclave still serves', async () => {
    const res = await sendRequest(stack.port, { method: 'POST', path: '/private-data', token, body: '{"still":"here"}' });
    assert.equal(res.status, 201);
    assert.equal((await sendRequest(stack.port, { path: '/private-data', token })).body.toString(), '{"still":"here"}');
  });
});

describe('storage faults seen from the enclave', () => {
  let dir: string;
  let enclave: RunningProgram;
  let port: number;
  let silentStorage: Server;
  const held: Socket[] = [];
  let token: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'http-enclave-faults-'));
    token = await newToken();
    // A storage endpoint that accepts and never answers: a host that stalls.
    silentStorage = createServer((socket) => {
      held.push(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silentStorage.listen(join(dir, 'silent.sock'), resolve));
    enclave = startProgram(ENCLAVE_MAIN, {
      ENCLAVE_KEY_BASE64: randomBytes(32).toString('base64'),
      ENCLAVE_LISTEN: 'tcp://127.0.0.1:0',
      STORAGE_ADDR: `unix://${join(dir, 'silent.sock')}`,
      STORAGE_TIMEOUT_MS: '700',
      TLS_CERT_PATH: join(dir, 'none.pem'),
      TLS_KEY_PATH: join(dir, 'none-key.pem'),
    });
    const line = await enclave.waitForLog('enclave listening');
    port = Number(/:(\d+)$/.exec(String(line['address']))?.[1]);
  });
  after(async () => {
    await enclave?.stop();
    for (const s of held) s.destroy();
    silentStorage?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('silent storage: 503 STORAGE_UNAVAILABLE after the storage timeout, not a hang', async () => {
    const started = Date.now();
    const res = await sendRequest(port, { method: 'POST', path: '/private-data', token, body: '{}' });
    assertError(res, 503, 'STORAGE_UNAVAILABLE');
    assert.ok(Date.now() - started < 5000);
    const health = await sendRequest(port, { path: '/healthz' });
    assert.equal(health.status, 503);
    assert.deepEqual(health.json(), { status: 'degraded', storage: 'unavailable' });
  });

  test('storage down: 503 STORAGE_UNAVAILABLE, and the enclave keeps serving', async () => {
    silentStorage.close();
    for (const s of held) s.destroy();
    const res = await sendRequest(port, { path: '/private-data', token });
    assertError(res, 503, 'STORAGE_UNAVAILABLE');
    const again = await sendRequest(port, { path: '/private-data', token });
    assertError(again, 503, 'STORAGE_UNAVAILABLE');
  });
});
