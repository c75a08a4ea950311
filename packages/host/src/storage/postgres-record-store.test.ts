// What only the PostgreSQL backend has, against real servers: schema
// versions (never migrated at start), durable sessions whatever the server's
// default, statement timeouts, and a server that stops and comes back. The
// RecordStore contract itself runs in record-store.test.ts.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, NO_TEST_DATABASE } from '../test-support.js';
import { PostgresRecordStore } from './postgres-record-store.js';
import { migratePostgres, POSTGRES_SCHEMA_VERSION } from './postgres-schema.js';
import { storageErrorCodeFor } from './storage-service.js';
import { StorageErrorCode } from '@http-enclave/protocol';

const REPO_ROOT = join(import.meta.dirname, '..', '..', '..', '..');
const options = (url: string, statementTimeoutMs = 5_000) => ({ url, poolSize: 4, statementTimeoutMs, connectTimeoutMs: 2_000 });
const key = (byte: number): Buffer => Buffer.alloc(32, byte);

async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

describe('PostgresRecordStore', { skip: process.env['TEST_DATABASE_URL'] === undefined ? NO_TEST_DATABASE : undefined }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let url = '';
  before(async () => {
    database = await createTestDatabase();
    assert.ok(database !== undefined);
    url = database.url;
  });
  after(() => database?.drop());

  test('a database without our schema is refused with STORE_SCHEMA_OUTDATED (never migrated at start); migrate is idempotent and safe to run twice at once', async () => {
    await assert.rejects(PostgresRecordStore.open(options(url)), { code: 'STORE_SCHEMA_OUTDATED', message: /run npm run migrate/ });
    const results = await Promise.all([withClient(url, migratePostgres), withClient(url, migratePostgres)]);
    assert.deepEqual(results.map((r) => r.to), [POSTGRES_SCHEMA_VERSION, POSTGRES_SCHEMA_VERSION]);
    assert.deepEqual(results.map((r) => r.from).sort(), [0, POSTGRES_SCHEMA_VERSION], 'one of the two applied the migration, the other found it done');
    assert.deepEqual(await withClient(url, migratePostgres), { from: POSTGRES_SCHEMA_VERSION, to: POSTGRES_SCHEMA_VERSION });
    const store = await PostgresRecordStore.open(options(url));
    await store.close();
  });

  test('a schema newer than this host is refused with STORE_SCHEMA_TOO_NEW', async () => {
    await withClient(url, (client) => client.query('UPDATE http_enclave_schema SET version = $1', [POSTGRES_SCHEMA_VERSION + 1]));
    try {
      await assert.rejects(PostgresRecordStore.open(options(url)), { code: 'STORE_SCHEMA_TOO_NEW' });
    } finally {
      await withClient(url, (client) => client.query('UPDATE http_enclave_schema SET version = $1', [POSTGRES_SCHEMA_VERSION]));
    }
  });

  test('every session commits durably (synchronous_commit=on) even when the database default is off, and has the statement timeout', async () => {
    const name = new URL(url).pathname.slice(1);
    await withClient(url, (client) => client.query(`ALTER DATABASE ${name} SET synchronous_commit = off`));
    const store = await PostgresRecordStore.open(options(url, 1_234));
    try {
      assert.equal(await store.sessionSetting('synchronous_commit'), 'on');
      assert.equal(await store.sessionSetting('statement_timeout'), '1234ms');
    } finally {
      await store.close();
      await withClient(url, (client) => client.query(`ALTER DATABASE ${name} RESET synchronous_commit`));
    }
  });

  test('the schema refuses rows the protocol cannot carry: keys other than 32 bytes, version 0, an empty blob', async () => {
    for (const [owner, record, version, blob] of [
      [Buffer.alloc(31), key(1), 1, Buffer.from('x')],
      [key(1), key(2), 0, Buffer.from('x')],
      [key(1), key(3), 1, Buffer.alloc(0)],
    ] as const) {
      await assert.rejects(
        withClient(url, (client) => client.query('INSERT INTO records (owner, record, version, blob) VALUES ($1, $2, $3, $4)', [owner, record, version, blob])),
        { code: '23514' },
      );
    }
  });

  test('a write held up past the statement timeout fails with STORE_UNAVAILABLE (ERROR Unavailable), and the store serves the next request', async () => {
    const store = await PostgresRecordStore.open(options(url, 300));
    const [owner, record] = [key(9), key(10)];
    await store.put(owner, record, 0, Buffer.from('v1'));
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM records WHERE owner = $1 AND record = $2 FOR UPDATE', [owner, record]);
      const started = Date.now();
      const error: unknown = await store.put(owner, record, 1, Buffer.from('v2')).then(() => undefined, (e: unknown) => e);
      assert.equal((error as { code?: string }).code, 'STORE_UNAVAILABLE', String(error));
      assert.equal((error as { reason?: string }).reason, '57014');
      assert.ok(Date.now() - started < 3_000, 'bounded by the statement timeout');
      assert.equal(storageErrorCodeFor('STORE_UNAVAILABLE'), StorageErrorCode.Unavailable);
      await locker.query('ROLLBACK');
      assert.deepEqual(await store.put(owner, record, 1, Buffer.from('v2')), { kind: 'written', version: 2 });
    } finally {
      await locker.end();
      await store.close();
    }
  });
});

interface TestPostgres {
  readonly url: string;
  restart(): Promise<void>;
  stop(): void;
}

test('a PostgreSQL server that stops fails requests with STORE_UNAVAILABLE within the connect timeout; when it is back, the same store serves again', { skip: process.env['TEST_DATABASE_URL'] === undefined ? NO_TEST_DATABASE : undefined, timeout: 90_000 }, async () => {
  // A server of its own: this test stops it.
  const script = (await import(pathToFileURL(join(REPO_ROOT, 'scripts', 'postgres-test-server.mjs')).href)) as { startTestPostgres(): Promise<TestPostgres | undefined> };
  const server = await script.startTestPostgres();
  assert.ok(server !== undefined);
  try {
    await withClient(server.url, migratePostgres);
    const store = await PostgresRecordStore.open(options(server.url, 1_000));
    const [owner, record] = [key(20), key(21)];
    assert.deepEqual(await store.put(owner, record, 0, Buffer.from('before')), { kind: 'written', version: 1 });
    const restarted = server.restart();
    // While it restarts (immediate stop: connections cut), requests fail as unavailable, never hang.
    const failures = new Set<string>();
    const deadline = Date.now() + 30_000;
    let served = false;
    while (Date.now() < deadline) {
      const started = Date.now();
      try {
        const got = await store.get(owner, record);
        assert.equal(got.kind === 'found' ? got.version : 0, 1, 'nothing acknowledged is lost');
        if (failures.size > 0) {
          served = true;
          break;
        }
      } catch (error) {
        assert.equal((error as { code?: string }).code, 'STORE_UNAVAILABLE', String(error));
        failures.add((error as { reason?: string }).reason ?? '');
        assert.ok(Date.now() - started < 4_000, 'a failure comes within the timeouts');
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await restarted;
    assert.ok(failures.size > 0, 'the restart was seen as unavailable');
    if (!served) {
      const got = await store.get(owner, record);
      assert.equal(got.kind === 'found' ? got.version : 0, 1);
    }
    assert.deepEqual(await store.put(owner, record, 1, Buffer.from('after')), { kind: 'written', version: 2 });
    await store.close();
  } finally {
    server.stop();
  }
});
