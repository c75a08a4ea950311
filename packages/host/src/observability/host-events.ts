// The host's events on node:diagnostics_channel. Business code publishes
// what happened; logging (host-event-log.ts) and metrics (host-metrics.ts)
// subscribe. Nothing here carries a payload byte, a token, a pseudonym or an
// address beyond the per-source key the limits already use.
//
//   channel                                   message
//   http-enclave:host:ingress                 IngressEvent
//   http-enclave:host:storage                 StorageEvent (published in the
//                                             storage worker, replayed on the
//                                             main thread in batches)
//
// A channel with no subscriber costs one boolean check per event.

import { channel } from 'node:diagnostics_channel';

export type IngressEvent =
  | { readonly event: 'accepted'; readonly connection: number }
  | { readonly event: 'refused'; readonly reason: 'MAX_CONNECTIONS' | 'MAX_CONNECTIONS_PER_SOURCE'; readonly source?: string }
  | { readonly event: 'enclave-unreachable'; readonly connection: number; readonly code: string; readonly enclave: string }
  | {
      readonly event: 'closed';
      readonly connection: number;
      readonly bytesFromClient: number;
      readonly bytesToClient: number;
      readonly reason: string;
      readonly durationMs: number;
    };

export interface StorageEvent {
  /** GET, PUT, LIST, PING, CREDENTIALS or INVALID (a frame that did not parse). */
  readonly kind: string;
  /** FOUND, NOT_FOUND, WRITTEN, CONFLICT, LISTED, PONG, CREDENTIALS_OK or the error code. */
  readonly outcome: string;
  readonly durationMs: number;
}

export const INGRESS_CHANNEL = 'http-enclave:host:ingress';
export const STORAGE_CHANNEL = 'http-enclave:host:storage';

/**
 * What components of one host publish through. Several hosts may run in one
 * process (tests do): every message carries its host's `instance`, and
 * subscribers of one host ignore the others'.
 */
export interface HostEvents {
  readonly instance: symbol;
  ingress(event: IngressEvent): void;
  storage(event: StorageEvent): void;
}

/** A message as it is on the channel: the event and the host it came from. */
export type Published<E> = E & { readonly instance: symbol };

export function createHostEvents(): HostEvents {
  const instance = Symbol('http-enclave host');
  const ingress = channel(INGRESS_CHANNEL);
  const storage = channel(STORAGE_CHANNEL);
  return {
    instance,
    ingress: (event) => {
      if (ingress.hasSubscribers) ingress.publish({ ...event, instance });
    },
    storage: (event) => {
      if (storage.hasSubscribers) storage.publish({ ...event, instance });
    },
  };
}

/** Subscribes `handler` to one channel for one host; returns the unsubscribe. */
export function subscribeHostChannel<E>(name: string, instance: symbol, handler: (event: E) => void): () => void {
  const listener = (message: unknown): void => {
    const published = message as Published<E>;
    if (published.instance === instance) handler(published);
  };
  channel(name).subscribe(listener);
  return () => void channel(name).unsubscribe(listener);
}
