// A strict reader of DER elements (ITU-T X.690 §8.1, §10.1), enough for the
// fields of an X.509 certificate the chain profile checks.
//
//   element = tag (1 byte: class, constructed bit, tag number 0..30)
//             length (short form 0x00..0x7f, or long form 0x81..0x84
//                     followed by 1..4 big-endian bytes)
//             content (exactly `length` bytes)
//
// DER rules enforced: definite lengths only (0x80 is refused), the shortest
// length form (long form only for lengths >= 128, no leading zero byte),
// single-byte tags (high tag numbers, 0x1f, are refused: X.509 uses none).
// Every length is checked against the enclosing element before it is used,
// so a hostile length can neither read past the input nor allocate.
//
// Why by hand: node:crypto's X509Certificate exposes neither basicConstraints'
// pathLen, nor keyUsage bits, nor the critical flags, nor the signature
// algorithm; the ASN.1 libraries that do (asn1js, @peculiar/asn1-x509) would
// add four packages to the enclave's measured image for ~100 lines of reading.
// der-reader.test.ts checks this reader against @peculiar/asn1-x509 as an
// oracle on real AWS certificates and generated ones.

import { AttestationError } from './reason-codes.js';

export interface DerElement {
  /** The tag byte (e.g. 0x30 SEQUENCE, 0x06 OBJECT IDENTIFIER, 0xa3 [3] EXPLICIT). */
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just after the last content byte. */
  readonly end: number;
}

export const DER_TAG = Object.freeze({
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OBJECT_IDENTIFIER: 0x06,
  SEQUENCE: 0x30,
});

/** Longest length form accepted: 4 bytes (a certificate is far below 4 GiB). */
const MAX_LENGTH_BYTES = 4;

function derError(message: string): AttestationError {
  return new AttestationError('CERTIFICATE_MALFORMED', `DER: ${message}`);
}

/** Reads the element that starts at `offset` and must end by `limit`. */
export function readDerElement(der: Uint8Array, offset: number, limit: number): DerElement {
  if (offset + 2 > limit) throw derError(`element header at offset ${offset} runs past its parent`);
  const tag = der[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw derError(`high tag number at offset ${offset}`);
  const first = der[offset + 1] ?? 0;
  let position = offset + 2;
  let length = first;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw derError(`indefinite length at offset ${offset}`);
    if (count > MAX_LENGTH_BYTES || position + count > limit) throw derError(`unsupported or truncated length at offset ${offset}`);
    if ((der[position] ?? 0) === 0) throw derError(`length with a leading zero byte at offset ${offset}`);
    length = 0;
    for (let index = 0; index < count; index += 1) length = length * 256 + (der[position + index] ?? 0);
    if (length < 0x80) throw derError(`long-form length below 128 at offset ${offset}`);
    position += count;
  }
  const end = position + length;
  if (end > limit) throw derError(`element at offset ${offset} (length ${length}) runs past its parent`);
  return { tag, start: offset, contentStart: position, end };
}

/** Reads the element at `offset` and insists on its tag. */
export function expectDerElement(der: Uint8Array, offset: number, limit: number, tag: number, what: string): DerElement {
  const element = readDerElement(der, offset, limit);
  if (element.tag !== tag) throw derError(`${what} has tag 0x${element.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return element;
}

/** The children of a constructed element, in order; they must fill it exactly. */
export function readDerChildren(der: Uint8Array, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readDerElement(der, offset, parent.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** The content bytes of an element (a view, not a copy). */
export function derContent(der: Uint8Array, element: DerElement): Uint8Array {
  return der.subarray(element.contentStart, element.end);
}

/** Dotted form of an OBJECT IDENTIFIER's content (X.690 §8.19), for messages and comparisons. */
export function decodeObjectIdentifier(content: Uint8Array): string {
  if (content.length === 0) throw derError('empty OBJECT IDENTIFIER');
  const arcs: bigint[] = [];
  let value = 0n;
  let fresh = true;
  for (const byte of content) {
    if (fresh && byte === 0x80) throw derError('OBJECT IDENTIFIER arc with a leading 0x80 byte');
    value = (value << 7n) | BigInt(byte & 0x7f);
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0n;
    }
  }
  if (!fresh) throw derError('OBJECT IDENTIFIER ends inside an arc');
  const first = arcs[0] ?? 0n;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].map(String).join('.');
}

/** A DER BOOLEAN: exactly one byte, 0x00 or 0xff (X.690 §11.1). */
export function decodeDerBoolean(content: Uint8Array): boolean {
  if (content.length !== 1 || (content[0] !== 0x00 && content[0] !== 0xff)) throw derError('BOOLEAN is not one byte 0x00 or 0xff');
  return content[0] === 0xff;
}

/** A small non-negative DER INTEGER (at most 4 content bytes, minimal). */
export function decodeSmallUnsigned(content: Uint8Array): number {
  if (content.length === 0 || content.length > 4) throw derError('INTEGER is empty or too long');
  if ((content[0] ?? 0) & 0x80) throw derError('INTEGER is negative');
  if (content.length > 1 && content[0] === 0 && ((content[1] ?? 0) & 0x80) === 0) throw derError('INTEGER is not minimally encoded');
  let value = 0;
  for (const byte of content) value = value * 256 + byte;
  return value;
}
