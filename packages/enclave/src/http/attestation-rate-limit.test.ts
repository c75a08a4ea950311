import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ATTESTATION_BURST, ATTESTATIONS_PER_CONNECTION, ATTESTATIONS_PER_SECOND, AttestationRateLimit } from './attestation-rate-limit.js';

test('per connection: at most ATTESTATIONS_PER_CONNECTION documents, then refused; another connection is not affected', () => {
  const limit = new AttestationRateLimit(() => 0);
  const first = {};
  for (let index = 0; index < ATTESTATIONS_PER_CONNECTION; index += 1) assert.equal(limit.tryTake(first), true);
  assert.equal(limit.tryTake(first), false);
  assert.equal(limit.tryTake({}), true);
});

test('overall: a burst of ATTESTATION_BURST, then ATTESTATIONS_PER_SECOND as time passes', () => {
  let now = 0;
  const limit = new AttestationRateLimit(() => now);
  let served = 0;
  for (let index = 0; index < ATTESTATION_BURST * 2; index += 1) if (limit.tryTake({})) served += 1;
  assert.equal(served, ATTESTATION_BURST);
  now += 1000;
  served = 0;
  for (let index = 0; index < ATTESTATION_BURST * 2; index += 1) if (limit.tryTake({})) served += 1;
  assert.equal(served, ATTESTATIONS_PER_SECOND);
  now += 60_000;
  served = 0;
  for (let index = 0; index < ATTESTATION_BURST * 2; index += 1) if (limit.tryTake({})) served += 1;
  assert.equal(served, ATTESTATION_BURST, 'the bucket never holds more than a burst');
});
