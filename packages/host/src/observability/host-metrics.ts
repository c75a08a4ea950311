// The host's Prometheus metrics (text format on the admin listener's
// /metrics), built with prom-client on a registry of this host's own. They
// subscribe to host-events.ts, or read a component's counters when scraped.
// Labels are fixed vocabularies (reasons, kinds, outcomes): never an
// address, a pseudonym or anything a client chose.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ENCLAVE_COUNTER_VOCABULARY, isEnclaveCounterSample, type TelemetryCounter } from '@http-enclave/protocol';
import type { EgressForwarderStats } from '../egress/egress-forwarder.js';
import {
  EGRESS_CHANNEL,
  EGRESS_REFUSAL_REASONS,
  INGRESS_CHANNEL,
  STORAGE_CHANNEL,
  subscribeHostChannel,
  type EgressEvent,
  type IngressEvent,
  type StorageEvent,
} from './host-events.js';

export interface HostMetricSources {
  /** Client connections open now. */
  readonly openConnections: () => number;
  /** The egress forwarder's counters (open tunnels, and the totals before these metrics subscribed); undefined when EGRESS_LISTEN=off. */
  readonly egressStats?: () => EgressForwarderStats;
  /** Storage events the worker dropped because the main thread was behind (counted there). */
  readonly storageEventsDropped: () => number;
  /** The telemetry receiver's counts; undefined when TELEMETRY_LISTEN=off. */
  readonly telemetry?: () => { readonly enclaveDroppedLines: number; readonly framesRefused: number; readonly linesRateLimited: number };
}

/**
 * The enclave counters the host exports: exactly the vocabulary of
 * @http-enclave/protocol (telemetry-counters.ts), names, labels and label
 * values. The telemetry listener is not authenticated (anyone on the parent
 * may connect), so any other sample is ignored and counted: no name, label
 * or value a peer makes up can grow the host, break the /metrics output, or
 * take the place of a real series (a review filled a label-name-only
 * allow-list with 500 made-up reasons and hid the real integrity alarm).
 * A peer can still send larger totals than the enclave's: unauthenticated
 * counters can be inflated, never hidden.
 */
export const ENCLAVE_COUNTER_NAMES: readonly string[] = Object.keys(ENCLAVE_COUNTER_VOCABULARY);
/** Label sets the vocabulary allows in all: the bound of the enclave series the host can hold. */
export const MAX_ENCLAVE_SERIES = Object.values(ENCLAVE_COUNTER_VOCABULARY).reduce(
  (sum, labels) => sum + Object.values(labels).reduce((product, values) => product * values.length, 1),
  0,
);
/** A total above this is not an enclave's (it would need centuries): ignored. */
const MAX_ENCLAVE_COUNTER_VALUE = Number.MAX_SAFE_INTEGER;

export interface HostMetrics {
  readonly registry: Registry;
  /** Takes a metrics frame of the enclave (totals since it started) into http_enclave_enclave_* counters. */
  recordEnclaveCounters(counters: readonly TelemetryCounter[]): void;
  /** Unsubscribes from the events. */
  close(): void;
}

const PREFIX = 'http_enclave_host_';

export function createHostMetrics(instance: symbol, sources: HostMetricSources): HostMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });

  const accepted = new Counter({ name: `${PREFIX}connections_accepted_total`, help: 'Client connections accepted', registers: [registry] });
  const refused = new Counter({
    name: `${PREFIX}connections_refused_total`,
    help: 'Client connections refused or closed at once, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of ['MAX_CONNECTIONS', 'MAX_CONNECTIONS_PER_SOURCE', 'ENCLAVE_UNREACHABLE']) refused.inc({ reason }, 0);
  new Gauge({
    name: `${PREFIX}connections_open`,
    help: 'Client connections open now',
    registers: [registry],
    collect() {
      this.set(sources.openConnections());
    },
  });
  const bytes = new Counter({
    name: `${PREFIX}client_bytes_total`,
    help: 'Bytes relayed between clients and the enclave (ciphertext), counted when a connection closes',
    labelNames: ['direction'],
    registers: [registry],
  });
  bytes.inc({ direction: 'from_client' }, 0);
  bytes.inc({ direction: 'to_client' }, 0);
  const duration = new Histogram({
    name: `${PREFIX}connection_duration_seconds`,
    help: 'Lifetime of client connections',
    buckets: [0.01, 0.1, 1, 10, 60, 300, 1800],
    registers: [registry],
  });

  const storageRequests = new Counter({
    name: `${PREFIX}storage_requests_total`,
    help: 'Storage requests from the enclave, by kind and outcome',
    labelNames: ['kind', 'outcome'],
    registers: [registry],
  });
  const storageDuration = new Histogram({
    name: `${PREFIX}storage_request_duration_seconds`,
    help: 'Time the storage service took per request, by kind',
    labelNames: ['kind'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  new Gauge({
    name: `${PREFIX}storage_events_dropped`,
    help: 'Storage request events the worker dropped before they reached the metrics (the main thread was behind)',
    registers: [registry],
    collect() {
      this.set(sources.storageEventsDropped());
    },
  });

  // Egress: tunnels and refusals counted from the egress events. What the
  // forwarder counted before this subscription (it starts first) is taken from
  // its stats here, in the same tick as the subscription below: none lost, none twice.
  let unsubscribeEgress = (): void => undefined;
  if (sources.egressStats !== undefined) {
    const stats = sources.egressStats;
    new Gauge({
      name: `${PREFIX}egress_connections_open`,
      help: 'Enclave egress tunnels open now',
      registers: [registry],
      collect() {
        this.set(stats().active);
      },
    });
    const egressForwarded = new Counter({
      name: `${PREFIX}egress_connections_forwarded_total`,
      help: 'Enclave egress tunnels opened to an allowed destination',
      registers: [registry],
    });
    const egressRefused = new Counter({
      name: `${PREFIX}egress_refused_total`,
      help: 'Enclave egress requests refused, by reason',
      labelNames: ['reason'],
      registers: [registry],
    });
    const egressBytes = new Counter({
      name: `${PREFIX}egress_bytes_total`,
      help: 'Bytes relayed through egress tunnels (ciphertext), by direction, counted when a tunnel closes',
      labelNames: ['direction'],
      registers: [registry],
    });
    const before = stats();
    egressForwarded.inc(before.forwarded);
    for (const reason of EGRESS_REFUSAL_REASONS) egressRefused.inc({ reason }, before.refused[reason]);
    egressBytes.inc({ direction: 'from_enclave' }, 0);
    egressBytes.inc({ direction: 'to_enclave' }, 0);
    unsubscribeEgress = subscribeHostChannel<EgressEvent>(EGRESS_CHANNEL, instance, (event) => {
      switch (event.event) {
        case 'refused':
          egressRefused.inc({ reason: event.reason });
          return;
        case 'opened':
          egressForwarded.inc();
          return;
        case 'closed':
          egressBytes.inc({ direction: 'from_enclave' }, event.bytesFromEnclave);
          egressBytes.inc({ direction: 'to_enclave' }, event.bytesToEnclave);
          return;
      }
    });
  }

  if (sources.telemetry !== undefined) {
    const telemetry = sources.telemetry;
    new Gauge({
      name: `${PREFIX}telemetry_enclave_lines_dropped`,
      help: 'Log lines the enclave dropped because the host did not read its telemetry (its last report)',
      registers: [registry],
      collect() {
        this.set(telemetry().enclaveDroppedLines);
      },
    });
    new Gauge({
      name: `${PREFIX}telemetry_lines_rate_limited`,
      help: 'Enclave log lines not written to the host log (past the rate limit)',
      registers: [registry],
      collect() {
        this.set(telemetry().linesRateLimited);
      },
    });
    new Gauge({
      name: `${PREFIX}telemetry_frames_refused`,
      help: 'Telemetry frames refused as malformed (the connection was closed)',
      registers: [registry],
      collect() {
        this.set(telemetry().framesRefused);
      },
    });
  }
  const ignoredSamples = new Counter({
    name: `${PREFIX}telemetry_samples_ignored_total`,
    help: 'Enclave counter samples not exported: a name or label set outside the enclave vocabulary, past the series bound, or an impossible total',
    registers: [registry],
  });
  const enclaveCounters = new Map(
    Object.entries(ENCLAVE_COUNTER_VOCABULARY).map(([name, labels]) => [
      name,
      new Counter({ name: `http_enclave_enclave_${name}`, help: `The enclave's ${name}, through telemetry`, labelNames: Object.keys(labels).sort(), registers: [registry] }),
    ]),
  );
  const lastValues = new Map<string, number>();
  const recordEnclaveCounters = (counters: readonly TelemetryCounter[]): void => {
    for (const sample of counters) {
      const counter = enclaveCounters.get(sample.name);
      if (counter === undefined || !isEnclaveCounterSample(sample.name, sample.labels) || sample.value > MAX_ENCLAVE_COUNTER_VALUE) {
        ignoredSamples.inc();
        continue;
      }
      const labelNames = Object.keys(sample.labels).sort();
      const key = `${sample.name}${JSON.stringify(labelNames.map((name) => sample.labels[name]))}`;
      const last = lastValues.get(key);
      // Totals since the enclave started: add what is new; a smaller total means it restarted, so all of it is new.
      const delta = last === undefined || sample.value < last ? sample.value : sample.value - last;
      lastValues.set(key, sample.value);
      counter.inc(sample.labels, delta);
    }
  };

  const unsubscribeIngress = subscribeHostChannel<IngressEvent>(INGRESS_CHANNEL, instance, (event) => {
    switch (event.event) {
      case 'accepted':
        accepted.inc();
        return;
      case 'refused':
        refused.inc({ reason: event.reason });
        return;
      case 'enclave-unreachable':
        refused.inc({ reason: 'ENCLAVE_UNREACHABLE' });
        return;
      case 'closed':
        bytes.inc({ direction: 'from_client' }, event.bytesFromClient);
        bytes.inc({ direction: 'to_client' }, event.bytesToClient);
        duration.observe(event.durationMs / 1000);
        return;
    }
  });
  const unsubscribeStorage = subscribeHostChannel<StorageEvent>(STORAGE_CHANNEL, instance, (event) => {
    storageRequests.inc({ kind: event.kind, outcome: event.outcome });
    storageDuration.observe({ kind: event.kind }, event.durationMs / 1000);
  });

  return {
    registry,
    recordEnclaveCounters,
    close() {
      unsubscribeIngress();
      unsubscribeStorage();
      unsubscribeEgress();
    },
  };
}
