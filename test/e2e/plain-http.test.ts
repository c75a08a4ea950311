// USE_TLS=false serves plain HTTP through the host (for debugging only) and
// says so in a warning at start.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ enclaveEnv: { USE_TLS: 'false', AUTH_MODE: 'none' } });
});
after(async () => {
  await stack?.stop();
});

function plainRequest(port: number, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('USE_TLS=false: plain HTTP works end to end and a warning is logged', async () => {
  const posted = await plainRequest(stack.port, 'POST', '/private-data', '{"plain":true}');
  assert.equal(posted.status, 201);
  const got = await plainRequest(stack.port, 'GET', '/private-data');
  assert.equal(got.body, '{"plain":true}');
  const warning = await stack.enclave.waitForLog('USE_TLS=false: serving plain HTTP; traffic is readable by the host');
  assert.equal(warning['level'], 'warn');
});
