// Rate limit of GET /attestation (and /.well-known/attestation): each
// document costs an NSM call (or a signature with the dev provider), and the
// endpoint is public. Two bounds: a token bucket over the whole enclave
// (ATTESTATIONS_PER_SECOND, bursts of ATTESTATION_BURST), and a count per
// connection (a client asks once per new connection; one that asks more than
// ATTESTATIONS_PER_CONNECTION times on one connection is not a client).
// Past either: 429 ATTESTATION_RATE_LIMITED with Retry-After.

/** Documents per second across the enclave, sustained. */
export const ATTESTATIONS_PER_SECOND = 50;
/** Documents the enclave serves at once after a quiet period. */
export const ATTESTATION_BURST = 100;
/** Documents one connection may ask for over its whole life. */
export const ATTESTATIONS_PER_CONNECTION = 8;

export class AttestationRateLimit {
  #tokens = ATTESTATION_BURST;
  #refilledAt: number;
  readonly #perConnection = new WeakMap<object, number>();
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#refilledAt = now();
  }

  /** Takes one document's worth for `connection`; false means answer 429. */
  tryTake(connection: object): boolean {
    const used = this.#perConnection.get(connection) ?? 0;
    if (used >= ATTESTATIONS_PER_CONNECTION) return false;
    const now = this.#now();
    this.#tokens = Math.min(ATTESTATION_BURST, this.#tokens + ((now - this.#refilledAt) / 1000) * ATTESTATIONS_PER_SECOND);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    this.#perConnection.set(connection, used + 1);
    return true;
  }
}
