// The host's log lines for connection and storage events: a subscriber of
// host-events.ts, so business code publishes events and never calls the
// logger for them. Warnings a flood could repeat (limits reached) are
// budgeted: at most one line per WARNING_INTERVAL_MS per kind, carrying the
// count since the last one.

import type { Logger } from '../log.js';
import { INGRESS_CHANNEL, subscribeHostChannel, type IngressEvent } from './host-events.js';

/** At most one "limit reached" warning per kind per this many ms, so a flood cannot flood the log. */
export const WARNING_INTERVAL_MS = 10_000;

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
  return subscribeHostChannel<IngressEvent>(INGRESS_CHANNEL, instance, (event) => {
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
}
