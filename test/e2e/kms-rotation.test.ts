// Key rotation with KEY_SOURCE=kms (issue 8, point 4): records written under
// key 1 read after rotating to key 2; a bulk re-seal killed with SIGKILL at
// random points, 20 times, and restarted, finishes with every record
// readable and sealed under key 2 (checked in the host's database itself);
// retirement refuses the identity key and a key still in use, and removes a
// key no record uses.

import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request as httpsRequest } from 'node:https';
import { ENCLAVE_MAIN, REPO_ROOT, startProgram } from '../support/processes.js';
import { newToken, sendRequest, type TestResponse } from '../support/https-request.js';
import { startKmsStack, type KmsStack } from '../support/kms-stack.js';

const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const RECORDS_PER_OWNER = 40;
const OWNERS = 5;
const KILL_RUNS = 20;
/** Small batches and early kills, so most kills land inside the scan rather than after it finished. */
const BATCH = 2;
const KILL_WINDOW_MS = [5, 90] as const;
/** KEYRING_REFRESH_MS of these enclaves: retirement waits two periods after a rotation. */
const REFRESH_MS = 1_000;

describe('key rotation, bulk re-seal under SIGKILL, retirement', () => {
  let kms: KmsStack;
  const written = new Map<string, { token: string; name: string; body: string }>();

  before(async () => {
    kms = await startKmsStack({ enclaveEnv: { ADMIN_TOKEN_SHA256: createHash('sha256').update(ADMIN_TOKEN).digest('hex'), KEYRING_REFRESH_MS: String(REFRESH_MS) } });
  });
  after(async () => {
    await kms?.stop();
  });

  const admin = (method: 'GET' | 'POST', path: string, body?: unknown, token = ADMIN_TOKEN): Promise<TestResponse> =>
    sendRequest(kms.stack.port, { method, path, token, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

  /** Key id (hex) of every sealed record in the host's database; the keyring record is the all-zero pair. */
  function keyIdsInDatabase(): Map<string, number> {
    const db = new Database(kms.stack.databasePath, { readonly: true, fileMustExist: true });
    try {
      const counts = new Map<string, number>();
      for (const row of db.prepare('SELECT owner, blob FROM records').all() as { owner: Buffer; blob: Buffer }[]) {
        if (row.owner.equals(Buffer.alloc(32))) continue;
        const id = row.blob.subarray(3, 11).toString('hex');
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      return counts;
    } finally {
      db.close();
    }
  }

  async function readAll(): Promise<void> {
    for (const { token, name, body } of written.values()) {
      const got = await sendRequest(kms.stack.port, { path: `/private-data/${name}`, token });
      assert.equal(got.status, 200, `${name}: ${got.body.toString()}`);
      assert.equal(got.body.toString(), body);
    }
  }

  test('admin endpoints need the admin token; a data token is not one', async () => {
    assert.equal((await admin('GET', '/admin/keys', undefined, await newToken())).errorCode(), 'ADMIN_FORBIDDEN');
    const noAuth = await sendRequest(kms.stack.port, { path: '/admin/keys' });
    assert.equal(noAuth.status, 403);
    assert.equal((await admin('POST', '/admin/keys')).errorCode(), 'METHOD_NOT_ALLOWED');
    const status = await admin('GET', '/admin/keys');
    assert.equal(status.status, 200);
    assert.equal((status.json() as { keyIds: string[] }).keyIds.length, 1);
  });

  test('records under key 1 read after rotating to key 2; a killed re-seal, restarted 20 times, ends with all under key 2', async () => {
    for (let owner = 0; owner < OWNERS; owner += 1) {
      const token = await newToken();
      for (let index = 0; index < RECORDS_PER_OWNER; index += 1) {
        const name = `doc-${owner}-${index}`;
        const body = JSON.stringify({ owner, index, filler: randomBytes(randomInt(1, 600)).toString('hex') });
        const put = await sendRequest(kms.stack.port, { method: 'PUT', path: `/private-data/${name}`, token, body });
        assert.equal(put.status, 201);
        written.set(name, { token, name, body });
      }
    }
    const before = (await admin('GET', '/admin/keys')).json() as { activeKeyId: string; identityKeyId: string };
    const key1 = before.activeKeyId;
    assert.deepEqual([...keyIdsInDatabase().keys()], [key1]);

    const rotated = await admin('POST', '/admin/keys/rotate', {});
    assert.equal(rotated.status, 200, rotated.body.toString());
    const key2 = (rotated.json() as { activeKeyId: string }).activeKeyId;
    assert.notEqual(key2, key1);
    assert.equal((rotated.json() as { identityKeyId: string }).identityKeyId, key1);

    // Key 1 records still open. (A read re-seals its record lazily, so read only
    // a few here: the killed scan below must find most of the work left.)
    const sample = [...written.values()].slice(0, 3);
    for (const { token, name, body } of sample) {
      const got = await sendRequest(kms.stack.port, { path: `/private-data/${name}`, token });
      assert.equal(got.body.toString(), body);
    }

    let cursor: string | null = null;
    let killedWithWorkLeft = 0;
    for (let run = 0; run < KILL_RUNS; run += 1) {
      const killAfterMs = randomInt(KILL_WINDOW_MS[0], KILL_WINDOW_MS[1]);
      const killer = setTimeout(() => void kms.stack.enclave.stop('SIGKILL'), killAfterMs);
      try {
        for (;;) {
          const answer: TestResponse = await admin('POST', '/admin/keys/reseal', cursor === null ? { limit: BATCH } : { cursor, limit: BATCH });
          if (answer.status !== 200) break;
          const result = answer.json() as { cursor: string | null; more: boolean };
          cursor = result.more ? result.cursor : null;
          if (!result.more) break;
        }
      } catch {
        // The enclave died under the request: expected.
      } finally {
        clearTimeout(killer);
      }
      await kms.stack.enclave.stop('SIGKILL');
      const underKey1 = keyIdsInDatabase().get(key1) ?? 0;
      if (underKey1 > 0) killedWithWorkLeft += 1;
      await kms.stack.restartEnclave();
      // The restarted enclave holds both keys again (from storage and KMS).
      const status = (await admin('GET', '/admin/keys')).json() as { activeKeyId: string; keyIds: string[] };
      assert.equal(status.activeKeyId, key2);
      assert.deepEqual(status.keyIds, [key1, key2]);
    }
    assert.ok(killedWithWorkLeft >= KILL_RUNS / 2, `only ${killedWithWorkLeft} of ${KILL_RUNS} kills landed with records still under key 1`);
    // Finish: run the scan to the end from where it stood.
    for (let batch = 0; batch < 1_000; batch += 1) {
      const answer = await admin('POST', '/admin/keys/reseal', cursor === null ? {} : { cursor });
      assert.equal(answer.status, 200, answer.body.toString());
      const result = answer.json() as { cursor: string | null; more: boolean };
      if (!result.more) break;
      cursor = result.cursor;
    }
    // A second full scan finds nothing left to do.
    const again = await admin('POST', '/admin/keys/reseal', {});
    assert.equal((again.json() as { resealed: number }).resealed, 0);
    assert.deepEqual([...keyIdsInDatabase().entries()], [[key2, written.size]]);
    await readAll();
  });

  test('retirement: never the identity key nor the active one; a later key once no record uses it', async () => {
    const status = (await admin('GET', '/admin/keys')).json() as { activeKeyId: string; identityKeyId: string };
    assert.equal((await admin('POST', '/admin/keys/retire', { keyId: status.identityKeyId })).errorCode(), 'KEY_RETIRE_REFUSED');
    assert.equal((await admin('POST', '/admin/keys/retire', { keyId: status.activeKeyId })).errorCode(), 'KEY_RETIRE_REFUSED');
    assert.equal((await admin('POST', '/admin/keys/retire', { keyId: '00'.repeat(8) })).errorCode(), 'KEY_UNKNOWN');
    const key2 = status.activeKeyId;
    const rotated = await admin('POST', '/admin/keys/rotate', {});
    const key3 = (rotated.json() as { activeKeyId: string }).activeKeyId;
    const tooSoon = await admin('POST', '/admin/keys/retire', { keyId: key2 });
    assert.equal(tooSoon.errorCode(), 'KEY_RETIRE_REFUSED');
    assert.match(tooSoon.body.toString(), /two keyring refresh periods/, 'other enclaves get time to reload first');
    await new Promise((resolve) => setTimeout(resolve, 2 * REFRESH_MS + 200));
    const inUse = await admin('POST', '/admin/keys/retire', { keyId: key2 });
    assert.equal(inUse.errorCode(), 'KEY_RETIRE_REFUSED');
    assert.match(inUse.body.toString(), /records are still sealed under this key/);
    for (let batch = 0, cursor: string | null = null; batch < 1_000; batch += 1) {
      const result = (await admin('POST', '/admin/keys/reseal', cursor === null ? {} : { cursor })).json() as { cursor: string | null; more: boolean };
      if (!result.more) break;
      cursor = result.cursor;
    }
    const retired = await admin('POST', '/admin/keys/retire', { keyId: key2 });
    assert.equal(retired.status, 200, retired.body.toString());
    assert.deepEqual((retired.json() as { keyIds: string[] }).keyIds, [status.identityKeyId, key3]);
    await kms.stack.restartEnclave();
    assert.deepEqual(((await admin('GET', '/admin/keys')).json() as { keyIds: string[] }).keyIds, [status.identityKeyId, key3]);
    await readAll();
  });

  test('admin operations: one runs, one waits, more get ADMIN_BUSY; /admin/keys/status is no alias', async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => admin('POST', '/admin/keys/reseal', {})));
    const codes = answers.map((answer) => (answer.status === 200 ? 'ok' : answer.errorCode()));
    assert.equal(codes.filter((code) => code === 'ok').length, 2, codes.join(','));
    assert.equal(codes.filter((code) => code === 'ADMIN_BUSY').length, 3, codes.join(','));
    assert.equal((await admin('POST', '/admin/keys/reseal', {})).status, 200, 'free again once they finished');
    assert.equal((await admin('GET', '/admin/keys/status')).errorCode(), 'ROUTE_NOT_FOUND');
    const tooLarge = await admin('POST', '/admin/keys/reseal', { pad: 'x'.repeat(5000) });
    assert.equal(tooLarge.errorCode(), 'BODY_TOO_LARGE');
    assert.match(tooLarge.body.toString(), /at most 4096 bytes/);
  });

  test('two enclaves on one database: a rotation and re-seal on one reaches the other, which reloads the keyring and reads and seals under the new key', async () => {
    const socketPath = join(kms.dir, 'second-enclave.sock');
    const second = startProgram(ENCLAVE_MAIN, { ...kms.enclaveEnv, ENCLAVE_LISTEN: `unix://${socketPath}`, STORAGE_ADDR: `unix://${join(kms.dir, 'storage.sock')}`, LOG_LEVEL: 'debug' }, kms.dir);
    try {
      await second.waitForLog('enclave listening', 60_000);
      const viaSecond = (method: string, path: string, token: string, body?: string): Promise<{ status: number; body: string }> =>
        new Promise((resolve, reject) => {
          const req = httpsRequest({ socketPath, path, method, rejectUnauthorized: false, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) } }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          });
          req.on('error', reject);
          req.end(body);
        });
      const sample = [...written.values()][0];
      assert.ok(sample !== undefined);
      assert.equal((await viaSecond('GET', `/private-data/${sample.name}`, sample.token)).status, 200);
      // The first enclave rotates and re-seals everything under a key the second does not hold yet.
      const rotated = await admin('POST', '/admin/keys/rotate', {});
      const newKey = (rotated.json() as { activeKeyId: string }).activeKeyId;
      for (let batch = 0, cursor: string | null = null; batch < 1_000; batch += 1) {
        const result = (await admin('POST', '/admin/keys/reseal', cursor === null ? {} : { cursor })).json() as { cursor: string | null; more: boolean };
        if (!result.more) break;
        cursor = result.cursor;
      }
      // The second enclave opens a record sealed under the new key (it reloads on the unknown key id) …
      const got = await viaSecond('GET', `/private-data/${sample.name}`, sample.token);
      assert.equal(got.status, 200, got.body);
      assert.equal(got.body, sample.body);
      assert.match(second.output(), /the stored keyring changed; reloaded it through KMS/);
      // … and seals new writes under it.
      const put = await viaSecond('PUT', `/private-data/${sample.name}`, sample.token, '{"from":"second"}');
      assert.equal(put.status, 200, put.body);
      assert.deepEqual([...keyIdsInDatabase().keys()], [newKey]);
      assert.equal((await sendRequest(kms.stack.port, { path: `/private-data/${sample.name}`, token: sample.token })).body.toString(), '{"from":"second"}');
      written.set(sample.name, { ...sample, body: '{"from":"second"}' });
    } finally {
      await second.stop();
    }
  });

  test('the keys CLI (npm run keys): status, rotate and reseal over an attested connection, pinned to PCR0', async () => {
    const cli = join(REPO_ROOT, 'packages', 'client', 'dist', 'cli.js');
    const run = (args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, [cli, 'keys', ...args], { timeout: 60_000, env: { PATH: process.env['PATH'] ?? '', ...env } }, (error, stdout, stderr) => {
          resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
        });
      });
    const url = `https://127.0.0.1:${kms.stack.port}`;
    const verify = ['--root', join(kms.dir, 'root.pem'), '--pcr', `0=${kms.pcr0Hex}`];
    const admin = { HTTP_ENCLAVE_ADMIN_TOKEN: ADMIN_TOKEN };
    const status = await run(['status', url, ...verify], admin);
    assert.equal(status.code, 0, status.stderr);
    const before = JSON.parse(status.stdout) as { keyIds: string[]; activeKeyId: string };
    const rotated = await run(['rotate', url, ...verify], admin);
    assert.equal(rotated.code, 0, rotated.stderr);
    const after = JSON.parse(rotated.stdout) as { keyIds: string[]; activeKeyId: string };
    assert.equal(after.keyIds.length, before.keyIds.length + 1);
    assert.notEqual(after.activeKeyId, before.activeKeyId);
    const resealed = await run(['reseal', url, ...verify], admin);
    assert.equal(resealed.code, 0, resealed.stderr);
    const summary = JSON.parse(resealed.stdout.trim().split('\n').at(-1) ?? '{}') as { done: boolean; resealed: number; examined: number };
    assert.equal(summary.done, true);
    assert.equal(summary.examined, written.size);
    assert.deepEqual([...keyIdsInDatabase().keys()], [after.activeKeyId]);
    // Without the admin token: a usage error, nothing sent. With another PCR0 pinned: attestation fails before anything is sent.
    assert.equal((await run(['status', url, ...verify], {})).code, 2);
    const wrongPcr = await run(['status', url, '--root', join(kms.dir, 'root.pem'), '--pcr', `0=${'00'.repeat(48)}`], admin);
    assert.equal(wrongPcr.code, 1);
    assert.match(wrongPcr.stderr, /PCR_MISMATCH/);
  });
});
