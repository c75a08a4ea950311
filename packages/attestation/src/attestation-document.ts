// AWS Nitro Enclaves attestation document: the payload of the COSE_Sign1.
//
// Format (aws/aws-nitro-enclaves-nsm-api docs/attestation_process.md §2–3,
// restated in CDDL with what real hardware does, see
// ../shared/reference/nitro-attestation-and-kms.md §1.2–1.3):
//
//   AttestationDocument = {          ; definite (a9, until 2025) or
//                                    ; indefinite (bf … ff, since 2025) map
//     module_id:   tstr,             ; "i-<instance>-enc<enclave>", non-empty
//     digest:      "SHA384",         ; the only value allowed
//     timestamp:   uint,             ; ms since the Unix epoch, > 0
//     pcrs:        { 1*32 pcr_index => pcr_value },
//                                    ; pcr_index uint 0..31,
//                                    ; pcr_value bstr .size (32 / 48 / 64)
//     certificate: bstr,             ; DER X.509 leaf that signed the document, 1..1024 bytes
//     cabundle:    [ 1*8 bstr ],     ; DER, root first, each 1..1024 bytes
//     ? public_key: bstr / null,     ; opaque to the NSM (DER SPKI for KMS)
//     ? user_data:  bstr / null,     ; application data (our TLS binding)
//     ? nonce:      bstr / null,     ; verifier's challenge
//     * tstr => any                  ; unknown keys: ignored (they are signed)
//   }
//
// Real documents carry all nine keys, absent optional values as CBOR null
// although AWS's text says "no field content can be null": null and a missing
// key both mean absent here. Non-text keys and duplicate keys are rejected.
//
// Size of public_key / user_data / nonce: AWS's CDDL says 0..1024, its
// validation list says user_data and nonce <= 512; real hardware produced
// 1024 bytes in each of the three at once (blocky-1) and up to 4050 bytes of
// user_data when the others are empty (blocky/nitrite measurements): the true
// bound is the NSM's 4096-byte request (NSM_REQUEST_MAX_SIZE). The document is
// signed by AWS, so a limit here protects memory, not trust: we accept up to
// 4096 bytes per field (and our own enclave sends <= 512, for strict verifiers).
//
// NitroTPM documents (EC2 instance TPM attestation) share the envelope and the
// PKI but carry "nitrotpm_pcrs" and a "-tpm…" module_id: rejected with
// NITRO_TPM_DOCUMENT, never read as an enclave document.

import { decodeCbor, DEFAULT_CBOR_LIMITS, type CborLimits, type CborValue } from './cbor-decoder.js';
import { AttestationError } from './reason-codes.js';

/** Longest module_id accepted, in characters (real: 39, "i-" + 17 hex + "-enc" + 16 hex). */
export const MAX_MODULE_ID_LENGTH = 256;
/** PCR indexes are 0..31 (attestation_process.md §3.2.2). */
export const PCR_INDEX_LIMIT = 32;
/**
 * Allowed PCR value lengths. AWS's rules allow SHA-256/384/512 digests
 * (attestation_process.md §3.2.2), but `digest` is always "SHA384" (checked
 * below), so every PCR is exactly 48 bytes (issue 10, item 3: a 32- or
 * 64-byte PCR in a SHA384 document used to pass).
 */
export const PCR_VALUE_LENGTHS: readonly number[] = Object.freeze([48]);
/** Longest certificate / cabundle entry, in bytes (attestation_process.md §3.2.2; real: 533–796). */
export const MAX_CERTIFICATE_BYTES = 1024;
/** Most cabundle entries (real: 4 — root, regional, zonal, instance). */
export const MAX_CABUNDLE_ENTRIES = 8;
/** Longest public_key / user_data / nonce: the NSM request limit (see the comment above). */
export const MAX_USER_FIELD_BYTES = 4096;

export interface AttestationDocument {
  readonly moduleId: string;
  readonly digest: 'SHA384';
  /** Milliseconds since the Unix epoch. */
  readonly timestamp: number;
  /** PCR index → value; copies of the received bytes. */
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  /** DER of the leaf certificate. */
  readonly certificate: Uint8Array;
  /** DER certificates, root first, as in the document. */
  readonly cabundle: readonly Uint8Array[];
  readonly publicKey: Uint8Array | null;
  readonly userData: Uint8Array | null;
  readonly nonce: Uint8Array | null;
}

function invalid(message: string): AttestationError {
  return new AttestationError('DOCUMENT_FIELD_INVALID', `attestation document: ${message}`);
}

/** A plain Uint8Array copy (Buffer.prototype.slice would return a view). */
function copyBytes(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes);
}

function readBytes(value: CborValue | undefined, field: string, minLength: number, maxLength: number): Uint8Array {
  if (value === undefined) throw invalid(`${field} is missing`);
  if (value.type !== 'bytes') throw invalid(`${field} is a ${value.type}, not a byte string`);
  if (value.value.length < minLength || value.value.length > maxLength) {
    throw invalid(`${field} is ${value.value.length} bytes, allowed ${minLength}..${maxLength}`);
  }
  return copyBytes(value.value);
}

function readOptionalBytes(value: CborValue | undefined, field: string): Uint8Array | null {
  if (value === undefined || (value.type === 'simple' && value.value === null)) return null;
  return readBytes(value, field, 0, MAX_USER_FIELD_BYTES);
}

function readPcrs(value: CborValue | undefined): Map<number, Uint8Array> {
  if (value === undefined) throw invalid('pcrs is missing');
  if (value.type !== 'map') throw invalid(`pcrs is a ${value.type}, not a map`);
  if (value.entries.length < 1 || value.entries.length > PCR_INDEX_LIMIT) {
    throw invalid(`pcrs has ${value.entries.length} entries, allowed 1..${PCR_INDEX_LIMIT}`);
  }
  const pcrs = new Map<number, Uint8Array>();
  for (const { key, value: pcr } of value.entries) {
    if (key.type !== 'unsigned' || key.value >= BigInt(PCR_INDEX_LIMIT)) throw invalid(`pcrs key is not an index 0..${PCR_INDEX_LIMIT - 1}`);
    const index = Number(key.value);
    if (pcr.type !== 'bytes' || !PCR_VALUE_LENGTHS.includes(pcr.value.length)) {
      throw invalid(`PCR${index} is not a byte string of ${PCR_VALUE_LENGTHS.join('/')} bytes`);
    }
    pcrs.set(index, copyBytes(pcr.value));
  }
  return pcrs;
}

function readCabundle(value: CborValue | undefined): Uint8Array[] {
  if (value === undefined) throw invalid('cabundle is missing');
  if (value.type !== 'array') throw invalid(`cabundle is a ${value.type}, not an array`);
  if (value.items.length < 1 || value.items.length > MAX_CABUNDLE_ENTRIES) {
    throw invalid(`cabundle has ${value.items.length} entries, allowed 1..${MAX_CABUNDLE_ENTRIES}`);
  }
  return value.items.map((item, index) => readBytes(item, `cabundle[${index}]`, 1, MAX_CERTIFICATE_BYTES));
}

/** NitroTPM module ids end in "-tpm" + hex (observed "-tpm0000000000000000"). */
const NITRO_TPM_MODULE_ID = /-tpm[0-9a-f]*$/;

/**
 * Decodes and validates the payload of a Nitro COSE_Sign1. Throws
 * AttestationError: CBOR_MALFORMED, NITRO_TPM_DOCUMENT or DOCUMENT_FIELD_INVALID.
 * The signature is NOT checked here.
 */
export function parseAttestationDocument(payload: Uint8Array, limits: CborLimits = DEFAULT_CBOR_LIMITS): AttestationDocument {
  const root = decodeCbor(payload, limits);
  if (root.type !== 'map') throw invalid(`payload is a ${root.type}, not a map`);
  const fields = new Map<string, CborValue>();
  for (const { key, value } of root.entries) {
    if (key.type !== 'text') throw invalid(`payload has a ${key.type} key; all keys are text`);
    fields.set(key.value, value);
  }

  const moduleIdValue = fields.get('module_id');
  if (fields.has('nitrotpm_pcrs') || (moduleIdValue?.type === 'text' && NITRO_TPM_MODULE_ID.test(moduleIdValue.value))) {
    throw new AttestationError('NITRO_TPM_DOCUMENT', 'attestation document: NitroTPM document, not an enclave document');
  }

  if (moduleIdValue?.type !== 'text') throw invalid('module_id is missing or not text');
  const moduleId = moduleIdValue.value;
  if (moduleId.length < 1 || moduleId.length > MAX_MODULE_ID_LENGTH) {
    throw invalid(`module_id is ${moduleId.length} characters, allowed 1..${MAX_MODULE_ID_LENGTH}`);
  }

  const digest = fields.get('digest');
  if (digest?.type !== 'text' || digest.value !== 'SHA384') throw invalid('digest is not "SHA384"');

  const timestampValue = fields.get('timestamp');
  if (timestampValue?.type !== 'unsigned') throw invalid('timestamp is missing or not an unsigned integer');
  if (timestampValue.value < 1n || timestampValue.value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid('timestamp is out of range');

  return {
    moduleId,
    digest: 'SHA384',
    timestamp: Number(timestampValue.value),
    pcrs: readPcrs(fields.get('pcrs')),
    certificate: readBytes(fields.get('certificate'), 'certificate', 1, MAX_CERTIFICATE_BYTES),
    cabundle: readCabundle(fields.get('cabundle')),
    publicKey: readOptionalBytes(fields.get('public_key'), 'public_key'),
    userData: readOptionalBytes(fields.get('user_data'), 'user_data'),
    nonce: readOptionalBytes(fields.get('nonce'), 'nonce'),
  };
}
