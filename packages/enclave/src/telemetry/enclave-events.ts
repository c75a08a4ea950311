// The enclave's events on node:diagnostics_channel. Business code publishes
// what happened; the log lines (enclave-event-log.ts) and the telemetry
// metrics (enclave-metrics.ts) subscribe. An event carries fixed vocabularies
// only: route templates (never the path a client sent), methods, statuses,
// storage request kinds and outcomes (which the host sees anyway: it serves
// them), reason codes, key ids (public), durations. Never a body, a token, a
// key, a pseudonym, a record id or a size.
//
//   channel                              message
//   http-enclave:enclave:request         RequestEvent      an answered HTTP request
//   http-enclave:enclave:connection      ConnectionEvent   a connection refused at accept, or a TLS handshake or HTTP parse failure, by class
//   http-enclave:enclave:storage         StorageEvent      a storage request settled
//   http-enclave:enclave:seal            SealEvent         a blob from storage failed to open, by reason
//   http-enclave:enclave:attestation     AttestationEvent  an attestation document signed, or a signing failure
//   http-enclave:enclave:key             KeyEvent          the keyring changed, or failed to

import { channel } from 'node:diagnostics_channel';
import type { ATTESTATION_OUTCOMES, CONNECTION_STAGES, KEY_EVENTS, ROUTE_TEMPLATES, SEAL_FAILURE_REASONS, STORAGE_KINDS, STORAGE_OUTCOMES } from '@http-enclave/protocol';
import { REQUEST_METHODS } from '@http-enclave/protocol';

export type RouteTemplate = (typeof ROUTE_TEMPLATES)[number];

export interface RequestEvent {
  /** A fixed route template: '/private-data/{name}', '/healthz', 'unmatched', … */
  readonly route: RouteTemplate;
  /** GET, PUT, … or OTHER for a method the API does not know. */
  readonly method: string;
  readonly status: number;
  readonly durationMs: number;
}

export const REQUEST_CHANNEL = 'http-enclave:enclave:request';
const requests = channel(REQUEST_CHANNEL);

const KNOWN_METHODS: ReadonlySet<string> = new Set(REQUEST_METHODS);

export function publishRequest(event: RequestEvent): void {
  if (requests.hasSubscribers) requests.publish({ ...event, method: KNOWN_METHODS.has(event.method) ? event.method : 'OTHER' });
}

export function subscribeRequests(handler: (event: RequestEvent) => void): () => void {
  return subscribeTo(REQUEST_CHANNEL, handler);
}

/**
 * A client connection that failed before a request: refused at accept
 * (MAX_CONNECTIONS), or failed in the TLS handshake or the HTTP parser, with
 * its error code (ERR_SSL_…, HPE_…).
 */
export interface ConnectionEvent {
  readonly stage: (typeof CONNECTION_STAGES)[number];
  readonly code: string;
}

/** Storage request kinds: the frame types the enclave sends. */
export type StorageKind = (typeof STORAGE_KINDS)[number];
/** How a storage request ended: what the reply meant once checked against its request, or the error's code in lower case. */
export type StorageOutcome = (typeof STORAGE_OUTCOMES)[number];

export interface StorageEvent {
  readonly kind: StorageKind;
  readonly outcome: StorageOutcome;
  readonly durationMs: number;
}

/** A blob the host returned did not open: the STORAGE_INTEGRITY reason (enclave-errors.ts). */
export interface SealEvent {
  readonly reason: (typeof SEAL_FAILURE_REASONS)[number];
}

/** The provider signed a document, or failed to (a client's refused request is not an attestation event: its status must not leave). */
export interface AttestationEvent {
  readonly outcome: (typeof ATTESTATION_OUTCOMES)[number];
  readonly durationMs: number;
}

/** Key events; `keyId` (hex, public: it is in every sealed envelope) where one key is concerned, `code` for a failure. */
export interface KeyEvent {
  readonly event: (typeof KEY_EVENTS)[number];
  readonly keyId?: string;
  readonly keys?: number;
  readonly examined?: number;
  readonly resealed?: number;
  readonly more?: boolean;
  readonly code?: string;
}

export const CONNECTION_CHANNEL = 'http-enclave:enclave:connection';
export const STORAGE_CHANNEL = 'http-enclave:enclave:storage';
export const SEAL_CHANNEL = 'http-enclave:enclave:seal';
export const ATTESTATION_CHANNEL = 'http-enclave:enclave:attestation';
export const KEY_CHANNEL = 'http-enclave:enclave:key';

const connections = channel(CONNECTION_CHANNEL);
const storage = channel(STORAGE_CHANNEL);
const seals = channel(SEAL_CHANNEL);
const attestations = channel(ATTESTATION_CHANNEL);
const keys = channel(KEY_CHANNEL);

/** Error codes are ours or Node's (ERR_…, HPE_…, ECONNRESET); anything else is `OTHER`, so a peer cannot grow a label set. */
const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

export function publishConnection(event: ConnectionEvent): void {
  if (connections.hasSubscribers) connections.publish({ stage: event.stage, code: CODE_PATTERN.test(event.code) ? event.code : 'OTHER' });
}
export function publishStorage(event: StorageEvent): void {
  if (storage.hasSubscribers) storage.publish(event);
}
export function publishSeal(event: SealEvent): void {
  if (seals.hasSubscribers) seals.publish(event);
}
export function publishAttestation(event: AttestationEvent): void {
  if (attestations.hasSubscribers) attestations.publish(event);
}
export function publishKey(event: KeyEvent): void {
  if (keys.hasSubscribers) keys.publish(event);
}

function subscribeTo<T>(name: string, handler: (event: T) => void): () => void {
  const listener = (message: unknown): void => handler(message as T);
  channel(name).subscribe(listener);
  return () => void channel(name).unsubscribe(listener);
}

export const subscribeConnections = (handler: (event: ConnectionEvent) => void): (() => void) => subscribeTo(CONNECTION_CHANNEL, handler);
export const subscribeStorage = (handler: (event: StorageEvent) => void): (() => void) => subscribeTo(STORAGE_CHANNEL, handler);
export const subscribeSeals = (handler: (event: SealEvent) => void): (() => void) => subscribeTo(SEAL_CHANNEL, handler);
export const subscribeAttestations = (handler: (event: AttestationEvent) => void): (() => void) => subscribeTo(ATTESTATION_CHANNEL, handler);
export const subscribeKeys = (handler: (event: KeyEvent) => void): (() => void) => subscribeTo(KEY_CHANNEL, handler);
