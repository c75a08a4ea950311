// The enclave's events on node:diagnostics_channel. Business code publishes
// what happened; the request log line and the telemetry metrics subscribe.
// An event carries a route template (never the path a client sent), the
// method, the status and a duration: nothing a client chose.
//
//   channel                          message
//   http-enclave:enclave:request     RequestEvent

import { channel } from 'node:diagnostics_channel';

export interface RequestEvent {
  /** A fixed route template: '/private-data/{name}', '/healthz', 'unmatched', … */
  readonly route: string;
  /** GET, PUT, … or OTHER for a method the API does not know. */
  readonly method: string;
  readonly status: number;
  readonly durationMs: number;
}

export const REQUEST_CHANNEL = 'http-enclave:enclave:request';
const requests = channel(REQUEST_CHANNEL);

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

export function publishRequest(event: RequestEvent): void {
  if (requests.hasSubscribers) requests.publish({ ...event, method: KNOWN_METHODS.has(event.method) ? event.method : 'OTHER' });
}

export function subscribeRequests(handler: (event: RequestEvent) => void): () => void {
  const listener = (message: unknown): void => handler(message as RequestEvent);
  channel(REQUEST_CHANNEL).subscribe(listener);
  return () => void channel(REQUEST_CHANNEL).unsubscribe(listener);
}
