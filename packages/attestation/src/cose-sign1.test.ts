// COSE_Sign1 ES384: the Sig_structure against published to-be-signed bytes,
// the generic COSE ES384 vectors (awslabs, IETF cose-wg), envelope rules.

import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { test } from 'node:test';

import { decodeCoseSign1, encodeSigStructure, verifyCoseSign1Signature } from './cose-sign1.js';
import { AttestationError, type ReasonCode } from './reason-codes.js';
import { encodeTestCbor, type TestCbor, loadBase64Vector, loadTextVector, loadVectorIndex } from './test-support.js';

function rejectsWith(input: Uint8Array, code: ReasonCode, label: string): void {
  assert.throws(() => decodeCoseSign1(input), (error: unknown) => error instanceof AttestationError && error.code === code, label);
}

test('base-1: our Sig_structure equals the to-be-signed bytes published by base/nitro-validator, and verifies', () => {
  const expected = loadTextVector('base-1.sig_structure.hex').trim();
  const cose = decodeCoseSign1(loadBase64Vector('base-1.b64'));
  const ours = encodeSigStructure(cose.protectedHeader, cose.payload);
  assert.equal(Buffer.from(ours).toString('hex'), expected);
  assert.equal(Buffer.from(ours.subarray(0, 18)).toString('hex'), '846a5369676e61747572653144a101382240');
  assert.equal(cose.tagged, false);
  assert.equal(cose.unprotectedEntryCount, 0);
});

test('generic COSE ES384 vectors: awslabs (untagged, kid unprotected) and cose-wg ecdsa-sig-02 (tagged)', () => {
  const index = loadVectorIndex();
  const awslabs = index.cose_vectors.find((v) => v.file === 'cose-es384-awslabs.b64');
  const cosewg = index.cose_vectors.find((v) => v.file === 'cose-es384-cosewg-sig02.b64');
  assert.ok(awslabs?.public_key && cosewg?.public_key_jwk && cosewg.to_be_signed_hex);

  const aws = decodeCoseSign1(loadBase64Vector(awslabs.file));
  assert.equal(aws.tagged, false);
  assert.equal(aws.unprotectedEntryCount, 1);
  assert.equal(Buffer.from(aws.payload).toString('utf8'), awslabs.payload_utf8);
  const awsKey = createPublicKey({ key: Buffer.from(awslabs.public_key.spki_der_hex, 'hex'), format: 'der', type: 'spki' });
  assert.equal(verifyCoseSign1Signature(aws, awsKey), true);
  const flipped = Uint8Array.from(aws.payload);
  flipped[0] = (flipped[0] ?? 0) ^ 1;
  assert.equal(verifyCoseSign1Signature({ ...aws, payload: flipped }, awsKey), false);

  const wg = decodeCoseSign1(loadBase64Vector(cosewg.file));
  assert.equal(wg.tagged, true);
  assert.equal(Buffer.from(encodeSigStructure(wg.protectedHeader, wg.payload)).toString('hex'), cosewg.to_be_signed_hex);
  const { kty, crv, x, y } = cosewg.public_key_jwk;
  const wgKey = createPublicKey({ key: { kty, crv, x, y }, format: 'jwk' });
  assert.equal(verifyCoseSign1Signature(wg, wgKey), true);
  // A key of the wrong curve is refused without throwing.
  const p256 = new X509Certificate(loadTextVector('evervault-1.tls-cert.pem')).publicKey;
  assert.equal(verifyCoseSign1Signature(wg, p256), false);
});

test('envelope rules: shape, tag, header types, algorithm, signature length', () => {
  const payload = Uint8Array.of(0xa0);
  const sig = new Uint8Array(96);
  const es384 = Uint8Array.of(0xa1, 0x01, 0x38, 0x22);
  const ok = (value: Parameters<typeof encodeTestCbor>[0]): void => {
    decodeCoseSign1(encodeTestCbor(value));
  };
  ok([es384, new Map(), payload, sig]);
  ok({ tag: 18, value: [es384, new Map(), payload, sig] });
  // Same header content, other encodings (indefinite map, non-minimal label): accepted, signed as received.
  ok([Uint8Array.of(0xbf, 0x01, 0x38, 0x22, 0xff), new Map(), payload, sig]);
  ok([Uint8Array.of(0xa1, 0x18, 0x01, 0x38, 0x22), new Map(), payload, sig]);

  rejectsWith(encodeTestCbor({ tag: 98, value: [es384, new Map(), payload, sig] }), 'COSE_MALFORMED', 'tag 98 (COSE_Sign)');
  rejectsWith(encodeTestCbor({ tag: 18, value: { tag: 18, value: [es384, new Map(), payload, sig] } }), 'COSE_MALFORMED', 'double tag');
  rejectsWith(encodeTestCbor([es384, new Map(), payload]), 'COSE_MALFORMED', '3 items');
  rejectsWith(encodeTestCbor([es384, new Map(), payload, sig, sig]), 'COSE_MALFORMED', '5 items');
  rejectsWith(encodeTestCbor(new Map([[1, 2]])), 'COSE_MALFORMED', 'a map');
  rejectsWith(encodeTestCbor([new Map([[1, -35]]), new Map(), payload, sig]), 'COSE_MALFORMED', 'protected header not wrapped in bstr');
  rejectsWith(encodeTestCbor([es384, [], payload, sig]), 'COSE_MALFORMED', 'unprotected not a map');
  rejectsWith(encodeTestCbor([es384, new Map(), null, sig]), 'COSE_MALFORMED', 'detached payload');
  rejectsWith(encodeTestCbor([es384, new Map(), 'text', sig]), 'COSE_MALFORMED', 'text payload');
  rejectsWith(encodeTestCbor([es384, new Map(), payload, new Uint8Array(95)]), 'COSE_MALFORMED', '95-byte signature');
  rejectsWith(encodeTestCbor([es384, new Map(), payload, new Uint8Array(104)]), 'COSE_MALFORMED', 'DER-size signature');
  rejectsWith(encodeTestCbor([new Uint8Array(0), new Map(), payload, sig]), 'COSE_MALFORMED', 'empty protected header');
  rejectsWith(encodeTestCbor([Uint8Array.of(0xa0), new Map(), payload, sig]), 'COSE_MALFORMED', 'protected {}');
  rejectsWith(encodeTestCbor([encodeTestCbor(new Map<TestCbor, TestCbor>([[1, -35], [4, Uint8Array.of(1)]])), new Map(), payload, sig]), 'COSE_MALFORMED', 'extra protected entry');
  rejectsWith(encodeTestCbor([Uint8Array.of(0xa1, 0x01, 0x38, 0x22, 0x00), new Map(), payload, sig]), 'COSE_MALFORMED', 'protected trailing byte');
  rejectsWith(encodeTestCbor([encodeTestCbor(new Map([[1, -7]])), new Map(), payload, sig]), 'UNSUPPORTED_ALGORITHM', 'ES256');
  rejectsWith(encodeTestCbor([encodeTestCbor(new Map([[1, -36]])), new Map(), payload, sig]), 'UNSUPPORTED_ALGORITHM', 'ES512');
  rejectsWith(encodeTestCbor([encodeTestCbor(new Map([[1, 'ES384']])), new Map(), payload, sig]), 'UNSUPPORTED_ALGORITHM', 'text alg');
  rejectsWith(encodeTestCbor([es384, new Map(), payload, sig]).subarray(0, 10), 'CBOR_MALFORMED', 'truncated');
});
