// Watermark pages, format v1: where a running enclave keeps, on the
// untrusted host, the records its memory no longer holds (rollback-guard.ts).
// This file is their only codec.
//
// A page is an ordinary sealed record (sealed-envelope.ts) of a reserved
// owner, sealed under the IDENTITY key (never rotated or retired, so pages
// never need re-sealing and never block a retirement):
//
//   owner    WATERMARK_OWNER: 32 bytes of 0xFF (no token maps to it: owner
//            ids are HMAC-SHA256 outputs; the keyring document uses all 0x00)
//   record   run id [16] || 12 zero bytes || u32be page number p,
//            0 <= p < WATERMARK_PAGE_COUNT. The run id is 16 random bytes
//            drawn at each start: pages belong to one run of one enclave,
//            which is their only writer, so that run knows the exact version
//            and tag of each of its pages and accepts nothing else (a page of
//            another run or another enclave has another record id, so it does
//            not even open). The run id is visible to the host, which may
//            delete pages of runs that ended (a storage-side cleanup).
//   version  the page's compare-and-set version, bound into the AAD
//
// Page p holds the records whose record id starts with the 12 bits p (the
// first two bytes shifted right by 4). Record ids are keyed HMACs: spread
// evenly, and no client can aim at one page. The host already sees record
// ids; the page number reveals nothing more.
//
// Plaintext (inside the AEAD, padded to a size bucket by the envelope):
//
//   offset  size  field
//   0       1     format = 0x01
//   1       4     count, u32be
//   5       56 x count entries, strictly ascending by record id:
//                   record id [32] || version u64be [8] || GCM tag of that version's blob [16]
//
// An entry says: this run saw this record at this version, sealed as the
// blob with this tag. Decoding refuses (StorageIntegrityError WATERMARK_PAGE_INVALID, reported as
// STORAGE_INTEGRITY) a wrong format byte, a length that is not 5 + 56 x count,
// entries out of order or repeated, an entry of another page, and a version
// of 0 or above 2^53 - 1.

import { asRecordId, RECORD_ID_BYTES, asOwnerId, type OwnerId, type RecordId } from '../keys/identifiers.js';
import { MAX_PLAINTEXT_BYTES } from '../seal/plaintext-padding.js';
import { TAG_BYTES } from '../seal/sealed-envelope.js';
import type { Seen } from './version-watermark.js';
import { StorageIntegrityError } from '../enclave-errors.js';

export const WATERMARK_PAGE_FORMAT = 1;
/** Pages per run: record ids are spread over them by their first 12 bits. */
export const WATERMARK_PAGE_COUNT = 4_096;
/** Bytes of the run id at the start of a page's record id. */
export const RUN_ID_BYTES = 16;
export const WATERMARK_OWNER: OwnerId = asOwnerId(Buffer.alloc(32, 0xff));
const HEADER_BYTES = 5;
export const PAGE_ENTRY_BYTES = RECORD_ID_BYTES + 8 + TAG_BYTES; // 56
/** Entries one page can hold (a page is at most one sealed document): about 150 000, so 600 million records per run. */
export const MAX_PAGE_ENTRIES = Math.floor((MAX_PLAINTEXT_BYTES - HEADER_BYTES) / PAGE_ENTRY_BYTES);

/** The page that holds `record` (its first 12 bits). */
export function pageOfRecord(record: Buffer): number {
  return record.readUInt16BE(0) >>> 4;
}

/** The reserved record id of page `page` of run `runId`. */
export function pageRecordId(runId: Buffer, page: number): RecordId {
  if (runId.length !== RUN_ID_BYTES) throw new RangeError(`a run id is ${RUN_ID_BYTES} bytes`);
  if (!Number.isInteger(page) || page < 0 || page >= WATERMARK_PAGE_COUNT) throw new RangeError(`page ${page} out of range`);
  const id = Buffer.alloc(RECORD_ID_BYTES);
  runId.copy(id, 0);
  id.writeUInt32BE(page, RECORD_ID_BYTES - 4);
  return asRecordId(id);
}

/** True for the owner of watermark pages (key administration skips it: pages are not documents). */
export function isWatermarkOwner(owner: Buffer): boolean {
  return owner.equals(WATERMARK_OWNER);
}

export interface PageEntry extends Seen {
  /** Record id, 32 bytes. */
  readonly record: Buffer;
}

/** Entries of one page, sorted by record id, looked up by binary search. */
export class WatermarkPage {
  readonly page: number;
  /** The entries, each PAGE_ENTRY_BYTES, ascending. */
  readonly #entries: Buffer;

  private constructor(page: number, entries: Buffer) {
    this.page = page;
    this.#entries = entries;
  }

  static empty(page: number): WatermarkPage {
    return new WatermarkPage(page, Buffer.alloc(0));
  }

  get count(): number {
    return this.#entries.length / PAGE_ENTRY_BYTES;
  }

  /** Bytes this page holds in memory. */
  get byteLength(): number {
    return this.#entries.length;
  }

  get(record: Buffer): Seen | undefined {
    let low = 0;
    let high = this.count - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const offset = middle * PAGE_ENTRY_BYTES;
      const order = this.#entries.compare(record, 0, RECORD_ID_BYTES, offset, offset + RECORD_ID_BYTES) * -1;
      if (order === 0) return entryAt(this.#entries, offset);
      if (order < 0) high = middle - 1;
      else low = middle + 1;
    }
    return undefined;
  }

  /** This page with `updates` merged in (the higher version of each record wins; equal versions keep the page's). */
  mergedWith(updates: Iterable<PageEntry>): WatermarkPage {
    const merged = new Map<string, PageEntry>();
    for (let offset = 0; offset < this.#entries.length; offset += PAGE_ENTRY_BYTES) {
      const record = this.#entries.subarray(offset, offset + RECORD_ID_BYTES);
      merged.set(record.toString('hex'), { record, ...entryAt(this.#entries, offset) });
    }
    for (const update of updates) {
      if (pageOfRecord(update.record) !== this.page) throw new RangeError('an entry of another page');
      const key = update.record.toString('hex');
      const existing = merged.get(key);
      if (existing === undefined || update.version > existing.version) merged.set(key, update);
    }
    const keys = [...merged.keys()].sort();
    if (keys.length > MAX_PAGE_ENTRIES) throw new StorageIntegrityError('WATERMARK_PAGE_INVALID', `page ${this.page} would hold ${keys.length} entries, more than ${MAX_PAGE_ENTRIES}`);
    const entries = Buffer.alloc(keys.length * PAGE_ENTRY_BYTES);
    keys.forEach((key, index) => {
      const entry = merged.get(key) as PageEntry;
      const offset = index * PAGE_ENTRY_BYTES;
      entry.record.copy(entries, offset);
      entries.writeUIntBE(Math.floor(entry.version / 2 ** 32), offset + RECORD_ID_BYTES, 4);
      entries.writeUInt32BE(entry.version >>> 0, offset + RECORD_ID_BYTES + 4);
      entry.blobTag.copy(entries, offset + RECORD_ID_BYTES + 8);
    });
    return new WatermarkPage(this.page, entries);
  }

  /** The plaintext to seal. */
  encode(): Buffer {
    const out = Buffer.alloc(HEADER_BYTES + this.#entries.length);
    out.writeUInt8(WATERMARK_PAGE_FORMAT, 0);
    out.writeUInt32BE(this.count, 1);
    this.#entries.copy(out, HEADER_BYTES);
    return out;
  }

  /** Parses an opened page; throws StorageIntegrityError (WATERMARK_PAGE_INVALID). */
  static decode(page: number, plaintext: Buffer): WatermarkPage {
    if (plaintext.length < HEADER_BYTES) throw new StorageIntegrityError('WATERMARK_PAGE_INVALID', `${plaintext.length} bytes is shorter than the header`);
    if (plaintext.readUInt8(0) !== WATERMARK_PAGE_FORMAT) throw new StorageIntegrityError('WATERMARK_PAGE_INVALID', `unknown format ${plaintext.readUInt8(0)}`);
    const count = plaintext.readUInt32BE(1);
    if (count > MAX_PAGE_ENTRIES || plaintext.length !== HEADER_BYTES + count * PAGE_ENTRY_BYTES) {
      throw new StorageIntegrityError('WATERMARK_PAGE_INVALID', `${plaintext.length} bytes do not hold ${count} entries`);
    }
    const entries = Buffer.from(plaintext.subarray(HEADER_BYTES));
    for (let offset = 0; offset < entries.length; offset += PAGE_ENTRY_BYTES) {
      const record = entries.subarray(offset, offset + RECORD_ID_BYTES);
      if (pageOfRecord(record) !== page) throw new StorageIntegrityError('WATERMARK_PAGE_INVALID', `entry ${offset / PAGE_ENTRY_BYTES} belongs to page ${pageOfRecord(record)}, not ${page}`);
      if (offset > 0 && entries.compare(entries, offset - PAGE_ENTRY_BYTES, offset - PAGE_ENTRY_BYTES + RECORD_ID_BYTES, offset, offset + RECORD_ID_BYTES) <= 0) {
        throw new StorageIntegrityError('WATERMARK_PAGE_INVALID', `entry ${offset / PAGE_ENTRY_BYTES} is not after the one before it`);
      }
      const high = entries.readUInt32BE(offset + RECORD_ID_BYTES);
      const version = high * 2 ** 32 + entries.readUInt32BE(offset + RECORD_ID_BYTES + 4);
      if (version < 1 || high >= 2 ** 21) throw new StorageIntegrityError('WATERMARK_PAGE_INVALID', `entry ${offset / PAGE_ENTRY_BYTES} has version ${version} outside 1 .. 2^53 - 1`);
    }
    return new WatermarkPage(page, entries);
  }
}

function entryAt(entries: Buffer, offset: number): Seen {
  const version = entries.readUInt32BE(offset + RECORD_ID_BYTES) * 2 ** 32 + entries.readUInt32BE(offset + RECORD_ID_BYTES + 4);
  return { version, blobTag: Buffer.from(entries.subarray(offset + RECORD_ID_BYTES + 8, offset + PAGE_ENTRY_BYTES)) };
}
