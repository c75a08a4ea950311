// COSE_Sign1 (RFC 9052 §4.2) with ES384 (RFC 9053 §2.1), as used by AWS Nitro
// attestation documents.
//
//   COSE_Sign1 = [                      ; CBOR array of 4; untagged as the NSM
//     protected:   bstr .cbor {1: -35}, ; emits it, or wrapped in tag 18
//     unprotected: {* label => any},    ; (RFC 9052 §2); no other tag
//     payload:     bstr,                ; detached payload (nil) not supported
//     signature:   bstr .size 96,       ; r || s, 48 bytes each, big-endian
//   ]
//
//   Sig_structure = ["Signature1", protected, external_aad = h'', payload]
//                                        ; RFC 9052 §4.4
//
// The protected header and the payload go into the Sig_structure as the byte
// strings received (the decoder hands out views of the input). Only the
// Sig_structure's own four-item frame is encoded here; the two byte strings
// are copied byte for byte, so this is not a re-encoding of the document.
// Nitro: protected is always the 4 bytes a1 01 38 22 and the Sig_structure
// prefix is 84 6a "Signature1" 44 a1013822 40 (base-1.sig_structure.hex).
//
// Canonical envelope (ENVELOPE_NOT_CANONICAL): the envelope must be exactly
//   [d2] 84 <bstr head>(protected) a0-or-the-map-as-received
//        <bstr head>(payload) 58 60 (signature)
// with every head in its shortest form and definite. The signature covers
// only the protected header and payload contents, so a non-minimal head or
// an indefinite-length chunking of the envelope would be a second encoding of
// the same signed document; we accept one. The payload's own CBOR is signed
// and is not held to this rule (the NSM has emitted indefinite-length maps
// since 2025).

import { verify as verifySignature, type KeyObject } from 'node:crypto';

import { decodeCbor, DEFAULT_CBOR_LIMITS, type CborLimits, type CborValue } from './cbor-decoder.js';
import { AttestationError } from './reason-codes.js';

/** COSE algorithm identifier of ECDSA w/ SHA-384 (RFC 9053 §2.1, IANA COSE Algorithms). */
export const COSE_ALGORITHM_ES384 = -35;
/** CBOR tag of a tagged COSE_Sign1 (RFC 9052 §2). */
export const COSE_SIGN1_TAG = 18n;
/** ES384 signature: r and s, 48 bytes each (RFC 9053 §2.1). */
export const ES384_SIGNATURE_BYTES = 96;
/** COSE header label of the algorithm (RFC 9052 §3.1). */
const HEADER_LABEL_ALGORITHM = 1n;
const EMPTY = new Uint8Array(0);

export interface CoseSign1 {
  /** Whether the envelope was wrapped in tag 18. */
  readonly tagged: boolean;
  /** Content of the protected-header bstr, exactly as received. */
  readonly protectedHeader: Uint8Array;
  /** The `alg` of the protected header. */
  readonly algorithm: number;
  /** Number of entries in the unprotected header map. */
  readonly unprotectedEntryCount: number;
  /** Content of the payload bstr, exactly as received. */
  readonly payload: Uint8Array;
  /** The raw signature (96 bytes for ES384). */
  readonly signature: Uint8Array;
}

function malformed(message: string): AttestationError {
  return new AttestationError('COSE_MALFORMED', `COSE_Sign1: ${message}`);
}

/** Reads the protected header: it must be a map holding exactly one entry, {1: alg}. */
function decodeProtectedHeader(bytes: Uint8Array, limits: CborLimits): number {
  let header: CborValue;
  try {
    header = decodeCbor(bytes, limits);
  } catch (error) {
    if (error instanceof AttestationError) throw malformed(`protected header (${bytes.length} bytes) is not one CBOR item`);
    throw error;
  }
  if (header.type !== 'map' || header.entries.length !== 1) throw malformed('protected header must be a map with exactly the alg entry');
  const [entry] = header.entries;
  if (entry === undefined || entry.key.type !== 'unsigned' || entry.key.value !== HEADER_LABEL_ALGORITHM) {
    throw malformed('protected header must be a map with exactly the alg entry');
  }
  const alg = entry.value;
  if (alg.type !== 'negative' && alg.type !== 'unsigned') {
    throw new AttestationError('UNSUPPORTED_ALGORITHM', `COSE_Sign1: alg is a ${alg.type}, not an integer`);
  }
  if (alg.value !== BigInt(COSE_ALGORITHM_ES384)) {
    throw new AttestationError('UNSUPPORTED_ALGORITHM', 'COSE_Sign1: alg is not ES384 (-35)');
  }
  return COSE_ALGORITHM_ES384;
}

/**
 * Decodes a COSE_Sign1 ES384 envelope. Throws AttestationError with
 * CBOR_MALFORMED, COSE_MALFORMED, UNSUPPORTED_ALGORITHM or
 * ENVELOPE_NOT_CANONICAL.
 */
export function decodeCoseSign1(bytes: Uint8Array, limits: CborLimits = DEFAULT_CBOR_LIMITS): CoseSign1 {
  let item = decodeCbor(bytes, limits);
  let tagged = false;
  if (item.type === 'tag') {
    if (item.tag !== COSE_SIGN1_TAG) throw malformed('tagged with a tag other than 18');
    tagged = true;
    item = item.value;
  }
  if (item.type !== 'array' || item.items.length !== 4) throw malformed('not an array of 4 items');
  const [protectedItem, unprotectedItem, payloadItem, signatureItem] = item.items;
  if (protectedItem?.type !== 'bytes') throw malformed('protected header is not a byte string');
  if (unprotectedItem?.type !== 'map') throw malformed('unprotected header is not a map');
  if (payloadItem?.type !== 'bytes') throw malformed('payload is not a byte string (detached payloads are not supported)');
  if (signatureItem?.type !== 'bytes') throw malformed('signature is not a byte string');
  const algorithm = decodeProtectedHeader(protectedItem.value, limits);
  if (signatureItem.value.length !== ES384_SIGNATURE_BYTES) {
    throw malformed(`signature is ${signatureItem.value.length} bytes, ES384 needs ${ES384_SIGNATURE_BYTES}`);
  }
  // An empty map must be a0. A non-empty one is copied as received: generic COSE allows unprotected
  // headers, so its inner encoding is not judged here; verifyAttestationDocument refuses any (Nitro's is empty).
  const unprotectedBytes = unprotectedItem.entries.length === 0 ? Uint8Array.of(0xa0) : bytes.subarray(unprotectedItem.span.start, unprotectedItem.span.end);
  const canonical = concatBytes([
    tagged ? Uint8Array.of(0xc0 | Number(COSE_SIGN1_TAG)) : EMPTY,
    encodeHead(4, 4),
    encodeHead(2, protectedItem.value.length),
    protectedItem.value,
    unprotectedBytes,
    encodeHead(2, payloadItem.value.length),
    payloadItem.value,
    encodeHead(2, signatureItem.value.length),
    signatureItem.value,
  ]);
  if (!Buffer.from(canonical).equals(bytes) || unprotectedItem.indefinite) {
    throw new AttestationError('ENVELOPE_NOT_CANONICAL', 'COSE_Sign1: the envelope is not in canonical definite encoding (non-minimal head or indefinite length)');
  }
  return {
    tagged,
    protectedHeader: protectedItem.value,
    algorithm,
    unprotectedEntryCount: unprotectedItem.entries.length,
    payload: payloadItem.value,
    signature: signatureItem.value,
  };
}

/** CBOR head (RFC 8949 §3) with the shortest argument encoding, for lengths only. */
function encodeHead(major: number, length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0 || length > 0xffffffff) throw new RangeError('length out of range');
  const type = major << 5;
  if (length < 24) return Uint8Array.of(type | length);
  if (length <= 0xff) return Uint8Array.of(type | 24, length);
  if (length <= 0xffff) return Uint8Array.of(type | 25, length >> 8, length & 0xff);
  return Uint8Array.of(type | 26, (length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
}

const SIGNATURE1_CONTEXT = new TextEncoder().encode('Signature1');

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Sig_structure for COSE_Sign1 (RFC 9052 §4.4):
 * ["Signature1", protected, external_aad, payload], the two headers' and
 * payload's bytes copied as given.
 */
export function encodeSigStructure(protectedHeader: Uint8Array, payload: Uint8Array, externalAad: Uint8Array = EMPTY): Uint8Array {
  return concatBytes([
    encodeHead(4, 4),
    encodeHead(3, SIGNATURE1_CONTEXT.length),
    SIGNATURE1_CONTEXT,
    encodeHead(2, protectedHeader.length),
    protectedHeader,
    encodeHead(2, externalAad.length),
    externalAad,
    encodeHead(2, payload.length),
    payload,
  ]);
}

/**
 * Checks the ES384 signature of a decoded COSE_Sign1 with `publicKey` (an EC
 * P-384 key). The COSE signature is raw r||s, hence dsaEncoding 'ieee-p1363'.
 * Returns false for any failure, including a key node:crypto refuses.
 */
export function verifyCoseSign1Signature(cose: CoseSign1, publicKey: KeyObject): boolean {
  const toBeSigned = encodeSigStructure(cose.protectedHeader, cose.payload);
  try {
    return verifySignature('sha384', toBeSigned, { key: publicKey, dsaEncoding: 'ieee-p1363' }, cose.signature);
  } catch {
    return false;
  }
}
