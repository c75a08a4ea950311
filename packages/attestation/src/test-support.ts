// TEST ONLY helpers: the vectors directory, a tiny CBOR encoder to build
// synthetic documents (never used by the verifier), and COSE signing with
// the dev PKI. Not exported from index.ts.

import { createPrivateKey, sign as signData } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { encodeSigStructure } from './cose-sign1.js';
import { DEV_INTERMEDIATE_PEM, DEV_LEAF_KEY_PEM, DEV_LEAF_PEM, DEV_ROOT_PEM } from './test-pki.js';

/**
 * ../shared/vectors/nitro beside the repository: this file runs from
 * <repo>/packages/attestation/dist/, so the repo root is three directories up
 * and its parent four. HTTP_ENCLAVE_VECTORS_DIR overrides it.
 */
export const VECTORS_DIR =
  process.env['HTTP_ENCLAVE_VECTORS_DIR'] ?? fileURLToPath(new URL('../../../../shared/vectors/nitro/', import.meta.url));

export interface VectorDocument {
  readonly file: string;
  readonly expected_valid: boolean;
  readonly variant: boolean;
  readonly module_id: string | null;
  readonly timestamp_ms: number | null;
  readonly pcrs_key: string | null;
  readonly pcr0?: string;
  readonly pcr1?: string;
  readonly pcr2?: string;
  readonly pcr3?: string;
  readonly pcr4?: string;
  readonly pcr8?: string;
  readonly debug_mode_pcr0_1_2_all_zero: boolean | null;
  readonly nonce: { readonly present: boolean; readonly hex?: string } | null;
  readonly user_data: { readonly present: boolean; readonly hex?: string } | null;
  readonly valid_time_window: { readonly notBefore: string; readonly notAfter: string } | null;
  readonly repo_expectation?: { readonly expected_pcrs?: Record<string, string> | string; readonly expected_nonce_hex?: string };
}

export interface VectorIndex {
  readonly root: { readonly file: string; readonly sha256_fingerprint_of_DER: string };
  readonly documents: readonly VectorDocument[];
  readonly derived_negative_documents: readonly { readonly file: string; readonly mutation: string; readonly expected: string }[];
  readonly cose_vectors: readonly {
    readonly file: string;
    readonly public_key?: { readonly spki_der_hex: string };
    readonly public_key_jwk?: { readonly kty: string; readonly crv: string; readonly x: string; readonly y: string };
    readonly to_be_signed_hex?: string;
    readonly payload_utf8?: string;
  }[];
}

export function loadVectorIndex(): VectorIndex {
  return JSON.parse(readFileSync(`${VECTORS_DIR}vectors.json`, 'utf8')) as VectorIndex;
}

export function loadBase64Vector(file: string): Buffer {
  return Buffer.from(readFileSync(`${VECTORS_DIR}${file}`, 'utf8').trim(), 'base64');
}

export function loadTextVector(file: string): string {
  return readFileSync(`${VECTORS_DIR}${file}`, 'utf8');
}

// ---- test CBOR encoder -------------------------------------------------

export type TestCbor =
  | number
  | bigint
  | string
  | boolean
  | null
  | Uint8Array
  | readonly TestCbor[]
  | Map<TestCbor, TestCbor>
  | { readonly indefiniteMap: Map<TestCbor, TestCbor> }
  | { readonly tag: number; readonly value: TestCbor }
  | { readonly raw: Uint8Array };

function head(major: number, value: bigint): number[] {
  const type = major << 5;
  if (value < 24n) return [type | Number(value)];
  if (value <= 0xffn) return [type | 24, Number(value)];
  if (value <= 0xffffn) return [type | 25, Number(value >> 8n), Number(value & 0xffn)];
  if (value <= 0xffffffffn) return [type | 26, ...[24n, 16n, 8n, 0n].map((s) => Number((value >> s) & 0xffn))];
  return [type | 27, ...[56n, 48n, 40n, 32n, 24n, 16n, 8n, 0n].map((s) => Number((value >> s) & 0xffn))];
}

function isTestCborArray(item: TestCbor): item is readonly TestCbor[] {
  return Array.isArray(item);
}

export function encodeTestCbor(value: TestCbor): Uint8Array {
  const out: number[] = [];
  const push = (bytes: ArrayLike<number>): void => {
    for (let i = 0; i < bytes.length; i += 1) out.push(bytes[i] ?? 0);
  };
  const walk = (item: TestCbor): void => {
    if (item === null) out.push(0xf6);
    else if (item === true) out.push(0xf5);
    else if (item === false) out.push(0xf4);
    else if (typeof item === 'number' || typeof item === 'bigint') {
      const big = BigInt(item);
      push(big >= 0n ? head(0, big) : head(1, -1n - big));
    } else if (typeof item === 'string') {
      const bytes = new TextEncoder().encode(item);
      push(head(3, BigInt(bytes.length)));
      push(bytes);
    } else if (item instanceof Uint8Array) {
      push(head(2, BigInt(item.length)));
      push(item);
    } else if (isTestCborArray(item)) {
      push(head(4, BigInt(item.length)));
      for (const element of item) walk(element);
    } else if (item instanceof Map) {
      push(head(5, BigInt(item.size)));
      for (const [k, v] of item) {
        walk(k);
        walk(v);
      }
    } else if ('indefiniteMap' in item) {
      out.push(0xbf);
      for (const [k, v] of item.indefiniteMap) {
        walk(k);
        walk(v);
      }
      out.push(0xff);
    } else if ('tag' in item) {
      push(head(6, BigInt(item.tag)));
      walk(item.value);
    } else {
      push(item.raw);
    }
  };
  walk(value);
  return Uint8Array.from(out);
}

// ---- synthetic documents signed by the dev PKI --------------------------

export const ES384_PROTECTED = Uint8Array.of(0xa1, 0x01, 0x38, 0x22);
export const TEST_MODULE_ID = 'i-0123456789abcdef0-enc0123456789abcdef';

export function pemToDer(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return Buffer.from(body, 'base64');
}

/** 16 PCRs of 48 bytes: PCR0..2 = index byte repeated (not debug), PCR4 from module_id, others zero. */
export function testPcrs(pcr4: Uint8Array): Map<TestCbor, TestCbor> {
  const pcrs = new Map<TestCbor, TestCbor>();
  for (let index = 0; index < 16; index += 1) {
    pcrs.set(index, index === 4 ? pcr4 : new Uint8Array(48).fill(index <= 2 ? index + 1 : 0));
  }
  return pcrs;
}

/** Payload fields in the NSM's order; callers replace or delete entries. */
export function testPayloadFields(pcr4: Uint8Array, timestamp: number): Map<TestCbor, TestCbor> {
  return new Map<TestCbor, TestCbor>([
    ['module_id', TEST_MODULE_ID],
    ['digest', 'SHA384'],
    ['timestamp', timestamp],
    ['pcrs', testPcrs(pcr4)],
    ['certificate', pemToDer(DEV_LEAF_PEM)],
    ['cabundle', [pemToDer(DEV_ROOT_PEM), pemToDer(DEV_INTERMEDIATE_PEM)]],
    ['public_key', null],
    ['user_data', null],
    ['nonce', null],
  ]);
}

/** COSE_Sign1 over `payload`, signed with `keyPem` (default: the dev leaf key). */
export function signTestDocument(
  payload: Uint8Array,
  options: { readonly keyPem?: string; readonly protectedHeader?: Uint8Array; readonly unprotected?: Map<TestCbor, TestCbor>; readonly padSignatureTo?: number } = {},
): Uint8Array {
  const protectedHeader = options.protectedHeader ?? ES384_PROTECTED;
  const key = createPrivateKey(options.keyPem ?? DEV_LEAF_KEY_PEM);
  const raw = signData('sha384', encodeSigStructure(protectedHeader, payload), { key, dsaEncoding: 'ieee-p1363' });
  const signature = new Uint8Array(Math.max(raw.length, options.padSignatureTo ?? 0));
  signature.set(raw);
  return encodeTestCbor([protectedHeader, options.unprotected ?? new Map(), payload, signature]);
}
