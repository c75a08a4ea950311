// The counter vocabulary of the telemetry channel: samples in it are
// accepted, anything a peer could make up is not.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENCLAVE_COUNTER_VOCABULARY, isEnclaveCounterSample } from './telemetry-counters.js';

test('samples of the vocabulary are accepted; other names, labels, values and label sets are not', () => {
  const accepted: [string, Record<string, string>][] = [
    ['requests_total', { route: '/private-data/{name}', method: 'PUT', outcome: 'ok' }],
    ['requests_total', { outcome: 'error', method: 'OTHER', route: 'unmatched' }],
    ['storage_requests_total', { kind: 'get', outcome: 'not_found' }],
    ['seal_failures_total', { reason: 'WATERMARK_PAGE_INVALID' }],
    ['attestation_documents_total', { outcome: 'signed' }],
    ['key_events_total', { event: 'regressed' }],
    ['telemetry_lines_dropped_total', {}],
  ];
  for (const [name, labels] of accepted) assert.equal(isEnclaveCounterSample(name, labels), true, `${name} ${JSON.stringify(labels)}`);
  const refused: [string, Record<string, string>][] = [
    ['made_up_total', {}],
    ['constructor', {}],
    ['__proto__', {}],
    ['requests_total', { route: '/private-data/alice', method: 'GET', outcome: 'ok' }],
    ['requests_total', { route: '/healthz', method: 'GET' }],
    ['requests_total', { route: '/healthz', method: 'GET', outcome: 'ok', status: '200' }],
    ['requests_total', { route: '/healthz', method: 'GET', outcome: '404' }],
    ['seal_failures_total', { reason: 'X0' }],
    ['seal_failures_total', { reason: 'toString' }],
    ['attestation_documents_total', { outcome: 'rate_limited' }],
    ['telemetry_lines_dropped_total', { reason: 'BAD_MAGIC' }],
  ];
  for (const [name, labels] of refused) assert.equal(isEnclaveCounterSample(name, labels), false, `${name} ${JSON.stringify(labels)}`);
});

test('every label value is a Prometheus-safe word, and no label is named like a reserved one', () => {
  for (const [name, labels] of Object.entries(ENCLAVE_COUNTER_VOCABULARY)) {
    assert.match(name, /^[a-z_]+$/);
    for (const [label, values] of Object.entries(labels)) {
      assert.match(label, /^[a-z][a-z_]*$/, `${name}.${label}`);
      for (const value of values) assert.match(value, /^[A-Za-z0-9_/{}.-]{1,64}$/, `${name}.${label}=${value}`);
    }
  }
});
