// How fast one owner may create new records (issue 10, item 5). A record is
// new when storage has never held it (version 0); rewriting a document, or
// writing one again after a delete, creates nothing. Each new record costs
// the host a row and the rollback guard an entry forever, so one token must
// not be able to create them without bound.
//
// One token bucket per owner: RECORD_CREATES_PER_SECOND sustained, bursts of
// CREATION_BURST_SECONDS times that. Owners are tracked in a map bounded to
// MAX_TRACKED_OWNERS, least recently active first out; an owner pushed out
// starts again with a full bucket. Tokens cost nothing to mint, so this
// bounds one owner, not the sum of all: the connection and body limits of
// the host and the enclave bound the sum.

/** Seconds of the sustained rate one owner may spend at once after a quiet period. */
export const CREATION_BURST_SECONDS = 10;
/** Owners whose buckets are kept (about 100 bytes each). */
export const MAX_TRACKED_OWNERS = 100_000;

interface Bucket {
  tokens: number;
  refilledAt: number;
}

export class OwnerCreationRateLimit {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  readonly #maxOwners: number;

  constructor(perSecond: number, now: () => number = () => performance.now(), maxOwners = MAX_TRACKED_OWNERS) {
    if (!(perSecond > 0)) throw new RangeError('perSecond must be positive');
    this.#perSecond = perSecond;
    this.#burst = perSecond * CREATION_BURST_SECONDS;
    this.#now = now;
    this.#maxOwners = maxOwners;
  }

  /** Takes one new record for `owner` (any stable key). Returns 0 when allowed, else the milliseconds until it would be. */
  take(owner: string): number {
    const now = this.#now();
    let bucket = this.#buckets.get(owner);
    if (bucket === undefined) {
      bucket = { tokens: this.#burst, refilledAt: now };
      if (this.#buckets.size >= this.#maxOwners) {
        const oldest = this.#buckets.keys().next();
        if (oldest.done !== true) this.#buckets.delete(oldest.value);
      }
    } else {
      this.#buckets.delete(owner); // re-inserted below: most recently active last
      bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.#perSecond);
      bucket.refilledAt = now;
    }
    this.#buckets.set(owner, bucket);
    if (bucket.tokens < 1) return Math.ceil(((1 - bucket.tokens) / this.#perSecond) * 1000);
    bucket.tokens -= 1;
    return 0;
  }

  /** Owners currently tracked (for tests and metrics). */
  get trackedOwners(): number {
    return this.#buckets.size;
  }
}
