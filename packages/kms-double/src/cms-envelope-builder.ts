// CiphertextForRecipient: a BER CMS EnvelopedData (RFC 5652 §6) in the exact
// shape AWS KMS returns (reference §5.2; both real blobs in
// shared/vectors/nitro/cms-kms-sdkc-*.b64, read with `openssl asn1parse`):
//
//   ContentInfo ::= SEQUENCE (indefinite) {
//     contentType  OID 1.2.840.113549.1.7.3 envelopedData
//     [0] (indefinite) EnvelopedData ::= SEQUENCE (indefinite) {
//       version  INTEGER 2
//       recipientInfos  SET (definite) OF KeyTransRecipientInfo ::= SEQUENCE (definite) {
//         version  INTEGER 2
//         rid      [0] IMPLICIT SubjectKeyIdentifier (32 bytes; here SHA-256 of the recipient SPKI)
//         keyEncryptionAlgorithm  SEQUENCE { OID 1.2.840.113549.1.1.7 rsaesOaep,
//           RSAES-OAEP-params (RFC 4055 §4.1) SEQUENCE {
//             [0] SEQUENCE { OID 2.16.840.1.101.3.4.2.1 sha256, NULL }
//             [1] SEQUENCE { OID 1.2.840.113549.1.1.8 mgf1,
//                            SEQUENCE { OID sha256, NULL } } } }   -- pSource absent (empty label)
//         encryptedKey  OCTET STRING = RSAES-OAEP-SHA256(content key), 256 bytes for RSA-2048 }
//       encryptedContentInfo ::= SEQUENCE (indefinite) {
//         contentType  OID 1.2.840.113549.1.7.1 data
//         contentEncryptionAlgorithm SEQUENCE { OID 2.16.840.1.101.3.4.1.42 aes-256-cbc, OCTET STRING iv (16) }
//         encryptedContent  [0] constructed indefinite { OCTET STRING chunk … } EOC   (blob 1)
//                        or [0] IMPLICIT primitive OCTET STRING                      (blob 2) }
//     EOC } EOC }
//
// Content: AES-256-CBC with PKCS#7 padding under a fresh 32-byte key and IV.

import { createCipheriv, createHash, createPublicKey, publicEncrypt, randomBytes as cryptoRandomBytes, constants } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export const CONTENT_KEY_BYTES = 32;
export const CBC_IV_BYTES = 16;
/** KMS: CiphertextForRecipient is 1..6144 bytes. */
export const MAX_CIPHERTEXT_FOR_RECIPIENT_BYTES = 6144;

const OID_ENVELOPED_DATA = Buffer.from('2a864886f70d010703', 'hex');
const OID_DATA = Buffer.from('2a864886f70d010701', 'hex');
const OID_RSAES_OAEP = Buffer.from('2a864886f70d010107', 'hex');
const OID_MGF1 = Buffer.from('2a864886f70d010108', 'hex');
const OID_SHA256 = Buffer.from('608648016503040201', 'hex');
const OID_AES_256_CBC = Buffer.from('60864801650304012a', 'hex');
const END_OF_CONTENTS = Buffer.of(0x00, 0x00);

/** DER definite length (X.690 §8.1.3). */
function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function definite(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.of(tag), encodeLength(body.length), body]);
}

/** X.690 §8.1.3.6: constructed, length octet 0x80, contents closed by end-of-contents. */
function indefinite(tag: number, ...contents: Buffer[]): Buffer {
  return Buffer.concat([Buffer.of(tag, 0x80), ...contents, END_OF_CONTENTS]);
}

const oid = (value: Buffer): Buffer => definite(0x06, value);
const octetString = (value: Uint8Array): Buffer => definite(0x04, Buffer.from(value));
const integer = (value: number): Buffer => definite(0x02, Buffer.of(value));
const NULL = Buffer.of(0x05, 0x00);
const SHA256_ALGORITHM = definite(0x30, oid(OID_SHA256), NULL);

/** AlgorithmIdentifier rsaesOaep with sha256 and mgf1(sha256), as KMS encodes it. */
const RSAES_OAEP_SHA256_ALGORITHM = definite(
  0x30,
  oid(OID_RSAES_OAEP),
  definite(0x30, definite(0xa0, SHA256_ALGORITHM), definite(0xa1, definite(0x30, oid(OID_MGF1), SHA256_ALGORITHM))),
);

export interface CmsEnvelopeOptions {
  /** The attested public key: DER SubjectPublicKeyInfo of an RSA key, or a KeyObject. */
  readonly recipientPublicKey: Uint8Array | KeyObject;
  readonly plaintext: Uint8Array;
  /** 'constructed' (default, like cms-kms-sdkc-1) or 'primitive' (like cms-kms-sdkc-2). */
  readonly contentForm?: 'constructed' | 'primitive';
  /** Constructed form: bytes per OCTET STRING chunk; default one chunk. */
  readonly chunkBytes?: number;
  readonly randomBytes?: (size: number) => Buffer;
}

/** Subject key identifier the double uses for the recipient: SHA-256 of its SPKI DER. */
export function recipientKeyIdentifier(spkiDer: Uint8Array): Buffer {
  return createHash('sha256').update(spkiDer).digest();
}

export function buildCmsEnvelope(options: CmsEnvelopeOptions): Buffer {
  const randomBytes = options.randomBytes ?? cryptoRandomBytes;
  const publicKey = options.recipientPublicKey instanceof Uint8Array
    ? createPublicKey({ key: Buffer.from(options.recipientPublicKey), format: 'der', type: 'spki' })
    : options.recipientPublicKey;
  if (publicKey.asymmetricKeyType !== 'rsa') throw new TypeError('recipientPublicKey must be an RSA key');
  const spki = publicKey.export({ format: 'der', type: 'spki' });

  const contentKey = randomBytes(CONTENT_KEY_BYTES);
  const iv = randomBytes(CBC_IV_BYTES);
  const cipher = createCipheriv('aes-256-cbc', contentKey, iv);
  const ciphertext = Buffer.concat([cipher.update(options.plaintext), cipher.final()]);
  const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, contentKey);
  contentKey.fill(0);

  let encryptedContent: Buffer;
  if (options.contentForm === 'primitive') {
    encryptedContent = definite(0x80, ciphertext);
  } else {
    const chunkBytes = options.chunkBytes ?? ciphertext.length;
    if (!Number.isInteger(chunkBytes) || chunkBytes <= 0) throw new RangeError('chunkBytes must be a positive integer');
    const chunks: Buffer[] = [];
    for (let at = 0; at < ciphertext.length; at += chunkBytes) chunks.push(octetString(ciphertext.subarray(at, at + chunkBytes)));
    encryptedContent = indefinite(0xa0, ...chunks);
  }

  const keyTransRecipientInfo = definite(
    0x30,
    integer(2),
    definite(0x80, recipientKeyIdentifier(spki)),
    RSAES_OAEP_SHA256_ALGORITHM,
    octetString(encryptedKey),
  );
  const encryptedContentInfo = indefinite(
    0x30,
    oid(OID_DATA),
    definite(0x30, oid(OID_AES_256_CBC), octetString(iv)),
    encryptedContent,
  );
  const envelopedData = indefinite(0x30, integer(2), definite(0x31, keyTransRecipientInfo), encryptedContentInfo);
  return indefinite(0x30, oid(OID_ENVELOPED_DATA), indefinite(0xa0, envelopedData));
}
