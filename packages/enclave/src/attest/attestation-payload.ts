// The AWS Nitro attestation document's payload: the CBOR map the COSE_Sign1
// signs (aws-nitro-enclaves-nsm-api docs/attestation_process.md §2–3;
// shared/reference/nitro-attestation-and-kms.md §1.2–1.3).
//
//   {                                  ; map(9), keys in exactly this order
//     "module_id":   tstr,             ; "i-<16 hex>-enc<16 hex>" on Nitro
//     "digest":      "SHA384",
//     "timestamp":   uint,             ; ms since the Unix epoch
//     "pcrs":        { uint => bstr }, ; map(16): indexes 0..15, 48 bytes each
//     "certificate": bstr,             ; DER leaf that signs the document
//     "cabundle":    [ bstr ],         ; DER, ROOT FIRST, then intermediates
//     "public_key":  bstr / null,
//     "user_data":   bstr / null,
//     "nonce":       bstr / null,
//   }
//
// Absent optional values are CBOR null, never missing keys, as on real
// hardware. Our encoder writes a definite-length map (0xa9); 2025+ hardware
// writes an indefinite one (0xbf … 0xff) — verifiers accept both and check
// the signature over the bytes as received.

import { cborMap, encodeCbor, type CborValue } from './cbor-encoder.js';

export interface AttestationPayload {
  readonly moduleId: string;
  readonly timestampMs: number;
  /** PCR index → value, written in ascending index order. */
  readonly pcrs: ReadonlyMap<number, Buffer>;
  readonly certificate: Buffer;
  /** Root first (cabundle[0] is the root on Nitro). */
  readonly cabundle: readonly Buffer[];
  readonly publicKey: Buffer | null;
  readonly userData: Buffer | null;
  readonly nonce: Buffer | null;
}

/** Nitro's key order; a test checks the encoded document against it. */
export const ATTESTATION_PAYLOAD_KEYS = [
  'module_id',
  'digest',
  'timestamp',
  'pcrs',
  'certificate',
  'cabundle',
  'public_key',
  'user_data',
  'nonce',
] as const;

export const ATTESTATION_DIGEST = 'SHA384';

export function encodeAttestationPayload(payload: AttestationPayload): Buffer {
  const pcrs = [...payload.pcrs.entries()].sort(([a], [b]) => a - b).map(([index, value]): [CborValue, CborValue] => [index, value]);
  const values: Record<(typeof ATTESTATION_PAYLOAD_KEYS)[number], CborValue> = {
    module_id: payload.moduleId,
    digest: ATTESTATION_DIGEST,
    timestamp: payload.timestampMs,
    pcrs: cborMap(pcrs),
    certificate: payload.certificate,
    cabundle: payload.cabundle,
    public_key: payload.publicKey,
    user_data: payload.userData,
    nonce: payload.nonce,
  };
  return encodeCbor(cborMap(ATTESTATION_PAYLOAD_KEYS.map((key) => [key, values[key]])));
}
