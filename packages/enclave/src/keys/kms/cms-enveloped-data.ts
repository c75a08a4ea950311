// Strict opener for KMS `CiphertextForRecipient`: a BER CMS EnvelopedData
// addressed to the enclave's RSA-2048 attestation key. This is NOT a general
// BER or CMS parser; it accepts exactly this shape (RFC 5652, X.690 BER):
//
//   ContentInfo ::= SEQUENCE {                                  -- RFC 5652 §3
//     contentType   OBJECT IDENTIFIER (id-envelopedData 1.2.840.113549.1.7.3),
//     content   [0] EXPLICIT EnvelopedData }
//   EnvelopedData ::= SEQUENCE {                                -- RFC 5652 §6.1
//     version INTEGER (2),          -- 2: ktri with subjectKeyIdentifier (§6.1)
//     -- originatorInfo [0] is NOT accepted
//     recipientInfos SET SIZE (1) OF KeyTransRecipientInfo,
//     encryptedContentInfo EncryptedContentInfo
//     -- unprotectedAttrs [1] is NOT accepted
//   }
//   KeyTransRecipientInfo ::= SEQUENCE {                        -- RFC 5652 §6.2.1
//     version INTEGER (2),
//     rid [0] IMPLICIT SubjectKeyIdentifier (OCTET STRING, 1..64 bytes; KMS: 32),
//     keyEncryptionAlgorithm SEQUENCE {
//       id-RSAES-OAEP (1.2.840.113549.1.1.7),
//       RSAES-OAEP-params ::= SEQUENCE {                        -- RFC 8017 §A.2.1
//         hashFunc    [0] { id-sha256, NULL or absent },        -- RFC 5754 §2
//         maskGenFunc [1] { id-mgf1 (1.2.840.113549.1.1.8), { id-sha256, NULL or absent } }
//         -- pSourceFunc [2] is NOT accepted: label must be the empty default
//       } },
//     encryptedKey OCTET STRING (256 bytes: RSA-2048) }
//   EncryptedContentInfo ::= SEQUENCE {                         -- RFC 5652 §6.1
//     contentType id-data (1.2.840.113549.1.7.1),
//     contentEncryptionAlgorithm SEQUENCE {
//       id-aes256-CBC (2.16.840.1.101.3.4.1.42),                -- RFC 3565 §4.1
//       AES-IV OCTET STRING (SIZE (16)) },
//     encryptedContent [0] IMPLICIT OCTET STRING     -- primitive (0x80), or
//                                                    -- constructed (0xa0) of primitive OCTET STRING segments
//   }
//
// The two real KMS blobs use indefinite lengths for ContentInfo, [0],
// EnvelopedData and EncryptedContentInfo, definite lengths inside
// recipientInfos, NULL hash parameters, no pSourceFunc. OpenSSL 3 omits the
// NULL. Encoding rules enforced (X.690 §8.1): single-byte tags only; lengths in
// short form or minimal long form of at most 2 octets; indefinite length only
// on constructed elements, closed by 00 00 (§8.1.5); a child never overruns a
// definite-length parent; nothing after the ContentInfo. Every length is
// checked against the remaining input before it is used; no recursion.
// Decryption follows aws-nitro-enclaves-sdk-c: RSA-OAEP-SHA256 (MGF1-SHA256,
// empty label) unwraps a 32-byte AES key, AES-256-CBC + PKCS#7 decrypts the
// concatenated content. CBC has no integrity: authenticity rests on the TLS
// session to KMS, so callers must still validate the plaintext's shape.

import { createDecipheriv, privateDecrypt, constants as cryptoConstants, type KeyObject } from 'node:crypto';
import { CmsEnvelopeError, type CmsEnvelopeReason, KeyringUsageError } from '../../enclave-errors.js';


/** 8 KiB: KMS caps CiphertextForRecipient at 6144 bytes (API reference), plus headroom. */
export const MAX_INPUT_BYTES = 8192;
/** Deepest constructed nesting of the grammar above is 10 (hash AlgorithmIdentifier inside MGF1). */
export const MAX_DEPTH = 10;
/** encryptedContent segments: KMS sends 1, OpenSSL -stream a few; 64 is ample for 6 KiB. */
export const MAX_CONTENT_CHUNKS = 64;
/** 4096 bytes: the largest KMS Decrypt plaintext (API reference); default plaintext cap. */
export const DEFAULT_MAX_PLAINTEXT_BYTES = 4096;
const RSA_2048_BYTES = 256;
const MAX_SUBJECT_KEY_IDENTIFIER_BYTES = 64;
const AES_256_KEY_BYTES = 32;
const AES_BLOCK_BYTES = 16;

const TAG_INTEGER = 0x02;
const TAG_OCTET_STRING = 0x04;
const TAG_OCTET_STRING_CONSTRUCTED = 0x24;
const TAG_NULL = 0x05;
const TAG_OID = 0x06;
const TAG_SEQUENCE = 0x30;
const TAG_SET = 0x31;
const TAG_CONTEXT_0_PRIMITIVE = 0x80;
const TAG_CONTEXT_0 = 0xa0;
const TAG_CONTEXT_1 = 0xa1;

// OBJECT IDENTIFIER contents octets (X.690 §8.19).
const OID_ENVELOPED_DATA = Buffer.from('2a864886f70d010703', 'hex');
const OID_DATA = Buffer.from('2a864886f70d010701', 'hex');
const OID_RSAES_OAEP = Buffer.from('2a864886f70d010107', 'hex');
const OID_MGF1 = Buffer.from('2a864886f70d010108', 'hex');
const OID_SHA256 = Buffer.from('608648016503040201', 'hex');
const OID_AES_256_CBC = Buffer.from('60864801650304012a', 'hex');

export interface CmsEnvelopedDataParts {
  readonly subjectKeyIdentifier: Buffer;
  readonly encryptedKey: Buffer;
  readonly iv: Buffer;
  readonly encryptedContent: Buffer;
}

/** An open constructed element: `end` is its definite end, or undefined when indefinite. */
interface Container {
  readonly what: string;
  readonly end: number | undefined;
  readonly outerBound: Container | undefined;
}

function fail(reason: CmsEnvelopeReason, message: string): never {
  throw new CmsEnvelopeError(reason, message);
}

function hexByte(value: number | undefined): string {
  return value === undefined ? 'end of input' : `0x${value.toString(16).padStart(2, '0')}`;
}

/** Dotted form of an OID for error messages (OIDs are public identifiers, not secrets). */
function describeObjectIdentifier(contents: Buffer): string {
  if (contents.length === 0 || contents.length > 32) return `<${contents.length}-byte OID>`;
  const arcs: number[] = [];
  let value = 0;
  for (const byte of contents) {
    value = value * 128 + (byte & 0x7f);
    if (value > 0xffffffff) return `<${contents.length}-byte OID>`;
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

/** Sequential reader over one input; containers are opened and closed explicitly (no recursion). */
class BerReader {
  readonly input: Buffer;
  position = 0;
  #bound: Container | undefined; // innermost definite-length container (its end lies within the input)
  #depth = 0;

  constructor(input: Buffer) {
    this.input = input;
  }

  /** Past a definite parent's end is BAD_LENGTH; past the input's end (no definite parent) is TRUNCATED. */
  #requireBytes(count: number, what: string): void {
    const end = this.#bound?.end;
    if (end === undefined) {
      if (this.position + count > this.input.length) fail('TRUNCATED', `${what} at offset ${this.position} needs ${count} bytes, ${this.input.length - this.position} remain`);
    } else if (this.position + count > end) {
      fail('BAD_LENGTH', `${what} at offset ${this.position} overruns ${this.#bound?.what ?? ''} (${end - this.position} bytes left in it)`);
    }
  }

  peekTag(what: string): number {
    this.#requireBytes(1, what);
    return this.input[this.position] ?? 0;
  }

  /** True while the container has another element (definite: bytes left; indefinite: next is not 00 00). */
  hasMore(container: Container): boolean {
    if (container.end !== undefined) return this.position < container.end;
    this.#requireBytes(2, `end-of-contents of ${container.what}`);
    return this.input[this.position] !== 0 || this.input[this.position + 1] !== 0;
  }

  /** Reads an identifier and length; returns the content length (undefined: indefinite). */
  #readHeader(tag: number, what: string): number | undefined {
    if (this.position === this.#bound?.end) fail('BAD_TAG', `${what} missing at the end of ${this.#bound.what}`);
    this.#requireBytes(2, what);
    const identifier = this.input[this.position] ?? 0;
    const first = this.input[this.position + 1] ?? 0;
    if (identifier !== tag) fail('BAD_TAG', `${what}: expected tag ${hexByte(tag)}, found ${hexByte(identifier)} at offset ${this.position}`);
    if (first === 0x80) {
      if ((identifier & 0x20) === 0) fail('BAD_LENGTH', `${what}: indefinite length on a primitive element`);
      this.position += 2;
      return undefined;
    }
    let length = first;
    let headerBytes = 2;
    if (first > 0x80) {
      const lengthOctets = first & 0x7f;
      if (lengthOctets > 2) fail('BAD_LENGTH', `${what}: ${lengthOctets} length octets (at most 2 under the ${MAX_INPUT_BYTES}-byte cap)`);
      this.#requireBytes(2 + lengthOctets, what);
      length = lengthOctets === 1 ? (this.input[this.position + 2] ?? 0) : this.input.readUInt16BE(this.position + 2);
      if (length < (lengthOctets === 1 ? 0x80 : 0x100)) fail('BAD_LENGTH', `${what}: non-minimal length encoding`);
      headerBytes += lengthOctets;
    }
    this.position += headerBytes;
    this.#requireBytes(length, `${what} content (${length} bytes)`);
    return length;
  }

  readPrimitive(tag: number, what: string): Buffer {
    const length = this.#readHeader(tag, what) ?? 0; // a primitive tag never yields indefinite
    const contents = this.input.subarray(this.position, this.position + length);
    this.position += length;
    return contents;
  }

  enter(tag: number, what: string): Container {
    const length = this.#readHeader(tag, what);
    if (++this.#depth > MAX_DEPTH) fail('TOO_DEEP', `${what} nested deeper than ${MAX_DEPTH}`);
    const container = { what, end: length === undefined ? undefined : this.position + length, outerBound: this.#bound };
    if (container.end !== undefined) this.#bound = container;
    return container;
  }

  leave(container: Container): void {
    if (this.hasMore(container)) fail('BAD_TAG', `unexpected ${hexByte(this.input[this.position])} element at offset ${this.position} in ${container.what}`);
    if (container.end === undefined) this.position += 2; // end-of-contents 00 00
    this.#bound = container.outerBound;
    this.#depth -= 1;
  }
}

function expectObjectIdentifier(reader: BerReader, expected: Buffer, what: string, reason: CmsEnvelopeReason): void {
  const oid = reader.readPrimitive(TAG_OID, what);
  if (!oid.equals(expected)) fail(reason, `${what} is ${describeObjectIdentifier(oid)}, expected ${describeObjectIdentifier(expected)}`);
}

function readSmallInteger(reader: BerReader, what: string, reason: CmsEnvelopeReason, expected: number): void {
  const contents = reader.readPrimitive(TAG_INTEGER, what);
  if (contents.length !== 1 || contents[0] !== expected) fail(reason, `${what} is not ${expected} (${contents.length}-byte INTEGER)`);
}

/** { id-sha256, NULL } or { id-sha256 } (RFC 5754 §2: accept absent and NULL parameters). */
function readSha256Identifier(reader: BerReader, what: string): void {
  const algorithm = reader.enter(TAG_SEQUENCE, what);
  expectObjectIdentifier(reader, OID_SHA256, `${what} algorithm`, 'WRONG_KEY_ENCRYPTION_ALGORITHM');
  if (reader.hasMore(algorithm) && reader.readPrimitive(TAG_NULL, `${what} parameters`).length !== 0) fail('BAD_LENGTH', `${what} NULL parameters with content`);
  reader.leave(algorithm);
}

function readKeyEncryptionAlgorithm(reader: BerReader): void {
  const what = 'keyEncryptionAlgorithm';
  const algorithm = reader.enter(TAG_SEQUENCE, what);
  expectObjectIdentifier(reader, OID_RSAES_OAEP, what, 'WRONG_KEY_ENCRYPTION_ALGORITHM');
  if (!reader.hasMore(algorithm)) fail('WRONG_KEY_ENCRYPTION_ALGORITHM', 'rsaesOaep without parameters means SHA-1 defaults');
  const parameters = reader.enter(TAG_SEQUENCE, 'RSAES-OAEP-params');
  if (!reader.hasMore(parameters) || reader.peekTag('hashFunc') !== TAG_CONTEXT_0) fail('WRONG_KEY_ENCRYPTION_ALGORITHM', 'RSAES-OAEP-params without hashFunc means SHA-1');
  const hashFunction = reader.enter(TAG_CONTEXT_0, 'hashFunc');
  readSha256Identifier(reader, 'hashFunc');
  reader.leave(hashFunction);
  if (!reader.hasMore(parameters) || reader.peekTag('maskGenFunc') !== TAG_CONTEXT_1) fail('WRONG_KEY_ENCRYPTION_ALGORITHM', 'RSAES-OAEP-params without maskGenFunc means MGF1-SHA-1');
  const maskGeneration = reader.enter(TAG_CONTEXT_1, 'maskGenFunc');
  const mgf = reader.enter(TAG_SEQUENCE, 'maskGenFunc algorithm');
  expectObjectIdentifier(reader, OID_MGF1, 'maskGenFunc algorithm', 'WRONG_KEY_ENCRYPTION_ALGORITHM');
  readSha256Identifier(reader, 'MGF1 hash');
  reader.leave(mgf);
  reader.leave(maskGeneration);
  if (reader.hasMore(parameters)) {
    const extra = hexByte(reader.peekTag('pSourceFunc'));
    fail('WRONG_KEY_ENCRYPTION_ALGORITHM', `RSAES-OAEP-params element ${extra} after maskGenFunc (only the default empty label is accepted)`);
  }
  reader.leave(parameters);
  reader.leave(algorithm);
}

function readRecipient(reader: BerReader): { subjectKeyIdentifier: Buffer; encryptedKey: Buffer } {
  const recipients = reader.enter(TAG_SET, 'recipientInfos');
  if (!reader.hasMore(recipients)) fail('UNSUPPORTED_RECIPIENT', 'recipientInfos is empty');
  const choice = reader.peekTag('RecipientInfo');
  if (choice !== TAG_SEQUENCE) fail('UNSUPPORTED_RECIPIENT', `RecipientInfo ${hexByte(choice)} is not a KeyTransRecipientInfo`);
  const recipient = reader.enter(TAG_SEQUENCE, 'KeyTransRecipientInfo');
  readSmallInteger(reader, 'KeyTransRecipientInfo version', 'UNSUPPORTED_RECIPIENT', 2);
  const rid = reader.peekTag('rid');
  if (rid !== TAG_CONTEXT_0_PRIMITIVE) fail('UNSUPPORTED_RECIPIENT', `rid ${hexByte(rid)} is not [0] subjectKeyIdentifier`);
  const subjectKeyIdentifier = reader.readPrimitive(TAG_CONTEXT_0_PRIMITIVE, 'subjectKeyIdentifier');
  if (subjectKeyIdentifier.length === 0 || subjectKeyIdentifier.length > MAX_SUBJECT_KEY_IDENTIFIER_BYTES) {
    fail('UNSUPPORTED_RECIPIENT', `subjectKeyIdentifier of ${subjectKeyIdentifier.length} bytes (1..${MAX_SUBJECT_KEY_IDENTIFIER_BYTES})`);
  }
  readKeyEncryptionAlgorithm(reader);
  const encryptedKey = reader.readPrimitive(TAG_OCTET_STRING, 'encryptedKey');
  if (encryptedKey.length !== RSA_2048_BYTES) fail('BAD_LENGTH', `encryptedKey of ${encryptedKey.length} bytes, expected ${RSA_2048_BYTES} (RSA-2048)`);
  reader.leave(recipient);
  if (reader.hasMore(recipients)) fail('UNSUPPORTED_RECIPIENT', 'more than one RecipientInfo');
  reader.leave(recipients);
  return { subjectKeyIdentifier, encryptedKey };
}

/** [0] primitive, or [0] constructed holding primitive OCTET STRING segments (X.690 §8.7.3). */
function readEncryptedContent(reader: BerReader): Buffer {
  const tag = reader.peekTag('encryptedContent');
  if (tag === TAG_CONTEXT_0_PRIMITIVE) return reader.readPrimitive(TAG_CONTEXT_0_PRIMITIVE, 'encryptedContent');
  const content = reader.enter(TAG_CONTEXT_0, 'encryptedContent');
  const segments: Buffer[] = [];
  while (reader.hasMore(content)) {
    if (segments.length === MAX_CONTENT_CHUNKS) fail('TOO_MANY_CHUNKS', `encryptedContent has more than ${MAX_CONTENT_CHUNKS} segments`);
    if (reader.peekTag('encryptedContent segment') === TAG_OCTET_STRING_CONSTRUCTED) fail('TOO_DEEP', 'encryptedContent segment is itself segmented');
    segments.push(reader.readPrimitive(TAG_OCTET_STRING, 'encryptedContent segment'));
  }
  reader.leave(content);
  return Buffer.concat(segments); // total bounded by the input length
}

function readEncryptedContentInfo(reader: BerReader): { iv: Buffer; encryptedContent: Buffer } {
  const info = reader.enter(TAG_SEQUENCE, 'EncryptedContentInfo');
  expectObjectIdentifier(reader, OID_DATA, 'EncryptedContentInfo contentType', 'WRONG_CONTENT_TYPE');
  const algorithm = reader.enter(TAG_SEQUENCE, 'contentEncryptionAlgorithm');
  expectObjectIdentifier(reader, OID_AES_256_CBC, 'contentEncryptionAlgorithm', 'WRONG_CONTENT_ENCRYPTION_ALGORITHM');
  if (!reader.hasMore(algorithm) || reader.peekTag('AES-IV') !== TAG_OCTET_STRING) fail('WRONG_CONTENT_ENCRYPTION_ALGORITHM', 'aes-256-cbc parameters are not an OCTET STRING IV');
  const iv = reader.readPrimitive(TAG_OCTET_STRING, 'AES-IV');
  if (iv.length !== AES_BLOCK_BYTES) fail('WRONG_CONTENT_ENCRYPTION_ALGORITHM', `IV of ${iv.length} bytes, expected ${AES_BLOCK_BYTES}`);
  reader.leave(algorithm);
  const encryptedContent = readEncryptedContent(reader);
  reader.leave(info);
  return { iv, encryptedContent };
}

/** Checks the structure above and returns copies of its fields; decrypts nothing. */
export function parseCmsEnvelopedData(blob: Buffer): CmsEnvelopedDataParts {
  if (blob.length > MAX_INPUT_BYTES) fail('TOO_LARGE', `input of ${blob.length} bytes exceeds ${MAX_INPUT_BYTES}`);
  const reader = new BerReader(blob);
  const contentInfo = reader.enter(TAG_SEQUENCE, 'ContentInfo');
  expectObjectIdentifier(reader, OID_ENVELOPED_DATA, 'ContentInfo contentType', 'WRONG_CONTENT_TYPE');
  const explicit = reader.enter(TAG_CONTEXT_0, 'ContentInfo content');
  const envelopedData = reader.enter(TAG_SEQUENCE, 'EnvelopedData');
  readSmallInteger(reader, 'EnvelopedData version', 'UNSUPPORTED_VERSION', 2);
  const { subjectKeyIdentifier, encryptedKey } = readRecipient(reader);
  const { iv, encryptedContent } = readEncryptedContentInfo(reader);
  reader.leave(envelopedData);
  reader.leave(explicit);
  reader.leave(contentInfo);
  if (reader.position !== blob.length) fail('TRAILING_BYTES', `${blob.length - reader.position} bytes after ContentInfo`);
  return {
    subjectKeyIdentifier: Buffer.from(subjectKeyIdentifier),
    encryptedKey: Buffer.from(encryptedKey),
    iv: Buffer.from(iv),
    encryptedContent: Buffer.from(encryptedContent),
  };
}

/**
 * Parses, unwraps the content key with RSA-OAEP-SHA256 and decrypts the
 * content with AES-256-CBC. Returns a fresh plaintext Buffer the caller owns
 * (and may zero); the content key is zeroed before returning.
 */
export function openCmsEnvelopedData(blob: Buffer, recipientPrivateKey: KeyObject, options: { maxPlaintextBytes?: number } = {}): Buffer {
  const maxPlaintextBytes = options.maxPlaintextBytes ?? DEFAULT_MAX_PLAINTEXT_BYTES;
  if (!Number.isSafeInteger(maxPlaintextBytes) || maxPlaintextBytes < 1) throw new KeyringUsageError('maxPlaintextBytes must be a positive integer');
  if (recipientPrivateKey.type !== 'private' || recipientPrivateKey.asymmetricKeyType !== 'rsa') throw new KeyringUsageError('recipient key must be an RSA private KeyObject');
  const parts = parseCmsEnvelopedData(blob);
  const ciphertext = parts.encryptedContent;
  if (ciphertext.length === 0 || ciphertext.length % AES_BLOCK_BYTES !== 0) fail('DECRYPT_FAILED', `encryptedContent of ${ciphertext.length} bytes is not a positive multiple of ${AES_BLOCK_BYTES}`);
  if (ciphertext.length - AES_BLOCK_BYTES > maxPlaintextBytes) fail('TOO_LARGE', `encryptedContent of ${ciphertext.length} bytes exceeds the ${maxPlaintextBytes}-byte plaintext cap`);

  let contentKey: Buffer;
  try {
    contentKey = privateDecrypt({ key: recipientPrivateKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, parts.encryptedKey);
  } catch {
    fail('KEY_UNWRAP_FAILED', `RSA-OAEP-SHA256 decryption of the ${parts.encryptedKey.length}-byte encryptedKey failed`);
  }
  const pieces: Buffer[] = [];
  try {
    if (contentKey.length !== AES_256_KEY_BYTES) fail('BAD_CONTENT_KEY', `content key of ${contentKey.length} bytes, expected ${AES_256_KEY_BYTES}`);
    try {
      const decipher = createDecipheriv('aes-256-cbc', contentKey, parts.iv);
      pieces.push(decipher.update(ciphertext), decipher.final());
    } catch {
      fail('DECRYPT_FAILED', `AES-256-CBC decryption of ${ciphertext.length} bytes failed (padding)`);
    }
    const plaintext = Buffer.concat(pieces);
    if (plaintext.length > maxPlaintextBytes) {
      plaintext.fill(0);
      fail('TOO_LARGE', `plaintext of ${plaintext.length} bytes exceeds ${maxPlaintextBytes}`);
    }
    return plaintext;
  } finally {
    contentKey.fill(0);
    for (const piece of pieces) piece.fill(0);
  }
}
