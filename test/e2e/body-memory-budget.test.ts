// A global budget for request bodies in flight (issue 9, finding 6: 900
// stalled uploads held 1.1 GB; MAX_CONNECTIONS x MAX_BODY_BYTES could reach
// 8 GiB). Uploads that cannot be covered by BODY_MEMORY_BUDGET_BYTES get 503
// OVERLOADED at once; reads still work; the budget comes back when the
// stalled uploads go away.

import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { newToken, sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

const MAX_BODY = 256 * 1024;
const BUDGET = 4 * MAX_BODY;
let stack: Stack;
before(async () => {
  stack = await startStack({ enclaveEnv: { MAX_BODY_BYTES: String(MAX_BODY), BODY_MEMORY_BUDGET_BYTES: String(BUDGET) } });
});
after(async () => {
  await stack?.stop();
});

/** An upload that declares MAX_BODY bytes, sends a few, and stalls. */
function stalledUpload(token: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: stack.port, servername: 'localhost', rejectUnauthorized: false }, () => {
      socket.write(`PUT /private-data/stalled HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${MAX_BODY}\r\n\r\n{"a":"`);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

test('stalled uploads use up the body budget: the next upload gets 503 OVERLOADED at once, reads still work, and the budget returns', async () => {
  const token = await newToken();
  const stalled: TLSSocket[] = [];
  for (let index = 0; index < BUDGET / MAX_BODY; index += 1) stalled.push(await stalledUpload(token));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const refused = await sendRequest(stack.port, { method: 'PUT', path: '/private-data/small', token, body: '{"small":1}', timeoutMs: 5_000 });
  assert.equal(refused.status, 503);
  assert.equal(refused.errorCode(), 'OVERLOADED');
  assert.equal((await sendRequest(stack.port, { path: '/private-data/small', token })).status, 404, 'reads do not need the budget');
  for (const socket of stalled) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const accepted = await sendRequest(stack.port, { method: 'PUT', path: '/private-data/small', token, body: '{"small":1}' });
  assert.equal(accepted.status, 201);
});
