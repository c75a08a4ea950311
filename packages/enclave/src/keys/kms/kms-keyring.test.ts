// The key-release flow (kms-keyring.ts) with a KMS stand-in that answers the
// way KMS does (CMS to the recipient's key, built by cms-test-builder.ts) and
// can be told to misbehave in ways the KMS double never does: an answer for
// another key, a released key that does not match the stored key id, a key
// of the wrong length. The real HTTPS path against the double is in
// test/e2e/kms-*.test.ts; this file covers the enclave's own checks.

import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { AttestationProvider } from '../../attest/attestation-provider.js';
import { silentLogger } from '../../log.js';
import type { GetResult, WriteResult } from '../../storage/storage-client.js';
import { buildEnvelope, sealForRecipient } from './cms-test-builder.js';
import type { KmsClient } from './kms-client.js';
import { loadKmsKeyring, rotateKmsKeyring, type KmsKeyringDeps } from './kms-keyring.js';
import { KeyringChangedError, KeyringDocumentError, KmsRequestError } from '../../enclave-errors.js';

const KEY_ARN = 'arn:aws:kms:eu-west-3:111122223333:key/6f1f9c4e-0c44-4a8e-9a39-1f0b5d0c2a11';

/** The stand-in "attestation document" is the recipient's SPKI itself: this KMS trusts it (the real checks are the double's). */
const attestation: AttestationProvider = { kind: 'dev', attest: (request) => Promise.resolve(Buffer.from(request.publicKey ?? Buffer.alloc(0))) };

class MemoryStorage {
  row: { version: number; blob: Buffer } | undefined;
  get(): Promise<GetResult> {
    return Promise.resolve(this.row === undefined ? { found: false, version: 0 } : { found: true, version: this.row.version, blob: this.row.blob });
  }
  put(_owner: Buffer, _record: Buffer, expected: number, blob: Buffer): Promise<WriteResult> {
    const current = this.row?.version ?? 0;
    if (current !== expected) return Promise.resolve({ written: false, currentVersion: current });
    this.row = { version: current + 1, blob: Buffer.from(blob) };
    return Promise.resolve({ written: true, version: current + 1 });
  }
}

class StandInKms {
  readonly keys = new Map<string, Buffer>();
  answerKeyId = KEY_ARN;
  /** Replaces what Decrypt releases (to test the enclave's checks). */
  releaseOverride: Buffer | undefined;
  #seal(plaintext: Buffer, document: Buffer): Buffer {
    const spki = createPublicKey({ key: document, format: 'der', type: 'spki' });
    return buildEnvelope(sealForRecipient(plaintext, spki, createHash('sha256').update(document).digest()));
  }
  generateDataKeyForRecipient(request: { keyId: string; recipient: { attestationDocument: Buffer } }): Promise<{ ciphertextForRecipient: Buffer; keyId: string; ciphertextBlob: Buffer }> {
    const key = randomBytes(32);
    const blob = randomBytes(48);
    this.keys.set(blob.toString('hex'), key);
    return Promise.resolve({ ciphertextForRecipient: this.#seal(key, request.recipient.attestationDocument), keyId: this.answerKeyId, ciphertextBlob: blob });
  }
  decryptForRecipient(request: { ciphertextBlob: Buffer; recipient: { attestationDocument: Buffer } }): Promise<{ ciphertextForRecipient: Buffer; keyId: string }> {
    const key = this.releaseOverride ?? this.keys.get(request.ciphertextBlob.toString('hex'));
    if (key === undefined) return Promise.reject(new KmsRequestError('KMS_REFUSED', 'KMS refused Decrypt: InvalidCiphertextException', 'InvalidCiphertextException'));
    return Promise.resolve({ ciphertextForRecipient: this.#seal(key, request.recipient.attestationDocument), keyId: this.answerKeyId });
  }
}

function depsFor(kms: StandInKms, storage: MemoryStorage): KmsKeyringDeps {
  // The stand-in has KmsClient's two methods; the class itself needs a network (tested in kms-client.test.ts).
  return { kms: kms as unknown as KmsClient, kmsKeyId: KEY_ARN, attestation, storage, logger: silentLogger };
}

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KmsRequestError || error instanceof KeyringDocumentError) return error.reason;
    if (error instanceof KeyringChangedError) return error.code;
    throw error;
  }
  return 'accepted';
}

test('first start creates and stores the keyring; a later start releases the same keys', async () => {
  const kms = new StandInKms();
  const storage = new MemoryStorage();
  const first = await loadKmsKeyring(depsFor(kms, storage));
  assert.equal(storage.row?.version, 1);
  const second = await loadKmsKeyring(depsFor(kms, storage));
  assert.ok(second.keyring.identityKeyId.equals(first.keyring.identityKeyId));
  assert.ok(second.keyring.activeKeyId.equals(first.keyring.activeKeyId));
  assert.equal(second.storedVersion, 1);
});

test('two enclaves starting at once on an empty store agree on one keyring', async () => {
  const kms = new StandInKms();
  const storage = new MemoryStorage();
  const [a, b] = await Promise.all([loadKmsKeyring(depsFor(kms, storage)), loadKmsKeyring(depsFor(kms, storage))]);
  assert.ok(a.keyring.identityKeyId.equals(b.keyring.identityKeyId));
  assert.equal(storage.row?.version, 1);
});

test('an answer that names another KMS key than KMS_KEY_ID is refused, and nothing is stored', async () => {
  const kms = new StandInKms();
  kms.answerKeyId = KEY_ARN.replace('111122223333', '999988887777');
  const storage = new MemoryStorage();
  assert.equal(await reasonOf(loadKmsKeyring(depsFor(kms, storage))), 'KMS_BAD_REPLY');
  assert.equal(storage.row, undefined);
});

test('a released key that is not the one stored, or not 32 bytes, stops key release', async () => {
  const kms = new StandInKms();
  const storage = new MemoryStorage();
  await loadKmsKeyring(depsFor(kms, storage));
  kms.releaseOverride = randomBytes(32);
  assert.equal(await reasonOf(loadKmsKeyring(depsFor(kms, storage))), 'KEYRING_KEY_ID_MISMATCH');
  kms.releaseOverride = randomBytes(16);
  assert.equal(await reasonOf(loadKmsKeyring(depsFor(kms, storage))), 'KEYRING_WRONG_KEY_LENGTH');
});

test('rotation adds an active key; a rotation from a stale view of the keyring is refused (compare-and-set)', async () => {
  const kms = new StandInKms();
  const storage = new MemoryStorage();
  const state = await loadKmsKeyring(depsFor(kms, storage));
  const rotated = await rotateKmsKeyring(state, depsFor(kms, storage));
  assert.equal(rotated.keyring.keyIds.length, 2);
  assert.ok(!rotated.keyring.activeKeyId.equals(state.keyring.activeKeyId));
  assert.ok(rotated.keyring.identityKeyId.equals(state.keyring.identityKeyId));
  assert.equal(await reasonOf(rotateKmsKeyring(state, depsFor(kms, storage))), 'KEYRING_CONFLICT');
  const reloaded = await loadKmsKeyring(depsFor(kms, storage));
  assert.deepEqual(reloaded.keyring.keyIds.map((id) => id.toString('hex')), rotated.keyring.keyIds.map((id) => id.toString('hex')));
});
