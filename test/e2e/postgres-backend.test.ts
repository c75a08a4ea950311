// The real host and enclave on PostgreSQL (STORAGE_BACKEND=postgres): the
// schema comes from `npm run migrate` (the host refuses a database without
// it), documents survive a host restart, a blob the operator flips in the
// database is refused, and two host+enclave pairs on one database (one
// deployment: one master key) read each other's writes and never lose one
// when they write the same record at once.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, NO_TEST_DATABASE } from '@http-enclave/host/test-support';
import pg from 'pg';
import { newToken, sendRequest } from '../support/https-request.js';
import { REPO_ROOT, runToExit } from '../support/processes.js';
import { startStack, type Stack } from '../support/stack.js';

const MIGRATE = join(REPO_ROOT, 'packages', 'host', 'dist', 'migrate.js');

describe('the stack on PostgreSQL', { skip: process.env['TEST_DATABASE_URL'] === undefined ? NO_TEST_DATABASE : undefined }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let url = '';
  const stacks: Stack[] = [];
  const masterKeyBase64 = randomBytes(32).toString('base64');
  const hostEnv = (): Record<string, string> => ({ STORAGE_BACKEND: 'postgres', DATABASE_URL: url, DATABASE_STATEMENT_TIMEOUT_MS: '2000' });

  before(async () => {
    database = await createTestDatabase();
    assert.ok(database !== undefined);
    url = database.url;
  });
  after(async () => {
    await Promise.all(stacks.map((stack) => stack.stop()));
    await database?.drop();
  });

  test('a host on a database without the schema exits 1 and says to run npm run migrate; migrate then makes it current', async () => {
    const refused = await runToExit(join(REPO_ROOT, 'packages', 'host', 'dist', 'main.js'), {
      ...hostEnv(),
      BIND_ADDR: '127.0.0.1:0',
      STORAGE_LISTEN: 'tcp://127.0.0.1:0',
      EGRESS_LISTEN: 'off',
      ADMIN_LISTEN: 'off',
      TELEMETRY_LISTEN: 'off',
    });
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.stderr, /^host: cannot open the record store: STORE_SCHEMA_OUTDATED \(DATABASE_URL: database schema version 0 is older than the 1 this host needs; run npm run migrate\)$/m);
    assert.equal(refused.output.includes(new URL(url).password || '\0'), false);
    const migrated = await runToExit(MIGRATE, { DATABASE_URL: url });
    assert.equal(migrated.code, 0, migrated.output);
    assert.match(migrated.output, /migrate: schema 0 -> 1/);
    const again = await runToExit(MIGRATE, { DATABASE_URL: url });
    assert.match(again.output, /migrate: schema 1 is current/);
    const malformed = await runToExit(MIGRATE, { DATABASE_URL: 'mysql://x' });
    assert.equal(malformed.code, 78);
  });

  test('documents are stored in PostgreSQL, survive a host restart, and a blob flipped in the database is refused', async () => {
    const stack = await startStack({ hostEnv: hostEnv(), masterKeyBase64 });
    stacks.push(stack);
    const token = await newToken();
    assert.equal((await sendRequest(stack.port, { method: 'PUT', path: '/private-data/doc', token, body: '{"n":1}' })).status, 201);
    await stack.restartHost();
    const read = await sendRequest(stack.port, { path: '/private-data/doc', token });
    assert.equal(read.status, 200);
    assert.deepEqual(JSON.parse(read.body.toString()), { n: 1 });
    // The operator flips the GCM tag of every stored blob.
    await (async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query("UPDATE records SET blob = overlay(blob placing decode(lpad(to_hex(get_byte(blob, length(blob) - 1) # 1), 2, '0'), 'hex') from length(blob) for 1)");
      } finally {
        await client.end();
      }
    })();
    const tampered = await sendRequest(stack.port, { path: '/private-data/doc', token });
    assert.equal(tampered.status, 502);
    assert.equal(tampered.errorCode(), 'STORAGE_INTEGRITY');
  });

  test('two hosts and two enclaves on one database: each reads the other\'s writes; racing writes to one record lose nothing acknowledged', async () => {
    const [a, b] = [await startStack({ hostEnv: hostEnv(), masterKeyBase64 }), await startStack({ hostEnv: hostEnv(), masterKeyBase64 })];
    stacks.push(a, b);
    const token = await newToken();
    assert.equal((await sendRequest(a.port, { method: 'PUT', path: '/private-data/shared', token, body: '{"from":"a"}' })).status, 201);
    const fromB = await sendRequest(b.port, { path: '/private-data/shared', token });
    assert.equal(fromB.status, 200);
    assert.deepEqual(JSON.parse(fromB.body.toString()), { from: 'a' });
    // 40 writes of one record, alternating between the two deployments' halves, all at once.
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        sendRequest((i % 2 === 0 ? a : b).port, { method: 'PUT', path: '/private-data/shared', token, body: JSON.stringify({ i }) }).then((res) => ({ i, status: res.status, code: res.status >= 400 ? res.errorCode() : undefined })),
      ),
    );
    for (const answer of answers) {
      assert.ok(answer.status === 200 || (answer.status === 409 && answer.code === 'WRITE_CONFLICT'), `write ${answer.i}: ${answer.status} ${answer.code ?? ''}`);
    }
    const acknowledged = new Set(answers.filter((x) => x.status === 200).map((x) => x.i));
    assert.ok(acknowledged.size >= 1);
    // Both enclaves now read the same final document, and it is one that was acknowledged.
    const [finalA, finalB] = await Promise.all([sendRequest(a.port, { path: '/private-data/shared', token }), sendRequest(b.port, { path: '/private-data/shared', token })]);
    assert.equal(finalA.body.toString(), finalB.body.toString());
    const last = (JSON.parse(finalA.body.toString()) as { i: number }).i;
    assert.ok(acknowledged.has(last), `the stored document (${last}) was acknowledged`);
  });
});
