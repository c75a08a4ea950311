// The enclave counters the host exports (from an unauthenticated telemetry
// socket): only the enclave's vocabulary, bounded, and totals turned into
// counter increments. Then the Prometheus text holds nothing a peer made up.
// And the egress counters, fed by the real forwarder's events.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseEgressAllowList } from '../egress/egress-allow-list.js';
import { startEgressForwarder } from '../egress/egress-forwarder.js';
import { closedWithin, collectingLogger, connectTcp } from '../test-support.js';
import { createHostEvents } from './host-events.js';
import { ENCLAVE_COUNTER_VOCABULARY } from '@http-enclave/protocol';
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
  // Made-up label values are refused whatever their number: 600 invented reasons
  // first, then the real one, which is exported (a review hid it behind 500 fakes).
  metrics.recordEnclaveCounters(Array.from({ length: 600 }, (_, index) => ({ name: 'seal_failures_total', labels: { reason: `X${index}` }, value: 1 })));
  metrics.recordEnclaveCounters([{ name: 'seal_failures_total', labels: { reason: 'AUTHENTICATION_FAILED' }, value: 3 }]);
  text = await metrics.registry.metrics();
  assert.deepEqual(line(text, 'http_enclave_enclave_seal_failures_total{'), ['http_enclave_enclave_seal_failures_total{reason="AUTHENTICATION_FAILED"} 3']);
  assert.match(text, /^http_enclave_host_telemetry_samples_ignored_total 605$/m);
  // Every series the vocabulary allows fits: MAX_ENCLAVE_SERIES of them, all exported.
  const every = Object.entries(ENCLAVE_COUNTER_VOCABULARY).flatMap(([name, labels]) =>
    Object.entries(labels).reduce<Record<string, string>[]>((sets, [label, values]) => sets.flatMap((set) => values.map((value) => ({ ...set, [label]: value }))), [{}]).map((set) => ({ name, labels: set, value: 1 })),
  );
  assert.equal(every.length, MAX_ENCLAVE_SERIES);
  metrics.recordEnclaveCounters(every);
  text = await metrics.registry.metrics();
  assert.equal(text.split('\n').filter((l) => l.startsWith('http_enclave_enclave_')).length, MAX_ENCLAVE_SERIES);
  assert.match(text, /^http_enclave_host_telemetry_samples_ignored_total 605$/m);
  metrics.close();
});

test('egress metrics: refusals the real forwarder made before the metrics subscribed are counted once, later ones from the events', async () => {
  const events = createHostEvents();
  const forwarder = await startEgressForwarder({
    listenAddress: { scheme: 'tcp', host: '127.0.0.1', port: 0 },
    allowList: parseEgressAllowList('kms.us-east-1.amazonaws.com:443'),
    maxConnections: 4,
    connectTimeoutMs: 1_000,
    idleTimeoutMs: 1_000,
    logger: collectingLogger().logger,
    events,
  });
  const port = forwarder.address.scheme === 'tcp' ? forwarder.address.port : 0;
  /** One CONNECT to a destination not allowed; resolves when the forwarder closed it (after its 403). */
  const refusedOnce = async (): Promise<void> => {
    const socket = await connectTcp(port);
    socket.on('error', () => undefined);
    socket.resume();
    socket.write('CONNECT evil.example.com:443 HTTP/1.1\r\n\r\n');
    await closedWithin(socket, 3_000);
  };
  await refusedOnce();
  const metrics = createHostMetrics(events.instance, { openConnections: () => 0, storageEventsDropped: () => 0, egressStats: () => forwarder.stats() });
  const refusedNotAllowed = async (): Promise<string[]> => line(await metrics.registry.metrics(), 'http_enclave_host_egress_refused_total{reason="not_allowed"}');
  assert.deepEqual(await refusedNotAllowed(), ['http_enclave_host_egress_refused_total{reason="not_allowed"} 1']);
  await refusedOnce();
  await refusedOnce();
  assert.deepEqual(await refusedNotAllowed(), ['http_enclave_host_egress_refused_total{reason="not_allowed"} 3']);
  assert.equal(forwarder.stats().refused.not_allowed, 3);
  metrics.close();
  await refusedOnce();
  assert.deepEqual(await refusedNotAllowed(), ['http_enclave_host_egress_refused_total{reason="not_allowed"} 3'], 'closed metrics no longer count');
  await forwarder.close(500);
});
