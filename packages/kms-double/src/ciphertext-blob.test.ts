import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';

import { HEADER_BYTES, openCiphertextBlob, readCiphertextBlobKeyId, sealCiphertextBlob, TAG_BYTES } from './ciphertext-blob.js';

const KEY_ID = '0f0e0d0c-0b0a-4908-8706-050403020100';
const key = randomBytes(32);
const plaintext = Buffer.from('data key bytes');

describe('ciphertext blob', () => {
  it('round-trips and names its key', () => {
    const blob = sealCiphertextBlob(KEY_ID, key, plaintext, { purpose: 'test', a: 'b' });
    assert.equal(blob.length, HEADER_BYTES + plaintext.length + TAG_BYTES);
    assert.equal(readCiphertextBlobKeyId(blob), KEY_ID);
    assert.deepEqual(openCiphertextBlob(blob, key, { a: 'b', purpose: 'test' }), plaintext);
  });

  it('does not open under another context, key or a flipped byte', () => {
    const blob = sealCiphertextBlob(KEY_ID, key, plaintext, { purpose: 'test' });
    assert.equal(openCiphertextBlob(blob, key, {}), null);
    assert.equal(openCiphertextBlob(blob, key, { purpose: 'other' }), null);
    assert.equal(openCiphertextBlob(blob, randomBytes(32), { purpose: 'test' }), null);
    for (const at of [1, HEADER_BYTES - 1, HEADER_BYTES, blob.length - 1]) {
      const tampered = Buffer.from(blob);
      tampered[at] = (tampered[at] ?? 0) ^ 0x80;
      assert.equal(openCiphertextBlob(tampered, key, { purpose: 'test' }), null, `byte ${at}`);
    }
  });

  it('keeps context pairs apart ({ab: c} differs from {a: bc})', () => {
    const blob = sealCiphertextBlob(KEY_ID, key, plaintext, { ab: 'c' });
    assert.equal(openCiphertextBlob(blob, key, { a: 'bc' }), null);
  });

  it('reads no key id from a short blob or another version', () => {
    assert.equal(readCiphertextBlobKeyId(Buffer.alloc(10)), null);
    const blob = sealCiphertextBlob(KEY_ID, key, plaintext, {});
    blob[0] = 2;
    assert.equal(readCiphertextBlobKeyId(blob), null);
  });
});
