// The enclave counters the host exports (from an unauthenticated telemetry
// socket): only the enclave's vocabulary, bounded, and totals turned into
// counter increments. Then the Prometheus text holds nothing a peer made up.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createHostEvents } from './host-events.js';
import { createHostMetrics, MAX_ENCLAVE_SERIES } from './host-metrics.js';

function metricsFor(): ReturnType<typeof createHostMetrics> {
  return createHostMetrics(createHostEvents().instance, { openConnections: () => 0, storageEventsDropped: () => 0 });
}

const line = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(name));

test('enclave counters: totals become increments; a smaller total is a restart', async () => {
  const metrics = metricsFor();
  const sample = (value: number) => ({ name: 'requests_total', labels: { route: '/healthz', method: 'GET', outcome: 'ok' }, value });
  metrics.recordEnclaveCounters([sample(5)]);
  metrics.recordEnclaveCounters([sample(8)]);
  metrics.recordEnclaveCounters([sample(2)]); // the enclave restarted: 2 new
  const text = await metrics.registry.metrics();
  assert.deepEqual(line(text, 'http_enclave_enclave_requests_total{'), ['http_enclave_enclave_requests_total{route="/healthz",method="GET",outcome="ok"} 10']);
  metrics.close();
});

test('names, label sets and values outside the enclave vocabulary are ignored and counted, never exported', async () => {
  const metrics = metricsFor();
  const labels236 = Object.fromEntries(Array.from({ length: 236 }, (_, index) => [`l${index}`, 'x'.repeat(250)]));
  metrics.recordEnclaveCounters([
    { name: 'made_up_total', labels: {}, value: 1 },
    { name: 'requests_total', labels: labels236, value: 1 },
    { name: 'requests_total', labels: { route: '/x', method: 'GET', outcome: 'ok', __name__: 'up' }, value: 1 },
    { name: 'requests_total', labels: { route: '/x', method: 'GET' }, value: 1 },
    { name: 'requests_total', labels: { route: '/x', method: 'GET', outcome: 'ok' }, value: 1e308 },
  ]);
  let text = await metrics.registry.metrics();
  assert.equal(text.includes('made_up'), false);
  assert.equal(text.includes('__name__'), false);
  assert.equal(text.includes('x'.repeat(250)), false);
  assert.match(text, /^http_enclave_host_telemetry_samples_ignored_total 5$/m);
  // At most MAX_ENCLAVE_SERIES label sets, whatever the routes a peer invents.
  metrics.recordEnclaveCounters(Array.from({ length: MAX_ENCLAVE_SERIES + 100 }, (_, index) => ({ name: 'request_duration_seconds_sum', labels: { route: `/r${index}` }, value: 1 })));
  text = await metrics.registry.metrics();
  assert.equal(line(text, 'http_enclave_enclave_request_duration_seconds_sum{').length, MAX_ENCLAVE_SERIES);
  assert.match(text, /^http_enclave_host_telemetry_samples_ignored_total 105$/m);
  metrics.close();
});
