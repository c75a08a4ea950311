// The operator can signal the enclave process in the local setup. Node 20
// opens the V8 inspector (full memory access) on SIGUSR1 unless a handler is
// installed: the enclave and the host must keep it closed and keep serving.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { newToken, sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

/** Node's default inspector port. */
const INSPECTOR_PORT = 9229;

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

test('SIGUSR1 opens no inspector in the enclave or the host, and both keep serving', async () => {
  assert.equal(await portAccepts(INSPECTOR_PORT), false, 'something already listens on 9229; cannot run this check');
  for (const program of [stack.enclave, stack.host]) {
    assert.ok(program.child.pid !== undefined);
    process.kill(program.child.pid, 'SIGUSR1');
  }
  await sleep(500);
  assert.equal(await portAccepts(INSPECTOR_PORT), false);
  assert.doesNotMatch(stack.allOutput(), /Debugger listening/);
  const token = await newToken();
  const res = await sendRequest(stack.port, { method: 'POST', path: '/private-data', token, body: '{"after":"signal"}' });
  assert.equal(res.status, 201);
});
