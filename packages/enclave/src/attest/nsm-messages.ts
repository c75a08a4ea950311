// Typed NSM requests and responses (reference §4; the byte-level ioctl is
// described at the top of packages/vsock/src/vsock.c). Requests are
// serde_cbor encodings of Rust enum variants: a struct variant is a one-entry
// map {"Name": {fields in declaration order}}, a unit variant the bare text
// "Name", None is null. Responses are decoded with the verifier's strict
// CBOR decoder; {"Error": "<ErrorCode>"} becomes an NsmResponseError.

import { decodeCbor, getMapValueByText, type CborValue as Decoded } from '@http-enclave/attestation';
import { cborMap, encodeCbor } from './cbor-encoder.js';
import { NsmMalformedResponseError, NsmResponseError } from '../enclave-errors.js';

export type NsmRequest =
  | { readonly kind: 'Attestation'; readonly userData: Buffer | null; readonly nonce: Buffer | null; readonly publicKey: Buffer | null }
  | { readonly kind: 'DescribePCR'; readonly index: number }
  | { readonly kind: 'DescribeNSM' }
  | { readonly kind: 'GetRandom' };

export interface NsmResponses {
  Attestation: { readonly document: Buffer };
  DescribePCR: { readonly lock: boolean; readonly data: Buffer };
  DescribeNSM: {
    readonly versionMajor: number;
    readonly versionMinor: number;
    readonly versionPatch: number;
    readonly moduleId: string;
    readonly maxPcrs: number;
    readonly lockedPcrs: readonly number[];
    readonly digest: string;
  };
  GetRandom: { readonly random: Buffer };
}

export function encodeNsmRequest(request: NsmRequest): Buffer {
  switch (request.kind) {
    case 'Attestation':
      return encodeCbor(cborMap([['Attestation', cborMap([['user_data', request.userData], ['nonce', request.nonce], ['public_key', request.publicKey]])]]));
    case 'DescribePCR':
      if (!Number.isInteger(request.index) || request.index < 0 || request.index > 0xffff) throw new RangeError('PCR index is a u16');
      return encodeCbor(cborMap([['DescribePCR', cborMap([['index', request.index]])]]));
    case 'DescribeNSM':
    case 'GetRandom':
      return encodeCbor(request.kind);
  }
}

function field(map: Extract<Decoded, { type: 'map' }>, name: string): Decoded {
  const value = getMapValueByText(map, name);
  if (value === undefined) throw new NsmMalformedResponseError(`missing "${name}"`);
  return value;
}
function bytes(value: Decoded, name: string): Buffer {
  if (value.type !== 'bytes') throw new NsmMalformedResponseError(`"${name}" is not a byte string`);
  return Buffer.from(value.value);
}
function u16(value: Decoded, name: string): number {
  if (value.type !== 'unsigned' || value.value > 0xffffn) throw new NsmMalformedResponseError(`"${name}" is not a u16`);
  return Number(value.value);
}
function text(value: Decoded, name: string): string {
  if (value.type !== 'text') throw new NsmMalformedResponseError(`"${name}" is not text`);
  return value.value;
}

/** Decodes the answer to a `kind` request; throws NsmResponseError for {"Error": …}. */
export function decodeNsmResponse<K extends keyof NsmResponses>(kind: K, response: Uint8Array): NsmResponses[K] {
  let top: Decoded;
  try {
    top = decodeCbor(response);
  } catch (error) {
    throw new NsmMalformedResponseError(error instanceof Error ? error.message : 'not CBOR');
  }
  if (top.type !== 'map' || top.entries.length !== 1) throw new NsmMalformedResponseError('expected a one-entry map');
  const error = getMapValueByText(top, 'Error');
  if (error !== undefined) throw new NsmResponseError(text(error, 'Error'));
  const body = getMapValueByText(top, kind);
  if (body === undefined || body.type !== 'map') throw new NsmMalformedResponseError(`expected {"${kind}": {...}}`);
  const result: NsmResponses[keyof NsmResponses] = (() => {
    switch (kind) {
      case 'Attestation':
        return { document: bytes(field(body, 'document'), 'document') };
      case 'DescribePCR': {
        const lock = field(body, 'lock');
        if (lock.type !== 'simple' || typeof lock.value !== 'boolean') throw new NsmMalformedResponseError('"lock" is not a bool');
        return { lock: lock.value, data: bytes(field(body, 'data'), 'data') };
      }
      case 'DescribeNSM': {
        const locked = field(body, 'locked_pcrs');
        if (locked.type !== 'array') throw new NsmMalformedResponseError('"locked_pcrs" is not an array');
        return {
          versionMajor: u16(field(body, 'version_major'), 'version_major'),
          versionMinor: u16(field(body, 'version_minor'), 'version_minor'),
          versionPatch: u16(field(body, 'version_patch'), 'version_patch'),
          moduleId: text(field(body, 'module_id'), 'module_id'),
          maxPcrs: u16(field(body, 'max_pcrs'), 'max_pcrs'),
          lockedPcrs: locked.items.map((item) => u16(item, 'locked_pcrs')),
          digest: text(field(body, 'digest'), 'digest'),
        };
      }
      default:
        return { random: bytes(field(body, 'random'), 'random') };
    }
  })();
  return result as NsmResponses[K];
}
