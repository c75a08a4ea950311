// The enclave's KMS recipient: a fresh RSA-2048 key pair that lives only in
// this process's memory, and an attestation document carrying its public key
// (DER SubjectPublicKeyInfo, 294 bytes) in `public_key`. KMS encrypts what it
// releases to that key, and only when the document's measurements satisfy the
// key policy (reference/nitro-attestation-and-kms.md §5). One recipient per
// key-release operation; the private key is dropped with it.

import { generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { AttestationProvider } from '../../attest/attestation-provider.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** KMS accepts RSA-2048 recipient keys only (RecipientInfo: "RSA2048 key encoded as a DER SubjectPublicKeyInfo"). */
export const RECIPIENT_RSA_BITS = 2048;
/** user_data of a recipient document: says what the document is for, to anyone who reads it. */
export const RECIPIENT_USER_DATA = Buffer.from('http-enclave/kms-recipient/v1', 'ascii');
const RECIPIENT_NONCE_BYTES = 16;

export interface KmsRecipientKey {
  readonly privateKey: KeyObject;
  /** DER SubjectPublicKeyInfo of the RSA public key. */
  readonly publicKeySpki: Buffer;
  readonly attestationDocument: Buffer;
}

export async function createKmsRecipient(attestation: AttestationProvider): Promise<KmsRecipientKey> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', { modulusLength: RECIPIENT_RSA_BITS, publicExponent: 0x10001 });
  const publicKeySpki = publicKey.export({ type: 'spki', format: 'der' });
  const attestationDocument = await attestation.attest({ userData: RECIPIENT_USER_DATA, nonce: randomBytes(RECIPIENT_NONCE_BYTES), publicKey: publicKeySpki });
  return { privateKey, publicKeySpki, attestationDocument };
}
