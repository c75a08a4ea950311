// The storage provider seam: a versioned store of opaque blobs, keyed by
// (owner, record) pseudonyms. Implementations: SQLite (one machine, default)
// and PostgreSQL (several hosts and enclaves share one database). Every write is a
// compare-and-set on the record version, so concurrent writers never lose each
// other's writes, and versions of a record only ever go up. There is no
// delete: the enclave deletes a document by writing a sealed tombstone, a blob
// like any other, so a record once written always holds a blob.

import { LIST_MAX_ENTRIES } from '@http-enclave/protocol';
import { RecordStoreCorruptError, RecordStoreInputError } from '../host-errors.js';

/** Owner and record pseudonyms are HMAC-SHA-256 outputs (see protocol storage-frame.ts). */
export const PSEUDONYM_BYTES = 32;

export type GetResult =
  | { readonly kind: 'found'; readonly version: number; readonly blob: Buffer }
  /** Never written (version 0). */
  | { readonly kind: 'notFound' };

export type WriteResult =
  | { readonly kind: 'written'; readonly version: number }
  | { readonly kind: 'conflict'; readonly currentVersion: number };

/** A record's key, and an exclusive cursor for listRecords. */
export interface RecordKey {
  readonly owner: Buffer;
  readonly record: Buffer;
}

export interface ListedRecord {
  readonly owner: Buffer;
  readonly record: Buffer;
  readonly version: number;
}

export interface ListResult {
  /** Strictly ascending by owner || record (bytewise), all strictly after the cursor. */
  readonly entries: readonly ListedRecord[];
  /** True when records after the last entry exist. */
  readonly more: boolean;
}

export interface RecordStore {
  get(owner: Buffer, record: Buffer): Promise<GetResult>;
  /** Stores blob at expectedVersion + 1 if the current version is expectedVersion. Resolves only once durable. */
  put(owner: Buffer, record: Buffer, expectedVersion: number, blob: Buffer): Promise<WriteResult>;
  /**
   * One page of the records that exist, in byte order of owner || record,
   * starting strictly after `after` (from the first record when undefined);
   * at most `limit` entries (1..LIST_MAX_ENTRIES of the protocol).
   */
  listRecords(after: RecordKey | undefined, limit: number): Promise<ListResult>;
  /** Makes one small durable write outside the records (readiness: the store takes writes now). */
  probeWrite(): Promise<void>;
  close(): Promise<void>;
}


// Checks every implementation makes before it touches its database.

export function checkKey(owner: Buffer, record: Buffer): void {
  if (owner.length !== PSEUDONYM_BYTES) throw new RecordStoreInputError(`owner must be ${PSEUDONYM_BYTES} bytes, got ${owner.length}`);
  if (record.length !== PSEUDONYM_BYTES) throw new RecordStoreInputError(`record must be ${PSEUDONYM_BYTES} bytes, got ${record.length}`);
}

export function checkExpectedVersion(expectedVersion: number): void {
  // expectedVersion + 1 must stay a safe integer: the protocol caps versions at 2^53 - 1.
  if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0 || expectedVersion >= Number.MAX_SAFE_INTEGER) {
    throw new RecordStoreInputError('expectedVersion must be an integer in 0..2^53-2');
  }
}

export function checkListLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_MAX_ENTRIES) throw new RecordStoreInputError(`limit must be an integer in 1..${LIST_MAX_ENTRIES}`);
}

/** A listed row as the protocol needs it, or STORE_CORRUPT: keys of 32 bytes, a version in 1..2^53-1. */
export function checkListedRow(row: { readonly owner: Buffer; readonly record: Buffer; readonly version: number }): ListedRecord {
  if (row.owner.length !== PSEUDONYM_BYTES || row.record.length !== PSEUDONYM_BYTES || !Number.isSafeInteger(row.version) || row.version < 1) {
    throw new RecordStoreCorruptError('a records row has a key that is not 32 bytes or a version outside 1..2^53-1');
  }
  return { owner: row.owner, record: row.record, version: row.version };
}
