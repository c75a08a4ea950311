// Fault injection: the next N calls that reach the double (after the body is
// read, before authentication) take the fault at the head of the queue.
//
//   error           answer errorType (status 400, or 500 for KMSInternalException)
//   malformed-body  run the call, then (if it succeeded) corrupt the 200 answer:
//     non-json                       body that is not JSON
//     missing-field                  Plaintext / CiphertextForRecipient removed
//     garbage-ciphertext-for-recipient  the released field is not base64
//     truncated-cms                  the released field cut to half its bytes
//     plaintext-with-recipient       Plaintext added beside CiphertextForRecipient
//                                    (a response the enclave must refuse)
//   delay           wait delayMs, then answer normally

import type { KmsErrorType } from './kms-errors.js';

export const MALFORMED_BODIES = [
  'non-json',
  'missing-field',
  'garbage-ciphertext-for-recipient',
  'truncated-cms',
  'plaintext-with-recipient',
] as const;
export type MalformedBody = (typeof MALFORMED_BODIES)[number];

export type KmsDoubleFault =
  | { readonly kind: 'error'; readonly errorType: KmsErrorType; readonly message?: string; readonly count?: number }
  | { readonly kind: 'malformed-body'; readonly body: MalformedBody; readonly count?: number }
  | { readonly kind: 'delay'; readonly delayMs: number; readonly count?: number };

/** Longest injectable delay: a test's wait, not a hang. */
export const MAX_FAULT_DELAY_MS = 120_000;

export class FaultQueue {
  readonly #queue: { fault: KmsDoubleFault; remaining: number }[] = [];

  add(fault: KmsDoubleFault): void {
    const count = fault.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new TypeError('fault.count must be an integer >= 1');
    if (fault.kind === 'delay' && (!Number.isFinite(fault.delayMs) || fault.delayMs < 0 || fault.delayMs > MAX_FAULT_DELAY_MS)) {
      throw new TypeError(`fault.delayMs must be 0..${MAX_FAULT_DELAY_MS}`);
    }
    if (fault.kind === 'malformed-body' && !MALFORMED_BODIES.includes(fault.body)) throw new TypeError('fault.body is not a known malformed body');
    this.#queue.push({ fault, remaining: count });
  }

  /** The fault for the call now arriving, or null; consumes one count. */
  take(): KmsDoubleFault | null {
    const head = this.#queue[0];
    if (head === undefined) return null;
    head.remaining -= 1;
    if (head.remaining === 0) this.#queue.shift();
    return head.fault;
  }

  clear(): void {
    this.#queue.length = 0;
  }
}

/** Applies a malformed-body fault to a successful response; returns the body text to send. */
export function corruptResponse(body: MalformedBody, response: Record<string, unknown>, plaintext: Buffer | null): string {
  const released = 'CiphertextForRecipient' in response ? 'CiphertextForRecipient' : 'Plaintext';
  const copy: Record<string, unknown> = { ...response };
  const current = copy[released];
  switch (body) {
    case 'non-json':
      return '<html>this is not JSON</html>';
    case 'missing-field':
      delete copy['CiphertextForRecipient'];
      delete copy['Plaintext'];
      break;
    case 'garbage-ciphertext-for-recipient':
      copy[released] = '@@not*base64!!';
      break;
    case 'truncated-cms': {
      const bytes = Buffer.from(typeof current === 'string' ? current : '', 'base64');
      copy[released] = bytes.subarray(0, Math.floor(bytes.length / 2)).toString('base64');
      break;
    }
    case 'plaintext-with-recipient':
      if (plaintext !== null) copy['Plaintext'] = plaintext.toString('base64');
      break;
  }
  return JSON.stringify(copy);
}
