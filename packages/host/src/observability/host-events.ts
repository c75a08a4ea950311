// The host's events on node:diagnostics_channel. Business code publishes
// what happened; logging (host-event-log.ts) and metrics (host-metrics.ts)
// subscribe. Nothing here carries a payload byte, a token, a pseudonym or an
// address beyond the per-source key the limits already use and the host:port
// an enclave's CONNECT asked for.
//
//   channel                                   message
//   http-enclave:host:ingress                 IngressEvent
//   http-enclave:host:storage                 StorageEvent (published in the
//                                             storage worker, replayed on the
//                                             main thread in batches)
//   http-enclave:host:egress                  EgressEvent (the egress forwarder:
//                                             refusals, tunnels opened and closed;
//                                             the CONNECT target host:port is the
//                                             only thing from the stream in them)
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

/** Why the egress forwarder refused a connection (a label of the refusal metric; a code of host-errors.ts each, but head_incomplete). */
export const EGRESS_REFUSAL_REASONS = [
  'bad_request',
  'method_not_allowed',
  'head_too_large',
  'head_timeout',
  'head_incomplete',
  'not_allowed',
  'over_capacity',
  'upstream_failed',
  'upstream_timeout',
] as const;
export type EgressRefusalReason = (typeof EGRESS_REFUSAL_REASONS)[number];

export type EgressEvent =
  | {
      readonly event: 'refused';
      /** Absent when the listener closed the connection at accept (far over capacity). */
      readonly connection?: number;
      readonly reason: EgressRefusalReason;
      /** host:port the enclave asked for, once its head parsed (not_allowed, upstream_failed, upstream_timeout). */
      readonly destination?: string;
      /** The errno of a failed upstream connect (ECONNREFUSED, ENOTFOUND, ...). */
      readonly cause?: string;
      /** The bound that was hit: maxConnections (over_capacity) or connectTimeoutMs (upstream_timeout). */
      readonly limit?: number;
    }
  | { readonly event: 'opened'; readonly connection: number; readonly destination: string }
  | {
      readonly event: 'closed';
      readonly connection: number;
      readonly destination: string;
      readonly bytesFromEnclave: number;
      readonly bytesToEnclave: number;
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
export const EGRESS_CHANNEL = 'http-enclave:host:egress';

/**
 * What components of one host publish through. Several hosts may run in one
 * process (tests do): every message carries its host's `instance`, and
 * subscribers of one host ignore the others'.
 */
export interface HostEvents {
  readonly instance: symbol;
  ingress(event: IngressEvent): void;
  storage(event: StorageEvent): void;
  egress(event: EgressEvent): void;
}

/** A message as it is on the channel: the event and the host it came from. */
export type Published<E> = E & { readonly instance: symbol };

export function createHostEvents(): HostEvents {
  const instance = Symbol('http-enclave host');
  const ingress = channel(INGRESS_CHANNEL);
  const storage = channel(STORAGE_CHANNEL);
  const egress = channel(EGRESS_CHANNEL);
  return {
    instance,
    ingress: (event) => {
      if (ingress.hasSubscribers) ingress.publish({ ...event, instance });
    },
    storage: (event) => {
      if (storage.hasSubscribers) storage.publish({ ...event, instance });
    },
    egress: (event) => {
      if (egress.hasSubscribers) egress.publish({ ...event, instance });
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
