// Watermark page codec (watermark-page.ts): a vector written byte by byte
// from the spec comment (not by the encoder), lookups, merging, and every
// refusal of the decoder.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { createKeyringFromEnvKey } from '../keys/keyring.js';
import { openRecord, sealRecord } from '../seal/seal-record.js';
import { MAX_PAGE_ENTRIES, pageOfRecord, pageRecordId, WATERMARK_OWNER, WatermarkPage } from './watermark-page.js';

/** A record id of `page` (its first 12 bits), the rest filled with `fill`. */
const record = (page: number, fill: number): Buffer => {
  const id = Buffer.alloc(32, fill);
  id.writeUInt16BE((page << 4) | (fill & 0x0f), 0);
  return id;
};
const RUN = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const tag = (fill: number): Buffer => Buffer.alloc(16, fill);

// Page 0x102 with two entries, from the spec: format 01, count 00000002, then
// record id [32] || version u64be || tag [16], ascending by record id. The
// record ids start with the 12 bits 0x102 (bytes 0x10 0x2_).
const VECTOR_HEX =
  '01' +
  '00000002' +
  '1021' + '11'.repeat(30) + '0000000000000007' + 'aa'.repeat(16) +
  '1022' + '22'.repeat(30) + '001fffffffffffff' + 'bb'.repeat(16);

test('the spec vector decodes, looks up, and re-encodes to the same bytes', () => {
  const bytes = Buffer.from(VECTOR_HEX, 'hex');
  const page = WatermarkPage.decode(0x0102, bytes);
  assert.equal(page.count, 2);
  assert.deepEqual(page.get(record(0x0102, 0x11)), { version: 7, blobTag: tag(0xaa) });
  assert.deepEqual(page.get(record(0x0102, 0x22)), { version: Number.MAX_SAFE_INTEGER, blobTag: tag(0xbb) });
  assert.equal(page.get(record(0x0102, 0x33)), undefined);
  assert.equal(page.get(record(0x0102, 0x00)), undefined);
  assert.equal(page.encode().toString('hex'), VECTOR_HEX);
  // And the encoder writes that layout from entries given in any order.
  const built = WatermarkPage.empty(0x0102).mergedWith([
    { record: record(0x0102, 0x22), version: Number.MAX_SAFE_INTEGER, blobTag: tag(0xbb) },
    { record: record(0x0102, 0x11), version: 7, blobTag: tag(0xaa) },
  ]);
  assert.equal(built.encode().toString('hex'), VECTOR_HEX);
});

test('page numbers: the first 12 bits of the record id; page record ids are the run id, 12 zero bytes and the u32 page', () => {
  assert.equal(pageOfRecord(Buffer.concat([Buffer.from('beef', 'hex'), Buffer.alloc(30)])), 0xbee);
  assert.equal(pageRecordId(RUN, 0xbee).toString('hex'), RUN.toString('hex') + '00'.repeat(12) + '00000bee');
  assert.throws(() => pageRecordId(RUN, 4_096), RangeError);
  assert.throws(() => pageRecordId(RUN.subarray(1), 1), RangeError);
  assert.equal(WATERMARK_OWNER.toString('hex'), 'ff'.repeat(32));
});

test('merging keeps the higher version of each record; an equal version keeps the stored one; another page is refused', () => {
  const page = WatermarkPage.decode(0x0102, Buffer.from(VECTOR_HEX, 'hex'));
  const merged = page.mergedWith([
    { record: record(0x0102, 0x11), version: 9, blobTag: tag(0xcc) },
    { record: record(0x0102, 0x22), version: 5, blobTag: tag(0xdd) },
    { record: record(0x0102, 0x33), version: 1, blobTag: tag(0xee) },
  ]);
  assert.deepEqual(merged.get(record(0x0102, 0x11)), { version: 9, blobTag: tag(0xcc) });
  assert.deepEqual(merged.get(record(0x0102, 0x22)), { version: Number.MAX_SAFE_INTEGER, blobTag: tag(0xbb) });
  assert.deepEqual(merged.get(record(0x0102, 0x33)), { version: 1, blobTag: tag(0xee) });
  assert.equal(merged.count, 3);
  const same = merged.mergedWith([{ record: record(0x0102, 0x11), version: 9, blobTag: tag(0x01) }]);
  assert.deepEqual(same.get(record(0x0102, 0x11)), { version: 9, blobTag: tag(0xcc) });
  assert.throws(() => page.mergedWith([{ record: record(0x0103, 0x11), version: 1, blobTag: tag(1) }]), RangeError);
  assert.ok(MAX_PAGE_ENTRIES > 100_000);
});

test('the decoder refuses every malformed page', () => {
  const good = Buffer.from(VECTOR_HEX, 'hex');
  const entry = (index: number): number => 5 + index * 56;
  const cases: [string, Buffer][] = [
    ['shorter than the header', good.subarray(0, 4)],
    ['unknown format', Buffer.concat([Buffer.from([2]), good.subarray(1)])],
    ['count larger than the bytes', (() => { const b = Buffer.from(good); b.writeUInt32BE(3, 1); return b; })()],
    ['count smaller than the bytes', (() => { const b = Buffer.from(good); b.writeUInt32BE(1, 1); return b; })()],
    ['a trailing byte', Buffer.concat([good, Buffer.from([0])])],
    ['entries out of order', Buffer.concat([good.subarray(0, 5), good.subarray(entry(1)), good.subarray(entry(0), entry(1))])],
    ['an entry repeated', Buffer.concat([good.subarray(0, 5), good.subarray(entry(0), entry(1)), good.subarray(entry(0), entry(1))])],
    ['an entry of another page', (() => { const b = Buffer.from(good); b.writeUInt16BE(0x1031, entry(1)); return b; })()],
    ['version 0', (() => { const b = Buffer.from(good); b.fill(0, entry(0) + 32, entry(0) + 40); return b; })()],
    ['version above 2^53 - 1', (() => { const b = Buffer.from(good); b.writeUInt32BE(0x00200000, entry(1) + 32); return b; })()],
  ];
  for (const [name, bytes] of cases) assert.throws(() => WatermarkPage.decode(0x0102, bytes), { code: 'STORAGE_INTEGRITY', reason: 'WATERMARK_PAGE_INVALID' }, name);
  assert.doesNotThrow(() => WatermarkPage.decode(0x0102, good));
});

test('a page is a record of the reserved owner sealed under the identity key: it opens for its page and version only', () => {
  const keyring = createKeyringFromEnvKey(randomBytes(32)).withAddedMasterKey(randomBytes(32));
  assert.ok(!keyring.activeKeyId.equals(keyring.identityKeyId));
  const plaintext = Buffer.from(VECTOR_HEX, 'hex');
  const sealed = sealRecord({ keyring, owner: WATERMARK_OWNER, record: pageRecordId(RUN, 0x0102), version: 3, plaintext, keyId: keyring.identityKeyId });
  assert.ok(sealed.subarray(3, 11).equals(keyring.identityKeyId), 'sealed under the identity key, not the active one');
  assert.deepEqual(openRecord({ keyring, owner: WATERMARK_OWNER, record: pageRecordId(RUN, 0x0102), version: 3, sealed }), plaintext);
  assert.throws(() => openRecord({ keyring, owner: WATERMARK_OWNER, record: pageRecordId(RUN, 0x0103), version: 3, sealed }), { code: 'STORAGE_INTEGRITY' }, 'another page');
  assert.throws(() => openRecord({ keyring, owner: WATERMARK_OWNER, record: pageRecordId(randomBytes(16), 0x0102), version: 3, sealed }), { code: 'STORAGE_INTEGRITY' }, 'another run');
  assert.throws(() => openRecord({ keyring, owner: WATERMARK_OWNER, record: pageRecordId(RUN, 0x0102), version: 2, sealed }), { code: 'STORAGE_INTEGRITY' }, 'another version');
});
