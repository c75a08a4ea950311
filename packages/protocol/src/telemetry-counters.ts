// The enclave's counters on the telemetry channel (telemetry-frame.ts, the
// "metrics" frame): every counter name, its labels, and every value each
// label may take. Both sides use this one list: the enclave counts only
// these (enclave/src/telemetry/enclave-metrics.ts), and the host exports only
// these (host/src/observability/host-metrics.ts) and drops any other sample.
// The telemetry listener is not authenticated, so a closed vocabulary is what
// keeps a peer from filling the host's series with made-up values and
// crowding out the real ones (a review did that to seal_failures_total).
//
//   counter                                labels: values
//   requests_total                         route: ROUTE_TEMPLATES, method: REQUEST_METHODS, outcome: ok | error
//   request_duration_seconds_sum           route
//   connection_failures_total              stage: refused | tls | http
//   storage_requests_total                 kind: STORAGE_KINDS, outcome: STORAGE_OUTCOMES
//   storage_request_duration_seconds_sum   kind
//   seal_failures_total                    reason: the STORAGE_INTEGRITY reasons
//   attestation_documents_total            outcome: signed | failed
//   key_events_total                       event: KEY_EVENTS
//   telemetry_lines_dropped_total          (none)
//
// `outcome` of requests_total is `error` for a 5xx and `ok` otherwise: no
// status code leaves the enclave (inside TLS the host cannot tell a 200 from
// a 404, and per-route counts would tell it).

/** Route templates of the enclave's API, `unmatched` for any other path, `other` past the series bound. */
export const ROUTE_TEMPLATES = ['/healthz', '/attestation', '/.well-known/attestation', '/private-data', '/private-data/{name}', '/admin/keys', 'unmatched', 'other'] as const;
/** Methods the API knows; any other is counted as OTHER. */
export const REQUEST_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'OTHER'] as const;
export const REQUEST_OUTCOMES = ['ok', 'error'] as const;
/** Connections that failed before a request: refused at accept, in the TLS handshake, or in the HTTP parser. */
export const CONNECTION_STAGES = ['refused', 'tls', 'http'] as const;
/** Storage request kinds: the frame types the enclave sends. */
export const STORAGE_KINDS = ['get', 'put', 'list', 'credentials', 'ping'] as const;
/** How a storage request ended: what the reply meant once checked against its request, or the error's code in lower case. */
export const STORAGE_OUTCOMES = [
  'found', 'not_found', 'written', 'conflict', 'ok',
  'storage_unavailable', 'storage_full', 'storage_bad_reply', 'aws_credentials_unavailable', 'error',
] as const;
/** Reasons of STORAGE_INTEGRITY (enclave/src/enclave-errors.ts keeps the same list; a test compares). */
export const SEAL_FAILURE_REASONS = [
  'ENVELOPE_TOO_SHORT', 'ENVELOPE_TOO_LONG', 'BAD_MAGIC', 'UNSUPPORTED_FORMAT_VERSION', 'BAD_CIPHERTEXT_LENGTH',
  'UNKNOWN_KEY_ID', 'AUTHENTICATION_FAILED', 'BAD_PADDING', 'WATERMARK_PAGE_INVALID',
] as const;
/**
 * Attestation documents the provider signed, or failed to sign (the NSM or
 * the dev signer failed: a 5xx). A client's refused request (bad nonce, rate
 * limit, no provider) is not counted here: it is an `ok` request like any
 * other client error.
 */
export const ATTESTATION_OUTCOMES = ['signed', 'failed'] as const;
export const KEY_EVENTS = ['rotated', 'resealed', 'retired', 'reloaded', 'reload_failed', 'refresh_failed', 'identity_changed', 'regressed'] as const;

/** Every counter: its labels and each label's values. */
export const ENCLAVE_COUNTER_VOCABULARY: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = Object.freeze({
  requests_total: { method: REQUEST_METHODS, outcome: REQUEST_OUTCOMES, route: ROUTE_TEMPLATES },
  request_duration_seconds_sum: { route: ROUTE_TEMPLATES },
  connection_failures_total: { stage: CONNECTION_STAGES },
  storage_requests_total: { kind: STORAGE_KINDS, outcome: STORAGE_OUTCOMES },
  storage_request_duration_seconds_sum: { kind: STORAGE_KINDS },
  seal_failures_total: { reason: SEAL_FAILURE_REASONS },
  attestation_documents_total: { outcome: ATTESTATION_OUTCOMES },
  key_events_total: { event: KEY_EVENTS },
  telemetry_lines_dropped_total: {},
});

/** Whether a counter sample is in the vocabulary: a known name, exactly its labels, each with a known value. */
export function isEnclaveCounterSample(name: string, labels: Readonly<Record<string, string>>): boolean {
  const vocabulary = Object.hasOwn(ENCLAVE_COUNTER_VOCABULARY, name) ? ENCLAVE_COUNTER_VOCABULARY[name] : undefined;
  if (vocabulary === undefined) return false;
  const names = Object.keys(labels);
  if (names.length !== Object.keys(vocabulary).length) return false;
  return names.every((label) => Object.hasOwn(vocabulary, label) && (vocabulary[label] ?? []).includes(labels[label] ?? ''));
}
