// NSM messages, byte for byte as serde_cbor writes them (reference §4), and
// the nsm provider over a recorded fake device. The real /dev/nsm round trip
// is in packages/vsock/src/vsock.test.ts (skipped outside a Nitro Enclave).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCbor, cborMap } from './cbor-encoder.js';
import { createNsmAttestationProvider } from './nsm-attestation-provider.js';
import { NsmClient, type NsmDevice } from './nsm-client.js';
import { decodeNsmResponse, encodeNsmRequest } from './nsm-messages.js';
import { NsmMalformedResponseError, NsmResponseError } from '../enclave-errors.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

test('requests: unit variants are bare text, struct variants one-entry maps in field order', () => {
  assert.deepEqual(encodeNsmRequest({ kind: 'DescribeNSM' }), hex('6b 44657363726962654e534d'));
  assert.deepEqual(encodeNsmRequest({ kind: 'GetRandom' }), hex('69 47657452616e646f6d'));
  assert.deepEqual(encodeNsmRequest({ kind: 'DescribePCR', index: 0 }), hex('a1 6b 4465736372696265504352 a1 65 696e646578 00'));
  assert.deepEqual(encodeNsmRequest({ kind: 'DescribePCR', index: 300 }), hex('a1 6b 4465736372696265504352 a1 65 696e646578 19012c'));
  assert.throws(() => encodeNsmRequest({ kind: 'DescribePCR', index: 65536 }), RangeError);
  const none = hex('a1 6b 4174746573746174696f6e a3 69 757365725f64617461 f6 65 6e6f6e6365 f6 6a 7075626c69635f6b6579 f6');
  assert.deepEqual(encodeNsmRequest({ kind: 'Attestation', userData: null, nonce: null, publicKey: null }), none);
  const full = encodeNsmRequest({ kind: 'Attestation', userData: hex('0102'), nonce: hex('03'), publicKey: null });
  assert.deepEqual(full, hex('a1 6b 4174746573746174696f6e a3 69 757365725f64617461 42 0102 65 6e6f6e6365 41 03 6a 7075626c69635f6b6579 f6'));
});

test('responses: GetRandom, DescribePCR, DescribeNSM, Attestation decode to typed values', () => {
  const random = Buffer.alloc(32, 7);
  assert.deepEqual(decodeNsmResponse('GetRandom', Buffer.concat([hex('a1 69 47657452616e646f6d a1 66 72616e646f6d 5820'), random])), { random });
  const pcr = Buffer.alloc(48, 0xab);
  assert.deepEqual(decodeNsmResponse('DescribePCR', Buffer.concat([hex('a1 6b 4465736372696265504352 a2 64 6c6f636b f5 64 64617461 5830'), pcr])), {
    lock: true,
    data: pcr,
  });
  const describe = encodeCbor(
    cborMap([
      [
        'DescribeNSM',
        cborMap([
          ['version_major', 1],
          ['version_minor', 0],
          ['version_patch', 0],
          ['module_id', 'i-0123456789abcdef0-enc0123456789abcdef'],
          ['max_pcrs', 32],
          ['locked_pcrs', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]],
          ['digest', 'SHA384'],
        ]),
      ],
    ]),
  );
  assert.deepEqual(decodeNsmResponse('DescribeNSM', describe), {
    versionMajor: 1,
    versionMinor: 0,
    versionPatch: 0,
    moduleId: 'i-0123456789abcdef0-enc0123456789abcdef',
    maxPcrs: 32,
    lockedPcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    digest: 'SHA384',
  });
  const document = hex('8444a1013822a0f6'); // any bytes: returned unchanged
  assert.deepEqual(decodeNsmResponse('Attestation', encodeCbor(cborMap([['Attestation', cborMap([['document', document]])]]))), { document });
});

test('responses: {"Error": code} is NsmResponseError; wrong shapes are NsmMalformedResponseError', () => {
  assert.throws(() => decodeNsmResponse('DescribePCR', hex('a1 65 4572726f72 6c 496e76616c6964496e646578')), (e: unknown) => e instanceof NsmResponseError && e.nsmCode === 'InvalidIndex');
  assert.throws(() => decodeNsmResponse('GetRandom', hex('')), NsmMalformedResponseError);
  assert.throws(() => decodeNsmResponse('GetRandom', hex('ff')), NsmMalformedResponseError);
  assert.throws(() => decodeNsmResponse('GetRandom', hex('69 47657452616e646f6d')), NsmMalformedResponseError);
  assert.throws(() => decodeNsmResponse('Attestation', encodeCbor(cborMap([['GetRandom', cborMap([['random', hex('00')]])]]))), NsmMalformedResponseError);
  assert.throws(() => decodeNsmResponse('Attestation', encodeCbor(cborMap([['Attestation', cborMap([['document', 'text']])]]))), NsmMalformedResponseError);
  // Trailing bytes after the answer are refused (strict decoder).
  assert.throws(() => decodeNsmResponse('GetRandom', hex('a1 69 47657452616e646f6d a1 66 72616e646f6d 41 00 00')), NsmMalformedResponseError);
});

test('nsm provider over a recorded device: sends the Attestation request, returns the document unchanged', async () => {
  const document = Buffer.from('cose-sign1-bytes');
  const sent: Buffer[] = [];
  const device: NsmDevice = {
    async call(request) {
      sent.push(request);
      return encodeCbor(cborMap([['Attestation', cborMap([['document', document]])]]));
    },
  };
  const provider = createNsmAttestationProvider(device);
  assert.equal(provider.kind, 'nsm');
  assert.deepEqual(await provider.attest({ userData: hex('aa'), nonce: hex('bb') }), document);
  assert.deepEqual(sent, [hex('a1 6b 4174746573746174696f6e a3 69 757365725f64617461 41 aa 65 6e6f6e6365 41 bb 6a 7075626c69635f6b6579 f6')]);
  await assert.rejects(provider.attest({ userData: Buffer.alloc(513), nonce: hex('bb') }), { code: 'ATTESTATION_REQUEST_INVALID' });
  const failing = createNsmAttestationProvider({ call: async () => hex('a1 65 4572726f72 6d 496e7465726e616c4572726f72') });
  await assert.rejects(failing.attest({ userData: hex('aa'), nonce: hex('bb') }), { code: 'NSM_ERROR', nsmCode: 'InternalError' });
});

/** A device that records each request and answers from `answers` by request bytes (hex). */
function recordedDevice(answers: Record<string, Buffer>): NsmDevice & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    async call(request) {
      sent.push(request.toString('hex'));
      const answer = answers[request.toString('hex')];
      if (answer === undefined) throw new Error(`unexpected request ${request.toString('hex')}`);
      return answer;
    },
  };
}

test('NsmClient: each method sends its exact request and returns the typed answer', async () => {
  const random = Buffer.alloc(32, 9);
  const pcr = Buffer.alloc(48, 0x11);
  const document = hex('8444a1013822a0f6');
  const device = recordedDevice({
    '6947657452616e646f6d': Buffer.concat([hex('a1 69 47657452616e646f6d a1 66 72616e646f6d 5820'), random]),
    a16b4465736372696265504352a165696e64657804: Buffer.concat([hex('a1 6b 4465736372696265504352 a2 64 6c6f636b f4 64 64617461 5830'), pcr]),
    '6b44657363726962654e534d': encodeCbor(
      cborMap([['DescribeNSM', cborMap([['version_major', 1], ['version_minor', 2], ['version_patch', 3], ['module_id', 'i-0abc-enc0def'], ['max_pcrs', 32], ['locked_pcrs', [0, 1, 2]], ['digest', 'SHA384']])]]),
    ),
    a16b4174746573746174696f6ea369757365725f64617461f6656e6f6e636541016a7075626c69635f6b6579f6: encodeCbor(cborMap([['Attestation', cborMap([['document', document]])]])),
  });
  const nsm = new NsmClient(device);
  assert.deepEqual(await nsm.getRandom(), random);
  assert.deepEqual(await nsm.describePcr(4), { lock: false, data: pcr });
  assert.deepEqual(await nsm.describeNsm(), { versionMajor: 1, versionMinor: 2, versionPatch: 3, moduleId: 'i-0abc-enc0def', maxPcrs: 32, lockedPcrs: [0, 1, 2], digest: 'SHA384' });
  assert.deepEqual(await nsm.attestation({ userData: null, nonce: hex('01'), publicKey: null }), document);
  assert.equal(device.sent.length, 4);
  // An answer to another request is refused, not passed on.
  const crossed = new NsmClient(recordedDevice({ '6947657452616e646f6d': Buffer.concat([hex('a1 6b 4465736372696265504352 a2 64 6c6f636b f5 64 64617461 5830'), pcr]) }));
  await assert.rejects(crossed.getRandom(), { code: 'NSM_MALFORMED_RESPONSE' });
  await assert.rejects(nsm.describePcr(70000), RangeError);
});

test('nsm provider describe(): the DescribeNSM fields for the start-up log; a device that fails is ATTESTATION_UNAVAILABLE', async () => {
  const describeNsm = encodeCbor(
    cborMap([['DescribeNSM', cborMap([['version_major', 1], ['version_minor', 0], ['version_patch', 0], ['module_id', 'i-0abc-enc0def'], ['max_pcrs', 32], ['locked_pcrs', []], ['digest', 'SHA384']])]]),
  );
  const provider = createNsmAttestationProvider(recordedDevice({ '6b44657363726962654e534d': describeNsm }));
  assert.deepEqual(await provider.describe?.(), { moduleId: 'i-0abc-enc0def', nsmVersion: '1.0.0', digest: 'SHA384', maxPcrs: 32 });
  const broken = createNsmAttestationProvider({ call: async () => hex('a1 65 4572726f72 6d 496e7465726e616c4572726f72') });
  await assert.rejects(broken.describe?.() ?? Promise.resolve(), { code: 'ATTESTATION_UNAVAILABLE', message: 'the NSM did not answer DescribeNSM (NSM_ERROR)' });
});
