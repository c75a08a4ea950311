// COSE_Sign1 with ES384, the envelope of a Nitro attestation document
// (RFC 9052 §4.2, §4.4; RFC 9053 §2.1):
//
//   COSE_Sign1 = [                      ; untagged, as the NSM emits it (0x84 …)
//     protected:   bstr .cbor {1: -35}, ; exactly 44 a1 01 38 22 (alg ES384)
//     unprotected: {},                  ; a0
//     payload:     bstr,
//     signature:   bstr .size 96,       ; r || s, 48 bytes each, big-endian
//   ]
//
//   Sig_structure = ["Signature1", protected, external_aad = h'', payload]
//
// The signature is ECDSA P-384 with SHA-384 over the encoded Sig_structure,
// in IEEE P1363 form (fixed-width r || s), not DER.

import { sign, type KeyObject } from 'node:crypto';

import { cborMap, encodeCbor } from './cbor-encoder.js';
import { AttestationSigningError } from '../enclave-errors.js';

/** COSE algorithm ES384 (RFC 9053 §2.1). */
export const COSE_ALGORITHM_ES384 = -35;
/** COSE header label 1 = alg (RFC 9052 §3.1). */
const COSE_HEADER_ALG = 1;
/** ES384 signature: r || s, 48 bytes each. */
export const ES384_SIGNATURE_BYTES = 96;

/** The protected header's bytes: the CBOR map {1: -35} = a1 01 38 22. */
export const ES384_PROTECTED_HEADER: Buffer = encodeCbor(cborMap([[COSE_HEADER_ALG, COSE_ALGORITHM_ES384]]));

/** The bytes to be signed for a COSE_Sign1 (RFC 9052 §4.4). */
export function encodeSigStructure(protectedHeader: Buffer, payload: Buffer, externalAad: Buffer = Buffer.alloc(0)): Buffer {
  return encodeCbor(['Signature1', protectedHeader, externalAad, payload]);
}

/** Signs `payload` with a P-384 private key; returns the untagged COSE_Sign1 bytes. */
export function signCoseSign1Es384(payload: Buffer, privateKey: KeyObject): Buffer {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw new AttestationSigningError('ES384 needs a P-384 (secp384r1) private key');
  }
  const toBeSigned = encodeSigStructure(ES384_PROTECTED_HEADER, payload);
  const signature = sign('sha384', toBeSigned, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return encodeCbor([ES384_PROTECTED_HEADER, cborMap([]), payload, signature]);
}
