// KEY_SOURCE=kms end to end (issue 8, points 1, 2, 5, 6): the real host and
// enclave, the KMS double reached only through the host's egress forwarder.
// The enclave stores and reads data under a keyring KMS released to its
// attested RSA key; a restart gets the same keyring back from storage and
// KMS; a policy that pins another PCR0 stops the enclave with one line.

import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newToken, sendRequest } from '../support/https-request.js';
import { startKmsStack, type KmsStack } from '../support/kms-stack.js';
import { ENCLAVE_MAIN, runToExit } from '../support/processes.js';

describe('KEY_SOURCE=kms: the keyring is released by KMS to the attested enclave', () => {
  let kms: KmsStack;
  before(async () => {
    kms = await startKmsStack();
  });
  after(async () => {
    await kms?.stop();
  });

  test('first start creates the keyring through GenerateDataKey to the enclave\'s fresh RSA-2048 key; data is stored and read', async () => {
    const generate = kms.double.calls.filter((call) => call.operation === 'GenerateDataKey');
    assert.equal(generate.length, 1, 'one GenerateDataKey at first start');
    const call = generate[0];
    assert.ok(call !== undefined && call.outcome === 'ok');
    assert.equal(call.recipient, true);
    assert.ok(call.attestedPublicKey !== null);
    const key = createPublicKey({ key: Buffer.from(call.attestedPublicKey), format: 'der', type: 'spki' });
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(call.attestedPcr0, kms.pcr0Hex);

    const token = await newToken();
    const put = await sendRequest(kms.stack.port, { method: 'PUT', path: '/private-data/kms-notes', token, body: '{"kms":"released"}', headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 201);
    const got = await sendRequest(kms.stack.port, { path: '/private-data/kms-notes', token });
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), '{"kms":"released"}');

    // A restarted enclave: a new recipient key, the stored keyring, KMS Decrypt, the same records.
    const firstKey = Buffer.from(call.attestedPublicKey);
    await kms.stack.restartEnclave();
    const decrypts = kms.double.calls.filter((c) => c.operation === 'Decrypt' && c.outcome === 'ok');
    assert.equal(decrypts.length, 1);
    const decrypt = decrypts[0];
    assert.ok(decrypt !== undefined && decrypt.attestedPublicKey !== null);
    assert.ok(!Buffer.from(decrypt.attestedPublicKey).equals(firstKey), 'each start makes a new recipient key pair');
    assert.equal(kms.double.calls.filter((c) => c.operation === 'GenerateDataKey').length, 1, 'no second keyring');
    const again = await sendRequest(kms.stack.port, { path: '/private-data/kms-notes', token });
    assert.equal(again.status, 200);
    assert.equal(again.body.toString(), '{"kms":"released"}');
  });

  test('a key policy pinning another PCR0 refuses; the enclave stops with one line and serves nothing', async () => {
    const policy = { allowDecryptWithoutRecipient: false, allowGenerateWithoutRecipient: false };
    kms.double.setPolicy(kms.keyArn, { ...policy, recipientConditions: { 'kms:RecipientAttestation:ImageSha384': 'ab'.repeat(48) } });
    let result;
    try {
      result = await runToExit(ENCLAVE_MAIN, { ...kms.enclaveEnv, ENCLAVE_LISTEN: `unix://${join(kms.dir, 'refused.sock')}`, STORAGE_ADDR: `unix://${join(kms.dir, 'storage.sock')}` }, 60_000);
    } finally {
      kms.double.setPolicy(kms.keyArn, { ...policy, recipientConditions: { 'kms:RecipientAttestation:ImageSha384': kms.pcr0Hex } });
    }
    const { code, stderr } = result;
    assert.equal(code, 1);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0] ?? '', /^enclave: cannot obtain the master keyring \(KMS_REQUEST_FAILED\/KMS_REFUSED, KEY_SOURCE=kms\): KMS refused Decrypt: AccessDeniedException/);
    assert.equal(kms.double.calls.at(-1)?.outcome, 'AccessDeniedException');
  });

  test('a malformed KMS answer, a Plaintext answer, an unreachable endpoint: the enclave stops with one line naming the cause', async () => {
    const cases: { readonly name: string; readonly setup: () => void; readonly env?: Record<string, string>; readonly expect: RegExp }[] = [
      {
        name: 'truncated CMS',
        setup: () => kms.double.injectFault({ kind: 'malformed-body', body: 'truncated-cms', count: 1 }),
        expect: /^enclave: cannot obtain the master keyring \(KMS_ENVELOPE_INVALID\/(TRUNCATED|BAD_LENGTH|BAD_TAG), KEY_SOURCE=kms\): /,
      },
      {
        name: 'Plaintext next to CiphertextForRecipient',
        setup: () => kms.double.injectFault({ kind: 'malformed-body', body: 'plaintext-with-recipient', count: 1 }),
        expect: /^enclave: cannot obtain the master keyring \(KMS_REQUEST_FAILED\/KMS_PLAINTEXT_REFUSED, KEY_SOURCE=kms\): /,
      },
      {
        name: 'not JSON',
        setup: () => kms.double.injectFault({ kind: 'malformed-body', body: 'non-json', count: 1 }),
        expect: /^enclave: cannot obtain the master keyring \(KMS_REQUEST_FAILED\/KMS_BAD_REPLY, KEY_SOURCE=kms\): /,
      },
      {
        name: 'an endpoint the egress forwarder does not allow',
        setup: () => undefined,
        env: { KMS_ENDPOINT: 'https://localhost:9' },
        expect: /^enclave: cannot obtain the master keyring \(KMS_REQUEST_FAILED\/KMS_UNREACHABLE, KEY_SOURCE=kms\): Decrypt: egress forwarder refused CONNECT localhost:9: HTTP\/1\.1 403/,
      },
    ];
    for (const [index, item] of cases.entries()) {
      kms.double.clearFaults();
      item.setup();
      const { code, stderr } = await runToExit(ENCLAVE_MAIN, {
        ...kms.enclaveEnv,
        ...item.env,
        ENCLAVE_LISTEN: `unix://${join(kms.dir, `fault-${index}.sock`)}`,
        STORAGE_ADDR: `unix://${join(kms.dir, 'storage.sock')}`,
      }, 60_000);
      assert.equal(code, 1, `${item.name}: ${stderr}`);
      const lines = stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${item.name}: ${stderr}`);
      assert.match(lines[0] ?? '', item.expect, item.name);
    }
    kms.double.clearFaults();
    // The running enclave was never disturbed.
    assert.equal((await sendRequest(kms.stack.port, { path: '/healthz' })).status, 200);
  });
});
