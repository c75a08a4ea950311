// RecordStore on PostgreSQL (node-postgres, `pg`): several hosts, and the
// enclaves behind them, share one database that its operator already runs,
// replicates and backs up. The enclave never speaks SQL: the storage channel
// carries the same frames whatever the backend.
//
// - Compare-and-set in one statement: version 0 is an INSERT … ON CONFLICT DO
//   NOTHING, version n an UPDATE … WHERE version = n. Row locks make two
//   writers of one record (on two hosts) serialize; exactly one gets
//   WRITTEN, the other CONFLICT with the newer version. No write is lost.
// - Durability: an answer comes after COMMIT, and every session runs with
//   synchronous_commit = on (whatever the server's default), so WRITTEN means
//   flushed to the server's WAL (and to its synchronous standbys, if any).
// - Bounded: a pool of DATABASE_POOL_SIZE connections, a server-side
//   statement_timeout and a client-side query timeout, a connect timeout.
//   A database that does not answer is STORE_UNAVAILABLE (ERROR Unavailable:
//   503 for the client) within that time; the pool reconnects by itself.
// - Prepared statements (named), parameters only: no SQL is ever built from
//   a value.
// - The schema is never migrated here (postgres-schema.ts, npm run migrate):
//   opening refuses a version it does not know.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import { RecordStoreCorruptError, RecordStoreFullError, RecordStoreSchemaError, RecordStoreSchemaOutdatedError, RecordStoreInputError, RecordStoreUnavailableError } from '../host-errors.js';
import { POSTGRES_SCHEMA_VERSION, readSchemaVersion } from './postgres-schema.js';
import { PROBE_PAD_BYTES } from './sqlite-record-store.js';
import {
  checkExpectedVersion,
  checkKey,
  checkListedRow,
  checkListLimit,
  type GetResult,
  type ListResult,
  type RecordKey,
  type RecordStore,
  type WriteResult,
} from './record-store.js';

export interface PostgresRecordStoreOptions {
  /** DATABASE_URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=verify-full&sslrootcert=…]. A secret: never logged. */
  readonly url: string;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** The probe row this host writes (/readyz); defaults to the machine's host name. */
  readonly probeId?: string;
}

/** SQLSTATE classes and codes that mean "the database is not there now", not "this request is wrong". */
const UNAVAILABLE_SQLSTATE = /^(08|57P0|53300|40001|40P01|57014|55P03|58)/;
const DISK_FULL = '53100';

interface VersionRow {
  readonly version: string;
  readonly blob: Buffer;
}

export class PostgresRecordStore implements RecordStore {
  readonly #pool: pg.Pool;
  readonly #probeId: string;

  private constructor(pool: pg.Pool, probeId: string) {
    this.#pool = pool;
    this.#probeId = probeId;
  }

  /** Connects, and checks the schema version (never migrates). */
  static async open(options: PostgresRecordStoreOptions): Promise<PostgresRecordStore> {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      // The client gives up a little after the server should have: a server that hangs without answering still frees the request.
      query_timeout: options.statementTimeoutMs + 1_000,
      idleTimeoutMillis: 30_000,
      options: '-c synchronous_commit=on',
      application_name: 'http-enclave-host',
    });
    // An idle connection the server drops emits 'error' on the pool: without a
    // listener that would end the process. The next query reconnects.
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        const found = await readSchemaVersion(client);
        if (found > POSTGRES_SCHEMA_VERSION) throw new RecordStoreSchemaError(found, POSTGRES_SCHEMA_VERSION);
        if (found < POSTGRES_SCHEMA_VERSION) throw new RecordStoreSchemaOutdatedError(found, POSTGRES_SCHEMA_VERSION);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw translate(error);
    }
    return new PostgresRecordStore(pool, options.probeId ?? hostname());
  }

  async get(owner: Buffer, record: Buffer): Promise<GetResult> {
    checkKey(owner, record);
    const rows = await this.#query<VersionRow>('he_get', 'SELECT version::text AS version, blob FROM records WHERE owner = $1 AND record = $2', [owner, record]);
    const row = rows[0];
    if (row === undefined) return { kind: 'notFound' };
    return { kind: 'found', version: toVersion(row.version), blob: row.blob };
  }

  async put(owner: Buffer, record: Buffer, expectedVersion: number, blob: Buffer): Promise<WriteResult> {
    checkKey(owner, record);
    checkExpectedVersion(expectedVersion);
    if (blob.length === 0) throw new RecordStoreInputError('blob must not be empty (the protocol sends 1..MAX_BLOB_BYTES)');
    const written =
      expectedVersion === 0
        ? await this.#query<{ version: string }>(
            'he_insert',
            'INSERT INTO records (owner, record, version, blob) VALUES ($1, $2, 1, $3) ON CONFLICT (owner, record) DO NOTHING RETURNING version::text AS version',
            [owner, record, blob],
          )
        : await this.#query<{ version: string }>(
            'he_update',
            'UPDATE records SET version = version + 1, blob = $4 WHERE owner = $1 AND record = $2 AND version = $3 RETURNING version::text AS version',
            [owner, record, expectedVersion, blob],
          );
    const row = written[0];
    if (row !== undefined) return { kind: 'written', version: toVersion(row.version) };
    // Lost the compare: say what is there now (versions only go up, so it differs from expectedVersion).
    const current = await this.#query<{ version: string }>('he_version', 'SELECT version::text AS version FROM records WHERE owner = $1 AND record = $2', [owner, record]);
    return { kind: 'conflict', currentVersion: current[0] === undefined ? 0 : toVersion(current[0].version) };
  }

  async listRecords(after: RecordKey | undefined, limit: number): Promise<ListResult> {
    if (after !== undefined) checkKey(after.owner, after.record);
    checkListLimit(limit);
    // Both walk the primary key (owner, record) in order; one row more than asked says whether there is a next page.
    const rows =
      after === undefined
        ? await this.#query<{ owner: Buffer; record: Buffer; version: string }>(
            'he_list_start',
            'SELECT owner, record, version::text AS version FROM records ORDER BY owner, record LIMIT $1',
            [limit + 1],
          )
        : await this.#query<{ owner: Buffer; record: Buffer; version: string }>(
            'he_list_after',
            'SELECT owner, record, version::text AS version FROM records WHERE (owner, record) > ($1, $2) ORDER BY owner, record LIMIT $3',
            [after.owner, after.record, limit + 1],
          );
    const more = rows.length > limit;
    const entries = rows.slice(0, limit).map((row) => checkListedRow({ owner: row.owner, record: row.record, version: Number(row.version) }));
    return { entries, more };
  }

  /** Writes this host's probe row (PROBE_PAD_BYTES of fresh random bytes) in a durable commit. */
  async probeWrite(): Promise<void> {
    await this.#query(
      'he_probe',
      // Random bytes from here: the server would compress a repeated pattern, and a full disk must fail this write as it fails a record's.
      'INSERT INTO probe (id, at, pad) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET at = excluded.at, pad = excluded.pad',
      [this.#probeId, Date.now(), randomBytes(PROBE_PAD_BYTES)],
    );
  }

  /** A setting as one of this store's sessions sees it (for tests and diagnostics). */
  async sessionSetting(name: 'synchronous_commit' | 'statement_timeout'): Promise<string> {
    const rows = await this.#query<{ setting: string }>('he_setting', 'SELECT current_setting($1) AS setting', [name]);
    return rows[0]?.setting ?? '';
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  async #query<Row extends object>(name: string, text: string, values: readonly unknown[]): Promise<Row[]> {
    try {
      const result = await this.#pool.query<Row>({ name, text, values: [...values] });
      return result.rows;
    } catch (error) {
      throw translate(error);
    }
  }
}

/** A BIGINT version as text, to a number the protocol carries (1..2^53-1). */
function toVersion(text: string): number {
  const version = Number(text);
  if (!Number.isSafeInteger(version) || version < 1) throw new RecordStoreCorruptError('a stored version is outside 1..2^53-1');
  return version;
}

/** pg's errors to the catalogue's: the database not answering, out of space, or (anything else) passed on as it is. */
function translate(error: unknown): unknown {
  if (error instanceof RecordStoreSchemaError || error instanceof RecordStoreSchemaOutdatedError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === DISK_FULL) return new RecordStoreFullError(undefined, { cause: error });
  if (typeof code === 'string' && UNAVAILABLE_SQLSTATE.test(code)) return new RecordStoreUnavailableError(code, { cause: error });
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new RecordStoreUnavailableError(code, { cause: error });
  // pg's own failures carry no code: a pool that timed out connecting, a connection that ended, a query past query_timeout.
  if (error instanceof Error && code === undefined && /timeout|terminated|Connection|ended/i.test(error.message)) {
    return new RecordStoreUnavailableError('CONNECTION', { cause: error });
  }
  return error;
}
