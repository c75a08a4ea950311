// Highest record version this enclave has seen, per record, to detect the
// host serving an older (validly sealed) blob of a record: the version lives
// in the AEAD data, so the host can only replay versions that existed, and
// this watermark catches any that go backwards within the enclave's lifetime.
// Bounded: the oldest entries are forgotten first (a forgotten record loses
// only this extra check, never correctness of what is returned).

/** Records remembered; 100 000 entries cost about 10 MiB (64-char hex key + number + Map overhead). */
export const VERSION_WATERMARK_ENTRIES = 100_000;

export class VersionWatermark {
  readonly #versions = new Map<string, number>();
  readonly #capacity: number;

  constructor(capacity: number = VERSION_WATERMARK_ENTRIES) {
    this.#capacity = capacity;
  }

  /** False if `version` is below what was already seen for this record. */
  allows(recordKey: string, version: number): boolean {
    const seen = this.#versions.get(recordKey);
    return seen === undefined || version >= seen;
  }

  /** Records an authenticated (or store-confirmed) version; never lowers the mark. */
  raise(recordKey: string, version: number): void {
    const seen = this.#versions.get(recordKey);
    this.#versions.delete(recordKey);
    this.#versions.set(recordKey, seen === undefined ? version : Math.max(seen, version));
    if (this.#versions.size > this.#capacity) {
      const oldest = this.#versions.keys().next();
      if (oldest.done !== true) this.#versions.delete(oldest.value);
    }
  }
}
