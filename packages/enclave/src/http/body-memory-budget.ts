// A budget for request bodies held in memory at once, across all
// connections (issue 9, finding 6). Without it, MAX_CONNECTIONS stalled
// uploads of MAX_BODY_BYTES each could pin MAX_CONNECTIONS x MAX_BODY_BYTES
// (8 GiB with the largest settings) for REQUEST_TIMEOUT_MS.
//
// An upload reserves what it may hold before a byte of its body is read:
// its Content-Length, or MAX_BODY_BYTES when chunked (the reader enforces
// that bound). The reservation lasts until its response is done (the body
// stays in memory while it is sealed and stored). An upload that does not
// fit is answered 503 OVERLOADED at once.

export class BodyMemoryBudget {
  readonly #capacity: number;
  #reserved = 0;

  constructor(capacityBytes: number) {
    this.#capacity = capacityBytes;
  }

  /** Bytes reserved now. */
  get reserved(): number {
    return this.#reserved;
  }

  /** Reserves `bytes`; returns the release function, or undefined when they do not fit. */
  tryReserve(bytes: number): (() => void) | undefined {
    if (bytes > this.#capacity - this.#reserved) return undefined;
    this.#reserved += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#reserved -= bytes;
    };
  }
}
