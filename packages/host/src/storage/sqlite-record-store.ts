// RecordStore on SQLite (better-sqlite3): the embedded default for one machine.
//
// Durability: journal_mode=WAL with synchronous=FULL. In WAL mode NORMAL only
// syncs at checkpoints, so a commit that was already acknowledged can vanish
// after a power loss or kernel crash (the database stays consistent, but the
// write is gone). We answer WRITTEN only once a write is durable, and the
// enclave then binds that version into its AEAD data; so every commit must
// fsync the WAL: FULL.
//
// better-sqlite3 is synchronous and a durable commit waits for fsync: run this
// store off the forwarding thread (the storage worker does).

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { RecordStoreInputError, RecordStoreSchemaError, RecordStoreSetupError } from '../host-errors.js';
import {
  checkExpectedVersion,
  checkKey,
  checkListLimit,
  checkListedRow,
  type GetResult,
  type ListResult,
  type RecordKey,
  type RecordStore,
  type WriteResult,
} from './record-store.js';

/**
 * Schema version kept in PRAGMA user_version. 0 = empty database; 1 = the
 * records table; 2 = and the one-row probe table /readyz writes to.
 */
export const SQLITE_SCHEMA_VERSION = 2;

/**
 * Bytes the readiness probe writes each time: a typical sealed document
 * (records go up to 8 MiB, most are far smaller). Rewriting one small row in
 * place kept succeeding on a full disk where a record PUT failed (review).
 */
export const PROBE_PAD_BYTES = 64 * 1024;
/** How long a writer waits for another connection's lock before SQLITE_BUSY (ms). */
export const SQLITE_BUSY_TIMEOUT_MS = 5_000;

export interface SqliteRecordStoreOptions {
  /** Cap on the database size in pages (PRAGMA max_page_count); writes beyond it fail with SQLITE_FULL. */
  readonly maxPageCount?: number;
}

interface VersionRow {
  readonly version: number;
  readonly blob: Buffer;
}

interface ListRow {
  readonly owner: Buffer;
  readonly record: Buffer;
  readonly version: number;
}

export class SqliteRecordStore implements RecordStore {
  readonly #db: Database.Database;
  readonly #select: Database.Statement<[Buffer, Buffer], VersionRow>;
  readonly #upsert: Database.Statement<[Buffer, Buffer, number, Buffer]>;
  readonly #listFromStart: Database.Statement<[number], ListRow>;
  readonly #listAfter: Database.Statement<[Buffer, Buffer, number], ListRow>;
  readonly #write: (owner: Buffer, record: Buffer, expectedVersion: number, blob: Buffer) => WriteResult;
  readonly #probe: Database.Transaction<(at: number) => void>;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#select = db.prepare<[Buffer, Buffer], VersionRow>('SELECT version, blob FROM records WHERE owner = ? AND record = ?');
    this.#upsert = db.prepare<[Buffer, Buffer, number, Buffer]>(
      `INSERT INTO records (owner, record, version, blob) VALUES (?, ?, ?, ?)
       ON CONFLICT (owner, record) DO UPDATE SET version = excluded.version, blob = excluded.blob`,
    );
    // Both walk the primary key (owner, record) in order: BLOBs compare with
    // memcmp, and both columns are 32 bytes, so the order is that of owner ||
    // record. The row-value comparison is a range seek on that key, not a
    // scan (the test reads the query plan). One row more than asked says
    // whether there is a next page.
    this.#listFromStart = db.prepare<[number], ListRow>('SELECT owner, record, version FROM records ORDER BY owner, record LIMIT ?');
    this.#listAfter = db.prepare<[Buffer, Buffer, number], ListRow>(
      'SELECT owner, record, version FROM records WHERE (owner, record) > (?, ?) ORDER BY owner, record LIMIT ?',
    );
    const compareAndSet = db.transaction((owner: Buffer, record: Buffer, expectedVersion: number, blob: Buffer): WriteResult => {
      const current = this.#select.get(owner, record)?.version ?? 0;
      if (current !== expectedVersion) return { kind: 'conflict', currentVersion: current };
      const version = expectedVersion + 1;
      this.#upsert.run(owner, record, version, blob);
      return { kind: 'written', version };
    });
    // IMMEDIATE takes the write lock before the read, so no other connection
    // (another process on the same file) can commit between compare and set.
    this.#write = (owner, record, expectedVersion, blob) => compareAndSet.immediate(owner, record, expectedVersion, blob);
    const writeProbe = db.prepare<[number]>(
      `INSERT INTO probe (id, at, pad) VALUES (1, ?, randomblob(${PROBE_PAD_BYTES})) ON CONFLICT (id) DO UPDATE SET at = excluded.at, pad = excluded.pad`,
    );
    this.#probe = db.transaction((at: number) => void writeProbe.run(at));
  }

  /** Opens (creating file, directory and schema if missing) the database at path. */
  static open(path: string, options: SqliteRecordStoreOptions = {}): SqliteRecordStore {
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new RecordStoreSetupError(`journal_mode is ${String(mode)}, WAL was refused`);
      db.pragma('synchronous = FULL');
      if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.trunc(options.maxPageCount)}`);
      migrate(db);
      return new SqliteRecordStore(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** Reads back a PRAGMA (for tests and diagnostics). */
  pragma(name: 'journal_mode' | 'synchronous' | 'busy_timeout' | 'user_version'): unknown {
    return this.#db.pragma(name, { simple: true });
  }

  // async: a bad argument or a database error becomes a rejection, never a synchronous throw.
  async get(owner: Buffer, record: Buffer): Promise<GetResult> {
    checkKey(owner, record);
    const row = this.#select.get(owner, record);
    if (row === undefined) return { kind: 'notFound' };
    return { kind: 'found', version: row.version, blob: row.blob };
  }

  async put(owner: Buffer, record: Buffer, expectedVersion: number, blob: Buffer): Promise<WriteResult> {
    checkKey(owner, record);
    checkExpectedVersion(expectedVersion);
    if (blob.length === 0) throw new RecordStoreInputError('blob must not be empty (the protocol sends 1..MAX_BLOB_BYTES)');
    return this.#write(owner, record, expectedVersion, blob);
  }

  async listRecords(after: RecordKey | undefined, limit: number): Promise<ListResult> {
    if (after !== undefined) checkKey(after.owner, after.record);
    checkListLimit(limit);
    const rows = after === undefined ? this.#listFromStart.all(limit + 1) : this.#listAfter.all(after.owner, after.record, limit + 1);
    const more = rows.length > limit;
    // The schema does not constrain key lengths: a bad row fails here, not in the frame encoder.
    const entries = rows.slice(0, limit).map(checkListedRow);
    return { entries, more };
  }

  /** The query plan of a LIST after a cursor (for the test that it seeks the primary key). */
  explainListAfter(): string[] {
    const plan = this.#db.prepare(`EXPLAIN QUERY PLAN ${this.#listAfter.source}`);
    return (plan.all(Buffer.alloc(32), Buffer.alloc(32), 1) as Array<{ detail: string }>).map((row) => row.detail);
  }

  /** Writes the probe row in a durable transaction: the database takes writes (readiness). */
  async probeWrite(): Promise<void> {
    this.#probe.immediate(Date.now());
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

function migrate(db: Database.Database): void {
  const found = Number(db.pragma('user_version', { simple: true }));
  if (found > SQLITE_SCHEMA_VERSION) throw new RecordStoreSchemaError(found, SQLITE_SCHEMA_VERSION);
  if (found >= 1) checkBlobNotNull(db);
  if (found === SQLITE_SCHEMA_VERSION) return;
  db.transaction(() => {
    if (found === 0) {
      db.exec(`CREATE TABLE records (
        owner   BLOB    NOT NULL,
        record  BLOB    NOT NULL,
        version INTEGER NOT NULL,
        blob    BLOB    NOT NULL CHECK (typeof(blob) = 'blob' AND length(blob) > 0), -- sealed by the enclave (a tombstone too)
        PRIMARY KEY (owner, record)
      ) WITHOUT ROWID`);
    }
    // Schema 2: the host's readiness probe writes one row here (never a record, so LIST never shows it),
    // with PROBE_PAD_BYTES of fresh bytes each time, so that a full disk fails the probe as it fails a write.
    db.exec('CREATE TABLE probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL, pad BLOB NOT NULL)');
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
  }).immediate();
}

/**
 * A pre-release draft of schema 1 let blob be NULL (unauthenticated
 * tombstones). Refuse such a database rather than serve its rows: a NULL blob
 * must be impossible.
 */
function checkBlobNotNull(db: Database.Database): void {
  const columns = db.pragma('table_info(records)') as Array<{ name: string; notnull: number }>;
  const blob = columns.find((c) => c.name === 'blob');
  if (blob === undefined || blob.notnull !== 1) {
    throw new RecordStoreSetupError('the records table is from a pre-release draft of schema 1 (blob may be NULL); remove the database file');
  }
}
