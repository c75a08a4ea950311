// What this enclave remembers in memory of each record: the highest version
// it has seen, and which sealed blob held it. The version lives in the AEAD
// data, so the host can only serve blobs that were really sealed; this
// watermark catches it serving an older one (a lower version, or NOT_FOUND,
// which is version 0) or a different blob sealed for the same version (a
// write that lost a compare-and-set race, or that the host answered with
// CONFLICT after keeping it).
//
// Deletes are sealed tombstones (private-documents.ts), blobs like any other:
// every version recorded here has a blob and a tag. So the host can neither
// fake a deletion of a record seen here (NOT_FOUND is a lower version; a
// tombstone it did not get from us does not open, and an old or losing one is
// a lower version or a fork) nor undo a real one (the document before the
// tombstone is a lower version).
//
// A blob is identified by its GCM tag: 16 bytes that are already
// authenticated once the blob opens, and differ between any two seals
// (fresh nonce), so no extra hashing is needed.
//
// Bounded: past `capacity` the least recently touched record leaves memory,
// but it is not forgotten: it is handed to `onEvict`, and the rollback guard
// (rollback-guard.ts) writes it into a sealed watermark page on the host
// whose version this enclave anchors. Issue 9, finding 2: a client that
// touches many records used to push a victim's record out of this map, and
// the host could then serve the victim's older blob unnoticed.

/** Records kept in memory by default; 100 000 entries cost about 15 MiB (64-char hex key, number, 16-byte tag, Map overhead). */
export const VERSION_WATERMARK_ENTRIES = 100_000;

export interface Seen {
  readonly version: number;
  readonly blobTag: Buffer;
  /** Already in this run's watermark page at this version and tag: nothing to write when it leaves memory. */
  readonly inPage?: boolean;
  /**
   * False when this entry came back into memory while its page was anchored
   * but not cached: the page may hold a higher version, so lookups still
   * merge the page (rollback-guard.ts). Absent means true.
   */
  readonly complete?: boolean;
}

/**
 * False if `version` is below what was seen, or equal to it with a different
 * blob (when `blobTag` is given: once the blob opened). Nothing seen allows all.
 */
export function versionAllowed(seen: Seen | undefined, version: number, blobTag?: Buffer): boolean {
  if (seen === undefined || version > seen.version) return true;
  if (version < seen.version) return false;
  return blobTag === undefined || seen.blobTag.equals(blobTag);
}

/** The higher of two observations of one record (the first when equal). */
export function higherSeen(a: Seen | undefined, b: Seen | undefined): Seen | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.version > a.version ? b : a;
}

export class VersionWatermark {
  readonly #seen = new Map<string, Seen>();
  readonly #capacity: number;
  readonly #onEvict: ((recordKey: string, seen: Seen) => void) | undefined;

  constructor(capacity: number = VERSION_WATERMARK_ENTRIES, onEvict?: (recordKey: string, seen: Seen) => void) {
    this.#capacity = capacity;
    this.#onEvict = onEvict;
  }

  /** What memory holds for this record (does not change its recency). */
  get(recordKey: string): Seen | undefined {
    return this.#seen.get(recordKey);
  }

  /**
   * Records an authenticated (or store-confirmed) version and its blob's
   * tag; never lowers the mark. Returns false, and changes nothing, for the
   * same version with another blob: a fork the host showed (two blobs sealed
   * for one version: a losing write it kept), which no honest store makes.
   */
  raise(recordKey: string, seen: Seen): boolean {
    const current = this.#seen.get(recordKey);
    if (current !== undefined && current.version === seen.version && !current.blobTag.equals(seen.blobTag)) return false;
    this.#seen.delete(recordKey);
    let next: Seen;
    if (current !== undefined && current.version > seen.version) next = current;
    else if (current !== undefined && current.version === seen.version) next = { ...current, inPage: current.inPage === true || seen.inPage === true };
    else next = { ...seen, blobTag: Buffer.from(seen.blobTag) };
    this.#seen.set(recordKey, next);
    if (this.#seen.size > this.#capacity) {
      const oldest = this.#seen.entries().next();
      if (oldest.done !== true) {
        const [key, value] = oldest.value;
        this.#seen.delete(key);
        this.#onEvict?.(key, value);
      }
    }
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }
}
