// main.js as a child process: exit codes and the exact one-line start-up errors.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { isVsockTransportAvailable } from '@http-enclave/transport';
import { closeServer, closedWithin, connectTcp, listenTcp, makeTempDir, runMain, startHostChild } from './test-support.js';

const baseEnv = (): NodeJS.ProcessEnv => ({
  BIND_ADDR: '127.0.0.1:0',
  STORAGE_LISTEN: 'tcp://127.0.0.1:0',
  EGRESS_LISTEN: 'tcp://127.0.0.1:0',
  ADMIN_LISTEN: 'tcp://127.0.0.1:0',
  TELEMETRY_LISTEN: 'tcp://127.0.0.1:0',
  STORAGE_PATH: join(makeTempDir(), 'db', 'host.db'),
});

test('BIND_ADDR port in use: exit 1 with one line that names BIND_ADDR and says what to do', async () => {
  const squatter = createServer();
  const port = await listenTcp(squatter);
  const result = await runMain({ ...baseEnv(), BIND_ADDR: `127.0.0.1:${port}` }, 10_000);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `host: cannot listen on BIND_ADDR=127.0.0.1:${port}: address already in use; pick a free port, for example BIND_ADDR=0.0.0.0:8443\n`,
  );
  await closeServer(squatter);
});

test('STORAGE_LISTEN port in use: exit 1 with one line that names STORAGE_LISTEN', async () => {
  const squatter = createServer();
  const port = await listenTcp(squatter);
  const result = await runMain({ ...baseEnv(), STORAGE_LISTEN: `tcp://127.0.0.1:${port}` }, 10_000);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `host: cannot listen on STORAGE_LISTEN=tcp://127.0.0.1:${port}: address already in use; pick a free port, for example STORAGE_LISTEN=tcp://127.0.0.1:5016\n`,
  );
  await closeServer(squatter);
});

test('config error: exit 78, one line naming every bad variable', async () => {
  const result = await runMain({ ...baseEnv(), ENCLAVE_PORT: 'five', LOG_LEVEL: 'loud' }, 10_000);
  assert.equal(result.code, 78);
  assert.equal(result.stderr, 'host: ENCLAVE_PORT: must be a decimal integer in 1..65535; LOG_LEVEL: must be one of debug, info, warn, error\n');
  assert.equal(result.stdout, '');
});

test('vsock enclave address without the addon: start-up fails at once with TRANSPORT_UNSUPPORTED, not at the first connection', { skip: isVsockTransportAvailable() ? 'the vsock addon is built here' : false }, async () => {
  const result = await runMain({ ...baseEnv(), ENCLAVE_CID: '16' }, 10_000);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    'host: TRANSPORT_UNSUPPORTED: enclave address vsock://16:5005 (ENCLAVE_ADDR or ENCLAVE_CID): vsock support is not built into this installation; set ENCLAVE_ADDR=tcp://HOST:PORT or unix:///PATH for local development\n',
  );
});

test('vsock enclave address with the addon: the host starts (ENCLAVE_CID=16) and stops on SIGTERM; no client connects, so no vsock connect is made', { skip: isVsockTransportAvailable() ? false : 'vsock addon absent' }, async () => {
  const host = await startHostChild({ ...baseEnv(), ENCLAVE_CID: '16' }, 10_000);
  assert.equal(await host.stop('SIGTERM', 5_000), 0);
  assert.equal(host.stderr(), '');
});

test('SIGTERM with no connections: exit 0; SIGUSR1 is ignored (no inspector)', async () => {
  const host = await startHostChild(baseEnv(), 10_000);
  host.child.kill('SIGUSR1');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(host.child.exitCode, null, 'still running after SIGUSR1');
  await assert.rejects(connectTcp(9229), { code: 'ECONNREFUSED' });
  assert.equal(await host.stop('SIGTERM', 5_000), 0);
  assert.equal(host.stderr(), '');
});

test('SIGTERM drains: an open connection is closed at HOST_DRAIN_TIMEOUT_MS, then exit 0', async () => {
  const upstream = createServer({ allowHalfOpen: true }, (s) => s.on('error', () => undefined).resume());
  const upstreamPort = await listenTcp(upstream);
  const host = await startHostChild({ ...baseEnv(), ENCLAVE_ADDR: `tcp://127.0.0.1:${upstreamPort}`, HOST_DRAIN_TIMEOUT_MS: '500' }, 10_000);
  const client = await connectTcp(host.ingressPort);
  client.on('error', () => undefined);
  client.write('x');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const started = Date.now();
  const exit = host.stop('SIGTERM', 5_000);
  await closedWithin(client, 3_000);
  assert.equal(await exit, 0);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 400 && elapsed < 3_000, `stopped after ${elapsed} ms`);
  await closeServer(upstream);
});

test('a second signal forces exit during a long drain', async () => {
  const upstream = createServer({ allowHalfOpen: true }, (s) => s.on('error', () => undefined).resume());
  const upstreamPort = await listenTcp(upstream);
  const host = await startHostChild({ ...baseEnv(), ENCLAVE_ADDR: `tcp://127.0.0.1:${upstreamPort}`, HOST_DRAIN_TIMEOUT_MS: '60000' }, 10_000);
  const client = await connectTcp(host.ingressPort);
  client.on('error', () => undefined);
  client.write('x');
  await new Promise((resolve) => setTimeout(resolve, 100));
  host.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(host.child.exitCode, null, 'still draining');
  const started = Date.now();
  assert.equal(await host.stop('SIGINT', 5_000), 1);
  assert.ok(Date.now() - started < 2_000);
  client.destroy();
  await closeServer(upstream);
});
