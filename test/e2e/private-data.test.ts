// End to end through the real host and enclave programs: isolation between
// tokens, persistence across restarts of either program, tamper detection on
// the stored blobs, and no plaintext / token / key in the database or logs.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { newToken, sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

describe('private data through the real host and enclave', () => {
  let stack: Stack;
  let tokenA: string;
  let tokenB: string;
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  const documentA = JSON.stringify({ secret: canary, n: 1 });

  before(async () => {
    stack = await startStack();
    tokenA = await newToken();
    tokenB = await newToken();
  });
  after(async () => {
    await stack?.stop();
  });

  test('POST stores the caller document (201 with version) and GET returns it byte for byte', async () => {
    const posted = await sendRequest(stack.port, { method: 'POST', path: '/private-data', token: tokenA, body: documentA });
    assert.equal(posted.status, 201, posted.body.toString());
    assert.deepEqual(posted.json(), { version: 1 });
    const got = await sendRequest(stack.port, { path: '/private-data', token: tokenA });
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), documentA);
    assert.match(String(got.headers['content-type']), /^application\/json/);
  });

  test("token A's document is invisible to token B (404) and to no token (401)", async () => {
    const asB = await sendRequest(stack.port, { path: '/private-data', token: tokenB });
    assert.equal(asB.status, 404);
    assert.equal(asB.errorCode(), 'NOT_FOUND');
    const anonymous = await sendRequest(stack.port, { path: '/private-data' });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.errorCode(), 'AUTH_REQUIRED');
    const malformed = await sendRequest(stack.port, { path: '/private-data', token: 'short' });
    assert.equal(malformed.status, 401);
    assert.equal(malformed.errorCode(), 'AUTH_TOKEN_MALFORMED');
  });

  test('named documents: PUT creates (201) then updates (200), GET, DELETE (204), then 404', async () => {
    const created = await sendRequest(stack.port, { method: 'PUT', path: '/private-data/notes', token: tokenA, body: '{"a":1}' });
    assert.equal(created.status, 201);
    assert.deepEqual(created.json(), { name: 'notes', version: 1 });
    const updated = await sendRequest(stack.port, { method: 'PUT', path: '/private-data/notes', token: tokenA, body: '{"a":2}' });
    assert.equal(updated.status, 200);
    assert.deepEqual(updated.json(), { name: 'notes', version: 2 });
    assert.equal((await sendRequest(stack.port, { path: '/private-data/notes', token: tokenA })).body.toString(), '{"a":2}');
    assert.equal((await sendRequest(stack.port, { path: '/private-data/notes', token: tokenB })).status, 404);
    const deleted = await sendRequest(stack.port, { method: 'DELETE', path: '/private-data/notes', token: tokenA });
    assert.equal(deleted.status, 204);
    const gone = await sendRequest(stack.port, { path: '/private-data/notes', token: tokenA });
    assert.equal(gone.status, 404);
    assert.equal(gone.errorCode(), 'NOT_FOUND');
    // Recreated after delete: versions keep growing (the tombstone held version 3).
    const again = await sendRequest(stack.port, { method: 'PUT', path: '/private-data/notes', token: tokenA, body: '{"a":3}' });
    assert.equal(again.status, 201);
    assert.deepEqual(again.json(), { name: 'notes', version: 4 });
  });

  test('data survives a restart of the enclave and a restart of the host', async () => {
    await stack.restartEnclave();
    const afterEnclave = await sendRequest(stack.port, { path: '/private-data', token: tokenA });
    assert.equal(afterEnclave.status, 200);
    assert.equal(afterEnclave.body.toString(), documentA);
    await stack.restartHost();
    const afterHost = await sendRequest(stack.port, { path: '/private-data', token: tokenA });
    assert.equal(afterHost.status, 200);
    assert.equal(afterHost.body.toString(), documentA);
  });

  test('the database holds no plaintext, token or key; the logs hold no body, token or key', () => {
    const files = readdirSync(stack.dir).filter((f) => f.startsWith('store.db'));
    assert.ok(files.includes('store.db'));
    const masterKeyBytes = Buffer.from(stack.masterKeyBase64, 'base64');
    const needles = [canary, tokenA, tokenB, stack.masterKeyBase64, masterKeyBytes.toString('hex'), masterKeyBytes.toString('base64url')];
    for (const file of files) {
      const bytes = readFileSync(join(stack.dir, file));
      for (const needle of needles) assert.equal(bytes.includes(needle), false, `${file} contains a secret`);
      assert.equal(bytes.includes(masterKeyBytes), false, `${file} contains the raw master key`);
    }
    const logs = stack.allOutput();
    assert.ok(logs.length > 0);
    for (const needle of needles) assert.equal(logs.includes(needle), false, 'logs contain a secret');
  });
});

describe('tampering with stored blobs is detected', () => {
  let stack: Stack;
  let token: string;

  before(async () => {
    stack = await startStack();
    token = await newToken();
  });
  after(async () => {
    await stack?.stop();
  });

  /** Edits the database while the host is stopped (the host is the adversary: it can do anything to its file). */
  async function tamper(edit: (db: Database.Database) => void): Promise<void> {
    await stack.host.stop();
    const db = new Database(stack.databasePath);
    try {
      edit(db);
    } finally {
      db.close();
    }
    await stack.restartHost();
  }

  async function expectIntegrityError(path: string): Promise<void> {
    const res = await sendRequest(stack.port, { path, token });
    assert.equal(res.status, 502, res.body.toString());
    assert.equal(res.errorCode(), 'STORAGE_INTEGRITY');
  }

  async function expectServing(): Promise<void> {
    const res = await sendRequest(stack.port, { method: 'PUT', path: '/private-data/probe', token, body: '{"ok":true}' });
    assert.ok(res.status === 200 || res.status === 201, `next valid request failed: ${res.status}`);
  }

  test('a flipped byte, a truncated blob and two swapped blobs each give 502 STORAGE_INTEGRITY; the next valid request succeeds', async () => {
    for (const name of ['first', 'second']) {
      const res = await sendRequest(stack.port, { method: 'PUT', path: `/private-data/${name}`, token, body: JSON.stringify({ name }) });
      assert.equal(res.status, 201);
    }
    const rows = (): Array<{ owner: Buffer; record: Buffer; version: number; blob: Buffer }> => {
      const db = new Database(stack.databasePath, { readonly: true });
      try {
        return db.prepare('SELECT owner, record, version, blob FROM records WHERE blob IS NOT NULL').all() as Array<{ owner: Buffer; record: Buffer; version: number; blob: Buffer }>;
      } finally {
        db.close();
      }
    };
    const original = rows();
    assert.equal(original.length, 2);
    const [one, two] = original as [(typeof original)[0], (typeof original)[0]];

    const setBlob = (row: typeof one, blob: Buffer) => (db: Database.Database) => {
      db.prepare('UPDATE records SET blob = ? WHERE owner = ? AND record = ?').run(blob, row.owner, row.record);
    };
    const restore = async (): Promise<void> => {
      await tamper((db) => {
        for (const row of original) setBlob(row, row.blob)(db);
      });
    };

    // Positions across the envelope: magic, version, key id, nonce, ciphertext, tag.
    const positions = [0, 2, 5, 15, 30, one.blob.length - 20, one.blob.length - 1];
    for (const position of positions) {
      const flipped = Buffer.from(one.blob);
      flipped[position] = (flipped[position] ?? 0) ^ 0x01;
      await tamper((db) => {
        setBlob(one, flipped)(db);
        setBlob(two, Buffer.from(two.blob.subarray(0, two.blob.length - 1)))(db);
      });
      await expectIntegrityError('/private-data/first');
      await expectIntegrityError('/private-data/second');
      await expectServing();
      await restore();
    }
    // Swap: each row gets the other's blob.
    await tamper((db) => {
      setBlob(one, two.blob)(db);
      setBlob(two, one.blob)(db);
    });
    await expectIntegrityError('/private-data/first');
    await expectIntegrityError('/private-data/second');
    await expectServing();
    // And after restoring the originals, both read correctly again.
    await restore();
    for (const name of ['first', 'second']) {
      const res = await sendRequest(stack.port, { path: `/private-data/${name}`, token });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { name });
    }
  });
});

describe('record creation is limited per token (RECORD_CREATES_PER_SECOND, issue 10 item 5)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ enclaveEnv: { RECORD_CREATES_PER_SECOND: '1' } });
  });
  after(async () => {
    await stack?.stop();
  });

  test('past ten seconds\' worth of new records a token gets 429 RECORD_CREATE_RATE_LIMITED with Retry-After; updates and other tokens go on', async () => {
    const token = await newToken();
    for (let index = 0; index < 10; index += 1) {
      const created = await sendRequest(stack.port, { method: 'PUT', path: `/private-data/n${index}`, token, body: '{}' });
      assert.equal(created.status, 201, `create ${index}: ${created.body.toString()}`);
    }
    const refused = await sendRequest(stack.port, { method: 'PUT', path: '/private-data/n10', token, body: '{}' });
    assert.equal(refused.status, 429);
    assert.equal(refused.errorCode(), 'RECORD_CREATE_RATE_LIMITED');
    assert.match(String(refused.headers['retry-after']), /^[1-9]\d*$/);
    assert.equal((await sendRequest(stack.port, { path: '/private-data/n10', token })).status, 404, 'nothing was stored');
    const posted = await sendRequest(stack.port, { method: 'POST', path: '/private-data', token, body: '{}' });
    assert.equal(posted.status, 429, 'POST of a never-written document is a creation too');
    assert.equal((await sendRequest(stack.port, { method: 'PUT', path: '/private-data/n3', token, body: '{"v":2}' })).status, 200, 'an update is not');
    assert.equal((await sendRequest(stack.port, { method: 'PUT', path: '/private-data/n0', token: await newToken(), body: '{}' })).status, 201, 'another token has its own allowance');
  });
});
