// After the host rolls the whole database back and the enclave restarts (a
// limit the README states: not detected before issue 12), the next write
// reuses a version number that already named other content. An ETag must
// still name one document (issue 9, finding 9): it carries the seal's tag,
// not the version alone.

import assert from 'node:assert/strict';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { newToken, sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

const FILES = ['', '-wal', '-shm'];
let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

test('one ETag never names two documents, even when a rollback makes a version number come back', async () => {
  const token = await newToken();
  const put = (body: string) => sendRequest(stack.port, { method: 'PUT', path: '/private-data/doc', token, body });
  const etagOf = async (): Promise<string> => String((await sendRequest(stack.port, { path: '/private-data/doc', token })).headers['etag']);
  assert.equal((await put('{"v":"A"}')).status, 201);
  // The host keeps a copy of the database with only A (version 1).
  await stack.host.stop();
  for (const suffix of FILES) if (existsSync(stack.databasePath + suffix)) copyFileSync(stack.databasePath + suffix, `${stack.databasePath}.bak${suffix}`);
  await stack.restartHost();
  assert.equal((await put('{"v":"B"}')).status, 200);
  const etagB = await etagOf();
  assert.match(etagB, /^"2/);
  // Roll back, restart both: version 2 is free again, and C takes it.
  await stack.host.stop();
  for (const suffix of FILES) {
    rmSync(stack.databasePath + suffix, { force: true });
    if (existsSync(`${stack.databasePath}.bak${suffix}`)) copyFileSync(`${stack.databasePath}.bak${suffix}`, stack.databasePath + suffix);
  }
  await stack.restartHost();
  await stack.restartEnclave();
  assert.equal((await put('{"v":"C"}')).status, 200);
  const etagC = await etagOf();
  assert.match(etagC, /^"2/, 'the version number came back');
  assert.notEqual(etagC, etagB, 'but the ETag names C, not B');
  assert.equal(await etagOf(), etagC, 'and it is stable for the same document');
});
