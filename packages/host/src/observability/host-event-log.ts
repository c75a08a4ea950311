// The host's log lines for connection and egress events: a subscriber of
// host-events.ts, so business code publishes events and never calls the
// logger for them. Warnings a flood could repeat are budgeted: for client
// connection limits at most one line per WARNING_INTERVAL_MS per kind,
// carrying the count since the last one; for egress refusals at most
// MAX_EGRESS_WARNINGS_PER_INTERVAL lines per WARNING_INTERVAL_MS (each names
// its destination, which an operator needs to see), then one line with how
// many were held back.

import {
  EgressBadRequestError,
  EgressConnectTimeoutError,
  EgressHeadTimeoutError,
  EgressHeadTooLargeError,
  EgressMaxConnectionsError,
  EgressMethodNotAllowedError,
  EgressNotAllowedError,
  EgressUpstreamFailedError,
  type HostErrorClass,
} from '../host-errors.js';
import type { Logger } from '../log.js';
import { EGRESS_CHANNEL, EGRESS_REFUSAL_REASONS, INGRESS_CHANNEL, subscribeHostChannel, type EgressEvent, type EgressRefusalReason, type IngressEvent } from './host-events.js';

/** At most one "limit reached" warning per kind per this many ms, so a flood cannot flood the log. */
export const WARNING_INTERVAL_MS = 10_000;
/** Egress refusal warnings per WARNING_INTERVAL_MS, so a looping enclave cannot flood the host's log. */
export const MAX_EGRESS_WARNINGS_PER_INTERVAL = 20;

/** The catalogue code of each refusal the log warns about; an enclave that closed before its head (head_incomplete) is no warning. */
const EGRESS_REFUSAL_CODES: Readonly<Record<Exclude<EgressRefusalReason, 'head_incomplete'>, HostErrorClass>> = {
  bad_request: EgressBadRequestError,
  method_not_allowed: EgressMethodNotAllowedError,
  head_too_large: EgressHeadTooLargeError,
  head_timeout: EgressHeadTimeoutError,
  not_allowed: EgressNotAllowedError,
  over_capacity: EgressMaxConnectionsError,
  upstream_failed: EgressUpstreamFailedError,
  upstream_timeout: EgressConnectTimeoutError,
};

export function subscribeHostEventLog(instance: symbol, logger: Logger, limits: { readonly maxConnections: number; readonly maxConnectionsPerSource: number }): () => void {
  const budget = new Map<string, { last: number; count: number }>();
  const budgeted = (kind: string, emit: (count: number) => void): void => {
    const now = Date.now();
    const entry = budget.get(kind) ?? { last: -Infinity, count: 0 };
    entry.count += 1;
    if (now - entry.last >= WARNING_INTERVAL_MS) {
      emit(entry.count);
      entry.last = now;
      entry.count = 0;
    }
    budget.set(kind, entry);
  };
  const unsubscribeIngress = subscribeHostChannel<IngressEvent>(INGRESS_CHANNEL, instance, (event) => {
    switch (event.event) {
      case 'refused':
        if (event.reason === 'MAX_CONNECTIONS') {
          budgeted(event.reason, (count) =>
            logger.warn('connection limit reached; dropping new connections', { code: 'MAX_CONNECTIONS', maxConnections: limits.maxConnections, dropped: count }),
          );
        } else {
          budgeted(event.reason, (count) =>
            logger.warn('per-source connection limit reached; closing new connections from this address', {
              code: 'MAX_CONNECTIONS_PER_SOURCE',
              source: event.source ?? 'unknown',
              maxConnectionsPerSource: limits.maxConnectionsPerSource,
              refused: count,
            }),
          );
        }
        return;
      case 'enclave-unreachable':
        logger.warn('enclave connect failed; closing client connection', { connection: event.connection, code: event.code, enclave: event.enclave });
        return;
      case 'closed':
        logger.debug('connection closed', {
          connection: event.connection,
          bytesFromClient: event.bytesFromClient,
          bytesToClient: event.bytesToClient,
          reason: event.reason,
          durationMs: event.durationMs,
        });
        return;
      case 'accepted':
        return;
    }
  });
  const unsubscribeEgress = subscribeEgressLog(instance, logger);
  return () => {
    unsubscribeIngress();
    unsubscribeEgress();
  };
}

/** Egress refusals at warn (budgeted), tunnels at debug. Only the destination (host:port) comes from the stream. */
function subscribeEgressLog(instance: symbol, logger: Logger): () => void {
  const refusedTotals = Object.fromEntries(EGRESS_REFUSAL_REASONS.map((reason) => [reason, 0])) as Record<EgressRefusalReason, number>;
  let windowStart = -Infinity;
  let used = 0;
  let suppressed = 0;
  const warn = (msg: string, fields: Readonly<Record<string, string | number>>): void => {
    const now = Date.now();
    if (now - windowStart >= WARNING_INTERVAL_MS) {
      if (suppressed > 0) logger.warn('egress warnings suppressed', { suppressed, intervalMs: WARNING_INTERVAL_MS });
      windowStart = now;
      used = 0;
      suppressed = 0;
    }
    if (used >= MAX_EGRESS_WARNINGS_PER_INTERVAL) {
      suppressed += 1;
      return;
    }
    used += 1;
    logger.warn(msg, fields);
  };
  return subscribeHostChannel<EgressEvent>(EGRESS_CHANNEL, instance, (event) => {
    switch (event.event) {
      case 'opened':
        logger.debug('egress tunnel opened', { connection: event.connection, destination: event.destination });
        return;
      case 'closed':
        logger.debug('egress connection closed', {
          connection: event.connection,
          destination: event.destination,
          bytesFromEnclave: event.bytesFromEnclave,
          bytesToEnclave: event.bytesToEnclave,
          reason: event.reason,
          durationMs: event.durationMs,
        });
        return;
      case 'refused': {
        refusedTotals[event.reason] += 1;
        const refusedTotal = refusedTotals[event.reason];
        if (event.reason === 'head_incomplete') return; // the enclave left before asking: nothing to warn about
        const code = EGRESS_REFUSAL_CODES[event.reason].code;
        switch (event.reason) {
          case 'not_allowed':
            warn('egress destination not allowed', { code, destination: event.destination ?? 'unknown', refusedTotal });
            return;
          case 'over_capacity':
            warn(event.connection === undefined ? 'egress connection limit reached; closing at accept' : 'egress connection limit reached; answering 503', {
              code,
              maxConnections: event.limit ?? 0,
              refusedTotal,
            });
            return;
          case 'upstream_failed':
            warn('egress upstream connect failed', { code, reason: event.cause ?? 'UNKNOWN', destination: event.destination ?? 'unknown', refusedTotal });
            return;
          case 'upstream_timeout':
            warn('egress upstream connect timed out', { code, destination: event.destination ?? 'unknown', connectTimeoutMs: event.limit ?? 0, refusedTotal });
            return;
          default:
            warn('egress request refused', { code, refusedTotal });
            return;
        }
      }
    }
  });
}
