// Strict CBOR decoder: accepted and rejected encodings, limits checked before
// allocation, split/truncation of real documents, bounded fuzz.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

import { decodeCbor, DEFAULT_CBOR_LIMITS, type CborValue } from './cbor-decoder.js';
import { AttestationError } from './reason-codes.js';
import { loadBase64Vector, loadVectorIndex } from './test-support.js';

const hex = (text: string): Uint8Array => Buffer.from(text.replace(/\s+/g, ''), 'hex');

function rejects(input: Uint8Array, label: string, limits = DEFAULT_CBOR_LIMITS): void {
  assert.throws(
    () => decodeCbor(input, limits),
    (error: unknown) => error instanceof AttestationError && error.code === 'CBOR_MALFORMED',
    label,
  );
}

/** Plain JS view of a decoded value, for comparisons (spans and definite/indefinite flags dropped). */
function plain(value: CborValue): unknown {
  switch (value.type) {
    case 'array':
      return value.items.map(plain);
    case 'map':
      return value.entries.map((e) => [plain(e.key), plain(e.value)]);
    case 'tag':
      return { tag: value.tag, value: plain(value.value) };
    case 'bytes':
      return Buffer.from(value.value).toString('hex');
    default:
      return value.value;
  }
}

test('accepted: integers of every width, negative, strings, arrays, maps, tags, simple values', () => {
  const cases: [string, unknown][] = [
    ['00', 0n],
    ['17', 23n],
    ['1818', 24n],
    ['1903e8', 1000n],
    ['1a000f4240', 1000000n],
    ['1b000000e8d4a51000', 1000000000000n],
    ['1bffffffffffffffff', 18446744073709551615n],
    ['20', -1n],
    ['3822', -35n],
    ['3bffffffffffffffff', -18446744073709551616n],
    ['40', ''],
    ['4401020304', '01020304'],
    ['6449455446', 'IETF'],
    ['80', []],
    ['83010203', [1n, 2n, 3n]],
    ['a201020304', [[1n, 2n], [3n, 4n]]],
    ['d24101', { tag: 18n, value: '01' }],
    ['f4', false],
    ['f5', true],
    ['f6', null],
    ['f7', undefined],
  ];
  for (const [input, expected] of cases) assert.deepEqual(plain(decodeCbor(hex(input))), expected, input);
});

test('definite and indefinite maps, arrays and strings decode to the same value', () => {
  assert.deepEqual(plain(decodeCbor(hex('a2 6161 01 6162 02'))), plain(decodeCbor(hex('bf 6161 01 6162 02 ff'))));
  assert.deepEqual(plain(decodeCbor(hex('83 01 02 03'))), plain(decodeCbor(hex('9f 01 02 03 ff'))));
  assert.deepEqual(plain(decodeCbor(hex('5f 42 0102 41 03 40 ff'))), '010203');
  assert.deepEqual(plain(decodeCbor(hex('7f 62 6869 61 21 ff'))), 'hi!');
  const indefinite = decodeCbor(hex('bf ff'));
  assert.ok(indefinite.type === 'map' && indefinite.indefinite && indefinite.entries.length === 0);
});

test('byte strings are views of the input with exact spans (no copy, no re-encoding)', () => {
  const input = hex('82 43 aabbcc 59 0004 01020304');
  const value = decodeCbor(input);
  assert.ok(value.type === 'array');
  const [first, second] = value.items;
  assert.ok(first?.type === 'bytes' && second?.type === 'bytes');
  assert.equal(first.value.buffer, input.buffer);
  assert.deepEqual(first.span, { start: 1, end: 5 });
  assert.deepEqual(second.span, { start: 5, end: 12 });
  assert.equal(Buffer.from(second.value).toString('hex'), '01020304');
});

test('non-minimal integer and length heads are accepted (well-formed; we never re-encode)', () => {
  assert.equal(plain(decodeCbor(hex('1800'))), 0n);
  assert.equal(plain(decodeCbor(hex('1b0000000000000001'))), 1n);
  assert.equal(plain(decodeCbor(hex('5800'))), '');
});

test('rejected: truncation, trailing bytes, reserved additional info, bad indefinite forms, duplicates, floats, odd simple values', () => {
  const cases: [string, string][] = [
    ['', 'empty'],
    ['18', 'truncated argument'],
    ['1b0000', 'truncated 8-byte argument'],
    ['43 0102', 'truncated byte string'],
    ['83 0102', 'truncated array'],
    ['a1 01', 'map key without value'],
    ['00 00', 'trailing byte'],
    ['1c', 'reserved ai 28'],
    ['3d', 'reserved ai 29'],
    ['5e', 'reserved ai 30'],
    ['1f', 'indefinite integer'],
    ['3f', 'indefinite negative'],
    ['df 00', 'indefinite tag'],
    ['ff', 'stray break'],
    ['82 01 ff', 'break inside definite array'],
    ['9f 01', 'indefinite array without break'],
    ['bf 01 ff', 'indefinite map key without value'],
    ['5f 61 00 ff', 'text chunk inside byte string'],
    ['5f 5f 40 ff ff', 'nested indefinite chunk'],
    ['5f 01 ff', 'integer chunk'],
    ['7f 61 ff ff', 'chunk with invalid UTF-8'],
    ['62 c328', 'invalid UTF-8'],
    ['a2 01 02 01 03', 'duplicate integer key'],
    ['a2 1801 02 01 03', 'duplicate key, one non-minimal'],
    ['bf 6161 01 6161 02 ff', 'duplicate text key in indefinite map'],
    ['a1 80 00', 'array as map key'],
    ['a1 a0 00', 'map as map key'],
    ['f9 3c00', 'half float'],
    ['fa 47c35000', 'single float'],
    ['fb 3ff199999999999a', 'double float'],
    ['f0', 'unassigned simple value'],
    ['f8 ff', 'one-byte simple value'],
  ];
  for (const [input, label] of cases) rejects(hex(input), label);
});

test('limits: depth, items, string length, input length', () => {
  const limits = { ...DEFAULT_CBOR_LIMITS, maxDepth: 3, maxItems: 10, maxStringBytes: 8, maxInputBytes: 64 };
  decodeCbor(hex('81 81 81 00'), limits);
  rejects(hex('81 81 81 81 00'), 'depth 4', limits);
  rejects(hex('d8 20 d8 20 d8 20 d8 20 00'), 'tags count as depth', limits);
  decodeCbor(hex('89 00 00 00 00 00 00 00 00 00'), limits);
  rejects(hex('8a 00 00 00 00 00 00 00 00 00 00'), '11 items', limits);
  rejects(hex('9b 00000000ffffffff'), 'array declaring 2^32 items', limits);
  decodeCbor(hex('48 0102030405060708'), limits);
  rejects(hex('49 010203040506070809'), '9-byte string', limits);
  rejects(hex('5f 45 0102030405 44 01020304 ff'), 'indefinite string totalling 9', limits);
  rejects(new Uint8Array(65), 'input of 65 bytes', limits);
  rejects(hex(`${'81'.repeat(100_000)}00`), 'default depth limit on 100k nested arrays');
});

test('a byte string declaring 100 MB (or 2^64-1) is rejected at once, without allocating', () => {
  const before = process.memoryUsage().arrayBuffers;
  const started = performance.now();
  for (let i = 0; i < 1000; i += 1) {
    rejects(hex('5a 05f5e100 00'), '100 MB bstr');
    rejects(hex('5b ffffffffffffffff 00'), '2^64-1 bstr');
    rejects(hex('7a 05f5e100 00'), '100 MB tstr');
    rejects(hex('9a 05f5e100 00'), '100 M-item array');
    rejects(hex('ba 05f5e100 00'), '100 M-entry map');
  }
  assert.ok(performance.now() - started < 2000, 'fast');
  assert.ok(process.memoryUsage().arrayBuffers - before < 10 * 1024 * 1024, 'no large allocation');
});

test('every real document decodes; every truncation of base-2 (indefinite map) and base-1 is rejected', () => {
  const index = loadVectorIndex();
  for (const document of index.documents.filter((d) => d.file !== 'base-2-corrupt.b64')) {
    decodeCbor(loadBase64Vector(document.file));
  }
  for (const file of ['base-1.b64', 'base-2.b64']) {
    const bytes = loadBase64Vector(file);
    for (let length = 0; length < bytes.length; length += 1) rejects(bytes.subarray(0, length), `${file} cut at ${length}`);
  }
});

test('all real documents use minimal ("preferred") heads: nothing relies on our leniency', () => {
  // Independent walk over the heads (not the decoder), checking the argument width.
  function walk(bytes: Uint8Array, start: number): number {
    let offset = start;
    const initial = bytes[offset] ?? 0;
    offset += 1;
    const major = initial >> 5;
    const ai = initial & 0x1f;
    let argument = 0;
    if (ai < 24) argument = ai;
    else if (ai === 31) argument = -1;
    else {
      const width = 1 << (ai - 24);
      for (let i = 0; i < width; i += 1) argument = argument * 256 + (bytes[offset + i] ?? 0);
      offset += width;
      const minimal = argument < 24 ? 0 : argument <= 0xff ? 1 : argument <= 0xffff ? 2 : argument <= 0xffffffff ? 4 : 8;
      assert.equal(width, minimal, `non-minimal head at ${start}`);
    }
    if (major === 2 || major === 3) {
      if (argument < 0) {
        while (bytes[offset] !== 0xff) offset = walk(bytes, offset);
        return offset + 1;
      }
      return offset + argument;
    }
    if (major === 4 || major === 5) {
      const count = major === 5 ? argument * 2 : argument;
      if (argument < 0) {
        while (bytes[offset] !== 0xff) offset = walk(bytes, offset);
        return offset + 1;
      }
      for (let i = 0; i < count; i += 1) offset = walk(bytes, offset);
      return offset;
    }
    if (major === 6) return walk(bytes, offset);
    return offset;
  }
  for (const document of loadVectorIndex().documents.filter((d) => d.file !== 'base-2-corrupt.b64')) {
    const bytes = loadBase64Vector(document.file);
    assert.equal(walk(bytes, 0), bytes.length, document.file);
    const value = decodeCbor(bytes);
    assert.ok(value.type === 'array');
    const payload = value.items[2];
    assert.ok(payload?.type === 'bytes');
    assert.equal(walk(payload.value, 0), payload.value.length, `${document.file} payload`);
  }
});

test('fuzz (fast-check): random bytes never escape as anything but CBOR_MALFORMED; 2000 inputs < 5 s', () => {
  const started = performance.now();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      try {
        decodeCbor(bytes);
      } catch (error) {
        if (!(error instanceof AttestationError) || error.code !== 'CBOR_MALFORMED') throw error;
      }
    }),
    { numRuns: 2000, seed: 20261125 },
  );
  assert.ok(performance.now() - started < 5000);
});

test('fuzz (fast-check): structured CBOR-ish byte soup and mutated real documents stay bounded', () => {
  const base = loadBase64Vector('base-2.b64');
  const heads = fc.constantFrom(0x9f, 0xbf, 0x5f, 0x7f, 0xff, 0x81, 0xa1, 0xd2, 0x5b, 0x9b, 0xbb, 0x1b, 0xf6, 0x40, 0x60, 0x00);
  const started = performance.now();
  fc.assert(
    fc.property(fc.array(fc.oneof(heads, fc.integer({ min: 0, max: 255 })), { maxLength: 2048 }), (list) => {
      try {
        decodeCbor(Uint8Array.from(list));
      } catch (error) {
        if (!(error instanceof AttestationError)) throw error;
      }
    }),
    { numRuns: 1000, seed: 1 },
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
      const copy = Uint8Array.from(base);
      for (const [offset, byte] of edits) copy[offset] = byte;
      try {
        decodeCbor(copy);
      } catch (error) {
        if (!(error instanceof AttestationError)) throw error;
      }
    }),
    { numRuns: 1000, seed: 2 },
  );
  assert.ok(performance.now() - started < 5000);
});
