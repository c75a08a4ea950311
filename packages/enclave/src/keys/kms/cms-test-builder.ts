// TEST ONLY: a tiny TLV builder for CMS EnvelopedData blobs in the KMS
// CiphertextForRecipient shape (indefinite outer lengths, see the spec comment
// of cms-enveloped-data.ts), with every element replaceable so tests can
// build negative vectors. Product code never imports this file.

import { constants as cryptoConstants, createCipheriv, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';

/** Minimal definite length octets (X.690 §8.1.3). */
function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  if (length < 0x100) return Buffer.of(0x81, length);
  if (length < 0x10000) return Buffer.of(0x82, length >> 8, length & 0xff);
  throw new RangeError('test builder: length over 65535');
}

/** Definite-length element. */
export function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.of(tag), encodeLength(body.length), body]);
}

/** Indefinite-length constructed element closed by 00 00. */
export function indefinite(tag: number, ...children: Buffer[]): Buffer {
  return Buffer.concat([Buffer.of(tag, 0x80), ...children, Buffer.of(0, 0)]);
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const group = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) group.unshift((value & 0x7f) | 0x80);
    bytes.push(...group);
  }
  return tlv(0x06, Buffer.from(bytes));
}

export const integer = (value: number): Buffer => tlv(0x02, Buffer.of(value));
export const NULL = Buffer.of(0x05, 0x00);

export const OIDS = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
  mgf1: '1.2.840.113549.1.1.8',
  pSpecified: '1.2.840.113549.1.1.9',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  aes128Cbc: '2.16.840.1.101.3.4.1.2',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  aes256Gcm: '2.16.840.1.101.3.4.1.46',
} as const;

/** AlgorithmIdentifier for a hash; `withNull` picks NULL (KMS) or absent (OpenSSL 3) parameters. */
export function hashAlgorithm(dotted: string, withNull = true): Buffer {
  return withNull ? tlv(0x30, oid(dotted), NULL) : tlv(0x30, oid(dotted));
}

/** rsaesOaep AlgorithmIdentifier, exactly as in the real KMS blobs by default. */
export function oaepAlgorithm(options: { hash?: string; mgfHash?: string; withNull?: boolean; extra?: Buffer[] } = {}): Buffer {
  const { hash = OIDS.sha256, mgfHash = OIDS.sha256, withNull = true, extra = [] } = options;
  const parameters = tlv(
    0x30,
    tlv(0xa0, hashAlgorithm(hash, withNull)),
    tlv(0xa1, tlv(0x30, oid(OIDS.mgf1), hashAlgorithm(mgfHash, withNull))),
    ...extra,
  );
  return tlv(0x30, oid(OIDS.rsaesOaep), parameters);
}

export function aesCbcAlgorithm(iv: Buffer, dotted: string = OIDS.aes256Cbc): Buffer {
  return tlv(0x30, oid(dotted), tlv(0x04, iv));
}

export function keyTransRecipient(parts: { subjectKeyIdentifier: Buffer; encryptedKey: Buffer; version?: number; rid?: Buffer; algorithm?: Buffer }): Buffer {
  const rid = parts.rid ?? tlv(0x80, parts.subjectKeyIdentifier);
  return tlv(0x30, integer(parts.version ?? 2), rid, parts.algorithm ?? oaepAlgorithm(), tlv(0x04, parts.encryptedKey));
}

/** [0] constructed with primitive OCTET STRING segments of `segmentBytes` each (KMS sends one). */
export function chunkedContent(ciphertext: Buffer, segmentBytes = ciphertext.length || 1): Buffer {
  const segments: Buffer[] = [];
  for (let offset = 0; offset < ciphertext.length; offset += segmentBytes) segments.push(tlv(0x04, ciphertext.subarray(offset, offset + segmentBytes)));
  return indefinite(0xa0, ...segments);
}

export function encryptedContentInfo(parts: { iv: Buffer; ciphertext: Buffer; contentType?: string; algorithm?: Buffer; content?: Buffer }): Buffer {
  const content = parts.content ?? chunkedContent(parts.ciphertext);
  return indefinite(0x30, oid(parts.contentType ?? OIDS.data), parts.algorithm ?? aesCbcAlgorithm(parts.iv), content);
}

/** ContentInfo { envelopedData, [0] EnvelopedData { ...elements } }, indefinite lengths like KMS. */
export function contentInfo(elements: Buffer[], contentType: string = OIDS.envelopedData): Buffer {
  return indefinite(0x30, oid(contentType), indefinite(0xa0, indefinite(0x30, ...elements)));
}

export interface EnvelopeMaterial {
  readonly subjectKeyIdentifier: Buffer;
  readonly encryptedKey: Buffer;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
}

/** Encrypts `plaintext` for `recipientPublicKey` the way KMS does; `contentKeyBytes` other than 32 is for negative tests. */
export function sealForRecipient(plaintext: Buffer, recipientPublicKey: KeyObject, subjectKeyIdentifier: Buffer, contentKeyBytes = 32): EnvelopeMaterial {
  const contentKey = randomBytes(contentKeyBytes);
  const iv = randomBytes(16);
  const cipherKey = contentKeyBytes === 32 ? contentKey : Buffer.concat([contentKey, Buffer.alloc(32)]).subarray(0, 32);
  const cipher = createCipheriv('aes-256-cbc', cipherKey, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const encryptedKey = publicEncrypt({ key: recipientPublicKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, contentKey);
  return { subjectKeyIdentifier, encryptedKey, iv, ciphertext };
}

/** The standard KMS-shaped blob for some material. */
export function buildEnvelope(material: EnvelopeMaterial): Buffer {
  return contentInfo([integer(2), tlv(0x31, keyTransRecipient(material)), encryptedContentInfo(material)]);
}
