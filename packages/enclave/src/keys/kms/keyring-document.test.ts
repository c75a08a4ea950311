// The stored keyring document (format v1): round trip, the MAC, and every
// structural refusal with its reason.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createKeyring } from '../keyring.js';
import { asKeyId } from '../identifiers.js';
import { KEYRING_MAGIC, MAX_KEYRING_KEYS, decodeKeyringDocument, encodeKeyringDocument, verifyKeyringMac, type KeyringDocument } from './keyring-document.js';
import { KeyringDocumentError } from '../../enclave-errors.js';

function sampleDocument(count = 2, activeIndex = count - 1): KeyringDocument {
  return {
    keys: Array.from({ length: count }, (_, index) => ({ keyId: asKeyId(randomBytes(8)), blob: randomBytes(150 + index) })),
    activeIndex,
  };
}

const keyring = createKeyring({ source: 'kms', masterKeys: [randomBytes(32)] });
const mac = (body: Buffer): Buffer => keyring.keyringDocumentMac(body);

function reasonOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof KeyringDocumentError) return error.reason;
    throw error;
  }
  return 'accepted';
}

test('encode then decode gives the same keys, active index and a MAC that verifies', () => {
  const document = sampleDocument(3, 1);
  const bytes = encodeKeyringDocument(document, mac);
  assert.ok(bytes.subarray(0, 4).equals(KEYRING_MAGIC));
  const decoded = decodeKeyringDocument(bytes);
  assert.equal(decoded.activeIndex, 1);
  assert.deepEqual(decoded.keys.map((k) => [k.keyId.toString('hex'), k.blob.toString('hex')]), document.keys.map((k) => [k.keyId.toString('hex'), k.blob.toString('hex')]));
  verifyKeyringMac(decoded, mac);
});

test('the MAC covers every byte: any flipped bit fails authentication or structure', () => {
  const bytes = encodeKeyringDocument(sampleDocument(2), mac);
  for (let offset = 0; offset < bytes.length; offset += 7) {
    const copy = Buffer.from(bytes);
    copy[offset] = (copy[offset] ?? 0) ^ 0x01;
    const reason = reasonOf(() => verifyKeyringMac(decodeKeyringDocument(copy), mac));
    assert.ok(reason === 'KEYRING_AUTHENTICATION_FAILED' || reason === 'KEYRING_MALFORMED', `offset ${offset}: ${reason}`);
  }
  const otherKeyring = createKeyring({ source: 'kms', masterKeys: [randomBytes(32)] });
  assert.equal(reasonOf(() => verifyKeyringMac(decodeKeyringDocument(bytes), (body) => otherKeyring.keyringDocumentMac(body))), 'KEYRING_AUTHENTICATION_FAILED');
});

test('structural refusals: magic, version, counts, index, truncation, trailing bytes, duplicate ids, size', () => {
  const good = encodeKeyringDocument(sampleDocument(2), mac);
  const mutate = (edit: (copy: Buffer) => Buffer): string => reasonOf(() => decodeKeyringDocument(edit(Buffer.from(good))));
  assert.equal(mutate((b) => { b[0] = 0x00; return b; }), 'KEYRING_MALFORMED');
  assert.equal(mutate((b) => { b[4] = 2; return b; }), 'KEYRING_MALFORMED');
  assert.equal(mutate((b) => { b[5] = 0; return b; }), 'KEYRING_MALFORMED');
  assert.equal(mutate((b) => { b[5] = MAX_KEYRING_KEYS + 1; return b; }), 'KEYRING_MALFORMED');
  assert.equal(mutate((b) => { b[6] = 2; return b; }), 'KEYRING_MALFORMED');
  assert.equal(mutate((b) => { b[5] = 3; return b; }), 'KEYRING_MALFORMED');
  assert.equal(mutate((b) => { b[5] = 1; return b; }), 'KEYRING_MALFORMED');
  for (let length = 0; length < good.length; length += 13) assert.equal(reasonOf(() => decodeKeyringDocument(good.subarray(0, length))), 'KEYRING_MALFORMED', `prefix ${length}`);
  assert.equal(reasonOf(() => decodeKeyringDocument(Buffer.concat([good, Buffer.from([0])]))), 'KEYRING_MALFORMED');
  assert.equal(reasonOf(() => decodeKeyringDocument(Buffer.alloc(400_000))), 'KEYRING_MALFORMED');
  const id = asKeyId(randomBytes(8));
  const duplicate = encodeKeyringDocument({ keys: [{ keyId: id, blob: randomBytes(20) }, { keyId: id, blob: randomBytes(20) }], activeIndex: 0 }, mac);
  assert.equal(reasonOf(() => decodeKeyringDocument(duplicate)), 'KEYRING_MALFORMED');
});

test('the encoder refuses what the decoder would refuse', () => {
  assert.throws(() => encodeKeyringDocument({ keys: [], activeIndex: 0 }, mac), RangeError);
  assert.throws(() => encodeKeyringDocument({ ...sampleDocument(2), activeIndex: 2 }, mac), RangeError);
  assert.throws(() => encodeKeyringDocument({ keys: [{ keyId: asKeyId(randomBytes(8)), blob: Buffer.alloc(6145) }], activeIndex: 0 }, mac), RangeError);
});
