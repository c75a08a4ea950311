// Connections that close before a byte of TLS (a health checker, a port
// scan) must not hold one of the enclave's MAX_CONNECTIONS slots until the
// handshake timeout (issue 9, finding 4: about 100 such connections a second
// filled the cap and real clients got resets).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

const ENCLAVE_MAX_CONNECTIONS = 5;
let stack: Stack;

before(async () => {
  // A handshake timeout far longer than the test: only closing at once can free the slots in time.
  stack = await startStack({ enclaveEnv: { MAX_CONNECTIONS: String(ENCLAVE_MAX_CONNECTIONS), HANDSHAKE_TIMEOUT_MS: '60000' } });
});
after(async () => {
  await stack?.stop();
});

async function openAndClose(count: number, how: 'end' | 'destroy'): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = connect(stack.port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      if (how === 'end') socket.end();
      else socket.destroy();
      await once(socket, 'close');
    }),
  );
}

test('connections closed before TLS (FIN or reset) free their enclave slot at once; clients still get in', async () => {
  for (const how of ['end', 'destroy'] as const) {
    await openAndClose(ENCLAVE_MAX_CONNECTIONS * 3, how);
    // Give the host and the enclave a moment to see the closes, far less than any timeout.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const answers = await Promise.all(Array.from({ length: ENCLAVE_MAX_CONNECTIONS - 1 }, () => sendRequest(stack.port, { path: '/healthz', timeoutMs: 10_000 }).catch((error: Error) => error)));
    for (const answer of answers) {
      assert.ok(!(answer instanceof Error), `${how}: a client was refused after closed-before-TLS connections: ${answer instanceof Error ? answer.message : ''}`);
      assert.equal(answer.status, 200);
    }
  }
});
