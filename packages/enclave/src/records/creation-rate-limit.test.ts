// The per-owner creation bucket alone, on a fake clock: burst, sustained
// rate, the wait it reports, and the bound on owners it tracks.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CREATION_BURST_SECONDS, OwnerCreationRateLimit } from './creation-rate-limit.js';

test('an owner gets ten seconds of its rate at once, then the rate; the refusal says how long to wait', () => {
  let now = 0;
  const limit = new OwnerCreationRateLimit(5, () => now);
  for (let index = 0; index < 5 * CREATION_BURST_SECONDS; index += 1) assert.equal(limit.take('a'), 0, `create ${index}`);
  assert.equal(limit.take('a'), 200, 'one token comes back every 200 ms');
  now += 100;
  assert.equal(limit.take('a'), 100);
  now += 100;
  assert.equal(limit.take('a'), 0);
  assert.ok(limit.take('a') > 0);
  assert.equal(limit.take('b'), 0, 'owners do not share a bucket');
  now += 60_000;
  for (let index = 0; index < 50; index += 1) assert.equal(limit.take('a'), 0, 'refilled to the burst, not beyond');
  assert.ok(limit.take('a') > 0);
});

test('at most maxOwners buckets are kept; the least recently active goes first', () => {
  let now = 0;
  const limit = new OwnerCreationRateLimit(1, () => now, 3);
  for (const owner of ['a', 'b', 'c']) for (let index = 0; index < 10; index += 1) limit.take(owner);
  assert.ok(limit.take('a') > 0, 'a is spent (and now the most recent)');
  limit.take('d'); // pushes out b, the least recently active
  assert.equal(limit.trackedOwners, 3);
  assert.equal(limit.take('b'), 0, 'b starts again with a full bucket');
  assert.ok(limit.take('a') > 0, 'a was kept: still spent');
  assert.throws(() => new OwnerCreationRateLimit(0), RangeError);
});
