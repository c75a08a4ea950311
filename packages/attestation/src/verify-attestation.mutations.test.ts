// Mutation corpus over real documents (base-1: definite map, base-2:
// indefinite map): signature, payload and protected-header bytes, PCR values,
// chain order, swapped certificates, truncation, trailing bytes, algorithm,
// oversized fields. Every mutant is rejected with a code and none throws.
// Then fast-check fuzzing of the whole verifier, bounded in runs and time.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

import { decodeCbor, type CborValue } from './cbor-decoder.js';
import type { ReasonCode } from './reason-codes.js';
import { encodeTestCbor, loadBase64Vector, type TestCbor } from './test-support.js';
import { verifyAttestationDocument, type AttestationResult } from './verify-attestation.js';

interface Sample {
  readonly file: string;
  readonly now: Date;
}
const SAMPLES: readonly Sample[] = [
  { file: 'base-1.b64', now: new Date('2024-11-30T18:06:40Z') },
  { file: 'base-2.b64', now: new Date('2026-01-03T20:41:07Z') },
];
const OTHER = { file: 'eternis-1.b64', now: new Date('2024-09-17T20:48:11Z') };

function verify(bytes: Uint8Array, now: Date): AttestationResult {
  return verifyAttestationDocument(bytes, { now, root: 'aws', policy: { allowDebug: true } });
}

function rejected(result: AttestationResult, label: string, reason?: ReasonCode | readonly ReasonCode[]): void {
  assert.equal(result.ok, false, `${label}: accepted`);
  if (!result.ok && reason !== undefined) {
    const allowed = typeof reason === 'string' ? [reason] : reason;
    assert.ok(allowed.includes(result.reason), `${label}: ${result.reason} (${result.message}), expected ${allowed.join('|')}`);
  }
}

/** Decoded value back to the test encoder's input, keeping definite/indefinite maps. */
function toTestCbor(value: CborValue): TestCbor {
  switch (value.type) {
    case 'unsigned':
    case 'negative':
      return value.value;
    case 'bytes':
      return Uint8Array.from(value.value);
    case 'text':
      return value.value;
    case 'array':
      return value.items.map(toTestCbor);
    case 'map': {
      const map = new Map<TestCbor, TestCbor>(value.entries.map((e) => [toTestCbor(e.key), toTestCbor(e.value)]));
      return value.indefinite ? { indefiniteMap: map } : map;
    }
    case 'tag':
      return { tag: Number(value.tag), value: toTestCbor(value.value) };
    case 'simple':
      return value.value ?? null;
  }
}

interface Parts {
  readonly bytes: Uint8Array;
  readonly protectedHeader: Uint8Array;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
  /** Payload fields, editable, in received order. */
  fields(): Map<TestCbor, TestCbor>;
  readonly indefinite: boolean;
  /** Offset of the payload content inside `bytes`. */
  readonly payloadOffset: number;
  readonly signatureOffset: number;
  /** Offsets (in `payload`) of each PCR value's content. */
  readonly pcrOffsets: readonly number[];
}

function split(file: string): Parts {
  const bytes = loadBase64Vector(file);
  const envelope = decodeCbor(bytes);
  assert.ok(envelope.type === 'array');
  const [protectedItem, , payloadItem, signatureItem] = envelope.items;
  assert.ok(protectedItem?.type === 'bytes' && payloadItem?.type === 'bytes' && signatureItem?.type === 'bytes');
  const payload = decodeCbor(payloadItem.value);
  assert.ok(payload.type === 'map');
  const pcrs = payload.entries.find((e) => e.key.type === 'text' && e.key.value === 'pcrs')?.value;
  assert.ok(pcrs?.type === 'map');
  return {
    bytes,
    protectedHeader: Uint8Array.from(protectedItem.value),
    payload: Uint8Array.from(payloadItem.value),
    signature: Uint8Array.from(signatureItem.value),
    fields: () => {
      const value = toTestCbor(payload);
      return value instanceof Map ? value : (value as { indefiniteMap: Map<TestCbor, TestCbor> }).indefiniteMap;
    },
    indefinite: payload.indefinite,
    payloadOffset: payloadItem.span.end - payloadItem.value.length,
    signatureOffset: signatureItem.span.end - signatureItem.value.length,
    pcrOffsets: pcrs.entries.map((e) => e.value.span.end - (e.value.type === 'bytes' ? e.value.value.length : 0)),
  };
}

function assemble(parts: Parts, fields: Map<TestCbor, TestCbor>, indefinite = parts.indefinite): Uint8Array {
  const payload = encodeTestCbor(indefinite ? { indefiniteMap: fields } : fields);
  return encodeTestCbor([parts.protectedHeader, new Map(), payload, parts.signature]);
}

function flip(bytes: Uint8Array, offset: number, mask = 0x01): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[offset] = (copy[offset] ?? 0) ^ mask;
  return copy;
}

for (const sample of SAMPLES) {
  test(`${sample.file}: the re-encoder reproduces the payload byte for byte, and the reassembled document verifies`, () => {
    const parts = split(sample.file);
    assert.deepEqual(encodeTestCbor(parts.indefinite ? { indefiniteMap: parts.fields() } : parts.fields()), parts.payload);
    assert.ok(verify(assemble(parts, parts.fields()), sample.now).ok);
    // Same content, other map encoding: the signature is over the bytes as received, so it fails.
    rejected(verify(assemble(parts, parts.fields(), !parts.indefinite), sample.now), 'map re-encoded', 'SIGNATURE_INVALID');
  });

  test(`${sample.file}: byte mutations of signature, protected header, payload and PCRs; truncation; trailing bytes`, () => {
    const parts = split(sample.file);
    const { bytes, now } = { bytes: parts.bytes, now: sample.now };
    let count = 0;
    for (let i = 0; i < 96; i += 1) {
      rejected(verify(flip(bytes, parts.signatureOffset + i, 1 << i % 8), now), `signature byte ${i}`, 'SIGNATURE_INVALID');
      count += 1;
    }
    for (let i = 0; i < 4; i += 1) {
      for (let bit = 0; bit < 8; bit += 1) {
        rejected(verify(flip(bytes, 2 + i, 1 << bit), now), `protected byte ${i} bit ${bit}`, ['COSE_MALFORMED', 'UNSUPPORTED_ALGORITHM', 'CBOR_MALFORMED']);
        count += 1;
      }
    }
    for (let i = 0; i < parts.payload.length; i += 13) {
      rejected(verify(flip(bytes, parts.payloadOffset + i, 0x20), now), `payload byte ${i}`);
      count += 1;
    }
    for (const offset of parts.pcrOffsets) {
      rejected(verify(flip(bytes, parts.payloadOffset + offset + 7, 0x80), now), `PCR byte at ${offset}`, 'SIGNATURE_INVALID');
      count += 1;
    }
    for (let length = 0; length < bytes.length; length += 7) {
      rejected(verify(bytes.subarray(0, length), now), `truncated to ${length}`, 'CBOR_MALFORMED');
      count += 1;
    }
    for (const extra of [0x00, 0xff, 0xf6, 0x84, 0x40]) {
      rejected(verify(Uint8Array.of(...bytes, extra), now), `trailing ${extra}`, 'CBOR_MALFORMED');
      count += 1;
    }
    assert.ok(count > 400);
  });

  test(`${sample.file}: structural mutations (chain order, swapped certificates, algorithm, oversized fields) with exact codes`, () => {
    const parts = split(sample.file);
    const other = split(OTHER.file);
    const now = sample.now;
    const edit = (change: (fields: Map<TestCbor, TestCbor>) => void): Uint8Array => {
      const fields = parts.fields();
      change(fields);
      return assemble(parts, fields);
    };
    const bundle = (fields: Map<TestCbor, TestCbor>): Uint8Array[] => fields.get('cabundle') as Uint8Array[];
    const cases: [string, Uint8Array, ReasonCode][] = [
      ['intermediates reordered', edit((f) => { const [r, a, b, c] = bundle(f); f.set('cabundle', [r, b, a, c] as TestCbor[]); }), 'CHAIN_BROKEN'],
      ['bundle reversed', edit((f) => f.set('cabundle', [...bundle(f)].reverse())), 'CHAIN_UNTRUSTED_ROOT'],
      ['root dropped', edit((f) => f.set('cabundle', bundle(f).slice(1))), 'CHAIN_UNTRUSTED_ROOT'],
      ['last intermediate dropped', edit((f) => f.set('cabundle', bundle(f).slice(0, -1))), 'CHAIN_BROKEN'],
      ['leaf and instance CA swapped', edit((f) => { const b = bundle(f); const leaf = f.get('certificate') as Uint8Array; f.set('certificate', b[3] ?? null); f.set('cabundle', [b[0], b[1], b[2], leaf] as TestCbor[]); }), 'CHAIN_BROKEN'],
      ['leaf from another document', edit((f) => f.set('certificate', other.fields().get('certificate') ?? null)), 'CHAIN_BROKEN'],
      ['root byte 20 corrupted', edit((f) => { const b = bundle(f); f.set('cabundle', [flip(b[0] ?? new Uint8Array(), 20), ...b.slice(1)]); }), 'CHAIN_UNTRUSTED_ROOT'],
      ['intermediate signature corrupted', edit((f) => { const b = bundle(f); const last = b[3] ?? new Uint8Array(); f.set('cabundle', [b[0], b[1], b[2], flip(last, last.length - 3)] as TestCbor[]); }), 'CHAIN_BROKEN'],
      ['user_data 5000 bytes', edit((f) => f.set('user_data', new Uint8Array(5000))), 'DOCUMENT_FIELD_INVALID'],
      ['certificate 1500 bytes', edit((f) => f.set('certificate', new Uint8Array(1500))), 'DOCUMENT_FIELD_INVALID'],
      ['cabundle of 12', edit((f) => f.set('cabundle', Array.from({ length: 12 }, () => bundle(f)[0] ?? null))), 'DOCUMENT_FIELD_INVALID'],
      ['pcr of 1000 bytes', edit((f) => (f.get('pcrs') as Map<TestCbor, TestCbor>).set(0n, new Uint8Array(1000))), 'DOCUMENT_FIELD_INVALID'],
      ['payload over 20 KiB', edit((f) => f.set('padding', new Uint8Array(21_000))), 'INPUT_TOO_LARGE'],
      ['large unknown fields inside 20 KiB', edit((f) => { f.set('a', new Uint8Array(7000)); f.set('b', new Uint8Array(7000)); }), 'SIGNATURE_INVALID'],
      ['PCR0 changed', edit((f) => (f.get('pcrs') as Map<TestCbor, TestCbor>).set(0n, new Uint8Array(48).fill(1))), 'SIGNATURE_INVALID'],
      ['nonce added', edit((f) => f.set('nonce', Uint8Array.of(1))), 'SIGNATURE_INVALID'],
      ['digest SHA512', edit((f) => f.set('digest', 'SHA512')), 'DOCUMENT_FIELD_INVALID'],
      ['alg ES256', encodeTestCbor([Uint8Array.of(0xa1, 0x01, 0x26), new Map(), parts.payload, parts.signature]), 'UNSUPPORTED_ALGORITHM'],
      ['alg ES512', encodeTestCbor([Uint8Array.of(0xa1, 0x01, 0x38, 0x23), new Map(), parts.payload, parts.signature]), 'UNSUPPORTED_ALGORITHM'],
      ['alg EdDSA', encodeTestCbor([Uint8Array.of(0xa1, 0x01, 0x27), new Map(), parts.payload, parts.signature]), 'UNSUPPORTED_ALGORITHM'],
      ['signature DER-sized', encodeTestCbor([parts.protectedHeader, new Map(), parts.payload, new Uint8Array(103)]), 'COSE_MALFORMED'],
      ['signature all zero', encodeTestCbor([parts.protectedHeader, new Map(), parts.payload, new Uint8Array(96)]), 'SIGNATURE_INVALID'],
      ['unsigned kid added', encodeTestCbor([parts.protectedHeader, new Map<TestCbor, TestCbor>([[4, Uint8Array.of(1)]]), parts.payload, parts.signature]), 'COSE_MALFORMED'],
      ['tag 17 (COSE_Mac0)', encodeTestCbor({ tag: 17, value: { raw: parts.bytes } }), 'COSE_MALFORMED'],
      ['wrapped in a bstr', encodeTestCbor(parts.bytes), 'COSE_MALFORMED'],
    ];
    for (const [label, mutant, reason] of cases) rejected(verify(mutant, now), label, reason);
    // Another document's whole chain, verified at that document's time: the chain is fine, the signature is not.
    const foreignChain = edit((f) => {
      const o = other.fields();
      f.set('certificate', o.get('certificate') ?? null);
      f.set('cabundle', o.get('cabundle') ?? null);
    });
    rejected(verify(foreignChain, OTHER.now), 'foreign chain', 'SIGNATURE_INVALID');
    rejected(verify(foreignChain, now), 'foreign chain at our time', ['CERTIFICATE_EXPIRED', 'CERTIFICATE_NOT_YET_VALID']);
  });
}

test('fuzz (fast-check): random edits of real documents never verify and never throw; 600 documents < 10 s', () => {
  const started = performance.now();
  for (const sample of SAMPLES) {
    const bytes = loadBase64Vector(sample.file);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(bytes.length - 1), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 255 }),
        (offsets, mask) => {
          const copy = Uint8Array.from(bytes);
          for (const offset of offsets) copy[offset] = (copy[offset] ?? 0) ^ mask;
          const result = verify(copy, sample.now);
          assert.equal(result.ok, false);
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  }
  assert.ok(performance.now() - started < 10_000);
});

test('fuzz (fast-check): 2000 arbitrary inputs (random bytes, COSE-shaped, spliced) < 5 s, never throw, memory bounded', () => {
  const base = loadBase64Vector('base-1.b64');
  const before = process.memoryUsage();
  const started = performance.now();
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 4096 }),
    fc.uint8Array({ maxLength: 256 }).map((tail) => Uint8Array.of(0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, ...tail)),
    fc.tuple(fc.nat(base.length), fc.uint8Array({ maxLength: 64 })).map(([cut, tail]) => Uint8Array.of(...base.subarray(0, cut), ...tail)),
  );
  fc.assert(
    fc.property(input, (bytes) => {
      const result = verify(bytes, SAMPLES[0]?.now ?? new Date());
      assert.equal(result.ok, false);
    }),
    { numRuns: 2000, seed: 7 },
  );
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 5000, `${elapsed} ms`);
  assert.ok(process.memoryUsage().heapUsed - before.heapUsed < 200 * 1024 * 1024);
});

/** A CBOR head with a chosen argument width (0 = in the initial byte), to build non-minimal encodings on purpose. */
function headOfWidth(major: number, value: number, width: 0 | 1 | 2 | 4): Buffer {
  if (width === 0) return Buffer.of((major << 5) | value);
  const argument = Buffer.alloc(width);
  argument.writeUIntBE(value, 0, width);
  return Buffer.concat([Buffer.of((major << 5) | (width === 1 ? 24 : width === 2 ? 25 : 26)), argument]);
}

function minimalWidth(value: number): 0 | 1 | 2 | 4 {
  return value < 24 ? 0 : value <= 0xff ? 1 : value <= 0xffff ? 2 : 4;
}

test('canonical envelope: non-minimal heads and indefinite lengths around a genuine document are ENVELOPE_NOT_CANONICAL; the payload signature would still verify', () => {
  for (const sample of SAMPLES) {
    const original = loadBase64Vector(sample.file);
    const envelope = decodeCbor(original);
    assert.ok(envelope.type === 'array' && !envelope.indefinite);
    const [protectedItem, , payloadItem, signatureItem] = envelope.items;
    assert.ok(protectedItem?.type === 'bytes' && payloadItem?.type === 'bytes' && signatureItem?.type === 'bytes');
    const protectedHeader = Buffer.from(protectedItem.value);
    const payload = Buffer.from(payloadItem.value);
    const signature = Buffer.from(signatureItem.value);
    const bstr = (bytes: Buffer, width: 0 | 1 | 2 | 4 = minimalWidth(bytes.length)): Buffer => Buffer.concat([headOfWidth(2, bytes.length, width), bytes]);
    const build = (parts: { array?: Buffer; protected?: Buffer; unprotected?: Buffer; payload?: Buffer; signature?: Buffer; end?: Buffer; tag?: Buffer }): Buffer =>
      Buffer.concat([
        parts.tag ?? Buffer.alloc(0),
        parts.array ?? Buffer.of(0x84),
        parts.protected ?? bstr(protectedHeader),
        parts.unprotected ?? Buffer.of(0xa0),
        parts.payload ?? bstr(payload),
        parts.signature ?? bstr(signature),
        parts.end ?? Buffer.alloc(0),
      ]);
    // Our canonical rebuild is the genuine document byte for byte, and a tagged one verifies too.
    assert.ok(build({}).equals(original), `${sample.file}: genuine envelope is canonical`);
    assert.ok(verify(build({}), sample.now).ok);
    assert.ok(verify(build({ tag: Buffer.of(0xd2) }), sample.now).ok, `${sample.file}: tag 18 in one byte is canonical`);

    const half = Math.floor(payload.length / 2);
    const variants: [string, Buffer][] = [
      ['array head in two bytes', build({ array: Buffer.of(0x98, 0x04) })],
      ['indefinite-length array', build({ array: Buffer.of(0x9f), end: Buffer.of(0xff) })],
      ['protected header head in two bytes', build({ protected: bstr(protectedHeader, 1) })],
      ['unprotected map head in two bytes', build({ unprotected: Buffer.of(0xb8, 0x00) })],
      ['indefinite-length empty unprotected map', build({ unprotected: Buffer.of(0xbf, 0xff) })],
      ['payload head in five bytes', build({ payload: bstr(payload, 4) })],
      ['payload as an indefinite-length byte string of two chunks', build({
        payload: Buffer.concat([Buffer.of(0x5f), bstr(payload.subarray(0, half)), bstr(payload.subarray(half)), Buffer.of(0xff)]),
      })],
      ['signature head in three bytes', build({ signature: bstr(signature, 2) })],
      ['tag 18 in two bytes', build({ tag: Buffer.of(0xd8, 0x12) })],
    ];
    for (const [label, bytes] of variants) {
      // Well-formed CBOR carrying the same signed contents: only the canonical rule tells it apart.
      const decoded = decodeCbor(bytes);
      assert.ok(decoded.type === 'array' || decoded.type === 'tag', label);
      rejected(verify(bytes, sample.now), `${sample.file}: ${label}`, 'ENVELOPE_NOT_CANONICAL');
    }
  }
});
