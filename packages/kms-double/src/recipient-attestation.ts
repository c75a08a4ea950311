// The `Recipient` parameter of Decrypt / GenerateDataKey (reference §5.1):
//
//   "Recipient": { "AttestationDocument": "<base64 COSE_Sign1>",
//                  "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256" }
//
// Checked as KMS does: both fields present, the only algorithm, the document
// verified against the root the double was given (the dev root) at the
// double's clock, its `public_key` a DER SubjectPublicKeyInfo of an RSA-2048
// key. A debug-mode document (PCR0/1/2 zero) never meets a policy: refused
// with AccessDeniedException. The key policy's conditions are evaluated by the
// caller (key-policy.ts) on the PCRs returned here.

import { createPublicKey, type KeyObject } from 'node:crypto';

import { verifyAttestationDocument } from '@http-enclave/attestation';

import { KmsError } from './kms-errors.js';

export const RECIPIENT_KEY_ENCRYPTION_ALGORITHM = 'RSAES_OAEP_SHA_256';
/** KMS requires "a RSA2048 key encoded as a DER SubjectPublicKeyInfo" (sdk-c RecipientRequest.md). */
export const RECIPIENT_RSA_MODULUS_BITS = 2048;

export interface AttestedRecipient {
  readonly publicKey: KeyObject;
  /** The document's public_key bytes (DER SPKI), as received. */
  readonly publicKeySpki: Buffer;
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  /** PCR0, lower-case hex: what kms:RecipientAttestation:ImageSha384 compares. */
  readonly pcr0Hex: string;
}

export function decodeBase64Field(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new KmsError('SerializationException', `${field} must be a base64 string`);
  }
  return Buffer.from(value, 'base64');
}

export function verifyRecipient(recipient: unknown, rootCertificatePem: string, now: Date): AttestedRecipient {
  if (typeof recipient !== 'object' || recipient === null || Array.isArray(recipient)) {
    throw new KmsError('ValidationException', 'Recipient must be an object');
  }
  const { AttestationDocument: documentField, KeyEncryptionAlgorithm: algorithm } = recipient as Record<string, unknown>;
  if (algorithm !== RECIPIENT_KEY_ENCRYPTION_ALGORITHM) {
    throw new KmsError('ValidationException', `Recipient.KeyEncryptionAlgorithm must be ${RECIPIENT_KEY_ENCRYPTION_ALGORITHM}`);
  }
  if (documentField === undefined) throw new KmsError('ValidationException', 'Recipient.AttestationDocument is required');
  const document = decodeBase64Field(documentField, 'Recipient.AttestationDocument');

  const result = verifyAttestationDocument(document, { now, root: { certificatePem: rootCertificatePem } });
  if (!result.ok) {
    if (result.reason === 'DEBUG_MODE') throw new KmsError('AccessDeniedException', 'the attestation document is from a debug-mode enclave');
    throw new KmsError('ValidationException', `Recipient.AttestationDocument did not verify (${result.reason})`);
  }
  const spki = result.document.publicKey;
  if (spki === null) throw new KmsError('ValidationException', 'the attestation document has no public_key');
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw new KmsError('ValidationException', `the attestation document public_key (${spki.length} bytes) is not a DER SubjectPublicKeyInfo`);
  }
  if (publicKey.asymmetricKeyType !== 'rsa' || publicKey.asymmetricKeyDetails?.modulusLength !== RECIPIENT_RSA_MODULUS_BITS) {
    throw new KmsError('ValidationException', `the attestation document public_key must be an RSA ${RECIPIENT_RSA_MODULUS_BITS}-bit key`);
  }
  const pcr0 = result.document.pcrs.get(0);
  return {
    publicKey,
    publicKeySpki: Buffer.from(spki),
    pcrs: result.document.pcrs,
    pcr0Hex: pcr0 === undefined ? '' : Buffer.from(pcr0).toString('hex'),
  };
}
