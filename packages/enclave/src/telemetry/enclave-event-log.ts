// The enclave's log lines for its events (enclave-events.ts): one subscriber
// turns each event into a line, so business code publishes what happened and
// never formats a log line for it. Levels: failures that need an operator
// (a 5xx, a blob that failed authentication, a keyring that went backwards)
// at warn or error; routine traffic at debug.

import type { Logger } from '../log.js';
import {
  subscribeAttestations,
  subscribeConnections,
  subscribeKeys,
  subscribeRequests,
  subscribeSeals,
  subscribeStorage,
  type KeyEvent,
} from './enclave-events.js';

const CONNECTION_MESSAGES = { refused: 'connection refused at accept', tls: 'tls handshake failed', http: 'http client error' } as const;

const roundMs = (ms: number): number => Math.round(ms * 10) / 10;

function logKeyEvent(logger: Logger, event: KeyEvent): void {
  switch (event.event) {
    case 'rotated':
      return logger.info('key rotated: new seals use the new active key', { activeKeyId: event.keyId });
    case 'resealed':
      return logger.info('re-sealed a batch under the active key', { examined: event.examined, resealed: event.resealed, more: event.more });
    case 'retired':
      return logger.info('key retired', { keyId: event.keyId });
    case 'reloaded':
      return logger.info('the stored keyring changed; reloaded it through KMS', { keys: event.keys, activeKeyId: event.keyId });
    case 'identity_changed':
      return logger.error('the stored keyring has another identity key; keeping the one this enclave started with', { code: event.code });
    case 'regressed':
      return logger.error("the stored keyring lacks this enclave's active key (an older keyring replayed?); keeping the one in memory", { code: event.code });
    case 'reload_failed':
      return logger.warn('keyring reload failed', { code: event.code });
    case 'refresh_failed':
      return logger.warn('keyring refresh failed; retrying at the next period', { code: event.code });
  }
}

/** Subscribes `logger` to every enclave event; returns the function that unsubscribes. */
export function logEnclaveEvents(logger: Logger): () => void {
  const stops = [
    subscribeRequests((event) =>
      logger[event.status >= 500 ? 'warn' : 'debug']('request', { method: event.method, route: event.route, status: event.status, ms: roundMs(event.durationMs) }),
    ),
    subscribeConnections((event) => logger.debug(CONNECTION_MESSAGES[event.stage], { code: event.code })),
    subscribeStorage((event) => logger.debug('storage request', { kind: event.kind, outcome: event.outcome, ms: roundMs(event.durationMs) })),
    subscribeSeals((event) => logger.warn('storage integrity failure: a blob from storage did not open', { code: 'STORAGE_INTEGRITY', reason: event.reason })),
    subscribeAttestations((event) => logger.debug('attestation', { outcome: event.outcome, ms: roundMs(event.durationMs) })),
    subscribeKeys((event) => logKeyEvent(logger, event)),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
