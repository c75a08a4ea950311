// `npm run migrate`: brings the PostgreSQL database of DATABASE_URL to the
// schema this host needs (storage/postgres-schema.ts), one migration at a
// time, each in a transaction, under an advisory lock (two hosts migrating at
// once apply each step once). The host never does this at start: it refuses a
// schema it does not know. Exit 0 when the schema is current, 78 when
// DATABASE_URL is missing or malformed, 1 when the database refuses.

import pg from 'pg';
import { POSTGRES_SCHEMA_VERSION, migratePostgres } from './storage/postgres-schema.js';

const url = process.env['DATABASE_URL'];
if (url === undefined || !/^postgres(ql)?:\/\/\S+$/.test(url)) {
  process.stderr.write('migrate: DATABASE_URL: must be a postgres:// or postgresql:// URL (the database STORAGE_BACKEND=postgres uses)\n');
  process.exit(78);
}
const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
try {
  await client.connect();
  const { from, to } = await migratePostgres(client);
  process.stdout.write(from === to ? `migrate: schema ${to} is current\n` : `migrate: schema ${from} -> ${to}\n`);
  if (to !== POSTGRES_SCHEMA_VERSION) {
    process.stderr.write(`migrate: the database is at schema ${to}, newer than this host's ${POSTGRES_SCHEMA_VERSION}; run a newer host\n`);
    process.exitCode = 1;
  }
} catch (error) {
  const code = (error as { code?: unknown }).code;
  // pg's messages name the server, the user and the database, never the password.
  process.stderr.write(`migrate: ${typeof code === 'string' ? `${code}: ` : ''}${error instanceof Error ? error.message : 'failed'}\n`);
  process.exitCode = 1;
} finally {
  await client.end().catch(() => undefined);
}
