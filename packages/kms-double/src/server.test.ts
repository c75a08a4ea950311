// The double end to end over HTTPS: signed calls, Recipient attestation with
// dev documents, policies, errors in KMS's wire form, records and faults.
import assert from 'node:assert/strict';
import { createDecipheriv, generateKeyPairSync, privateDecrypt, constants, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { startKmsDouble, type KmsDoubleHandle } from './server.js';
import { callKms, child, DEV_ROOT_PEM, makeDevAttestationDocument, readBer, TEST_DOCUMENT_PCR0_HEX, type KmsResponse } from './test-support.js';

const REGION = 'us-east-1';
const CREDENTIAL = { accessKeyId: 'ASIATESTDOUBLE', secretAccessKey: 'test-secret-not-aws', sessionToken: 'test-session-token' };
const ALLOW = { allowDecryptWithoutRecipient: true, allowGenerateWithoutRecipient: true, recipientConditions: {} };
const ENCLAVE_ONLY = {
  allowDecryptWithoutRecipient: false,
  allowGenerateWithoutRecipient: false,
  recipientConditions: { 'kms:RecipientAttestation:ImageSha384': TEST_DOCUMENT_PCR0_HEX.toUpperCase(), 'kms:RecipientAttestation:PCR1': '02'.repeat(48) },
};

function openCms(envelope: Buffer, key: KeyObject): Buffer {
  const enveloped = child(child(readBer(envelope), 1), 0);
  const contentKey = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, child(child(child(enveloped, 1), 0), 3).value);
  const info = child(enveloped, 2);
  const content = child(info, 2);
  const ciphertext = content.constructed ? Buffer.concat(content.children.map((c) => c.value)) : content.value;
  const decipher = createDecipheriv('aes-256-cbc', contentKey, child(child(info, 1), 1).value);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

describe('KMS double over HTTPS', () => {
  let double: KmsDoubleHandle;
  let enclaveKey: string;
  let openKey: string;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = rsa.publicKey.export({ format: 'der', type: 'spki' });
  const recipient = (document = makeDevAttestationDocument({ publicKeySpki: spki, now: new Date() })): Record<string, string> => ({
    AttestationDocument: document.toString('base64'),
    KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
  });
  const call = (target: string, body: Record<string, unknown> | string, extra: Partial<Parameters<typeof callKms>[0]> = {}): Promise<KmsResponse> =>
    callKms({ url: double.url, caCertificatePem: double.caCertificatePem, region: REGION, credential: CREDENTIAL, target: `TrentService.${target}`, body, ...extra });

  const expectKmsError = (response: KmsResponse, type: string, status = 400): void => {
    assert.equal(response.status, status, response.text);
    assert.equal(response.headers['content-type'], 'application/x-amz-json-1.1');
    assert.equal(response.headers['x-amzn-errortype'], type);
    assert.match(String(response.headers['x-amzn-requestid']), /^[0-9a-f-]{36}$/);
    assert.equal(response.json?.['__type'], type, response.text);
    assert.equal(typeof response.json?.['message'], 'string');
  };

  before(async () => {
    double = await startKmsDouble({ region: REGION, devRootCertificatePem: DEV_ROOT_PEM, credentials: [CREDENTIAL], keys: [{ policy: ENCLAVE_ONLY }] });
    enclaveKey = double.keyArns[0] ?? '';
    openKey = double.createKey(ALLOW);
  });
  after(() => double.close());

  it('GenerateDataKey with a Recipient returns CiphertextForRecipient (no Plaintext), and Decrypt with a Recipient gives the same key', async () => {
    const generated = await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', EncryptionContext: { record: 'r1' }, Recipient: recipient() });
    assert.equal(generated.status, 200, generated.text);
    assert.equal(generated.headers['content-type'], 'application/x-amz-json-1.1');
    assert.deepEqual(Object.keys(generated.json ?? {}).sort(), ['CiphertextBlob', 'CiphertextForRecipient', 'KeyId']);
    assert.match(String(generated.json?.['KeyId']), /^arn:aws:kms:us-east-1:111122223333:key\/[0-9a-f-]{36}$/);
    const dataKey = openCms(Buffer.from(String(generated.json?.['CiphertextForRecipient']), 'base64'), rsa.privateKey);
    assert.equal(dataKey.length, 32);

    const decrypted = await call('Decrypt', { CiphertextBlob: generated.json?.['CiphertextBlob'], KeyId: enclaveKey, EncryptionContext: { record: 'r1' }, Recipient: recipient() });
    assert.equal(decrypted.status, 200, decrypted.text);
    assert.equal(decrypted.json?.['Plaintext'], undefined);
    assert.equal(decrypted.json?.['KeyId'], enclaveKey);
    assert.equal(decrypted.json?.['EncryptionAlgorithm'], 'SYMMETRIC_DEFAULT');
    assert.deepEqual(openCms(Buffer.from(String(decrypted.json?.['CiphertextForRecipient']), 'base64'), rsa.privateKey), dataKey);

    const last = double.calls.at(-1);
    assert.equal(last?.operation, 'Decrypt');
    assert.equal(last?.keyId, enclaveKey);
    assert.equal(last?.recipient, true);
    assert.deepEqual(last?.attestedPublicKey, spki);
    assert.equal(last?.attestedPcr0, TEST_DOCUMENT_PCR0_HEX);
    assert.equal(last?.outcome, 'ok');
    assert.equal(last?.accessKeyId, CREDENTIAL.accessKeyId);
  });

  it('NumberOfBytes sizes the data key', async () => {
    const generated = await call('GenerateDataKey', { KeyId: enclaveKey, NumberOfBytes: 64, Recipient: recipient() });
    assert.equal(openCms(Buffer.from(String(generated.json?.['CiphertextForRecipient']), 'base64'), rsa.privateKey).length, 64);
  });

  it('a document whose PCR0 differs from the policy: AccessDeniedException', async () => {
    const document = makeDevAttestationDocument({ publicKeySpki: spki, now: new Date(), pcrs: new Map([[0, new Uint8Array(48).fill(9)]]) });
    expectKmsError(await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', Recipient: recipient(document) }), 'AccessDeniedException');
    assert.equal(double.calls.at(-1)?.outcome, 'AccessDeniedException');
    assert.equal(double.calls.at(-1)?.attestedPcr0, '09'.repeat(48));
  });

  it('a debug-mode document: AccessDeniedException', async () => {
    const document = makeDevAttestationDocument({ publicKeySpki: spki, now: new Date(), debug: true });
    expectKmsError(await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256', Recipient: recipient(document) }), 'AccessDeniedException');
  });

  it('a document not from the dev root, without public_key, or with a non-RSA-2048 key: ValidationException', async () => {
    const signedElsewhere = makeDevAttestationDocument({ publicKeySpki: spki, now: new Date() });
    signedElsewhere[signedElsewhere.length - 1] = (signedElsewhere[signedElsewhere.length - 1] ?? 0) ^ 1;
    expectKmsError(await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', Recipient: recipient(signedElsewhere) }), 'ValidationException');
    expectKmsError(await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', Recipient: recipient(makeDevAttestationDocument({ publicKeySpki: null, now: new Date() })) }), 'ValidationException');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' });
    expectKmsError(await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', Recipient: recipient(makeDevAttestationDocument({ publicKeySpki: small, now: new Date() })) }), 'ValidationException');
    expectKmsError(await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', Recipient: { ...recipient(), KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_1' } }), 'ValidationException');
  });

  it('no Recipient under the deny policy: AccessDeniedException; under an allow policy: Plaintext', async () => {
    expectKmsError(await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256' }), 'AccessDeniedException');
    assert.equal(double.calls.at(-1)?.recipient, false);
    const generated = await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256', EncryptionContext: { a: 'b' } });
    assert.equal(generated.status, 200, generated.text);
    assert.deepEqual(Object.keys(generated.json ?? {}).sort(), ['CiphertextBlob', 'KeyId', 'Plaintext']);
    const decrypted = await call('Decrypt', { CiphertextBlob: generated.json?.['CiphertextBlob'], EncryptionContext: { a: 'b' } });
    assert.equal(decrypted.status, 200, decrypted.text);
    assert.equal(decrypted.json?.['Plaintext'], generated.json?.['Plaintext']);
    assert.equal(decrypted.json?.['KeyId'], openKey);

    double.setPolicy(openKey, { ...ALLOW, allowDecryptWithoutRecipient: false });
    expectKmsError(await call('Decrypt', { CiphertextBlob: generated.json?.['CiphertextBlob'], EncryptionContext: { a: 'b' } }), 'AccessDeniedException');
    double.setPolicy(openKey, ALLOW);
  });

  it('wrong KeyId: IncorrectKeyException; unknown KeyId: NotFoundException; tampered blob or context: InvalidCiphertextException', async () => {
    const generated = await call('GenerateDataKey', { KeyId: openKey, NumberOfBytes: 16, EncryptionContext: { a: 'b' } });
    const blob = String(generated.json?.['CiphertextBlob']);
    expectKmsError(await call('Decrypt', { CiphertextBlob: blob, KeyId: enclaveKey, EncryptionContext: { a: 'b' } }), 'IncorrectKeyException');
    expectKmsError(await call('Decrypt', { CiphertextBlob: blob, KeyId: 'alias/unknown' }), 'NotFoundException');
    expectKmsError(await call('Decrypt', { CiphertextBlob: blob, EncryptionContext: { a: 'c' } }), 'InvalidCiphertextException');
    const tampered = Buffer.from(blob, 'base64');
    tampered[40] = (tampered[40] ?? 0) ^ 1;
    expectKmsError(await call('Decrypt', { CiphertextBlob: tampered.toString('base64'), EncryptionContext: { a: 'b' } }), 'InvalidCiphertextException');
    expectKmsError(await call('Decrypt', { CiphertextBlob: Buffer.alloc(40, 1).toString('base64') }), 'InvalidCiphertextException');
  });

  it('bad signature: InvalidSignatureException; unknown access key: UnrecognizedClientException; old date: InvalidSignatureException', async () => {
    expectKmsError(await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256' }, {
      afterSigning: (headers, body) => ({ headers, body: body.replace('AES_256', 'AES_128') }),
    }), 'InvalidSignatureException');
    expectKmsError(await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256' }, { credential: { ...CREDENTIAL, accessKeyId: 'AKIDNOBODY' } }), 'UnrecognizedClientException');
    expectKmsError(await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256' }, { signingDate: new Date(Date.now() - 10 * 60_000) }), 'InvalidSignatureException');
    expectKmsError(await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256' }, { credential: { ...CREDENTIAL, secretAccessKey: 'wrong' } }), 'InvalidSignatureException');
  });

  it('unknown operation, bad JSON, missing fields, bad key spec: KMS error types', async () => {
    expectKmsError(await call('Encrypt', { KeyId: openKey, Plaintext: 'AA==' }), 'UnknownOperationException');
    expectKmsError(await call('GenerateDataKey', '{"KeyId": '), 'SerializationException');
    expectKmsError(await call('GenerateDataKey', { KeySpec: 'AES_256' }), 'ValidationException');
    expectKmsError(await call('GenerateDataKey', { KeyId: openKey }), 'ValidationException');
    expectKmsError(await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256', NumberOfBytes: 32 }), 'ValidationException');
    expectKmsError(await call('GenerateDataKey', { KeyId: openKey, NumberOfBytes: 1025 }), 'ValidationException');
    expectKmsError(await call('Decrypt', {}), 'ValidationException');
    expectKmsError(await call('Decrypt', { CiphertextBlob: 'not base64!' }), 'SerializationException');
  });

  it('a body over 64 KiB: ValidationException', async () => {
    expectKmsError(await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256', Padding: 'x'.repeat(70_000) }), 'ValidationException');
  });

  it('key state: PendingDeletion → KMSInvalidStateException, Disabled → DisabledException', async () => {
    const key = double.createKey(ALLOW);
    double.setKeyState(key, 'PendingDeletion');
    expectKmsError(await call('GenerateDataKey', { KeyId: key, KeySpec: 'AES_256' }), 'KMSInvalidStateException');
    double.setKeyState(key, 'Disabled');
    expectKmsError(await call('GenerateDataKey', { KeyId: key, KeySpec: 'AES_256' }), 'DisabledException');
  });

  describe('fault injection', () => {
    it('answers an injected error for the next N calls, then normally', async () => {
      double.injectFault({ kind: 'error', errorType: 'KMSInternalException', count: 2 });
      expectKmsError(await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256' }), 'KMSInternalException', 500);
      expectKmsError(await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256' }), 'KMSInternalException', 500);
      assert.equal((await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256' })).status, 200);
      double.injectFault({ kind: 'error', errorType: 'ExpiredTokenException' });
      expectKmsError(await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256' }), 'ExpiredTokenException');
      assert.equal(double.calls.at(-1)?.fault, 'error');
    });

    it('corrupts a successful body', async () => {
      double.injectFault({ kind: 'malformed-body', body: 'non-json' });
      const nonJson = await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', Recipient: recipient() });
      assert.equal(nonJson.status, 200);
      assert.equal(nonJson.json, null);

      double.injectFault({ kind: 'malformed-body', body: 'missing-field' });
      const missing = await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', Recipient: recipient() });
      assert.deepEqual(Object.keys(missing.json ?? {}).sort(), ['CiphertextBlob', 'KeyId']);

      double.injectFault({ kind: 'malformed-body', body: 'garbage-ciphertext-for-recipient' });
      const garbage = await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', Recipient: recipient() });
      assert.doesNotMatch(String(garbage.json?.['CiphertextForRecipient']), /^[A-Za-z0-9+/]*={0,2}$/);

      double.injectFault({ kind: 'malformed-body', body: 'truncated-cms' });
      const truncated = await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', Recipient: recipient() });
      assert.throws(() => readBer(Buffer.from(String(truncated.json?.['CiphertextForRecipient']), 'base64')), RangeError);

      double.injectFault({ kind: 'malformed-body', body: 'plaintext-with-recipient' });
      const both = await call('GenerateDataKey', { KeyId: enclaveKey, KeySpec: 'AES_256', Recipient: recipient() });
      const fromCms = openCms(Buffer.from(String(both.json?.['CiphertextForRecipient']), 'base64'), rsa.privateKey);
      assert.equal(both.json?.['Plaintext'], fromCms.toString('base64'));
    });

    it('delays a call', async () => {
      double.injectFault({ kind: 'delay', delayMs: 300 });
      const started = Date.now();
      assert.equal((await call('GenerateDataKey', { KeyId: openKey, KeySpec: 'AES_256' })).status, 200);
      assert.ok(Date.now() - started >= 290);
    });
  });
});
