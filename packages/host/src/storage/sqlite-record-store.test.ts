import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LIST_MAX_ENTRIES } from '@http-enclave/protocol';
import Database from 'better-sqlite3';
import { makeTempDir } from '../test-support.js';
import { SQLITE_BUSY_TIMEOUT_MS, SQLITE_SCHEMA_VERSION, SqliteRecordStore } from './sqlite-record-store.js';

const key = (): Buffer => randomBytes(32);

test('durability settings read back: WAL, synchronous=FULL (2), busy_timeout, schema version', async () => {
  const path = join(makeTempDir(), 'nested', 'dir', 'store.db');
  const store = SqliteRecordStore.open(path);
  assert.ok(existsSync(path), 'directory and file created');
  assert.equal(store.pragma('journal_mode'), 'wal');
  assert.equal(store.pragma('synchronous'), 2);
  assert.equal(store.pragma('busy_timeout'), SQLITE_BUSY_TIMEOUT_MS);
  assert.equal(store.pragma('user_version'), SQLITE_SCHEMA_VERSION);
  await store.close();
  const raw = new Database(path, { readonly: true });
  const table = raw.prepare("SELECT sql FROM sqlite_master WHERE name = 'records'").get() as { sql: string };
  assert.match(table.sql, /WITHOUT ROWID/);
  raw.close();
});

test('compare-and-set: versions go 0 -> 1 -> 2, a stale expected version is a conflict that writes nothing', async () => {
  const store = SqliteRecordStore.open(join(makeTempDir(), 's.db'));
  const [owner, record] = [key(), key()];
  assert.deepEqual(await store.get(owner, record), { kind: 'notFound' });
  assert.deepEqual(await store.put(owner, record, 0, Buffer.from('v1')), { kind: 'written', version: 1 });
  assert.deepEqual(await store.put(owner, record, 0, Buffer.from('stale')), { kind: 'conflict', currentVersion: 1 });
  assert.deepEqual(await store.put(owner, record, 5, Buffer.from('ahead')), { kind: 'conflict', currentVersion: 1 });
  assert.deepEqual(await store.put(owner, record, 1, Buffer.from('v2')), { kind: 'written', version: 2 });
  const got = await store.get(owner, record);
  assert.equal(got.kind, 'found');
  assert.equal(got.version, 2);
  assert.equal(got.kind === 'found' ? got.blob.toString() : '', 'v2');
  // Another owner with the same record id is another record.
  assert.deepEqual(await store.get(key(), record), { kind: 'notFound' });
  await store.close();
});

test('versions stay monotonic and survive reopening; every stored row holds a blob', async () => {
  const path = join(makeTempDir(), 's.db');
  const store = SqliteRecordStore.open(path);
  const [owner, record] = [key(), key()];
  await store.put(owner, record, 0, Buffer.from('a'));
  await store.put(owner, record, 1, Buffer.from('tombstone-sized'));
  // No way back to a lower version, nor to "never written".
  assert.deepEqual(await store.put(owner, record, 0, Buffer.from('again')), { kind: 'conflict', currentVersion: 2 });
  assert.deepEqual(await store.put(owner, record, 2, Buffer.from('again')), { kind: 'written', version: 3 });
  await store.close();
  // Survives reopening (same file, second process-like open).
  const reopened = SqliteRecordStore.open(path);
  const got = await reopened.get(owner, record);
  assert.equal(got.kind, 'found');
  assert.equal(got.kind === 'found' ? `${got.version}:${got.blob.toString()}` : '', '3:again');
  assert.equal('delete' in reopened, false, 'the store has no delete');
  await reopened.close();
});

test('the schema makes a NULL or empty blob impossible', async () => {
  const path = join(makeTempDir(), 's.db');
  await SqliteRecordStore.open(path).close();
  const raw = new Database(path);
  const insert = raw.prepare('INSERT INTO records (owner, record, version, blob) VALUES (?, ?, 1, ?)');
  assert.throws(() => insert.run(key(), key(), null), { code: 'SQLITE_CONSTRAINT_NOTNULL' });
  assert.throws(() => insert.run(key(), key(), Buffer.alloc(0)), { code: 'SQLITE_CONSTRAINT_CHECK' });
  assert.throws(() => insert.run(key(), key(), 'text, not a blob'), { code: 'SQLITE_CONSTRAINT_CHECK' });
  insert.run(key(), key(), Buffer.from('x'));
  raw.close();
});

test('a database from the pre-release draft of schema 1 (nullable blob) is refused with STORE_SETUP_FAILED', () => {
  const path = join(makeTempDir(), 's.db');
  const raw = new Database(path);
  raw.exec(`CREATE TABLE records (owner BLOB NOT NULL, record BLOB NOT NULL, version INTEGER NOT NULL, blob BLOB,
    PRIMARY KEY (owner, record)) WITHOUT ROWID`);
  raw.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
  raw.close();
  assert.throws(() => SqliteRecordStore.open(path), { code: 'STORE_SETUP_FAILED' });
});

test('two stores on one file (two writers): CAS lets exactly one of two racing writes win', async () => {
  const path = join(makeTempDir(), 's.db');
  const a = SqliteRecordStore.open(path);
  const b = SqliteRecordStore.open(path);
  const [owner, record] = [key(), key()];
  const results = await Promise.all([a.put(owner, record, 0, Buffer.from('a')), b.put(owner, record, 0, Buffer.from('b'))]);
  assert.deepEqual(results.map((r) => r.kind).sort(), ['conflict', 'written']);
  await a.close();
  await b.close();
});

test('bad input is refused with STORE_BAD_INPUT', async () => {
  const store = SqliteRecordStore.open(join(makeTempDir(), 's.db'));
  await assert.rejects(store.get(Buffer.alloc(31), key()), { code: 'STORE_BAD_INPUT' });
  await assert.rejects(store.put(key(), key(), -1, Buffer.from('x')), { code: 'STORE_BAD_INPUT' });
  await assert.rejects(store.put(key(), key(), Number.MAX_SAFE_INTEGER, Buffer.from('x')), { code: 'STORE_BAD_INPUT' });
  await assert.rejects(store.put(key(), key(), 0, Buffer.alloc(0)), { code: 'STORE_BAD_INPUT' });
  await store.close();
});

test('a database from a newer schema is refused with STORE_SCHEMA_TOO_NEW', () => {
  const path = join(makeTempDir(), 's.db');
  const raw = new Database(path);
  raw.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
  raw.close();
  assert.throws(() => SqliteRecordStore.open(path), { code: 'STORE_SCHEMA_TOO_NEW' });
});

test('a full database fails the write with SQLITE_FULL and keeps earlier records', async () => {
  const store = SqliteRecordStore.open(join(makeTempDir(), 's.db'), { maxPageCount: 8 });
  const owner = key();
  const kept = key();
  await store.put(owner, kept, 0, Buffer.from('small'));
  await assert.rejects(store.put(owner, key(), 0, randomBytes(64 * 1024)), { code: 'SQLITE_FULL' });
  const got = await store.get(owner, kept);
  assert.equal(got.kind === 'found' ? got.blob.toString() : '', 'small');
  await store.close();
});

/** owner || record of an entry, for byte-order comparisons. */
const joined = (e: { owner: Buffer; record: Buffer }): Buffer => Buffer.concat([e.owner, e.record]);

test('listRecords pages through every record in byte order of owner || record, each exactly once', async () => {
  const store = SqliteRecordStore.open(join(makeTempDir(), 's.db'));
  assert.deepEqual(await store.listRecords(undefined, 10), { entries: [], more: false });
  // Two owners sharing a record id, an owner 0x00.., an owner 0xff.., and records differing only in the last byte.
  const keys: Array<{ owner: Buffer; record: Buffer }> = [];
  for (let i = 0; i < 40; i += 1) keys.push({ owner: key(), record: key() });
  const shared = key();
  keys.push({ owner: Buffer.alloc(32, 0), record: shared }, { owner: Buffer.alloc(32, 0xff), record: shared });
  const last = Buffer.alloc(32, 7);
  keys.push({ owner: last, record: Buffer.alloc(32, 1) }, { owner: last, record: Buffer.concat([Buffer.alloc(31, 1), Buffer.from([2])]) });
  for (const [i, k] of keys.entries()) {
    await store.put(k.owner, k.record, 0, Buffer.from(`v${i}`));
    if (i % 3 === 0) await store.put(k.owner, k.record, 1, Buffer.from('again'));
  }
  const expected = [...keys].sort((a, b) => Buffer.compare(joined(a), joined(b)));

  const seen: Array<{ owner: Buffer; record: Buffer; version: number }> = [];
  let after: { owner: Buffer; record: Buffer } | undefined;
  let pages = 0;
  for (;;) {
    const page = await store.listRecords(after, 7);
    pages += 1;
    assert.ok(page.entries.length <= 7);
    seen.push(...page.entries);
    const tail = page.entries.at(-1);
    if (!page.more) break;
    assert.ok(tail !== undefined, 'more with an empty page');
    after = { owner: tail.owner, record: tail.record };
  }
  assert.equal(pages, Math.ceil(expected.length / 7));
  assert.deepEqual(seen.map((e) => joined(e).toString('hex')), expected.map((e) => joined(e).toString('hex')));
  for (const [i, e] of seen.entries()) {
    const index = keys.findIndex((k) => k.owner.equals(e.owner) && k.record.equals(e.record));
    assert.equal(e.version, index % 3 === 0 ? 2 : 1, `version of entry ${i}`);
  }
  // The cursor is exclusive and need not be a stored key.
  const first = expected[0];
  assert.ok(first !== undefined);
  const afterFirst = await store.listRecords(first, 1);
  assert.deepEqual(joined(afterFirst.entries[0] ?? first), joined(expected[1] ?? first));
  const fromZero = await store.listRecords({ owner: Buffer.alloc(32), record: Buffer.alloc(32) }, 1);
  assert.deepEqual(joined(fromZero.entries[0] ?? first), joined(first), 'all-zero cursor: the 0x00 owner with a non-zero record follows it');
  const pastEnd = await store.listRecords({ owner: Buffer.alloc(32, 0xff), record: Buffer.alloc(32, 0xff) }, 5);
  assert.deepEqual(pastEnd, { entries: [], more: false });
  // An exact page: limit = count says no more.
  assert.equal((await store.listRecords(undefined, LIST_MAX_ENTRIES)).more, false);
  await store.close();
});

test('listRecords seeks the primary key (no table scan, no sort) and refuses bad input with STORE_BAD_INPUT', async () => {
  const store = SqliteRecordStore.open(join(makeTempDir(), 's.db'));
  const plan = store.explainListAfter().join(' | ');
  assert.match(plan, /SEARCH records USING PRIMARY KEY \(\(owner,record\)>\(\?,\?\)\)/);
  assert.doesNotMatch(plan, /TEMP B-TREE/);
  await assert.rejects(store.listRecords(undefined, 0), { code: 'STORE_BAD_INPUT' });
  await assert.rejects(store.listRecords(undefined, LIST_MAX_ENTRIES + 1), { code: 'STORE_BAD_INPUT' });
  await assert.rejects(store.listRecords(undefined, 1.5), { code: 'STORE_BAD_INPUT' });
  await assert.rejects(store.listRecords({ owner: Buffer.alloc(31), record: key() }, 1), { code: 'STORE_BAD_INPUT' });
  await store.close();
});

test('a stored row with a key that is not 32 bytes fails listRecords with STORE_CORRUPT', async () => {
  const path = join(makeTempDir(), 's.db');
  await SqliteRecordStore.open(path).close();
  const raw = new Database(path);
  raw.prepare('INSERT INTO records (owner, record, version, blob) VALUES (?, ?, 1, ?)').run(Buffer.alloc(5), key(), Buffer.from('x'));
  raw.close();
  const store = SqliteRecordStore.open(path);
  await assert.rejects(store.listRecords(undefined, 10), { code: 'STORE_CORRUPT' });
  await store.close();
});

test('a schema 1 database is upgraded to schema 2 in place: its records stay, and the probe writes outside them', async () => {
  const path = join(makeTempDir(), 's.db');
  const raw = new Database(path);
  raw.exec(`CREATE TABLE records (owner BLOB NOT NULL, record BLOB NOT NULL, version INTEGER NOT NULL,
    blob BLOB NOT NULL CHECK (typeof(blob) = 'blob' AND length(blob) > 0), PRIMARY KEY (owner, record)) WITHOUT ROWID`);
  const [owner, record] = [key(), key()];
  raw.prepare('INSERT INTO records VALUES (?, ?, 3, ?)').run(owner, record, Buffer.from('sealed'));
  raw.pragma('user_version = 1');
  raw.close();
  const store = SqliteRecordStore.open(path);
  assert.equal(store.pragma('user_version'), 2);
  assert.deepEqual(await store.get(owner, record), { kind: 'found', version: 3, blob: Buffer.from('sealed') });
  await store.probeWrite();
  await store.probeWrite();
  assert.deepEqual((await store.listRecords(undefined, 10)).entries.map((e) => e.version), [3], 'the probe is not a record');
  await store.close();
  const check = new Database(path, { readonly: true });
  assert.equal((check.prepare('SELECT count(*) AS n FROM probe').get() as { n: number }).n, 1);
  check.close();
});
