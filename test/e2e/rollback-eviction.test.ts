// Issue 9, finding 2, with the real programs: a client that writes more
// records than the enclave keeps in memory (ROLLBACK_CACHE_ENTRIES, lowered
// to its minimum here so that the attack takes seconds, not 100 000 writes)
// must not make the enclave forget a victim's record. The host then rolls
// the victim's row back to its first version (a genuine blob) while the same
// enclave keeps running: the enclave refuses it with 502 STORAGE_ROLLBACK.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { newToken, sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

const CACHE_ENTRIES = 1_000;
const ATTACKER_RECORDS = 1_300;
const CONCURRENCY = 8;

interface Row {
  owner: Buffer;
  record: Buffer;
  version: number;
  blob: Buffer;
}

let stack: Stack;
before(async () => {
  // The per-token creation limit is lifted: this shows the rollback guard alone holds against any number of records.
  stack = await startStack({
    enclaveEnv: { ROLLBACK_CACHE_ENTRIES: String(CACHE_ENTRIES), RECORD_CREATES_PER_SECOND: '1000000', LOG_LEVEL: 'info' },
    hostEnv: { LOG_LEVEL: 'info' },
  });
});
after(async () => {
  await stack?.stop();
});

function rows(): Row[] {
  const db = new Database(stack.databasePath, { readonly: true });
  try {
    return db.prepare('SELECT owner, record, version, blob FROM records').all() as Row[];
  } finally {
    db.close();
  }
}

test(`${ATTACKER_RECORDS} records written by another token do not push the victim out of rollback detection`, { timeout: 110_000 }, async () => {
  const victim = await newToken();
  assert.equal((await sendRequest(stack.port, { method: 'PUT', path: '/private-data/doc', token: victim, body: '{"balance":100}' })).status, 201);
  const [first] = rows();
  assert.ok(first !== undefined && first.version === 1, 'the victim row at version 1');
  assert.equal((await sendRequest(stack.port, { method: 'PUT', path: '/private-data/doc', token: victim, body: '{"balance":0}' })).status, 200);

  const attacker = await newToken();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ATTACKER_RECORDS) {
      const index = next++;
      const answer = await sendRequest(stack.port, { method: 'PUT', path: `/private-data/r${index}`, token: attacker, body: String(index) });
      assert.equal(answer.status, 201, answer.body.toString());
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
  await new Promise((resolve) => setTimeout(resolve, 500)); // the last pages written

  // The host puts the victim's first, genuine blob back, and restarts; the enclave keeps running.
  await stack.host.stop();
  const db = new Database(stack.databasePath);
  try {
    db.prepare('UPDATE records SET version = ?, blob = ? WHERE owner = ? AND record = ?').run(1, first.blob, first.owner, first.record);
  } finally {
    db.close();
  }
  await stack.restartHost();
  const read = await sendRequest(stack.port, { path: '/private-data/doc', token: victim });
  assert.equal(read.status, 502, `the old balance must not be served: ${read.status} ${read.body.toString()}`);
  assert.equal(read.errorCode(), 'STORAGE_ROLLBACK');
  // What left memory went into sealed pages (a reserved owner of all 0xFF bytes).
  assert.ok(rows().some((row) => row.owner.equals(Buffer.alloc(32, 0xff))), 'watermark pages are on the host');
  // The attacker's own records still read back (the spill did not cost them anything).
  const own = await sendRequest(stack.port, { path: '/private-data/r0', token: attacker });
  assert.equal(own.status, 200);
  assert.equal(own.body.toString(), '0');
});
