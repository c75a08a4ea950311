// Tests of the keyring: key ids, pseudonyms (against vectors computed
// independently in Python), identity-key stability across rotation, the
// sealing-key cache bound, and argument validation.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { BoundedLruCache } from './bounded-lru-cache.js';
import { asKeyId, asOwnerId, asRecordId, keyIdToHex } from './identifiers.js';
import { createKeyring, createKeyringFromEnvKey } from './keyring.js';
import { KeyringUsageError } from '../enclave-errors.js';

interface Vectors {
  masterKeyHex: string;
  otherMasterKeyHex: string;
  keyIdHex: string;
  otherKeyIdHex: string;
  ownerToken: string;
  ownerIdHex: string;
  sealingKeyHex: string;
  recordIds: { name: string; recordIdHex: string }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('../../src/seal/sealed-envelope.vectors.json', import.meta.url), 'utf8'),
) as Vectors;
const master = (): Buffer => Buffer.from(vectors.masterKeyHex, 'hex');
const otherMaster = (): Buffer => Buffer.from(vectors.otherMasterKeyHex, 'hex');

function assertUsageError(fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => error instanceof KeyringUsageError && error.code === 'KEYRING_USAGE');
}

test('env keyring: source, key id and pseudonyms match the vectors', () => {
  const keyring = createKeyringFromEnvKey(master());
  assert.equal(keyring.source, 'env');
  assert.equal(keyIdToHex(keyring.activeKeyId), vectors.keyIdHex);
  assert.equal(keyIdToHex(keyring.identityKeyId), vectors.keyIdHex);
  const owner = keyring.ownerIdFromToken(vectors.ownerToken);
  assert.equal(owner.toString('hex'), vectors.ownerIdHex);
  for (const { name, recordIdHex } of vectors.recordIds) {
    assert.equal(keyring.recordIdFromName(owner, name).toString('hex'), recordIdHex);
  }
  const sealingKey = keyring.sealingKey(keyring.activeKeyId, owner);
  assert.ok(sealingKey !== undefined);
  assert.equal(sealingKey.export().toString('hex'), vectors.sealingKeyHex);
});

test('the given master key buffers are zeroed', () => {
  const raw = master();
  createKeyringFromEnvKey(raw);
  assert.ok(raw.every((byte) => byte === 0));
});

test('pseudonyms come from the identity key: rotation does not move owners or records', () => {
  const before = createKeyringFromEnvKey(master());
  const after = createKeyring({ source: 'kms', masterKeys: [master(), otherMaster()] });
  assert.equal(keyIdToHex(after.activeKeyId), vectors.otherKeyIdHex);
  assert.equal(keyIdToHex(after.identityKeyId), vectors.keyIdHex);
  assert.deepEqual(after.keyIds.map(keyIdToHex), [vectors.keyIdHex, vectors.otherKeyIdHex]);
  const ownerBefore = before.ownerIdFromToken('token');
  const ownerAfter = after.ownerIdFromToken('token');
  assert.deepEqual(ownerAfter, ownerBefore);
  assert.deepEqual(after.recordIdFromName(ownerAfter, 'doc'), before.recordIdFromName(ownerBefore, 'doc'));
  // the old key still yields the same sealing key, so old records open
  const oldKey = after.sealingKey(before.activeKeyId, ownerAfter);
  assert.ok(oldKey?.equals(before.sealingKey(before.activeKeyId, ownerBefore) ?? assert.fail()));
});

test('explicit active key id; unknown active key id is refused', () => {
  const keyring = createKeyring({
    source: 'kms',
    masterKeys: [master(), otherMaster()],
    activeKeyId: asKeyId(Buffer.from(vectors.keyIdHex, 'hex')),
  });
  assert.equal(keyIdToHex(keyring.activeKeyId), vectors.keyIdHex);
  assertUsageError(() => createKeyring({ source: 'kms', masterKeys: [master()], activeKeyId: asKeyId(Buffer.alloc(8)) }));
});

test('owner and record ids separate tokens, owners and names', () => {
  const keyring = createKeyringFromEnvKey(master());
  const alice = keyring.ownerIdFromToken('alice');
  const bob = keyring.ownerIdFromToken('bob');
  assert.equal(alice.length, 32);
  assert.notDeepEqual(alice, bob);
  assert.deepEqual(keyring.ownerIdFromToken('alice'), alice);
  assert.notDeepEqual(keyring.recordIdFromName(alice, ''), keyring.recordIdFromName(bob, ''));
  assert.notDeepEqual(keyring.recordIdFromName(alice, ''), keyring.recordIdFromName(alice, 'a'));
  // owner and record pseudonym keys differ (domain separation)
  assert.notDeepEqual(keyring.ownerIdFromToken(''), keyring.recordIdFromName(asOwnerId(Buffer.alloc(32)), ''));
});

test('unknown key id gives no sealing key', () => {
  const keyring = createKeyringFromEnvKey(master());
  assert.equal(keyring.sealingKey(asKeyId(Buffer.alloc(8)), keyring.ownerIdFromToken('x')), undefined);
  assert.equal(keyring.hasKeyId(asKeyId(Buffer.alloc(8))), false);
  assert.equal(keyring.hasKeyId(keyring.activeKeyId), true);
});

test('the sealing-key cache stays bounded', () => {
  const keyring = createKeyring({ source: 'env', masterKeys: [master()], sealingKeyCacheEntries: 3 });
  const first = keyring.ownerIdFromToken('owner-0');
  const firstKey = keyring.sealingKey(keyring.activeKeyId, first);
  for (let index = 0; index < 10; index += 1) keyring.sealingKey(keyring.activeKeyId, keyring.ownerIdFromToken(`owner-${index}`));
  assert.equal(keyring.cachedSealingKeyCount, 3);
  // evicted keys are re-derived identically
  assert.ok(keyring.sealingKey(keyring.activeKeyId, first)?.equals(firstKey ?? assert.fail()));
});

test('bad arguments are KEYRING_USAGE', () => {
  assertUsageError(() => createKeyring({ source: 'env', masterKeys: [] }));
  assertUsageError(() => createKeyring({ source: 'env', masterKeys: [Buffer.alloc(31)] }));
  assertUsageError(() => createKeyring({ source: 'env', masterKeys: [master(), master()] }));
  assertUsageError(() => asOwnerId(Buffer.alloc(31)));
  assertUsageError(() => asRecordId(Buffer.alloc(33)));
  assertUsageError(() => asKeyId(Buffer.alloc(32)));
  const keyring = createKeyringFromEnvKey(master());
  assertUsageError(() => keyring.ownerIdFromToken(42 as unknown as string));
});

test('BoundedLruCache evicts the least recently used entry', () => {
  const evicted: number[] = [];
  const cache = new BoundedLruCache<string, number>(2, (value) => evicted.push(value));
  cache.set('a', 1);
  cache.set('b', 2);
  assert.equal(cache.get('a'), 1); // a is now most recent
  cache.set('c', 3);
  assert.deepEqual(evicted, [2]);
  assert.equal(cache.get('b'), undefined);
  assert.equal(cache.size, 2);
  assert.throws(() => new BoundedLruCache(0), RangeError);
});
