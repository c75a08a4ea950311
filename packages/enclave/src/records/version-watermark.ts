// What this enclave has seen of each record: the highest version, and which
// sealed blob held it. The version lives in the AEAD data, so the host can
// only serve blobs that were really sealed; this watermark catches it
// serving an older one (a lower version, or NOT_FOUND, which is version 0) or
// a different blob sealed for the same version (a write that lost a
// compare-and-set race, or that the host answered with CONFLICT after keeping
// it). It lasts as long as the process: a restart forgets it (see
// docs/threat-model.md).
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
// Bounded: the least recently touched records are forgotten first; a
// forgotten record loses only this extra check.

/** Records remembered; 100 000 entries cost about 15 MiB (64-char hex key, number, 16-byte tag, Map overhead). */
export const VERSION_WATERMARK_ENTRIES = 100_000;

interface Seen {
  readonly version: number;
  readonly blobTag: Buffer;
}

export class VersionWatermark {
  readonly #seen = new Map<string, Seen>();
  readonly #capacity: number;

  constructor(capacity: number = VERSION_WATERMARK_ENTRIES) {
    this.#capacity = capacity;
  }

  /**
   * False if `version` is below what was seen for this record, or equal to it
   * with a different blob (when `blobTag` is given: once the blob opened).
   */
  allows(recordKey: string, version: number, blobTag?: Buffer): boolean {
    const seen = this.#seen.get(recordKey);
    if (seen === undefined || version > seen.version) return true;
    if (version < seen.version) return false;
    return blobTag === undefined || seen.blobTag.equals(blobTag);
  }

  /** Records an authenticated (or store-confirmed) version and its blob's tag; never lowers the mark. */
  raise(recordKey: string, version: number, blobTag: Buffer): void {
    const seen = this.#seen.get(recordKey);
    this.#seen.delete(recordKey);
    const next = seen !== undefined && seen.version > version ? seen : { version, blobTag: Buffer.from(blobTag) };
    this.#seen.set(recordKey, next);
    if (this.#seen.size > this.#capacity) {
      const oldest = this.#seen.keys().next();
      if (oldest.done !== true) this.#seen.delete(oldest.value);
    }
  }
}
