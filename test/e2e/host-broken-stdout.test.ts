// The host survives a broken stdout: the real host program, its stdout a pipe
// whose reading end this test closes once the host listens. Then it is made
// to log (client connections its enclave cannot take, egress refusals, admin
// requests, at LOG_LEVEL=debug), and must go on serving: /healthz answers
// 200, BIND_ADDR accepts connections, and SIGTERM still stops it with exit 0.
// A lost log line may cost the line, never the process.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HOST_MAIN, startProgram, type RunningProgram } from '../support/processes.js';

/** Rounds of logging traffic after stdout broke (bounded in count, and in time below). */
const ROUNDS = 40;
const TRAFFIC_DEADLINE_MS = 20_000;

let dir: string;
let host: RunningProgram;
let port = 0;
let adminPort = 0;
let egressPath = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'http-enclave-stdout-'));
  egressPath = join(dir, 'egress.sock');
  host = startProgram(
    HOST_MAIN,
    {
      BIND_ADDR: '127.0.0.1:0',
      // No enclave listens here: every client connection is accepted, then closed with a warning.
      ENCLAVE_ADDR: `unix://${join(dir, 'no-enclave.sock')}`,
      STORAGE_LISTEN: `unix://${join(dir, 'storage.sock')}`,
      STORAGE_PATH: join(dir, 'store.db'),
      EGRESS_LISTEN: `unix://${egressPath}`,
      ADMIN_LISTEN: 'tcp://127.0.0.1:0',
      TELEMETRY_LISTEN: 'off',
      LOG_LEVEL: 'debug',
    },
    dir,
  );
  const line = await host.waitForLog('host listening');
  port = Number(/:(\d+)$/.exec(String(line['ingressAddress']))?.[1]);
  adminPort = Number(/:(\d+)$/.exec(String(line['adminAddress']))?.[1]);
  assert.ok(port > 0 && adminPort > 0, JSON.stringify(line));
});

after(async () => {
  await host?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function adminGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: adminPort, path, timeout: 5_000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`admin ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Opens a connection, optionally sends bytes, and resolves when the host closed it (or after timeoutMs, destroying it). */
function connectAndWaitForClose(open: () => Socket, bytes: string, timeoutMs: number): Promise<'accepted-and-closed' | 'timeout'> {
  return new Promise((resolve, reject) => {
    const socket = open();
    let connected = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, timeoutMs);
    socket.on('connect', () => {
      connected = true;
      if (bytes.length > 0) socket.write(bytes);
    });
    socket.resume();
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      if (connected) resolve('accepted-and-closed');
      else reject(new Error('connection refused'));
    });
  });
}

function counter(metrics: string, series: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

test('with its stdout closed, the host logs on, keeps serving and stops cleanly', async () => {
  assert.equal((await adminGet('/healthz')).status, 200);
  // Close the reading end: from now on every log line the host writes meets EPIPE.
  const stdout = host.child.stdout;
  assert.ok(stdout !== null);
  stdout.destroy();
  await new Promise((resolve) => setTimeout(resolve, 100));

  const started = Date.now();
  let rounds = 0;
  for (let round = 0; round < ROUNDS && Date.now() - started < TRAFFIC_DEADLINE_MS; round += 1) {
    rounds += 1;
    // A client connection: "connection accepted" is not logged, but the enclave connect failure
    // (warn) and the close (debug) are.
    assert.equal(await connectAndWaitForClose(() => connect(port, '127.0.0.1'), '', 5_000), 'accepted-and-closed', `round ${round}: client connection`);
    // An egress refusal (warn line, through the event log).
    await connectAndWaitForClose(() => connect(egressPath), 'CONNECT evil.example.com:443 HTTP/1.1\r\n\r\n', 5_000);
    // Admin requests (/readyz fails: no enclave; its probes log at debug).
    if (round % 10 === 0) assert.equal((await adminGet('/readyz')).status, 503);
  }

  assert.equal(host.child.exitCode, null, `the host exited: ${host.output()}`);
  assert.equal(host.child.signalCode, null);
  assert.equal((await adminGet('/healthz')).status, 200);
  assert.equal(await connectAndWaitForClose(() => connect(port, '127.0.0.1'), '', 5_000), 'accepted-and-closed');
  // The traffic happened (so its log lines were written into the broken pipe): the metrics counted it.
  const metrics = (await adminGet('/metrics')).body;
  assert.ok(rounds >= 10, `only ${rounds} rounds within ${TRAFFIC_DEADLINE_MS} ms`);
  assert.ok(counter(metrics, 'http_enclave_host_connections_accepted_total') >= rounds + 1, 'client connections counted');
  assert.ok(counter(metrics, 'http_enclave_host_egress_refused_total{reason="not_allowed"}') >= rounds, 'egress refusals counted');
  // Nothing went to stderr about it (an uncaught EPIPE would print there before the exit).
  assert.doesNotMatch(host.output(), /EPIPE/);

  assert.equal(await host.stop('SIGTERM'), 0);
});
