// The enclave's metrics, as they leave it in telemetry frames: counters
// since start, keyed by the fixed label vocabularies of
// @http-enclave/protocol (telemetry-counters.ts), which the host enforces. Bounded: at most MAX_SERIES label sets (the vocabularies keep it
// far below, and one frame holds them all; past it a sample is counted under
// route="other").
//
// No status code: inside TLS the host cannot see whether an answer was 200,
// 404 or 409, and per-route counts every few seconds would tell it (a review
// found that). `outcome` says only "error" (a 5xx: the enclave or storage
// failed, which operators must see) or "ok" (everything else).
//
//   requests_total{route,method,outcome}           answered requests
//   request_duration_seconds_sum{route}            their time, summed
//   connection_failures_total{stage}               connections refused at accept, TLS handshakes and HTTP parses that failed (refused, tls, http)
//   storage_requests_total{kind,outcome}           storage requests (the host serves them, so it knows them anyway)
//   storage_request_duration_seconds_sum{kind}     their time as the enclave saw it, summed
//   seal_failures_total{reason}                    blobs from storage that did not open, by STORAGE_INTEGRITY reason
//   attestation_documents_total{outcome}           documents the provider signed, or failed to sign (signed, failed)
//   key_events_total{event}                        keyring events: rotated, retired, reloaded, regressed, …
//   telemetry_lines_dropped_total                  log lines the sender dropped

import type { TelemetryCounter } from '@http-enclave/protocol';
import { subscribeAttestations, subscribeConnections, subscribeKeys, subscribeRequests, subscribeSeals, subscribeStorage } from './enclave-events.js';

/** One metrics frame (64 KiB) holds about 600 series of ~100 bytes; the vocabularies make at most ~150. */
const MAX_SERIES = 300;

export class EnclaveMetrics {
  readonly #counters = new Map<string, { name: string; labels: Record<string, string>; value: number }>();
  readonly #unsubscribe: (() => void)[];

  constructor(private readonly droppedLines: () => number) {
    this.#unsubscribe = [
      subscribeRequests((event) => {
        this.#add('requests_total', { route: event.route, method: event.method, outcome: event.status >= 500 ? 'error' : 'ok' }, 1);
        this.#add('request_duration_seconds_sum', { route: event.route }, event.durationMs / 1000);
      }),
      subscribeConnections((event) => this.#add('connection_failures_total', { stage: event.stage }, 1)),
      subscribeStorage((event) => {
        this.#add('storage_requests_total', { kind: event.kind, outcome: event.outcome }, 1);
        this.#add('storage_request_duration_seconds_sum', { kind: event.kind }, event.durationMs / 1000);
      }),
      subscribeSeals((event) => this.#add('seal_failures_total', { reason: event.reason }, 1)),
      subscribeAttestations((event) => this.#add('attestation_documents_total', { outcome: event.outcome }, 1)),
      subscribeKeys((event) => this.#add('key_events_total', { event: event.event }, 1)),
    ];
  }

  #add(name: string, labels: Record<string, string>, value: number): void {
    const key = `${name}${JSON.stringify(labels)}`;
    let entry = this.#counters.get(key);
    if (entry === undefined) {
      if (this.#counters.size >= MAX_SERIES) {
        // Past the bound a sample is counted under route="other" (requests) or dropped.
        if (labels['route'] !== undefined && labels['route'] !== 'other') this.#add(name, { ...labels, route: 'other' }, value);
        return;
      }
      entry = { name, labels, value: 0 };
      this.#counters.set(key, entry);
    }
    entry.value += value;
  }

  snapshot(): TelemetryCounter[] {
    return [
      ...[...this.#counters.values()].map(({ name, labels, value }) => ({ name, labels: { ...labels }, value })),
      { name: 'telemetry_lines_dropped_total', labels: {}, value: this.droppedLines() },
    ];
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
  }
}
