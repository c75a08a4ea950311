// TEST-ONLY: a tiny strict CBOR decoder for the enclave's own tests, written
// independently of cbor-encoder.ts so the two check each other. It accepts
// exactly what the encoder may produce — unsigned/negative integers, byte and
// text strings, arrays, maps, null, definite lengths, shortest heads — and
// throws on anything else, including a non-preferred (longer than needed)
// head, so tests also prove the encoding is deterministic. Maps decode to
// their entries in wire order. The enclave's runtime never imports this file.

export type DecodedCbor = bigint | Buffer | string | null | readonly DecodedCbor[] | DecodedMap;
export interface DecodedMap {
  readonly entries: readonly (readonly [DecodedCbor, DecodedCbor])[];
}

export function isDecodedMap(value: DecodedCbor): value is DecodedMap {
  return typeof value === 'object' && value !== null && !Buffer.isBuffer(value) && !Array.isArray(value);
}

class Reader {
  offset = 0;
  constructor(readonly bytes: Buffer) {}

  take(length: number): Buffer {
    if (this.offset + length > this.bytes.length) throw new Error(`truncated at offset ${this.offset}`);
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  head(): { major: number; argument: bigint; info: number } {
    const initial = this.take(1)[0] ?? 0;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 7) return { major, argument: 0n, info };
    if (info < 24) return { major, argument: BigInt(info), info };
    const size = { 24: 1, 25: 2, 26: 4, 27: 8 }[info];
    if (size === undefined) throw new Error(`unsupported additional info ${info} (indefinite or reserved)`);
    const argument = BigInt(`0x${this.take(size).toString('hex')}`);
    const minimum = { 1: 24n, 2: 0x100n, 4: 0x10000n, 8: 0x100000000n }[size] ?? 0n;
    if (argument < minimum) throw new Error(`non-preferred head at offset ${this.offset - size - 1}`);
    return { major, argument, info };
  }

  item(): DecodedCbor {
    const { major, argument, info } = this.head();
    switch (major) {
      case 0:
        return argument;
      case 1:
        return -1n - argument;
      case 2:
        return Buffer.from(this.take(Number(argument)));
      case 3:
        return new TextDecoder('utf-8', { fatal: true }).decode(this.take(Number(argument)));
      case 4:
        return Array.from({ length: Number(argument) }, () => this.item());
      case 5: {
        const entries: [DecodedCbor, DecodedCbor][] = [];
        for (let index = 0n; index < argument; index += 1n) entries.push([this.item(), this.item()]);
        return { entries };
      }
      default:
        if (major === 7 && info === 22) return null;
        throw new Error(`unsupported major type ${major} / info ${info}`);
    }
  }
}

/** Decodes exactly one item; trailing bytes are an error. */
export function decodeCborForTest(bytes: Buffer): DecodedCbor {
  const reader = new Reader(bytes);
  const value = reader.item();
  if (reader.offset !== bytes.length) throw new Error(`${bytes.length - reader.offset} trailing bytes`);
  return value;
}

/** The value under text key `key` of a decoded map (throws if absent). */
export function mapGet(map: DecodedCbor, key: string | bigint): DecodedCbor {
  if (!isDecodedMap(map)) throw new Error('not a map');
  const entry = map.entries.find(([candidate]) => candidate === key);
  if (entry === undefined) throw new Error(`no key ${String(key)}`);
  return entry[1];
}
