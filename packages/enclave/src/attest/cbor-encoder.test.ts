// The CBOR encoder against RFC 8949 Appendix A's examples (the ones inside
// our data model), hand-written heads at each size boundary, the NSM request
// shape, and the exact error code of every refusal.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cborMap, encodeCbor, type CborValue } from './cbor-encoder.js';
import { decodeCborForTest } from './cbor-test-decoder.js';
import { encodeNsmRequest } from './nsm-messages.js';
import { CborEncodeError } from '../enclave-errors.js';

const RFC_8949_APPENDIX_A: readonly (readonly [string, CborValue, string])[] = [
  ['0', 0, '00'],
  ['1', 1, '01'],
  ['10', 10, '0a'],
  ['23', 23, '17'],
  ['24', 24, '1818'],
  ['25', 25, '1819'],
  ['100', 100, '1864'],
  ['1000', 1000, '1903e8'],
  ['1000000', 1000000, '1a000f4240'],
  ['1000000000000', 1000000000000, '1b000000e8d4a51000'],
  ['18446744073709551615', 18446744073709551615n, '1bffffffffffffffff'],
  ['-18446744073709551616', -18446744073709551616n, '3bffffffffffffffff'],
  ['-1', -1, '20'],
  ['-10', -10, '29'],
  ['-100', -100, '3863'],
  ['-1000', -1000, '3903e7'],
  ['null', null, 'f6'],
  ["h''", Buffer.alloc(0), '40'],
  ["h'01020304'", Buffer.from('01020304', 'hex'), '4401020304'],
  ['""', '', '60'],
  ['"a"', 'a', '6161'],
  ['"IETF"', 'IETF', '6449455446'],
  ['"\\"\\\\"', '"\\', '62225c'],
  ['"\\u00fc"', '\u00fc', '62c3bc'],
  ['"\\u6c34"', '\u6c34', '63e6b0b4'],
  ['"\\ud800\\udd51"', '\ud800\udd51', '64f0908591'],
  ['[]', [], '80'],
  ['[1, 2, 3]', [1, 2, 3], '83010203'],
  ['[1, [2, 3], [4, 5]]', [1, [2, 3], [4, 5]], '8301820203820405'],
  [
    '[1, …, 25]',
    Array.from({ length: 25 }, (_, index) => index + 1),
    '98190102030405060708090a0b0c0d0e0f101112131415161718181819',
  ],
  ['{}', cborMap([]), 'a0'],
  ['{1: 2, 3: 4}', cborMap([[1, 2], [3, 4]]), 'a201020304'],
  ['{"a": 1, "b": [2, 3]}', cborMap([['a', 1], ['b', [2, 3]]]), 'a26161016162820203'],
  ['["a", {"b": "c"}]', ['a', cborMap([['b', 'c']])], '826161a161626163'],
  [
    '{"a": "A", …, "e": "E"}',
    cborMap([['a', 'A'], ['b', 'B'], ['c', 'C'], ['d', 'D'], ['e', 'E']]),
    'a56161614161626142616361436164614461656145',
  ],
];

for (const [notation, value, hex] of RFC_8949_APPENDIX_A) {
  test(`RFC 8949 Appendix A: ${notation} → ${hex}`, () => {
    const encoded = encodeCbor(value);
    assert.equal(encoded.toString('hex'), hex);
    decodeCborForTest(encoded); // shortest heads, definite lengths, one item
  });
}

test('heads take the shortest form at every size boundary (RFC 8949 §4.2.1)', () => {
  const cases: [CborValue, string][] = [
    [255, '18ff'],
    [256, '190100'],
    [65535, '19ffff'],
    [65536, '1a00010000'],
    [4294967295, '1affffffff'],
    [4294967296, '1b0000000100000000'],
    [Number.MAX_SAFE_INTEGER, '1b001fffffffffffff'],
    [-24, '37'],
    [-25, '3818'],
    [-256, '38ff'],
    [-257, '390100'],
    [-35, '3822'], // COSE alg ES384
  ];
  for (const [value, hex] of cases) assert.equal(encodeCbor(value).toString('hex'), hex, String(value));
  // String and container lengths use the same heads.
  assert.equal(encodeCbor(Buffer.alloc(23)).subarray(0, 1).toString('hex'), '57');
  assert.equal(encodeCbor(Buffer.alloc(24)).subarray(0, 2).toString('hex'), '5818');
  assert.equal(encodeCbor(Buffer.alloc(256)).subarray(0, 3).toString('hex'), '590100');
  assert.equal(encodeCbor(Buffer.alloc(65536)).subarray(0, 5).toString('hex'), '5a00010000');
  assert.equal(encodeCbor('x'.repeat(300)).subarray(0, 3).toString('hex'), '79012c');
  assert.equal(encodeCbor(new Array<CborValue>(24).fill(0)).subarray(0, 2).toString('hex'), '9818');
  const map = cborMap(Array.from({ length: 24 }, (_, index) => [index, null] as const));
  assert.equal(encodeCbor(map).subarray(0, 2).toString('hex'), 'b818');
});

test('maps keep the order given (Nitro order is not sorted order)', () => {
  const encoded = encodeCbor(cborMap([['nonce', null], ['digest', 'x'], [10, 1], [1, 2]]));
  assert.equal(encoded.toString('hex'), `a4${'656e6f6e6365'}f6${'66646967657374'}6178${'0a01'}${'0102'}`);
});

test('a Uint8Array view encodes only its own bytes', () => {
  const backing = Buffer.from('aabbccddee', 'hex');
  assert.equal(encodeCbor(new Uint8Array(backing.buffer, backing.byteOffset + 1, 3)).toString('hex'), '43bbccdd');
});

test('the NSM Attestation request has serde_cbor\'s shape: {"Attestation": {user_data, nonce, public_key}}', () => {
  const encoded = encodeNsmRequest({ kind: 'Attestation', userData: Buffer.from([1]), nonce: Buffer.from([2, 3]), publicKey: null });
  const hex = (text: string): string => Buffer.from(text, 'ascii').toString('hex');
  assert.equal(
    encoded.toString('hex'),
    `a1 6b${hex('Attestation')} a3 69${hex('user_data')} 4101 65${hex('nonce')} 420203 6a${hex('public_key')} f6`.replace(/ /g, ''),
  );
});

test('refusals carry CBOR_ENCODE', () => {
  const refused: [string, CborValue][] = [
    ['a float', 1.5],
    ['NaN', Number.NaN],
    ['an unsafe integer number', 2 ** 53],
    ['2^64', 1n << 64n],
    ['-2^64 - 1', -(1n << 64n) - 1n],
    ['a lone surrogate', 'a\ud800b'],
    ['duplicate keys', cborMap([['a', 1], ['a', 2]])],
    ['duplicate integer keys', cborMap([[1, 1], [1n, 2]])],
    ['an unsupported type', true as unknown as CborValue],
  ];
  for (const [what, value] of refused) {
    assert.throws(() => encodeCbor(value), (error: unknown) => error instanceof CborEncodeError && error.code === 'CBOR_ENCODE', what);
  }
  let deep: CborValue = [];
  for (let index = 0; index < 40; index += 1) deep = [deep];
  assert.throws(() => encodeCbor(deep), (error: unknown) => error instanceof CborEncodeError && /nesting/.test(error.message));
});
