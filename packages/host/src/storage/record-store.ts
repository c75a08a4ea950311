// The storage provider seam: a versioned store of opaque blobs, keyed by
// (owner, record) pseudonyms. Implementations: SQLite (one machine, default);
// PostgreSQL later (several enclaves share one database). Every write is a
// compare-and-set on the record version, so concurrent writers never lose each
// other's writes, and versions of a record only ever go up. There is no
// delete: the enclave deletes a document by writing a sealed tombstone, a blob
// like any other, so a record once written always holds a blob.

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

