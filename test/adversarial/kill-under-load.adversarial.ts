// kill -9 of the host and of the enclave under write load, with a history
// checker (issue 9, "The suite"). Writers keep writing unique values to a
// few records; every few hundred milliseconds one program is killed with
// SIGKILL and restarted. Afterwards, and for every read made during the run:
//   - no acknowledged write is lost: the final version of each record is at
//     least its highest acknowledged version;
//   - every read returns a value that was written (acknowledged, or in
//     flight when a program died), never garbage, and a version that has
//     been acknowledged for that value, or one in flight;
//   - versions of one record never carry two different values.
// Bounded: KILLS kills, each restart waited for, the whole case under 3 min.

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, test } from 'node:test';
import { newToken, sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

const RECORDS = 6;
const WRITERS = 6;
const KILLS = 12;

interface Attempt {
  readonly record: string;
  readonly value: string;
  acknowledgedVersion: number | undefined;
}

let stack: Stack;
before(async () => {
  stack = await startStack({ hostEnv: { LOG_LEVEL: 'info' }, enclaveEnv: { LOG_LEVEL: 'info' } });
});
after(async () => {
  await stack?.stop();
});

test(`${KILLS} kill -9 of host or enclave under write load: no acknowledged write lost, every read a written value`, { timeout: 180_000 }, async () => {
  const token = await newToken();
  const attempts: Attempt[] = [];
  const reads: { record: string; version: number; value: string }[] = [];
  let stopping = false;
  let sequence = 0;

  const writer = async (id: number): Promise<void> => {
    while (!stopping) {
      const record = `r${randomInt(RECORDS)}`;
      const value = JSON.stringify({ writer: id, n: sequence++ });
      const attempt: Attempt = { record, value, acknowledgedVersion: undefined };
      attempts.push(attempt);
      try {
        const answer = await sendRequest(stack.port, { method: 'PUT', path: `/private-data/${record}`, token, body: value, timeoutMs: 8_000 });
        if (answer.status === 200 || answer.status === 201) attempt.acknowledgedVersion = (answer.json() as { version: number }).version;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50)); // a program is down: in flight, maybe written
      }
      if (randomInt(4) === 0) {
        try {
          const got = await sendRequest(stack.port, { path: `/private-data/${record}`, token, timeoutMs: 8_000 });
          if (got.status === 200) reads.push({ record, version: Number(/^"(\d+)/.exec(String(got.headers['etag']))?.[1]), value: got.body.toString() });
        } catch {
          // down
        }
      }
    }
  };
  const writers = Array.from({ length: WRITERS }, (_, id) => writer(id));
  for (let kill = 0; kill < KILLS; kill += 1) {
    await new Promise((resolve) => setTimeout(resolve, randomInt(200, 800)));
    if (kill % 2 === 0) {
      await stack.enclave.stop('SIGKILL');
      await stack.restartEnclave();
    } else {
      await stack.host.stop('SIGKILL');
      await stack.restartHost();
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  stopping = true;
  await Promise.all(writers);

  const acknowledged = attempts.filter((a) => a.acknowledgedVersion !== undefined);
  assert.ok(acknowledged.length > 50, `only ${acknowledged.length} writes were acknowledged`);
  const written = new Set(attempts.map((a) => `${a.record}\u0000${a.value}`));
  // Versions of one record never carry two different acknowledged values.
  const byVersion = new Map<string, string>();
  for (const a of acknowledged) {
    const key = `${a.record}@${a.acknowledgedVersion}`;
    const seen = byVersion.get(key);
    assert.ok(seen === undefined || seen === a.value, `${key} acknowledged with two values`);
    byVersion.set(key, a.value);
  }
  for (const read of reads) {
    assert.ok(written.has(`${read.record}\u0000${read.value}`), `a read of ${read.record} returned a value nobody wrote`);
    const acked = byVersion.get(`${read.record}@${read.version}`);
    assert.ok(acked === undefined || acked === read.value, `${read.record}@${read.version} read a value other than the one acknowledged for it`);
  }
  for (let index = 0; index < RECORDS; index += 1) {
    const record = `r${index}`;
    const highest = Math.max(0, ...acknowledged.filter((a) => a.record === record).map((a) => a.acknowledgedVersion ?? 0));
    if (highest === 0) continue;
    const final = await sendRequest(stack.port, { path: `/private-data/${record}`, token });
    assert.equal(final.status, 200, record);
    const version = Number(/^"(\d+)/.exec(String(final.headers['etag']))?.[1]);
    assert.ok(version >= highest, `${record}: final version ${version} is below the acknowledged ${highest} (a lost write)`);
    assert.ok(written.has(`${record}\u0000${final.body.toString()}`), `${record}: the final value was never written`);
    if (version === highest) assert.equal(final.body.toString(), byVersion.get(`${record}@${highest}`), `${record}: the acknowledged value at ${highest}`);
  }
});
