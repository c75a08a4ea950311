// The dev provider's documents, decoded with the independent test decoder
// and checked with node:crypto and OpenSSL: envelope bytes, ES384 signature
// over the Sig_structure, chain root → intermediate → leaf, Nitro's key order
// and encodings, PCRs, nonce and user_data, and leaf renewal on the clock.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { derToPem } from '../tls/certificate-builder.js';
import { generateEphemeralTlsIdentity } from '../tls/self-signed-certificate.js';
import { ATTESTATION_PAYLOAD_KEYS } from './attestation-payload.js';
import { MAX_ATTESTATION_FIELD_BYTES } from './attestation-provider.js';
import { decodeCborForTest, isDecodedMap, mapGet, type DecodedCbor } from './cbor-test-decoder.js';
import type { DevMeasurements } from './code-measurement.js';
import { createDevAttestationProvider, DEV_LEAF_VALIDITY_MS, pcr4ForInstanceId } from './dev-attestation-provider.js';
import { generateDevAttestationRoot } from './dev-attestation-root.js';
import { tlsBindingUserData } from './tls-binding.js';
import { AttestationRequestError } from '../enclave-errors.js';

const START = new Date('2026-03-01T12:00:00.123Z');
const MEASUREMENTS: DevMeasurements = {
  pcr0: createHash('sha384').update('code').digest(),
  pcr1: createHash('sha384').update('runtime').digest(),
  pcr2: createHash('sha384').update('libraries').digest(),
};

function fixture(clock = { ms: START.getTime() }) {
  const now = () => new Date(clock.ms);
  const root = generateDevAttestationRoot(now());
  const provider = createDevAttestationProvider({ root, measurements: MEASUREMENTS, now });
  return { clock, root, provider };
}

function bytes(value: DecodedCbor | undefined): Buffer {
  assert.ok(Buffer.isBuffer(value), 'expected a byte string');
  return value;
}

function decodeDocument(document: Buffer) {
  const envelope = decodeCborForTest(document);
  assert.ok(Array.isArray(envelope) && envelope.length === 4, 'COSE_Sign1 is an array of 4');
  const [protectedHeader, unprotected, payloadBytes, signature] = envelope as readonly DecodedCbor[];
  const payload = decodeCborForTest(bytes(payloadBytes));
  return { protectedHeader: bytes(protectedHeader), unprotected, payloadBytes: bytes(payloadBytes), signature: bytes(signature), payload };
}

test('the document is an untagged COSE_Sign1 whose ES384 signature verifies over the Sig_structure', async () => {
  const { provider } = fixture();
  const document = await provider.attest({ userData: Buffer.from('u'), nonce: Buffer.from('n') });
  assert.equal(document.subarray(0, 7).toString('hex'), '8444a1013822a0', 'array(4), protected h\'a1013822\', unprotected {}');
  const { protectedHeader, unprotected, payloadBytes, signature, payload } = decodeDocument(document);
  assert.equal(protectedHeader.toString('hex'), 'a1013822');
  assert.ok(unprotected !== undefined && isDecodedMap(unprotected) && unprotected.entries.length === 0);
  assert.equal(signature.length, 96);
  // Sig_structure = ["Signature1", protected, h'', payload], built by hand here.
  const payloadHead = payloadBytes.length < 65536 ? Buffer.from([0x59, payloadBytes.length >> 8, payloadBytes.length & 0xff]) : assert.fail('payload too large');
  const toBeSigned = Buffer.concat([Buffer.from('846a5369676e61747572653144a101382240', 'hex'), payloadHead, payloadBytes]);
  const leaf = new X509Certificate(bytes(mapGet(payload, 'certificate')));
  assert.ok(verify('sha384', toBeSigned, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, signature));
  const tampered = Buffer.from(toBeSigned);
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
  assert.equal(verify('sha384', tampered, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, signature), false);
});

test('the payload has Nitro\'s nine keys in Nitro\'s order with Nitro\'s encodings', async () => {
  const { provider } = fixture();
  const { payload, payloadBytes } = decodeDocument(await provider.attest({ userData: Buffer.from('u'), nonce: Buffer.from('n') }));
  assert.equal(payloadBytes[0], 0xa9, 'definite map of 9');
  assert.ok(isDecodedMap(payload));
  assert.deepEqual(payload.entries.map(([key]) => key), [...ATTESTATION_PAYLOAD_KEYS]);
  assert.deepEqual([...ATTESTATION_PAYLOAD_KEYS], ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce']);
  assert.equal(mapGet(payload, 'digest'), 'SHA384');
  assert.equal(mapGet(payload, 'timestamp'), BigInt(START.getTime()));
  assert.equal(mapGet(payload, 'public_key'), null);
  const moduleId = mapGet(payload, 'module_id');
  assert.equal(typeof moduleId, 'string');
  assert.match(moduleId as string, /^dev-[0-9a-f]{16}-enc[0-9a-f]{16}$/);
  assert.equal(moduleId, provider.moduleId);
});

test('PCRs: 16 entries of 48 bytes; PCR0..2 are the measurements, PCR4 the instance id, the rest zero', async () => {
  const { provider } = fixture();
  const { payload } = decodeDocument(await provider.attest({ userData: Buffer.from('u'), nonce: Buffer.from('n') }));
  const pcrs = mapGet(payload, 'pcrs');
  assert.ok(isDecodedMap(pcrs));
  assert.deepEqual(pcrs.entries.map(([index]) => index), Array.from({ length: 16 }, (_, index) => BigInt(index)));
  for (const [, value] of pcrs.entries) assert.equal(bytes(value).length, 48);
  assert.deepEqual(bytes(mapGet(pcrs, 0n)), MEASUREMENTS.pcr0);
  assert.deepEqual(bytes(mapGet(pcrs, 1n)), MEASUREMENTS.pcr1);
  assert.deepEqual(bytes(mapGet(pcrs, 2n)), MEASUREMENTS.pcr2);
  const instanceId = provider.moduleId.slice(0, provider.moduleId.indexOf('-enc'));
  assert.deepEqual(bytes(mapGet(pcrs, 4n)), pcr4ForInstanceId(instanceId));
  for (const index of [3n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n, 13n, 14n, 15n]) assert.deepEqual(bytes(mapGet(pcrs, index)), Buffer.alloc(48));
});

test('the chain is root → intermediate → leaf, P-384, CA flags as on Nitro; cabundle is root first', async () => {
  const { provider, root } = fixture();
  const { payload } = decodeDocument(await provider.attest({ userData: Buffer.from('u'), nonce: Buffer.from('n') }));
  const cabundle = mapGet(payload, 'cabundle');
  assert.ok(Array.isArray(cabundle) && cabundle.length === 2);
  const [rootDer, intermediateDer] = (cabundle as readonly DecodedCbor[]).map(bytes);
  assert.deepEqual(rootDer, root.certificateDer);
  assert.equal(createHash('sha256').update(bytes(rootDer)).digest('hex'), provider.rootFingerprintSha256);
  const rootCert = new X509Certificate(bytes(rootDer));
  const intermediate = new X509Certificate(bytes(intermediateDer));
  const leaf = new X509Certificate(bytes(mapGet(payload, 'certificate')));
  assert.ok(rootCert.ca && intermediate.ca && !leaf.ca);
  assert.ok(rootCert.verify(rootCert.publicKey) && rootCert.checkIssued(rootCert));
  assert.ok(intermediate.verify(rootCert.publicKey) && intermediate.checkIssued(rootCert));
  assert.ok(leaf.verify(intermediate.publicKey) && leaf.checkIssued(intermediate));
  for (const certificate of [rootCert, intermediate, leaf]) assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
  assert.ok(lifetime > DEV_LEAF_VALIDITY_MS && lifetime <= DEV_LEAF_VALIDITY_MS + 10 * 60_000, `leaf lives ~3 h, got ${lifetime} ms`);
  assert.match(leaf.subject, new RegExp(`^CN=${provider.moduleId}\\.`));
  assert.match(rootCert.subject, /DEV.*not AWS/);

  const directory = mkdtempSync(join(tmpdir(), 'he-dev-chain-'));
  try {
    writeFileSync(join(directory, 'root.pem'), derToPem(bytes(rootDer)));
    writeFileSync(join(directory, 'intermediate.pem'), derToPem(bytes(intermediateDer)));
    writeFileSync(join(directory, 'leaf.pem'), leaf.toString());
    const output = execFileSync(
      '/usr/bin/openssl',
      ['verify', '-x509_strict', '-attime', String(Math.floor(START.getTime() / 1000)), '-CAfile', join(directory, 'root.pem'), '-untrusted', join(directory, 'intermediate.pem'), join(directory, 'leaf.pem')],
      { encoding: 'utf8' },
    );
    assert.match(output, /leaf\.pem: OK/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('nonce, user_data and public_key are echoed byte for byte; user_data binds the given certificate', async () => {
  const { provider } = fixture();
  const tls = generateEphemeralTlsIdentity({ now: START });
  const certificateDer = Buffer.from(new X509Certificate(tls.certPem).raw);
  const userData = tlsBindingUserData(certificateDer);
  const nonce = Buffer.alloc(MAX_ATTESTATION_FIELD_BYTES, 0xab);
  const publicKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' });
  const { payload } = decodeDocument(await provider.attest({ userData, nonce, publicKey }));
  assert.deepEqual(bytes(mapGet(payload, 'nonce')), nonce);
  assert.deepEqual(bytes(mapGet(payload, 'public_key')), publicKey);
  const expected = Buffer.concat([
    Buffer.from('http-enclave/tls-spki-sha256/v1:'),
    createHash('sha256').update(new X509Certificate(tls.certPem).publicKey.export({ type: 'spki', format: 'der' })).digest(),
  ]);
  assert.deepEqual(bytes(mapGet(payload, 'user_data')), expected);
});

test('fields above 512 bytes are refused with ATTESTATION_REQUEST_INVALID', async () => {
  const { provider } = fixture();
  const big = Buffer.alloc(MAX_ATTESTATION_FIELD_BYTES + 1);
  for (const request of [{ userData: big, nonce: Buffer.from('n') }, { userData: Buffer.from('u'), nonce: big }, { userData: Buffer.from('u'), nonce: Buffer.from('n'), publicKey: big }]) {
    await assert.rejects(provider.attest(request), (error: unknown) => error instanceof AttestationRequestError && error.code === 'ATTESTATION_REQUEST_INVALID');
  }
});

test('the leaf is kept while more than an hour remains and re-issued after; timestamps follow the clock', async () => {
  const { provider, clock } = fixture();
  const leafAt = async (ms: number) => {
    clock.ms = ms;
    const { payload } = decodeDocument(await provider.attest({ userData: Buffer.from('u'), nonce: Buffer.from('n') }));
    assert.equal(mapGet(payload, 'timestamp'), BigInt(ms));
    const leaf = new X509Certificate(bytes(mapGet(payload, 'certificate')));
    assert.ok(Date.parse(leaf.validFrom) <= ms && ms < Date.parse(leaf.validTo), 'timestamp inside the leaf validity');
    return leaf.fingerprint256;
  };
  const first = await leafAt(START.getTime());
  assert.equal(await leafAt(START.getTime() + 90 * 60_000), first);
  const renewed = await leafAt(START.getTime() + 2.5 * 3_600_000);
  assert.notEqual(renewed, first);
  // Weeks later the intermediate is renewed too and the chain still verifies.
  const weeksLater = START.getTime() + 30 * 24 * 3_600_000;
  clock.ms = weeksLater;
  const { payload } = decodeDocument(await provider.attest({ userData: Buffer.from('u'), nonce: Buffer.from('n') }));
  const [, intermediateDer] = (mapGet(payload, 'cabundle') as readonly DecodedCbor[]).map(bytes);
  const intermediate = new X509Certificate(bytes(intermediateDer));
  assert.ok(Date.parse(intermediate.validFrom) <= weeksLater && weeksLater < Date.parse(intermediate.validTo));
  assert.ok(new X509Certificate(bytes(mapGet(payload, 'certificate'))).verify(intermediate.publicKey));
});
