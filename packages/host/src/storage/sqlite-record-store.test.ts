import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
// The RecordStore contract (CAS, monotonic versions, racing writers, bad input, LIST paging) runs on every backend in record-store.test.ts; here is what only SQLite has.
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
