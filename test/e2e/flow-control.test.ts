// Flow control through the real host and enclave: a client that stops
// reading while the server streams keeps the host's memory bounded (and
// loses nothing once it reads again); a client that half-closes after its
// request still gets the whole response.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { newToken, sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

/** Document size: near the default MAX_BODY_BYTES (1 MiB). */
const DOCUMENT_BYTES = 900 * 1024;
/**
 * Pipelined GETs the stalled client asks for: ~54 MiB of responses, far more
 * than socket buffers hold, and below the enclave's MAX_PIPELINED_REQUESTS
 * (64, past which it closes the connection: pipelined-flood.test.ts).
 */
const PIPELINED_REQUESTS = 60;
/** Allowed growth of the host's resident memory while the client is stalled. */
const MAX_HOST_RSS_GROWTH_BYTES = 32 * 1024 * 1024;

function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  assert.ok(Number.isFinite(kib));
  return kib * 1024;
}

function openTls(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen is a net.Socket option that tls.connect passes through; the types omit it.
    const options = { host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, allowHalfOpen: true };
    const socket = tlsConnect(options, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('flow control through the real stack', () => {
  let stack: Stack;
  let token: string;
  let document: string;

  before(async () => {
    stack = await startStack({ hostEnv: { LOG_LEVEL: 'info' }, enclaveEnv: { LOG_LEVEL: 'info' } });
    token = await newToken();
    document = JSON.stringify({ pad: 'p'.repeat(DOCUMENT_BYTES - 10) });
    const res = await sendRequest(stack.port, { method: 'POST', path: '/private-data', token, body: document });
    assert.equal(res.status, 201);
  });
  after(async () => {
    await stack?.stop();
  });

  test('a client that stops reading: host memory stays bounded, and every byte arrives once it reads', async () => {
    const pid = stack.host.child.pid;
    assert.ok(pid !== undefined);
    const before = residentBytes(pid);
    const socket = await openTls(stack.port);
    socket.pause();
    const request = `GET /private-data HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`;
    socket.write(request.repeat(PIPELINED_REQUESTS));
    let peak = before;
    for (let i = 0; i < 20; i += 1) {
      await sleep(150);
      peak = Math.max(peak, residentBytes(pid));
    }
    assert.ok(peak - before < MAX_HOST_RSS_GROWTH_BYTES, `host RSS grew by ${Math.round((peak - before) / 1048576)} MiB`);

    // Now read everything: all responses, complete, nothing lost.
    let received = 0;
    const expectedBody = PIPELINED_REQUESTS * Buffer.byteLength(document);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received} of at least ${expectedBody} bytes arrived`)), 60_000);
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= expectedBody + PIPELINED_REQUESTS * 100) {
          clearTimeout(timer);
          resolve();
        }
      });
      socket.resume();
    });
    socket.destroy();
    assert.ok(received > expectedBody);
  });

  test('a client that half-closes after its request still gets the whole response', async () => {
    const socket = await openTls(stack.port);
    let text = '';
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.end(`GET /private-data HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    await closed;
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    assert.equal(body.length, Buffer.byteLength(document));
    assert.equal(body, document);
  });
});
