// KEY_SOURCE=kms: the master keyring exists in plaintext only in this
// enclave's memory. At start the enclave reads the wrapped keyring from the
// host (keyring-document.ts), makes a fresh recipient key and attestation
// document (kms-recipient.ts), and has KMS Decrypt each wrapped key *to that
// recipient*; it opens each answer (CMS, cms-enveloped-data.ts), checks every
// key id and the document's MAC, and builds the Keyring. With no keyring
// stored yet, GenerateDataKey makes the first key, and the wrapped form is
// stored by compare-and-set (a concurrent first start of another enclave
// wins or loses cleanly: the loser reads the winner's keyring).
//
// Rotation adds a key from GenerateDataKey and makes it active; retirement
// removes a key no record uses. Both write the new document by
// compare-and-set on the keyring record's version.
//
// No fallback, ever: any failure here stops start-up (or fails the admin
// request) with a stable code.

import type { KeyObject } from 'node:crypto';
import type { AttestationProvider } from '../../attest/attestation-provider.js';
import type { Logger } from '../../log.js';
import type { GetResult, WriteResult } from '../../storage/storage-client.js';
import { keyIdToHex, type KeyId } from '../identifiers.js';
import { createKeyring, type Keyring } from '../keyring.js';
import { deriveKeyId } from '../key-derivation.js';
import { MASTER_KEY_BYTES } from '../master-key.js';
import { createSecretKey } from 'node:crypto';
import { openCmsEnvelopedData } from './cms-enveloped-data.js';
import type { KmsClient } from './kms-client.js';
import { createKmsRecipient, type KmsRecipientKey } from './kms-recipient.js';
import { KEYRING_ENCRYPTION_CONTEXT, KEYRING_OWNER, KEYRING_RECORD, MAX_KEYRING_KEYS, decodeKeyringDocument, encodeKeyringDocument, verifyKeyringMac, type KeyringDocument, type WrappedKey } from './keyring-document.js';
import { KeyringChangedError, KeyringDocumentError, KmsRequestError } from '../../enclave-errors.js';

/** What key release needs of the storage channel. */
export interface KeyringStorage {
  get(owner: Buffer, record: Buffer): Promise<GetResult>;
  put(owner: Buffer, record: Buffer, expectedVersion: number, blob: Buffer): Promise<WriteResult>;
}

export interface KmsKeyringDeps {
  readonly kms: KmsClient;
  readonly kmsKeyId: string;
  readonly attestation: AttestationProvider;
  readonly storage: KeyringStorage;
  readonly logger: Logger;
}

/** The released keyring and what is needed to change it. */
export interface KmsKeyringState {
  readonly keyring: Keyring;
  readonly document: KeyringDocument;
  /** Storage version of the keyring record (compare-and-set base for the next change). */
  readonly storedVersion: number;
}

/** Reads the stored keyring and has KMS release it; creates one on first start. */
export async function loadKmsKeyring(deps: KmsKeyringDeps): Promise<KmsKeyringState> {
  // Two rounds at most: the second only after losing a first-start race.
  for (let round = 0; round < 2; round += 1) {
    const stored = await deps.storage.get(KEYRING_OWNER, KEYRING_RECORD);
    const recipient = await createKmsRecipient(deps.attestation);
    if (stored.found) return releaseStoredKeyring(stored.blob, stored.version, recipient, deps);
    const created = await createFirstKeyring(recipient, deps);
    if (created !== undefined) return created;
  }
  throw new KeyringChangedError();
}

async function releaseStoredKeyring(blob: Buffer, version: number, recipient: KmsRecipientKey, deps: KmsKeyringDeps): Promise<KmsKeyringState> {
  const document = decodeKeyringDocument(blob);
  const masters: Buffer[] = [];
  try {
    for (const [index, wrapped] of document.keys.entries()) {
      const answer = await deps.kms.decryptForRecipient({
        ciphertextBlob: wrapped.blob,
        keyId: deps.kmsKeyId,
        encryptionContext: KEYRING_ENCRYPTION_CONTEXT,
        recipient: { attestationDocument: recipient.attestationDocument },
      });
      requireConfiguredKey(answer.keyId, deps.kmsKeyId, 'Decrypt');
      const master = openMasterKey(answer.ciphertextForRecipient, recipient.privateKey);
      masters.push(master);
      if (!idOfRawKey(master).equals(wrapped.keyId)) {
        throw new KeyringDocumentError('KEYRING_KEY_ID_MISMATCH', `key ${index}: the key KMS released does not have the key id stored beside it`);
      }
    }
    const active = document.keys[document.activeIndex];
    if (active === undefined) throw new KeyringDocumentError('KEYRING_MALFORMED', 'active index out of range');
    const keyring = createKeyring({ source: 'kms', masterKeys: masters, activeKeyId: active.keyId });
    verifyKeyringMac(document, (body) => keyring.keyringDocumentMac(body));
    deps.logger.info('master keyring released by KMS', {
      keys: document.keys.length,
      activeKeyId: keyIdToHex(active.keyId),
      identityKeyId: keyIdToHex(keyring.identityKeyId),
    });
    return { keyring, document: { keys: document.keys, activeIndex: document.activeIndex }, storedVersion: version };
  } finally {
    for (const master of masters) master.fill(0);
  }
}

async function createFirstKeyring(recipient: KmsRecipientKey, deps: KmsKeyringDeps): Promise<KmsKeyringState | undefined> {
  const { wrapped, master } = await generateWrappedKey(recipient, deps);
  const keyring = createKeyring({ source: 'kms', masterKeys: [master] });
  const document: KeyringDocument = { keys: [wrapped], activeIndex: 0 };
  const result = await deps.storage.put(KEYRING_OWNER, KEYRING_RECORD, 0, encodeKeyringDocument(document, (body) => keyring.keyringDocumentMac(body)));
  if (!result.written) {
    deps.logger.info('another enclave created the keyring first; loading it', {});
    return undefined;
  }
  deps.logger.warn('no keyring was stored: created a new master keyring through KMS (first start of this deployment)', {
    activeKeyId: keyIdToHex(wrapped.keyId),
  });
  return { keyring, document, storedVersion: result.version };
}

/** Rotation: a new key from KMS becomes active; older keys stay to open older records. */
export async function rotateKmsKeyring(state: KmsKeyringState, deps: KmsKeyringDeps): Promise<KmsKeyringState> {
  if (state.document.keys.length >= MAX_KEYRING_KEYS) {
    throw new KeyringDocumentError('KEYRING_MALFORMED', `the keyring already holds ${MAX_KEYRING_KEYS} keys; retire one first`);
  }
  const recipient = await createKmsRecipient(deps.attestation);
  const { wrapped, master } = await generateWrappedKey(recipient, deps);
  const keyring = state.keyring.withAddedMasterKey(master);
  const document: KeyringDocument = { keys: [...state.document.keys, wrapped], activeIndex: state.document.keys.length };
  return storeChanged(state, keyring, document, deps);
}

/** Retirement: removes a key (not the identity key, not the active one). The caller has checked that no record uses it. */
export async function retireKmsKey(state: KmsKeyringState, keyId: KeyId, deps: KmsKeyringDeps): Promise<KmsKeyringState> {
  const keyring = state.keyring.withoutKeyId(keyId);
  const keys = state.document.keys.filter((key) => !key.keyId.equals(keyId));
  const active = state.document.keys[state.document.activeIndex];
  const activeIndex = keys.findIndex((key) => active !== undefined && key.keyId.equals(active.keyId));
  return storeChanged(state, keyring, { keys, activeIndex }, deps);
}

async function storeChanged(state: KmsKeyringState, keyring: Keyring, document: KeyringDocument, deps: KmsKeyringDeps): Promise<KmsKeyringState> {
  const bytes = encodeKeyringDocument(document, (body) => keyring.keyringDocumentMac(body));
  const result = await deps.storage.put(KEYRING_OWNER, KEYRING_RECORD, state.storedVersion, bytes);
  if (!result.written) throw new KeyringChangedError();
  const active = document.keys[document.activeIndex];
  deps.logger.info('master keyring changed', { keys: document.keys.length, activeKeyId: active === undefined ? '' : keyIdToHex(active.keyId) });
  return { keyring, document, storedVersion: result.version };
}

async function generateWrappedKey(recipient: KmsRecipientKey, deps: KmsKeyringDeps): Promise<{ wrapped: WrappedKey; master: Buffer }> {
  const answer = await deps.kms.generateDataKeyForRecipient({
    keyId: deps.kmsKeyId,
    encryptionContext: KEYRING_ENCRYPTION_CONTEXT,
    recipient: { attestationDocument: recipient.attestationDocument },
  });
  requireConfiguredKey(answer.keyId, deps.kmsKeyId, 'GenerateDataKey');
  const master = openMasterKey(answer.ciphertextForRecipient, recipient.privateKey);
  return { wrapped: { keyId: idOfRawKey(master), blob: answer.ciphertextBlob }, master };
}

function openMasterKey(ciphertextForRecipient: Buffer, privateKey: KeyObject): Buffer {
  const master = openCmsEnvelopedData(ciphertextForRecipient, privateKey, { maxPlaintextBytes: 64 });
  if (master.length !== MASTER_KEY_BYTES) {
    const length = master.length;
    master.fill(0);
    throw new KeyringDocumentError('KEYRING_WRONG_KEY_LENGTH', `KMS released ${length} bytes, a master key is ${MASTER_KEY_BYTES}`);
  }
  return master;
}

/** KMS answers with the ARN of the key it used: anything but KMS_KEY_ID means another key did the work. */
function requireConfiguredKey(answered: string, configured: string, operation: string): void {
  if (answered !== configured) throw new KmsRequestError('KMS_BAD_REPLY', `${operation}: the answer names another KMS key than KMS_KEY_ID`);
}

function idOfRawKey(raw: Buffer): KeyId {
  return deriveKeyId(createSecretKey(raw));
}

