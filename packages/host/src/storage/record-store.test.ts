// The RecordStore contract, run on every backend: SQLite (a file) and
// PostgreSQL (a real server: TEST_DATABASE_URL, started by npm test). Each
// backend's own tests (durability settings, schema, full disk) are in its
// own file.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LIST_MAX_ENTRIES } from '@http-enclave/protocol';
import pg from 'pg';
import { createTestDatabase, makeTempDir, NO_TEST_DATABASE } from '../test-support.js';
import { PostgresRecordStore } from './postgres-record-store.js';
import { migratePostgres } from './postgres-schema.js';
import type { RecordKey, RecordStore } from './record-store.js';
import { SqliteRecordStore } from './sqlite-record-store.js';

const key = (): Buffer => randomBytes(32);
const joined = (k: RecordKey): Buffer => Buffer.concat([k.owner, k.record]);

interface Backend {
  readonly name: string;
  /** Why the backend cannot run here, or undefined. */
  skip(): string | undefined;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** A store on the one shared database of this suite (a second call: a second writer, like a second host). */
  open(): Promise<RecordStore>;
}

function sqliteBackend(): Backend {
  let path = '';
  return {
    name: 'sqlite',
    skip: () => undefined,
    async setUp() {
      path = join(makeTempDir(), 's.db');
    },
    async tearDown() {},
    open: async () => SqliteRecordStore.open(path),
  };
}

function postgresBackend(): Backend {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  return {
    name: 'postgres',
    skip: () => (process.env['TEST_DATABASE_URL'] === undefined ? NO_TEST_DATABASE : undefined),
    async setUp() {
      database = await createTestDatabase();
      assert.ok(database !== undefined);
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await migratePostgres(client);
      } finally {
        await client.end();
      }
    },
    async tearDown() {
      await database?.drop();
    },
    open: async () => {
      assert.ok(database !== undefined);
      return PostgresRecordStore.open({ url: database.url, poolSize: 8, statementTimeoutMs: 5_000, connectTimeoutMs: 5_000 });
    },
  };
}

for (const backend of [sqliteBackend(), postgresBackend()]) {
  const skip = backend.skip();
  describe(`RecordStore on ${backend.name}`, { skip }, () => {
    before(() => backend.setUp());
    after(() => backend.tearDown());

    test('compare-and-set: versions go 0 -> 1 -> 2, a stale expected version is a conflict that writes nothing', async () => {
      const store = await backend.open();
      const [owner, record] = [key(), key()];
      assert.deepEqual(await store.get(owner, record), { kind: 'notFound' });
      assert.deepEqual(await store.put(owner, record, 0, Buffer.from('v1')), { kind: 'written', version: 1 });
      assert.deepEqual(await store.put(owner, record, 0, Buffer.from('stale')), { kind: 'conflict', currentVersion: 1 });
      assert.deepEqual(await store.put(owner, record, 5, Buffer.from('ahead')), { kind: 'conflict', currentVersion: 1 });
      assert.deepEqual(await store.put(owner, record, 1, Buffer.from('v2')), { kind: 'written', version: 2 });
      const got = await store.get(owner, record);
      assert.equal(got.kind === 'found' ? `${got.version}:${got.blob.toString()}` : got.kind, '2:v2');
      // Another owner with the same record id is another record.
      assert.deepEqual(await store.get(key(), record), { kind: 'notFound' });
      await store.close();
    });

    test('versions only go up and survive a new store (a restart, another host); there is no delete', async () => {
      const store = await backend.open();
      const [owner, record] = [key(), key()];
      await store.put(owner, record, 0, Buffer.from('a'));
      await store.put(owner, record, 1, Buffer.from('tombstone-sized'));
      assert.deepEqual(await store.put(owner, record, 0, Buffer.from('again')), { kind: 'conflict', currentVersion: 2 });
      assert.deepEqual(await store.put(owner, record, 2, Buffer.from('again')), { kind: 'written', version: 3 });
      await store.close();
      const reopened = await backend.open();
      const got = await reopened.get(owner, record);
      assert.equal(got.kind === 'found' ? `${got.version}:${got.blob.toString()}` : got.kind, '3:again');
      assert.equal('delete' in reopened, false, 'the store has no delete');
      await reopened.close();
    });

    test('two stores (two hosts) racing on records: every write is either acknowledged and kept, or a conflict; none is lost', async () => {
      const [a, b] = [await backend.open(), await backend.open()];
      const records = Array.from({ length: 8 }, () => ({ owner: key(), record: key() }));
      const acknowledged = new Map<string, { version: number; blob: string }>();
      // 8 records, 25 rounds, both stores write every record each round from the version that writer last saw.
      const seenBy = [new Map<string, number>(), new Map<string, number>()];
      for (let round = 0; round < 25; round += 1) {
        await Promise.all(
          records.flatMap((r) =>
            [a, b].map(async (store, writer) => {
              const id = joined(r).toString('hex');
              const blob = `${writer}-${round}`;
              const seen = seenBy[writer] ?? new Map<string, number>();
              const expected = seen.get(id) ?? 0;
              const result = await store.put(r.owner, r.record, expected, Buffer.from(blob));
              if (result.kind === 'written') {
                const previous = acknowledged.get(id);
                assert.ok(previous === undefined || result.version > previous.version, 'two writes acknowledged at one version');
                acknowledged.set(id, { version: result.version, blob });
                seen.set(id, result.version);
              } else {
                assert.notEqual(result.currentVersion, expected, 'a conflict must name another version');
                seen.set(id, result.currentVersion);
              }
            }),
          ),
        );
      }
      for (const r of records) {
        const got = await a.get(r.owner, r.record);
        const last = acknowledged.get(joined(r).toString('hex'));
        assert.ok(last !== undefined);
        assert.equal(got.kind === 'found' ? `${got.version}:${got.blob.toString()}` : got.kind, `${last.version}:${last.blob}`, 'the last acknowledged write is what is stored');
      }
      await Promise.all([a.close(), b.close()]);
    });

    test('bad input is refused with STORE_BAD_INPUT before the database sees it', async () => {
      const store = await backend.open();
      await assert.rejects(store.get(Buffer.alloc(31), key()), { code: 'STORE_BAD_INPUT' });
      await assert.rejects(store.put(key(), key(), -1, Buffer.from('x')), { code: 'STORE_BAD_INPUT' });
      await assert.rejects(store.put(key(), key(), Number.MAX_SAFE_INTEGER, Buffer.from('x')), { code: 'STORE_BAD_INPUT' });
      await assert.rejects(store.put(key(), key(), 0, Buffer.alloc(0)), { code: 'STORE_BAD_INPUT' });
      await assert.rejects(store.listRecords(undefined, 0), { code: 'STORE_BAD_INPUT' });
      await assert.rejects(store.listRecords(undefined, LIST_MAX_ENTRIES + 1), { code: 'STORE_BAD_INPUT' });
      await store.close();
    });

    test('listRecords pages through every record in byte order of owner || record, each exactly once', async () => {
      const store = await backend.open();
      // What earlier tests of this suite stored is listed too: start from what is there.
      const before: RecordKey[] = [];
      for (let cursor: RecordKey | undefined, more = true; more; ) {
        const page = await store.listRecords(cursor, LIST_MAX_ENTRIES);
        before.push(...page.entries);
        more = page.more;
        cursor = page.entries.at(-1);
      }
      const keys: RecordKey[] = Array.from({ length: 40 }, () => ({ owner: key(), record: key() }));
      const shared = key();
      keys.push({ owner: Buffer.alloc(32, 0), record: shared }, { owner: Buffer.alloc(32, 0xff), record: shared });
      const last = Buffer.alloc(32, 7);
      keys.push({ owner: last, record: Buffer.alloc(32, 1) }, { owner: last, record: Buffer.concat([Buffer.alloc(31, 1), Buffer.from([2])]) });
      for (const [i, k] of keys.entries()) {
        await store.put(k.owner, k.record, 0, Buffer.from(`v${i}`));
        if (i % 3 === 0) await store.put(k.owner, k.record, 1, Buffer.from('again'));
      }
      const expected = [...before, ...keys].sort((x, y) => Buffer.compare(joined(x), joined(y)));
      const seen: { owner: Buffer; record: Buffer; version: number }[] = [];
      let cursor: RecordKey | undefined;
      for (;;) {
        const page = await store.listRecords(cursor, 7);
        assert.ok(page.entries.length <= 7);
        seen.push(...page.entries);
        if (!page.more) break;
        cursor = page.entries.at(-1);
        assert.ok(cursor !== undefined, 'more with an empty page');
      }
      assert.deepEqual(seen.map((e) => joined(e).toString('hex')), expected.map((e) => joined(e).toString('hex')));
      for (const [i, k] of keys.entries()) {
        const entry = seen.find((e) => e.owner.equals(k.owner) && e.record.equals(k.record));
        assert.equal(entry?.version, i % 3 === 0 ? 2 : 1, `version of ${i}`);
      }
      const pastEnd = await store.listRecords({ owner: Buffer.alloc(32, 0xff), record: Buffer.alloc(32, 0xff) }, 5);
      assert.deepEqual(pastEnd, { entries: [], more: false });
      await store.close();
    });

    test('the readiness probe is a durable write outside the records (LIST never shows it)', async () => {
      const store = await backend.open();
      const count = async (): Promise<number> => {
        let n = 0;
        for (let cursor: RecordKey | undefined, more = true; more; ) {
          const page = await store.listRecords(cursor, LIST_MAX_ENTRIES);
          n += page.entries.length;
          more = page.more;
          cursor = page.entries.at(-1);
        }
        return n;
      };
      const before = await count();
      await store.probeWrite();
      await store.probeWrite();
      assert.equal(await count(), before);
      await store.close();
    });
  });
}
