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

/** A request the store refuses before touching the database (bad pseudonym length, version out of range). */
export class RecordStoreInputError extends Error {
  readonly code = 'STORE_BAD_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'RecordStoreInputError';
  }
}

/** A stored row breaks an invariant the schema does not enforce (a key that is not 32 bytes). */
export class RecordStoreCorruptError extends Error {
  readonly code = 'STORE_CORRUPT';
  constructor(message: string) {
    super(message);
    this.name = 'RecordStoreCorruptError';
  }
}

/** The database was written by a newer schema than this program knows. */
export class RecordStoreSchemaError extends Error {
  readonly code = 'STORE_SCHEMA_TOO_NEW';
  constructor(found: number, supported: number) {
    super(`database schema version ${found} is newer than the supported ${supported}; run a newer host`);
    this.name = 'RecordStoreSchemaError';
  }
}

/** The store could not be set up with the durability it promises (for example WAL refused by the file system). */
export class RecordStoreSetupError extends Error {
  readonly code = 'STORE_SETUP_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'RecordStoreSetupError';
  }
}
