// A bounded least-recently-used cache over Map insertion order, used to keep
// derived per-owner sealing keys without an HKDF per request while keeping
// memory bounded.

export class BoundedLruCache<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #maxEntries: number;
  readonly #onEvict: ((value: V) => void) | undefined;

  /** The most entries this cache holds. */
  get capacity(): number {
    return this.#maxEntries;
  }

  constructor(maxEntries: number, onEvict?: (value: V) => void) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${String(maxEntries)}`);
    }
    this.#maxEntries = maxEntries;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      // Move to the most-recently-used end.
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    const previous = this.#entries.get(key);
    if (previous !== undefined) {
      this.#entries.delete(key);
      if (previous !== value) this.#onEvict?.(previous);
    }
    this.#entries.set(key, value);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.entries().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value[0]);
      this.#onEvict?.(oldest.value[1]);
    }
  }

  clear(): void {
    for (const value of this.#entries.values()) this.#onEvict?.(value);
    this.#entries.clear();
  }
}
