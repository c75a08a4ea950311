// Connection floods against the real host and enclave (issue 9, "The
// suite"): past each connection limit, with connections that close at once
// (a port scan: connect, then FIN or RST) and with connections that stay
// (silent TCP, or a TLS handshake and then nothing), re-opened as soon as the
// server drops them so that the limits stay saturated for FLOOD_MS.
//
//   scan through the host        one source, 3 000 connects;
//   scan of the enclave          its listener directly, 2 000 connects;
//   per-source flood             one source, 3x HOST_MAX_CONNECTIONS_PER_SOURCE;
//   total flood                  four sources, past HOST_MAX_CONNECTIONS, which
//                                here (120) is above the enclave's
//                                MAX_CONNECTIONS (100): the enclave's cap is
//                                reached through the host;
//   enclave flood                the enclave's listener directly, past its
//                                MAX_CONNECTIONS (what the host itself, or an
//                                operator, can do).
//
// Asserted:
//   - descriptors (/proc/PID/fd) of each program never exceed what its caps
//     allow: the host two per client connection it holds, the enclave one
//     per connection;
//   - RSS growth of each program under a bound;
//   - a probe from another source address (127.0.0.2) is served every time
//     while the attack comes from one source through the host (scan,
//     per-source flood); where the design lets a cap refuse it (the host's
//     total, the enclave's cap, reached through the host or on the enclave's
//     own listener), it is served again once the attack stops;
//   - after the flood both programs are back at their descriptor baselines
//     within seconds: a scanned connection is closed at once, not at the
//     handshake timeout (HANDSHAKE_TIMEOUT_MS is 3 s here, the bound 1.5 s).
// Bounded: each flood lasts FLOOD_MS with a fixed number of workers that stop
// by themselves; the file takes about 30 s.

import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { newToken, sendRequest } from '../support/https-request.js';
import { openFileCount, sampleOpenFiles, settledOpenFileCount } from '../support/open-files.js';
import { describeTally, startProbe, type ProbeTally } from '../support/probe-client.js';
import { sampleMemory } from '../support/process-memory.js';
import { startStack, type Stack } from '../support/stack.js';

const ATTACKER = '127.0.0.1';
const PROBE_SOURCE = '127.0.0.2';
const ALL_ATTACKERS = [ATTACKER, '127.0.0.3', '127.0.0.4', '127.0.0.5'];

const PER_SOURCE = 40;
const HOST_TOTAL = 120;
const ENCLAVE_MAX = 100;
const HANDSHAKE_MS = 3_000;
const HEADERS_MS = 3_000;
const HOST_IDLE_MS = 5_000;
/** How long each flood keeps its workers re-opening connections. */
const FLOOD_MS = 5_000;
/** A worker whose connection was dropped waits this long before the next one (a tight loop would only burn the test's CPU). */
const REOPEN_PAUSE_MS = 50;
/** After the attack stops, both programs must be back at their baselines within this (well below HANDSHAKE_MS for scans). */
const SCAN_RELEASE_MS = 1_500;
/** After a flood of holders stops (they close their sockets), within this. */
const FLOOD_RELEASE_MS = 3_000;
/** Descriptors briefly above a cap: connections accepted and being closed at once, the probe's own (the caps are tens above this). */
const FD_MARGIN = 16;
/** A scan lasts at least this long, so that the probe runs beside it. */
const SCAN_MIN_MS = 2_500;
const MAX_RSS_GROWTH_MIB = 64;

let stack: Stack;
let token: string;
let hostPid: number;
let enclavePid: number;

async function backToBaseline(hostBase: number, enclaveBase: number, withinMs: number): Promise<number> {
  const started = Date.now();
  do {
    if (openFileCount(hostPid) <= hostBase && openFileCount(enclavePid) <= enclaveBase) return Date.now() - started;
    await sleep(25);
  } while (Date.now() - started < withinMs);
  return -1;
}

type Target = { readonly via: 'host'; readonly source: string } | { readonly via: 'enclave' };

function connectTo(target: Target): Socket {
  return target.via === 'host'
    ? netConnect({ host: '127.0.0.1', port: stack.port, localAddress: target.source })
    : netConnect({ path: join(stack.dir, 'enclave.sock') });
}

/** Connect, then at once FIN (even) or RST (odd, TCP only); `count` of them, `concurrency` at a time, and for at least SCAN_MIN_MS. */
async function scan(target: Target, count: number, concurrency: number): Promise<{ connected: number; failed: number }> {
  const until = Date.now() + SCAN_MIN_MS;
  let next = 0;
  let connected = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < count || Date.now() < until) {
      const index = next++;
      await new Promise<void>((resolve) => {
        const socket = connectTo(target);
        socket.once('connect', () => {
          connected += 1;
          if (index % 2 === 1 && target.via === 'host') socket.resetAndDestroy();
          else socket.end();
          resolve();
        });
        socket.once('error', () => {
          failed += 1;
          resolve();
        });
        socket.on('close', () => resolve());
        socket.resume();
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { connected, failed };
}

interface FloodResult {
  /** Connections opened in all. */
  readonly opened: number;
  /** Of those, closed by the server within 500 ms of the connect (refused at a cap). */
  readonly refusedAtOnce: number;
}

/**
 * `workers` loops, each holding one connection at a time (odd workers: a TLS
 * handshake, then silence; even: silent TCP) and opening the next as soon as
 * the server drops it, until `ms` have passed; then every socket is closed.
 */
async function flood(target: Target, workers: number, ms: number): Promise<FloodResult> {
  const until = Date.now() + ms;
  let opened = 0;
  let refusedAtOnce = 0;
  const live = new Set<Socket>();
  const worker = async (index: number): Promise<void> => {
    while (Date.now() < until) {
      await new Promise<void>((resolve) => {
        const started = Date.now();
        const tcp = connectTo(target);
        opened += 1;
        live.add(tcp);
        let socket: Socket = tcp;
        if (index % 2 === 1) {
          const tls = tlsConnect({ socket: tcp, servername: 'localhost', rejectUnauthorized: false });
          tls.on('error', () => undefined);
          socket = tls;
          live.add(tls);
        }
        tcp.on('error', () => undefined);
        socket.resume();
        const stopTimer = setTimeout(() => socket.destroy(), Math.max(0, until - Date.now()));
        socket.once('close', () => {
          clearTimeout(stopTimer);
          if (Date.now() - started < 500 && Date.now() < until) refusedAtOnce += 1;
          live.delete(socket);
          live.delete(tcp);
          tcp.destroy();
          resolve();
        });
      });
      await sleep(REOPEN_PAUSE_MS);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, index) => worker(index)));
  for (const socket of live) socket.destroy();
  return { opened, refusedAtOnce };
}

interface Measured<T> {
  readonly result: T;
  readonly hostBase: number;
  readonly enclaveBase: number;
  readonly hostPeak: number;
  readonly enclavePeak: number;
  readonly hostGrowth: number;
  readonly enclaveGrowth: number;
  readonly tally: ProbeTally;
  /** ms until both programs were back at their baselines after the attack, or -1. */
  readonly releasedAfter: number;
  /** The probe's answer right after the release. */
  readonly servedAfter: number;
  describe(): string;
}

/** Runs `attack` with descriptor and memory samplers and the probe, then waits for the baselines. */
async function measure<T>(attack: () => Promise<T>, releaseWithinMs: number): Promise<Measured<T>> {
  const hostBase = await settledOpenFileCount(hostPid, 500);
  const enclaveBase = await settledOpenFileCount(enclavePid, 500);
  const hostMemory = sampleMemory(hostPid, 50);
  const enclaveMemory = sampleMemory(enclavePid, 50);
  const hostFds = sampleOpenFiles(hostPid, 25);
  const enclaveFds = sampleOpenFiles(enclavePid, 25);
  const probe = startProbe({ port: stack.port, localAddress: PROBE_SOURCE, path: '/private-data/probe', token, intervalMs: 150, timeoutMs: 5_000 });
  let result: T;
  try {
    result = await attack();
  } finally {
    hostFds.stop();
    enclaveFds.stop();
  }
  const tally = await probe.stop(); // before the release check: the probe's own connections would count
  const releasedAfter = await backToBaseline(hostBase, enclaveBase, releaseWithinMs);
  const hostGrowth = hostMemory.stop();
  const enclaveGrowth = enclaveMemory.stop();
  const served = await sendRequest(stack.port, { path: '/private-data/probe', token, localAddress: PROBE_SOURCE, timeoutMs: 5_000 }).then(
    (answer) => answer.status,
    () => 0,
  );
  const hostPeak = hostFds.stop();
  const enclavePeak = enclaveFds.stop();
  return {
    result,
    hostBase,
    enclaveBase,
    hostPeak,
    enclavePeak,
    hostGrowth,
    enclaveGrowth,
    tally,
    releasedAfter,
    servedAfter: served,
    describe: () =>
      `${JSON.stringify(result)}; descriptors peak host ${hostPeak} (baseline ${hostBase}), enclave ${enclavePeak} (baseline ${enclaveBase}); ` +
      `back to baseline ${releasedAfter < 0 ? `not within ${releaseWithinMs} ms (host ${openFileCount(hostPid)}, enclave ${openFileCount(enclavePid)})` : `after ${releasedAfter} ms`}; ` +
      `RSS growth host ${hostGrowth.toFixed(1)} MiB, enclave ${enclaveGrowth.toFixed(1)} MiB; probe ${describeTally(tally)}; probe after: ${served}`,
  };
}

function assertCommon(m: Measured<unknown>, what: string): void {
  const report = `${what}: ${m.describe()}`;
  assert.ok(m.releasedAfter >= 0, `${report}\nnot back to the descriptor baselines`);
  assert.ok(m.hostGrowth < MAX_RSS_GROWTH_MIB, `${report}\nhost RSS`);
  assert.ok(m.enclaveGrowth < MAX_RSS_GROWTH_MIB, `${report}\nenclave RSS`);
  assert.equal(m.servedAfter, 200, `${report}\nthe probe is not served after the attack`);
  assert.equal(stack.host.child.exitCode, null, 'the host exited');
  assert.equal(stack.enclave.child.exitCode, null, 'the enclave exited');
}

function assertProbeServedThroughout(m: Measured<unknown>, what: string): void {
  assert.ok(m.tally.sent >= 5, `${what}: only ${m.tally.sent} probes`);
  assert.equal(m.tally.ok, m.tally.sent, `${what}: the probe from ${PROBE_SOURCE} was refused: ${m.describe()}`);
}

before(async () => {
  stack = await startStack({
    hostEnv: {
      LOG_LEVEL: 'info',
      HOST_MAX_CONNECTIONS_PER_SOURCE: String(PER_SOURCE),
      HOST_MAX_CONNECTIONS: String(HOST_TOTAL),
      HOST_IDLE_TIMEOUT_MS: String(HOST_IDLE_MS),
    },
    enclaveEnv: {
      LOG_LEVEL: 'info',
      MAX_CONNECTIONS: String(ENCLAVE_MAX),
      HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_MS),
      HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      REQUEST_TIMEOUT_MS: String(HEADERS_MS + 1_000),
    },
  });
  hostPid = stack.host.child.pid ?? 0;
  enclavePid = stack.enclave.child.pid ?? 0;
  token = await newToken();
  assert.equal((await sendRequest(stack.port, { method: 'PUT', path: '/private-data/probe', token, body: '{"probe":true}' })).status, 201);
});

after(async () => {
  await stack?.stop();
});

test('port scan through the host: 3 000 connects (or more, for 2.5 s) from one source closed at once (FIN or RST); nothing leaked, the other source served', async (t) => {
  const m = await measure(() => scan({ via: 'host', source: ATTACKER }, 3_000, 64), SCAN_RELEASE_MS);
  t.diagnostic(m.describe());
  assertCommon(m, 'scan through the host');
  assertProbeServedThroughout(m, 'scan through the host');
  assert.ok(m.result.connected >= 2_900, `only ${m.result.connected} connects succeeded`);
  // At most the per-source limit at a time, and the enclave's side of each is closed as soon as the client's is.
  assert.ok(m.hostPeak <= m.hostBase + 2 * PER_SOURCE + FD_MARGIN, `host descriptors peaked at ${m.hostPeak}`);
  assert.ok(m.enclavePeak <= m.enclaveBase + PER_SOURCE + FD_MARGIN, `enclave descriptors peaked at ${m.enclavePeak}`);
});

test('port scan of the enclave itself: 2 000 connects (or more, for 2.5 s) to its listener, closed at once: the enclave closes each at once (not at its handshake timeout), within its cap', async (t) => {
  const m = await measure(() => scan({ via: 'enclave' }, 2_000, 64), SCAN_RELEASE_MS);
  t.diagnostic(m.describe());
  assertCommon(m, 'scan of the enclave');
  // No probe assertion during the scan: at thousands of connects a second the enclave's cap fills with connections
  // whose close it has not processed yet, and the probe (through the host) can be refused; that is the cap working.
  // Connects refused by the kernel (EAGAIN: the listen backlog is full) are the scanner's problem.
  assert.ok(m.result.connected >= 2_000, `only ${m.result.connected} connects succeeded`);
  assert.ok(m.enclavePeak <= m.enclaveBase + ENCLAVE_MAX + FD_MARGIN, `enclave descriptors peaked at ${m.enclavePeak}`);
});

test(`per-source flood: ${3 * PER_SOURCE} workers from one source keep re-opening silent TCP and TLS connections for ${FLOOD_MS} ms; the host holds at most ${PER_SOURCE} of them, the other source is served throughout`, async (t) => {
  const m = await measure(() => flood({ via: 'host', source: ATTACKER }, 3 * PER_SOURCE, FLOOD_MS), FLOOD_RELEASE_MS);
  t.diagnostic(m.describe());
  assertCommon(m, 'per-source flood');
  assertProbeServedThroughout(m, 'per-source flood');
  assert.ok(m.result.refusedAtOnce >= 2 * PER_SOURCE, `only ${m.result.refusedAtOnce} connections were refused at once`);
  assert.ok(m.hostPeak <= m.hostBase + 2 * PER_SOURCE + FD_MARGIN, `host descriptors peaked at ${m.hostPeak}: more than ${PER_SOURCE} connections from one source`);
  assert.ok(m.enclavePeak <= m.enclaveBase + PER_SOURCE + FD_MARGIN, `enclave descriptors peaked at ${m.enclavePeak}`);
});

test(`total flood: ${ALL_ATTACKERS.length} sources x ${PER_SOURCE} workers for ${FLOOD_MS} ms, past the host's total (${HOST_TOTAL}) and, through it, the enclave's cap (${ENCLAVE_MAX}): both caps hold, service returns after`, async (t) => {
  const m = await measure(async () => {
    const results = await Promise.all(ALL_ATTACKERS.map((source) => flood({ via: 'host', source }, PER_SOURCE, FLOOD_MS)));
    return { opened: results.reduce((s, r) => s + r.opened, 0), refusedAtOnce: results.reduce((s, r) => s + r.refusedAtOnce, 0) };
  }, FLOOD_RELEASE_MS);
  t.diagnostic(m.describe());
  assertCommon(m, 'total flood');
  assert.ok(m.hostPeak <= m.hostBase + 2 * HOST_TOTAL + FD_MARGIN, `host descriptors peaked at ${m.hostPeak}: more than ${HOST_TOTAL} client connections`);
  assert.ok(m.enclavePeak <= m.enclaveBase + ENCLAVE_MAX + FD_MARGIN, `enclave descriptors peaked at ${m.enclavePeak}: more than ${ENCLAVE_MAX} connections`);
  assert.ok(m.enclavePeak >= m.enclaveBase + ENCLAVE_MAX - 10, `the flood did not reach the enclave's cap (peak ${m.enclavePeak})`);
  assert.ok(m.result.refusedAtOnce >= HOST_TOTAL - ENCLAVE_MAX, `only ${m.result.refusedAtOnce} connections were refused at once`);
});

test(`enclave flood: ${ENCLAVE_MAX + 50} workers on the enclave's own listener for ${FLOOD_MS} ms: it holds at most ${ENCLAVE_MAX}, closes the rest at once, and serves again after`, async (t) => {
  const m = await measure(() => flood({ via: 'enclave' }, ENCLAVE_MAX + 50, FLOOD_MS), FLOOD_RELEASE_MS);
  t.diagnostic(m.describe());
  assertCommon(m, 'enclave flood');
  assert.ok(m.enclavePeak <= m.enclaveBase + ENCLAVE_MAX + FD_MARGIN, `enclave descriptors peaked at ${m.enclavePeak}: more than ${ENCLAVE_MAX} connections`);
  assert.ok(m.result.refusedAtOnce >= 50, `only ${m.result.refusedAtOnce} connections were refused at once`);
  // The probe could not get in while the enclave was full: that is the cap doing its job (and the operator can deny service anyway).
});
