// Tests of sealRecord/openRecord and the v1 envelope: vectors from an
// independent implementation, every byte flip, every truncation, tag
// truncation, AAD binding, nonce uniqueness and padding buckets. Negative
// tests assert the exact StorageIntegrityError reason.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { asKeyId, asOwnerId, asRecordId } from '../keys/identifiers.js';
import type { OwnerId, RecordId } from '../keys/identifiers.js';
import { createKeyring, createKeyringFromEnvKey } from '../keys/keyring.js';
import type { Keyring } from '../keys/keyring.js';
import { MAX_PLAINTEXT_BYTES, isValidPaddedSize, paddedSizeFor } from './plaintext-padding.js';
import { openRecord, sealRecord } from './seal-record.js';
import { HEADER_BYTES, MAX_ENVELOPE_BYTES, MIN_ENVELOPE_BYTES, TAG_BYTES } from './sealed-envelope.js';
import { SealInputError, StorageIntegrityError, type StorageIntegrityReason } from '../enclave-errors.js';

interface Vectors {
  masterKeyHex: string;
  otherMasterKeyHex: string;
  ownerToken: string;
  invalidCasesOpenWith: { recordName: string; version: string };
  valid: { description: string; recordName: string; version: string; plaintextHex: string; nonceHex: string; sealedHex: string }[];
  invalid: { description: string; sealedHex: string; reason: StorageIntegrityReason }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('../../src/seal/sealed-envelope.vectors.json', import.meta.url), 'utf8'),
) as Vectors;

const keyring = createKeyringFromEnvKey(Buffer.from(vectors.masterKeyHex, 'hex'));
const owner = keyring.ownerIdFromToken(vectors.ownerToken);
const record = keyring.recordIdFromName(owner, 'notes');

function assertIntegrity(fn: () => unknown, reasons: readonly StorageIntegrityReason[], context = ''): void {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof StorageIntegrityError, `${context}: expected StorageIntegrityError, got ${String(error)}`);
    assert.equal(error.code, 'STORAGE_INTEGRITY');
    assert.ok(reasons.includes(error.reason), `${context}: reason ${error.reason} not in ${reasons.join(',')}`);
    return;
  }
  assert.fail(`${context}: expected STORAGE_INTEGRITY, nothing thrown`);
}

function open(sealed: Buffer, overrides: { owner?: OwnerId; record?: RecordId; version?: bigint | number; keyring?: Keyring } = {}): Buffer {
  return openRecord({
    keyring: overrides.keyring ?? keyring,
    owner: overrides.owner ?? owner,
    record: overrides.record ?? record,
    version: overrides.version ?? 1n,
    sealed,
  });
}

const fixedNonce = (hex: string) => (size: number): Buffer => {
  assert.equal(size, 12);
  return Buffer.from(hex, 'hex');
};

test('valid vectors: sealing reproduces the stored bytes and opening returns the plaintext', () => {
  for (const vector of vectors.valid) {
    const vectorRecord = keyring.recordIdFromName(owner, vector.recordName);
    const plaintext = Buffer.from(vector.plaintextHex, 'hex');
    const sealed = sealRecord({
      keyring, owner, record: vectorRecord, version: BigInt(vector.version), plaintext, randomBytes: fixedNonce(vector.nonceHex),
    });
    assert.equal(sealed.toString('hex'), vector.sealedHex, vector.description);
    const opened = openRecord({ keyring, owner, record: vectorRecord, version: BigInt(vector.version), sealed: Buffer.from(vector.sealedHex, 'hex') });
    assert.deepEqual(opened, plaintext, vector.description);
  }
});

test('invalid vectors fail with the listed reason', () => {
  const openRecordId = keyring.recordIdFromName(owner, vectors.invalidCasesOpenWith.recordName);
  for (const vector of vectors.invalid) {
    assertIntegrity(
      () => open(Buffer.from(vector.sealedHex, 'hex'), { record: openRecordId, version: BigInt(vectors.invalidCasesOpenWith.version) }),
      [vector.reason],
      vector.description,
    );
  }
});

test('round trip of sizes across bucket edges', () => {
  for (const size of [0, 1, 252, 253, 508, 509, 65_532, 65_533, 200_000, MAX_PLAINTEXT_BYTES]) {
    const plaintext = Buffer.alloc(size, size % 251);
    const sealed = sealRecord({ keyring, owner, record, version: 1, plaintext });
    assert.equal(sealed.length, HEADER_BYTES + paddedSizeFor(size) + TAG_BYTES);
    assert.deepEqual(open(sealed), plaintext);
  }
});

test('padding bucket sizes', () => {
  const expected: [number, number][] = [
    [0, 256], [252, 256], [253, 512], [508, 512], [509, 1024], [1000, 1024], [65_532, 65_536],
    [65_533, 131_072], [131_068, 131_072], [131_069, 196_608], [MAX_PLAINTEXT_BYTES, MAX_PLAINTEXT_BYTES + 65_536],
  ];
  for (const [length, bucket] of expected) {
    assert.equal(paddedSizeFor(length), bucket, `length ${length}`);
    assert.ok(isValidPaddedSize(bucket));
  }
  for (const size of [0, 255, 257, 384, 65_537, 98_304, MAX_PLAINTEXT_BYTES + 131_072]) assert.equal(isValidPaddedSize(size), false, `size ${size}`);
});

test('plaintext over the maximum is refused with SEAL_INPUT_INVALID', () => {
  assert.throws(
    () => sealRecord({ keyring, owner, record, version: 1, plaintext: Buffer.alloc(MAX_PLAINTEXT_BYTES + 1) }),
    (error: unknown) => error instanceof SealInputError && error.code === 'SEAL_INPUT_INVALID',
  );
});

test('bad record versions are refused with SEAL_INPUT_INVALID', () => {
  for (const version of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, -1n, 1n << 64n]) {
    assert.throws(
      () => sealRecord({ keyring, owner, record, version, plaintext: Buffer.alloc(1) }),
      (error: unknown) => error instanceof SealInputError && error.code === 'SEAL_INPUT_INVALID',
    );
  }
  const sealed = sealRecord({ keyring, owner, record, version: (1n << 64n) - 1n, plaintext: Buffer.alloc(1) });
  assert.deepEqual(open(sealed, { version: (1n << 64n) - 1n }), Buffer.alloc(1));
});

test('every single-byte flip fails: AUTHENTICATION_FAILED or a structural reason', () => {
  const sealed = sealRecord({ keyring, owner, record, version: 1, plaintext: Buffer.from('secret document') });
  for (let index = 0; index < sealed.length; index += 1) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const tampered = Buffer.from(sealed);
      tampered[index] = (tampered[index] ?? 0) ^ mask;
      const expected: StorageIntegrityReason[] =
        index < 2 ? ['BAD_MAGIC'] : index === 2 ? ['UNSUPPORTED_FORMAT_VERSION'] : index < 11 ? ['UNKNOWN_KEY_ID'] : ['AUTHENTICATION_FAILED'];
      assertIntegrity(() => open(tampered), expected, `byte ${index} ^ ${mask}`);
    }
  }
});

test('truncation at every length fails with a structural reason or AUTHENTICATION_FAILED', () => {
  const sealed = sealRecord({ keyring, owner, record, version: 1, plaintext: Buffer.alloc(300, 7) }); // 512 bucket
  assert.equal(sealed.length, HEADER_BYTES + 512 + TAG_BYTES);
  for (let length = 0; length < sealed.length; length += 1) {
    const truncated = sealed.subarray(0, length);
    assertIntegrity(
      () => open(truncated),
      length < MIN_ENVELOPE_BYTES ? ['ENVELOPE_TOO_SHORT'] : length === MIN_ENVELOPE_BYTES ? ['AUTHENTICATION_FAILED'] : ['BAD_CIPHERTEXT_LENGTH'],
      `length ${length}`,
    );
  }
});

test('a truncated tag (4, 8, 12 bytes) is refused, even with the ciphertext re-framed', () => {
  const sealed = sealRecord({ keyring, owner, record, version: 1, plaintext: Buffer.from('x') });
  for (const tagLength of [4, 8, 12]) {
    const cut = sealed.subarray(0, sealed.length - (TAG_BYTES - tagLength));
    assertIntegrity(() => open(cut), ['ENVELOPE_TOO_SHORT'], `tag ${tagLength}`);
    // Append bytes so the frame length is valid again: the last 16 bytes are
    // now (tail of ciphertext || short tag || filler), which must not verify.
    const reframed = Buffer.concat([cut, Buffer.alloc(TAG_BYTES - tagLength)]);
    assertIntegrity(() => open(reframed), ['AUTHENTICATION_FAILED'], `reframed tag ${tagLength}`);
  }
});

test('oversized envelope is refused before any work', () => {
  assertIntegrity(() => open(Buffer.alloc(MAX_ENVELOPE_BYTES + 1)), ['ENVELOPE_TOO_LONG']);
});

test('AAD binds owner, record, version and key id', () => {
  const sealed = sealRecord({ keyring, owner, record, version: 5, plaintext: Buffer.from('bound') });
  assert.deepEqual(open(sealed, { version: 5 }), Buffer.from('bound'));
  const otherOwner = keyring.ownerIdFromToken('another token');
  assertIntegrity(() => open(sealed, { version: 5, owner: otherOwner }), ['AUTHENTICATION_FAILED'], 'owner');
  assertIntegrity(() => open(sealed, { version: 5, record: keyring.recordIdFromName(owner, 'other') }), ['AUTHENTICATION_FAILED'], 'record');
  assertIntegrity(() => open(sealed, { version: 4 }), ['AUTHENTICATION_FAILED'], 'older version');
  assertIntegrity(() => open(sealed, { version: 6 }), ['AUTHENTICATION_FAILED'], 'newer version');

  // Key id relabelled to another key the keyring holds: the key id is in the AAD and selects the key.
  const rotated = createKeyring({ source: 'kms', masterKeys: [Buffer.from(vectors.masterKeyHex, 'hex'), Buffer.from(vectors.otherMasterKeyHex, 'hex')] });
  const relabelled = Buffer.from(sealed);
  rotated.activeKeyId.copy(relabelled, 3);
  assertIntegrity(() => open(relabelled, { version: 5, keyring: rotated }), ['AUTHENTICATION_FAILED'], 'key id relabel');
  // Unknown key id
  const unknown = Buffer.from(sealed);
  Buffer.alloc(8, 0xee).copy(unknown, 3);
  assertIntegrity(() => open(unknown, { version: 5 }), ['UNKNOWN_KEY_ID'], 'unknown key id');
});

test('AAD binding holds with a forged identical-length record id', () => {
  const sealed = sealRecord({ keyring, owner, record, version: 1, plaintext: Buffer.from('z') });
  const forgedRecord = asRecordId(Buffer.from(record).fill(0, 31));
  assertIntegrity(() => open(sealed, { record: forgedRecord }), ['AUTHENTICATION_FAILED']);
  const forgedOwner = asOwnerId(Buffer.alloc(32));
  assertIntegrity(() => open(sealed, { owner: forgedOwner }), ['AUTHENTICATION_FAILED']);
});

test('rotation: new seals use the active key, old seals still open', () => {
  const old = sealRecord({ keyring, owner, record, version: 1, plaintext: Buffer.from('old') });
  const rotated = createKeyring({ source: 'kms', masterKeys: [Buffer.from(vectors.masterKeyHex, 'hex'), Buffer.from(vectors.otherMasterKeyHex, 'hex')] });
  const ownerAfter = rotated.ownerIdFromToken(vectors.ownerToken);
  const recordAfter = rotated.recordIdFromName(ownerAfter, 'notes');
  assert.deepEqual(openRecord({ keyring: rotated, owner: ownerAfter, record: recordAfter, version: 1, sealed: old }), Buffer.from('old'));
  const fresh = sealRecord({ keyring: rotated, owner: ownerAfter, record: recordAfter, version: 2, plaintext: Buffer.from('new') });
  assert.deepEqual(fresh.subarray(3, 11), rotated.activeKeyId);
  assertIntegrity(() => open(fresh, { version: 2 }), ['UNKNOWN_KEY_ID'], 'old keyring cannot open new seal');
  assert.equal(asKeyId(fresh.subarray(3, 11)).length, 8);
});

test('10^5 seals draw 10^5 distinct nonces', () => {
  const nonces = new Set<string>();
  const plaintext = Buffer.from('n');
  for (let index = 0; index < 100_000; index += 1) {
    nonces.add(sealRecord({ keyring, owner, record, version: 1, plaintext }).toString('hex', 11, 23));
  }
  assert.equal(nonces.size, 100_000);
});

test('error messages carry no plaintext', () => {
  const canary = 'CANARY-plaintext-5d1f';
  const sealed = sealRecord({ keyring, owner, record, version: 1, plaintext: Buffer.from(canary) });
  const tampered = Buffer.from(sealed);
  tampered[40] = (tampered[40] ?? 0) ^ 1;
  try {
    open(tampered);
    assert.fail('expected failure');
  } catch (error) {
    assert.ok(error instanceof StorageIntegrityError);
    assert.ok(!error.message.includes(canary));
    assert.ok(!error.message.includes(tampered.toString('hex', 23, 40)));
  }
});

test('a random source returning the wrong size is refused', () => {
  assert.throws(
    () => sealRecord({ keyring, owner, record, version: 1, plaintext: Buffer.alloc(1), randomBytes: () => Buffer.alloc(8) }),
    (error: unknown) => error instanceof SealInputError && error.code === 'SEAL_INPUT_INVALID',
  );
});
