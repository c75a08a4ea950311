// The two KMS operations the enclave uses, on parsed AWS JSON 1.1 request
// bodies (KMS API reference, Decrypt and GenerateDataKey):
//
//   Decrypt          { CiphertextBlob, EncryptionContext?, KeyId?, Recipient?,
//                      EncryptionAlgorithm? ("SYMMETRIC_DEFAULT"), GrantTokens?, DryRun? }
//                 → { KeyId, EncryptionAlgorithm, Plaintext }              without Recipient
//                 → { KeyId, EncryptionAlgorithm, CiphertextForRecipient } with Recipient
//   GenerateDataKey  { KeyId, KeySpec? ("AES_256"|"AES_128") | NumberOfBytes? (1..1024),
//                      EncryptionContext?, Recipient?, GrantTokens?, DryRun? }
//                 → { KeyId, CiphertextBlob, Plaintext }                    without Recipient
//                 → { KeyId, CiphertextBlob, CiphertextForRecipient }       with Recipient
//
// Order, as KMS: validate the request, find the key, check its state,
// authorize (key policy + Recipient attestation), then do the cryptography.
// Blobs are base64 in JSON. Unknown members are ignored, as AWS does.

import { randomBytes as cryptoRandomBytes } from 'node:crypto';

import {
  MAX_CIPHERTEXT_BLOB_BYTES,
  openCiphertextBlob,
  readCiphertextBlobKeyId,
  sealCiphertextBlob,
  type EncryptionContext,
} from './ciphertext-blob.js';
import { buildCmsEnvelope } from './cms-envelope-builder.js';
import { allowsWithoutRecipient, findFailingCondition } from './key-policy.js';
import { KeyStore, type DoubleKey } from './key-store.js';
import { KmsError } from './kms-errors.js';
import { decodeBase64Field, verifyRecipient, type AttestedRecipient } from './recipient-attestation.js';

/** GenerateDataKey NumberOfBytes range (KMS API reference). */
export const MIN_DATA_KEY_BYTES = 1;
export const MAX_DATA_KEY_BYTES = 1024;
/** KMS: EncryptionContext up to 8192 characters in total (keys + values). */
export const MAX_ENCRYPTION_CONTEXT_CHARACTERS = 8192;

export type KmsOperation = 'Decrypt' | 'GenerateDataKey';

export interface OperationContext {
  readonly keys: KeyStore;
  readonly rootCertificatePem: string;
  readonly now: Date;
  readonly randomBytes?: (size: number) => Buffer;
}

/** What the operation learnt, filled in as it goes (recorded even when it fails). */
export interface OperationTrace {
  keyArn: string | null;
  recipientPresent: boolean;
  recipient: AttestedRecipient | null;
  /** The plaintext released (kept only for the 'plaintext-with-recipient' fault). */
  plaintext: Buffer | null;
}

export function newOperationTrace(): OperationTrace {
  return { keyArn: null, recipientPresent: false, recipient: null, plaintext: null };
}

function readEncryptionContext(value: unknown): EncryptionContext {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new KmsError('SerializationException', 'EncryptionContext must be a map of strings');
  let characters = 0;
  const context: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
    if (typeof entry !== 'string') throw new KmsError('SerializationException', 'EncryptionContext values must be strings');
    characters += key.length + entry.length;
    context[key] = entry;
  }
  if (characters > MAX_ENCRYPTION_CONTEXT_CHARACTERS) {
    throw new KmsError('ValidationException', `EncryptionContext of ${characters} characters exceeds ${MAX_ENCRYPTION_CONTEXT_CHARACTERS}`);
  }
  return context;
}

/** Key policy and Recipient: AccessDeniedException unless the request is allowed. */
function authorize(operation: KmsOperation, key: DoubleKey, body: Record<string, unknown>, context: OperationContext, trace: OperationTrace): void {
  const recipientField = body['Recipient'];
  trace.recipientPresent = recipientField !== undefined && recipientField !== null;
  if (!trace.recipientPresent) {
    if (!allowsWithoutRecipient(key.policy, operation)) {
      throw new KmsError('AccessDeniedException', `The key policy of ${key.arn} denies kms:${operation} without a Recipient attestation document`);
    }
    return;
  }
  const recipient = verifyRecipient(recipientField, context.rootCertificatePem, context.now);
  trace.recipient = recipient;
  const failing = findFailingCondition(key.policy, recipient.pcrs);
  if (failing !== null) {
    throw new KmsError('AccessDeniedException', `The key policy of ${key.arn} denies kms:${operation}: condition ${failing} does not match the attestation document`);
  }
}

function release(plaintext: Buffer, trace: OperationTrace, randomBytes: ((size: number) => Buffer) | undefined): Record<string, string> {
  trace.plaintext = plaintext;
  if (trace.recipient === null) return { Plaintext: plaintext.toString('base64') };
  const envelope = buildCmsEnvelope({ recipientPublicKey: trace.recipient.publicKey, plaintext, ...(randomBytes === undefined ? {} : { randomBytes }) });
  return { CiphertextForRecipient: envelope.toString('base64') };
}

export function decrypt(body: Record<string, unknown>, context: OperationContext, trace: OperationTrace): Record<string, unknown> {
  if (body['CiphertextBlob'] === undefined) throw new KmsError('ValidationException', 'CiphertextBlob is required');
  const blob = decodeBase64Field(body['CiphertextBlob'], 'CiphertextBlob');
  if (blob.length < 1 || blob.length > MAX_CIPHERTEXT_BLOB_BYTES) {
    throw new KmsError('ValidationException', `CiphertextBlob of ${blob.length} bytes is not 1..${MAX_CIPHERTEXT_BLOB_BYTES}`);
  }
  const algorithm = body['EncryptionAlgorithm'];
  if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') throw new KmsError('IncorrectKeyException', 'EncryptionAlgorithm must be SYMMETRIC_DEFAULT for a symmetric key');
  const encryptionContext = readEncryptionContext(body['EncryptionContext']);
  const named = body['KeyId'] === undefined ? undefined : context.keys.resolve(body['KeyId'], 'KeyId');
  const blobKeyId = readCiphertextBlobKeyId(blob);
  if (named !== undefined && blobKeyId !== named.keyId) {
    trace.keyArn = named.arn;
    throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify the KMS key that encrypted the ciphertext.');
  }
  const key = blobKeyId === null ? undefined : context.keys.find(blobKeyId);
  if (key === undefined) throw new KmsError('InvalidCiphertextException', 'The ciphertext is not a ciphertext of this account.');
  trace.keyArn = key.arn;
  KeyStore.requireUsable(key);
  authorize('Decrypt', key, body, context, trace);
  const plaintext = openCiphertextBlob(blob, key.material, encryptionContext);
  if (plaintext === null) throw new KmsError('InvalidCiphertextException', 'The ciphertext or its encryption context is invalid.');
  return { KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT', ...release(plaintext, trace, context.randomBytes) };
}

function readDataKeyLength(body: Record<string, unknown>): number {
  const spec = body['KeySpec'];
  const count = body['NumberOfBytes'];
  if (spec !== undefined && count !== undefined) throw new KmsError('ValidationException', 'Specify either KeySpec or NumberOfBytes, not both');
  if (spec === 'AES_256') return 32;
  if (spec === 'AES_128') return 16;
  if (spec !== undefined) throw new KmsError('ValidationException', 'KeySpec must be AES_256 or AES_128');
  if (count === undefined) throw new KmsError('ValidationException', 'Specify either KeySpec or NumberOfBytes');
  if (typeof count !== 'number' || !Number.isInteger(count)) throw new KmsError('SerializationException', 'NumberOfBytes must be an integer');
  if (count < MIN_DATA_KEY_BYTES || count > MAX_DATA_KEY_BYTES) {
    throw new KmsError('ValidationException', `NumberOfBytes must be ${MIN_DATA_KEY_BYTES}..${MAX_DATA_KEY_BYTES}`);
  }
  return count;
}

export function generateDataKey(body: Record<string, unknown>, context: OperationContext, trace: OperationTrace): Record<string, unknown> {
  if (body['KeyId'] === undefined) throw new KmsError('ValidationException', 'KeyId is required');
  const length = readDataKeyLength(body);
  const encryptionContext = readEncryptionContext(body['EncryptionContext']);
  const key = context.keys.resolve(body['KeyId'], 'KeyId');
  trace.keyArn = key.arn;
  KeyStore.requireUsable(key);
  authorize('GenerateDataKey', key, body, context, trace);
  const randomBytes = context.randomBytes ?? cryptoRandomBytes;
  const dataKey = randomBytes(length);
  const blob = sealCiphertextBlob(key.keyId, key.material, dataKey, encryptionContext, randomBytes);
  return { CiphertextBlob: blob.toString('base64'), KeyId: key.arn, ...release(dataKey, trace, context.randomBytes) };
}
