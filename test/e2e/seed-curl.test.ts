// The seed README's two curl commands, word for word but for the port,
// against the real stack under AUTH_MODE=none.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startStack, type Stack } from '../support/stack.js';

const run = promisify(execFile);
let stack: Stack;

before(async () => {
  stack = await startStack({ enclaveEnv: { AUTH_MODE: 'none' } });
});
after(async () => {
  await stack?.stop();
});

test("the seed's curl commands work word for word under AUTH_MODE=none", async () => {
  const post = await run('curl', ['-k', '-XPOST', `https://localhost:${stack.port}/private-data`, '-d', '{"hello":"world"}', '-H', 'content-type: application/json']);
  assert.deepEqual(JSON.parse(post.stdout), { version: 1 });
  const get = await run('curl', ['-k', `https://localhost:${stack.port}/private-data`]);
  assert.equal(get.stdout, '{"hello":"world"}');
  assert.match(stack.enclave.output(), /AUTH_MODE=none/);
});
