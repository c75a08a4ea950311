// The PostgreSQL schema of the record store, as numbered migrations.
//
// `npm run migrate` (scripts: host/dist/migrate.js) applies the missing ones,
// each in its own transaction, under an advisory lock so that two hosts
// migrating at once apply each step once. The host itself never migrates: at
// start it reads the version and refuses one it does not know (older:
// STORE_SCHEMA_OUTDATED, "run npm run migrate"; newer: STORE_SCHEMA_TOO_NEW).
//
// Schema 1:
//   http_enclave_schema (singleton BOOLEAN PK CHECK, version INTEGER)
//   records (owner BYTEA(32), record BYTEA(32), version BIGINT >= 1, blob BYTEA non-empty), PK (owner, record)
//   probe (id TEXT PK, at BIGINT, pad BYTEA): one row per host, /readyz's durable write
//
// BYTEA compares bytewise (memcmp, then length), so ORDER BY owner, record is
// the byte order of owner || record that LIST promises.

import type { ClientBase } from 'pg';

export const POSTGRES_SCHEMA_VERSION = 1;

/** An arbitrary constant of ours: the advisory lock `npm run migrate` holds while it migrates. */
const MIGRATION_LOCK_ID = 0x4854_5045; // "HTPE"

const MIGRATIONS: readonly (readonly string[])[] = [
  // 1
  [
    `CREATE TABLE http_enclave_schema (
       singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
       version   INTEGER NOT NULL
     )`,
    `CREATE TABLE records (
       owner   BYTEA  NOT NULL CHECK (octet_length(owner) = 32),
       record  BYTEA  NOT NULL CHECK (octet_length(record) = 32),
       version BIGINT NOT NULL CHECK (version >= 1 AND version <= 9007199254740991),
       blob    BYTEA  NOT NULL CHECK (octet_length(blob) > 0), -- sealed by the enclave (a tombstone too)
       PRIMARY KEY (owner, record)
     )`,
    `CREATE TABLE probe (
       id  TEXT   PRIMARY KEY,
       at  BIGINT NOT NULL,
       pad BYTEA  NOT NULL
     )`,
    'INSERT INTO http_enclave_schema (version) VALUES (0)',
  ],
];

/** The schema version of the database behind `client`: 0 when it has none of ours. */
export async function readSchemaVersion(client: ClientBase): Promise<number> {
  const table = await client.query<{ exists: boolean }>("SELECT to_regclass('http_enclave_schema') IS NOT NULL AS exists");
  if (table.rows[0]?.exists !== true) return 0;
  const row = await client.query<{ version: number }>('SELECT version FROM http_enclave_schema');
  return row.rows[0]?.version ?? 0;
}

/** Applies the missing migrations; returns the versions before and after. */
export async function migratePostgres(client: ClientBase): Promise<{ readonly from: number; readonly to: number }> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
  try {
    const from = await readSchemaVersion(client);
    for (let version = from + 1; version <= MIGRATIONS.length; version += 1) {
      await client.query('BEGIN');
      try {
        for (const statement of MIGRATIONS[version - 1] ?? []) await client.query(statement);
        await client.query('UPDATE http_enclave_schema SET version = $1', [version]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
    return { from, to: Math.max(from, MIGRATIONS.length) };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
  }
}

if (MIGRATIONS.length !== POSTGRES_SCHEMA_VERSION) throw new Error('postgres-schema: POSTGRES_SCHEMA_VERSION must equal the number of migrations');
