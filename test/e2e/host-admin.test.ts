// The host's admin listener with the real programs (issue 11): /healthz,
// /readyz (the enclave and storage behind it; 503 when the enclave stops,
// "draining" on SIGTERM), and /metrics in the Prometheus text format, parsed
// here line by line, with counters that move with traffic. A canary stored
// through the API appears neither in the metrics nor in the host's logs.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { newToken, sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ hostEnv: { LOG_LEVEL: 'debug' } });
});
after(async () => {
  await stack?.stop();
});

function admin(path: string, method = 'GET'): Promise<{ status: number; body: string; contentType: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: stack.adminPort, path, method, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, contentType: String(res.headers['content-type'] ?? '') }));
    });
    req.on('timeout', () => req.destroy(new Error('admin request timed out')));
    req.on('error', reject);
    req.end();
  });
}

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The Prometheus text exposition format (0.0.4), strictly: every line a comment, blank, or a sample. */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === 'TYPE') {
        assert.match(meta[3] ?? '', /^(counter|gauge|histogram|summary|untyped)$/, line);
        typed.add(meta[2] ?? '');
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(sample !== null, `not a Prometheus line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] ?? ''] = pair[2] ?? '';
    const value = Number(sample[3]);
    assert.ok(!Number.isNaN(value) || sample[3] === 'NaN', line);
    const name = sample[1] ?? '';
    assert.ok(typed.has(name) || typed.has(name.replace(/_(bucket|sum|count)$/, '')), `${name} has no TYPE line`);
    samples.push({ name, labels, value });
  }
  return samples;
}

function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found?.value ?? NaN;
}

async function waitFor<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('/healthz is alive, /readyz is ready with the enclave and storage behind it, other paths and methods are refused', async () => {
  assert.deepEqual(await admin('/healthz'), { status: 200, body: '{"status":"alive"}', contentType: 'application/json' });
  const ready = await waitFor('ready', async () => {
    const answer = await admin('/readyz');
    return answer.status === 200 ? answer : undefined;
  });
  assert.deepEqual(JSON.parse(ready.body), { status: 'ready', enclave: 'ok', storage: 'ok' });
  assert.equal((await admin('/private-data')).status, 404);
  assert.equal((await admin('/metrics', 'POST')).status, 405);
});

test('/metrics is Prometheus text whose counters move with traffic; a stored canary is in neither the metrics nor the host log', async () => {
  const before = parsePrometheus((await admin('/metrics')).body);
  assert.match((await admin('/metrics')).contentType, /^text\/plain; version=0\.0\.4/);
  const canary = `canary-${randomBytes(16).toString('hex')}`;
  const token = await newToken();
  assert.equal((await sendRequest(stack.port, { method: 'PUT', path: '/private-data/metrics', token, body: JSON.stringify({ canary }) })).status, 201);
  assert.equal((await sendRequest(stack.port, { path: '/private-data/metrics', token })).status, 200);
  const afterTraffic = await waitFor('storage events and closed connections in the metrics', async () => {
    const samples = parsePrometheus((await admin('/metrics')).body);
    // Storage events come in batches (every 250 ms), connections count when they close: wait for all of them.
    const written = valueOf(samples, 'http_enclave_host_storage_requests_total', { kind: 'PUT', outcome: 'WRITTEN' });
    const found = valueOf(samples, 'http_enclave_host_storage_requests_total', { kind: 'GET', outcome: 'FOUND' });
    const closedBytes = valueOf(samples, 'http_enclave_host_client_bytes_total', { direction: 'from_client' });
    return written >= 1 && found >= 1 && closedBytes > valueOf(before, 'http_enclave_host_client_bytes_total', { direction: 'from_client' }) ? samples : undefined;
  });
  assert.ok(valueOf(afterTraffic, 'http_enclave_host_connections_accepted_total') >= valueOf(before, 'http_enclave_host_connections_accepted_total') + 2);
  assert.ok(valueOf(afterTraffic, 'http_enclave_host_storage_requests_total', { kind: 'GET', outcome: 'FOUND' }) >= 1);
  assert.ok(valueOf(afterTraffic, 'http_enclave_host_storage_request_duration_seconds_count', { kind: 'PUT' }) >= 1);
  assert.equal(valueOf(afterTraffic, 'http_enclave_host_connections_refused_total', { reason: 'MAX_CONNECTIONS' }), 0);
  assert.ok(valueOf(afterTraffic, 'http_enclave_host_process_resident_memory_bytes') > 0, 'process metrics too');
  const metricsText = (await admin('/metrics')).body;
  assert.equal(metricsText.includes(canary), false);
  assert.equal(metricsText.includes(token), false);
  assert.equal(stack.host.output().includes(canary), false);
  assert.equal(stack.host.output().includes(token), false);
});

test('stopping the enclave turns /readyz to 503 within a few seconds; SIGTERM makes it "draining" while connections finish', async () => {
  await stack.enclave.stop();
  const notReady = await waitFor(
    '/readyz 503',
    async () => {
      const answer = await admin('/readyz');
      return answer.status === 503 ? answer : undefined;
    },
    5_000,
  );
  const body = JSON.parse(notReady.body) as Record<string, string>;
  assert.equal(body['status'], 'not-ready');
  assert.notEqual(body['enclave'], 'ok');
  assert.equal(body['storage'], 'ok');
  await stack.restartEnclave();
  await waitFor('ready again', async () => ((await admin('/readyz')).status === 200 ? true : undefined));

  // An open client connection holds the drain; meanwhile the host says it is draining.
  const client = connect(stack.port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  stack.host.child.kill('SIGTERM');
  const draining = await waitFor('draining', async () => {
    const answer = await admin('/readyz').catch(() => undefined);
    return answer?.status === 503 && answer.body.includes('draining') ? answer : undefined;
  }, 5_000);
  assert.deepEqual(JSON.parse(draining.body), { status: 'draining' });
  client.destroy();
  await stack.restartHost();
});
