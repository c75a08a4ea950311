// Slow clients are cut off by the enclave's timeouts, through the real host:
// a connection that never completes its TLS handshake is closed at
// HANDSHAKE_TIMEOUT_MS (Node's default would hold it 120 s), and one that
// trickles its headers gets 408 at HEADERS_TIMEOUT_MS.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, test } from 'node:test';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ enclaveEnv: { HANDSHAKE_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2000' } });
});
after(async () => {
  await stack?.stop();
});

test('a silent TCP connection is closed at the handshake timeout', async () => {
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: stack.port });
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error('connection still open after 8 s'));
    }, 8000);
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(guard);
      resolve();
    });
  });
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 900, `closed after ${elapsed} ms, before the timeout`);
});

test('headers that trickle in get 408 REQUEST_TIMEOUT', async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: stack.port, servername: 'localhost', rejectUnauthorized: false }, () => {
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    });
    let text = '';
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer after 8 s: ${text}`));
    }, 8000);
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(guard);
      resolve(text);
    });
  });
  assert.match(answer, /^HTTP\/1\.1 408 /);
  assert.match(answer, /"REQUEST_TIMEOUT"/);
});
