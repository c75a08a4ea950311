// SIGSTOP of either program while clients keep coming (issue 9, "The
// suite"). A stopped process is the nastiest peer there is: its sockets stay
// open and the kernel keeps accepting connections into its backlog, so
// nothing ever fails fast; only timeouts notice.
//
// (a) The enclave is stopped for STOP_MS while CONNECTORS clients keep
//     opening fresh connections through the host. The host must stay
//     bounded (RSS, and descriptors: two per client connection at most,
//     back to its baseline afterwards), every client gets an error or a
//     timeout by its own deadline (never a hang), and after SIGCONT service
//     returns within a few seconds with no acknowledged write lost.
// (b) The host is stopped for longer than the enclave's STORAGE_TIMEOUT_MS
//     (three timeouts and more) while requests run. The enclave is reached
//     through the host only in production; here its listener is a unix
//     socket in the stack's directory, so the test also talks to it
//     directly (a second path) and sees the enclave answer 503
//     STORAGE_UNAVAILABLE within the storage timeout while the host is still
//     stopped. Requests that were in flight through the host get their
//     answers once it resumes; the enclave's log shows every 503 it made was
//     made within the storage timeout; the storage client replaces the
//     silent connection (storage-client.ts, after 2 timeouts) and, after
//     SIGCONT, service comes back without anyone restarting anything.
// Bounded: fixed stop lengths, loops that stop by themselves, each case
// under 40 s.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { newToken, sendRequest, type TestRequest, type TestResponse } from '../support/https-request.js';
import { openFileCount, sampleOpenFiles, waitForOpenFilesAtMost } from '../support/open-files.js';
import { describeTally, startProbe, type Probe, type ProbeTally } from '../support/probe-client.js';
import { sampleMemory } from '../support/process-memory.js';
import { startStack } from '../support/stack.js';
import { WriteLedger } from '../support/write-ledger.js';

/** How long a program stays stopped. */
const STOP_MS = 5_000;
/** Clients that keep opening fresh connections while the enclave is stopped. */
const CONNECTORS = 16;
/** Writers, each owning one record. */
const WRITERS = 4;
/** Each connector's request timeout (inactivity on its socket). */
const CLIENT_TIMEOUT_MS = 1_000;
/**
 * A client request must settle within this long (a hang would not): twice its
 * timeout plus a margin. Twice, because Node's https client measured here
 * (Node 20) fires the socket timeout of a connection whose TLS handshake
 * never completes only after 2x `timeout` (4 s for 2 s against a silent TCP
 * server): the first expiry is swallowed as "a write in progress" (the
 * ClientHello) and the timer re-armed.
 */
const SETTLE_BOUND_MS = 2 * CLIENT_TIMEOUT_MS + 1_500;
/** After SIGCONT, service must be back within this long. */
const RECOVERY_BOUND_MS = 5_000;
/** Peak RSS growth allowed while the enclave is stopped. */
const MAX_HOST_RSS_GROWTH_MIB = 48;
const MAX_ENCLAVE_RSS_GROWTH_MIB = 64;
/**
 * The host's per-source cap, set explicitly: every client here is 127.0.0.1,
 * so it bounds the host's client connections. A client that gives up (FIN)
 * while the enclave is stopped leaves a half-closed pair in the host (it must
 * still forward an answer to a client that half-closed after its request), two
 * descriptors, until the enclave closes its side or HOST_IDLE_TIMEOUT_MS; so
 * the design's bound is two descriptors per allowed connection, not per
 * client still waiting.
 */
const PER_SOURCE_CAP = 64;
/** Descriptors above that for the storage channel, libuv and timing slack. */
const HOST_FD_SLACK = 16;

/** Storage timeout of the enclave in case (b): short, so that several pass while the host is stopped. */
const STORAGE_TIMEOUT_MS = 1_500;
/** Case (b): the host stays stopped this long (more than 2 storage timeouts, so the storage client must replace the connection). */
const HOST_STOP_MS = 6_500;
/** A 503 must come within the storage timeout plus this margin. */
const STORAGE_ANSWER_MARGIN_MS = 1_500;

interface Outcome {
  readonly what: string;
  readonly elapsedMs: number;
  /** When the request began (Date.now()). */
  readonly startedAt?: number;
}

function outcomeOf(answer: TestResponse): string {
  return answer.status === 200 || answer.status === 201 ? String(answer.status) : `${answer.status} ${answer.errorCode() ?? answer.body.toString().slice(0, 60)}`;
}

function summarize(outcomes: readonly Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o.what, (counts.get(o.what) ?? 0) + 1);
  return [...counts].map(([what, n]) => `${n}× ${what}`).join(', ');
}

/** One HTTPS request straight to the enclave's unix socket listener (the second path: not through the host). */
function sendDirect(socketPath: string, req: TestRequest): Promise<TestResponse> {
  return sendRequest(0, { ...req, socketPath, headers: { host: 'localhost', ...req.headers } });
}

/** A tally with answers and no failure (a snapshot counts the probe in flight as sent, neither ok nor failed). */
function allAnswered(tally: ProbeTally): boolean {
  return tally.ok > 0 && tally.failures.size === 0;
}

/** Polls `attempt` every 200 ms until it returns true or `withinMs` passes; returns the time it took, or undefined. */
async function timeUntil(attempt: () => Promise<boolean>, withinMs: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < withinMs) {
    if (await attempt().catch(() => false)) return Date.now() - started;
    await sleep(200);
  }
  return undefined;
}

/** Writer loops: each owns record w<i>, writes unique values in sequence, records acknowledged ones. */
function startWriters(options: { port: () => number; token: string; ledger: WriteLedger; timeoutMs: number; outcomes: Outcome[] }): { stop(): Promise<void> } {
  let running = true;
  let sequence = 0;
  const loops = Array.from({ length: WRITERS }, async (_, id) => {
    const record = `w${id}`;
    while (running) {
      const value = JSON.stringify({ writer: id, n: sequence++ });
      options.ledger.sent(record, value);
      const started = Date.now();
      try {
        const answer = await sendRequest(options.port(), { method: 'PUT', path: `/private-data/${record}`, token: options.token, body: value, timeoutMs: options.timeoutMs });
        options.outcomes.push({ what: outcomeOf(answer), elapsedMs: Date.now() - started, startedAt: started });
        if (answer.status === 200 || answer.status === 201) options.ledger.acknowledged(record, value, (answer.json() as { version: number }).version);
      } catch (error) {
        options.outcomes.push({ what: error instanceof Error ? error.message : String(error), elapsedMs: Date.now() - started, startedAt: started });
      }
      await sleep(50);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

test(`(a) SIGSTOP of the enclave for ${STOP_MS} ms under ${CONNECTORS} connecting clients: the host stays bounded, clients time out, service returns after SIGCONT`, { timeout: 90_000 }, async () => {
  const stack = await startStack({ hostEnv: { LOG_LEVEL: 'info', HOST_MAX_CONNECTIONS_PER_SOURCE: String(PER_SOURCE_CAP) }, enclaveEnv: { LOG_LEVEL: 'info' } });
  const hostPid = stack.host.child.pid ?? 0;
  const enclavePid = stack.enclave.child.pid ?? 0;
  let enclaveStopped = false;
  const started = Date.now();
  /** Loops to stop whatever happens (an assertion that fails mid-case must not leave them running). */
  const loops: Array<() => Promise<unknown>> = [];
  try {
    const token = await newToken();
    const ledger = new WriteLedger();
    const hostMemory = sampleMemory(hostPid);
    const enclaveMemory = sampleMemory(enclavePid);
    const hostFdsAtRest = openFileCount(hostPid);
    const enclaveFdsAtRest = openFileCount(enclavePid);
    const hostFds = sampleOpenFiles(hostPid, 50);
    const probe: Probe = startProbe({ port: stack.port, intervalMs: 200, timeoutMs: CLIENT_TIMEOUT_MS });
    loops.push(() => probe.stop());

    // Clients that keep opening fresh connections (one request each).
    const connectorOutcomes: Outcome[] = [];
    let connecting = true;
    const connectors = Array.from({ length: CONNECTORS }, async () => {
      while (connecting) {
        const begun = Date.now();
        try {
          const answer = await sendRequest(stack.port, { path: '/healthz', timeoutMs: CLIENT_TIMEOUT_MS });
          connectorOutcomes.push({ what: outcomeOf(answer), elapsedMs: Date.now() - begun, startedAt: begun });
        } catch (error) {
          connectorOutcomes.push({ what: error instanceof Error ? error.message : String(error), elapsedMs: Date.now() - begun, startedAt: begun });
        }
        await sleep(50);
      }
    });
    loops.push(async () => {
      connecting = false;
      await Promise.all(connectors);
    });
    const writerOutcomes: Outcome[] = [];
    const writers = startWriters({ port: () => stack.port, token, ledger, timeoutMs: CLIENT_TIMEOUT_MS, outcomes: writerOutcomes });
    loops.push(() => writers.stop());

    await sleep(1_500);
    const beforeStop = probe.tally();
    assert.ok(allAnswered(beforeStop), `before the stop every probe must be answered: ${describeTally(beforeStop)}`);

    process.kill(enclavePid, 'SIGSTOP');
    enclaveStopped = true;
    const stoppedAt = Date.now();
    probe.reset();
    await sleep(STOP_MS);
    const whileStopped = probe.tally();
    const hostFdPeakWhileStopped = hostFds.peak();
    process.kill(enclavePid, 'SIGCONT');
    enclaveStopped = false;

    // Service returns by itself within a few seconds: the probe is answered again.
    probe.reset();
    const recoveryMs = await timeUntil(async () => probe.tally().ok > 0, RECOVERY_BOUND_MS);
    assert.ok(recoveryMs !== undefined, `no probe answered within ${RECOVERY_BOUND_MS} ms of SIGCONT: ${describeTally(probe.tally())}`);
    // The probe in flight at this reset was sent after one was answered: from here on, service must hold.
    probe.reset();
    await sleep(3_000);
    const afterRecovery = await probe.stop();
    connecting = false;
    await Promise.all(connectors);
    await writers.stop();
    const hostFdPeak = hostFds.stop();
    const hostGrowth = hostMemory.stop();
    const enclaveGrowth = enclaveMemory.stop();

    // Every client settled by its deadline: an error or a timeout, never a hang.
    const slowest = Math.max(...connectorOutcomes.map((o) => o.elapsedMs), ...writerOutcomes.map((o) => o.elapsedMs));
    const timedOut = connectorOutcomes.filter((o) => o.what === 'request timed out').length;
    const late = [...connectorOutcomes.map((o) => ({ ...o, kind: 'connector' })), ...writerOutcomes.map((o) => ({ ...o, kind: 'writer' }))]
      .filter((o) => o.elapsedMs > SETTLE_BOUND_MS)
      .map((o) => `${o.kind} ${o.what} after ${o.elapsedMs} ms, begun ${(o.startedAt ?? 0) - stoppedAt} ms after SIGSTOP`);
    assert.ok(slowest <= SETTLE_BOUND_MS, `a client took ${slowest} ms to settle (timeout ${CLIENT_TIMEOUT_MS} ms, bound ${SETTLE_BOUND_MS} ms): a hang: ${late.join('; ')}`);
    assert.ok(timedOut > 0, `no connector timed out while the enclave was stopped (${summarize(connectorOutcomes)}): was it stopped?`);
    // (One probe may have been answered just before the stop took effect: it counts in this phase.)
    assert.ok(whileStopped.failures.size > 0 && whileStopped.ok <= 1, `probes kept being answered while the enclave was stopped: ${describeTally(whileStopped)}`);

    // The host stayed bounded: two descriptors per connection it lets in, at most PER_SOURCE_CAP connections.
    const fdBound = hostFdsAtRest + 2 * PER_SOURCE_CAP + HOST_FD_SLACK;
    assert.ok(hostFdPeak <= fdBound, `host descriptors peaked at ${hostFdPeak} (at rest ${hostFdsAtRest}, bound ${fdBound})`);
    assert.ok(hostGrowth < MAX_HOST_RSS_GROWTH_MIB, `host RSS grew by ${hostGrowth.toFixed(1)} MiB`);
    assert.ok(enclaveGrowth < MAX_ENCLAVE_RSS_GROWTH_MIB, `enclave RSS grew by ${enclaveGrowth.toFixed(1)} MiB`);
    // Nothing leaked: once the clients are gone both programs are back at rest.
    const hostFdsAfter = await waitForOpenFilesAtMost(hostPid, hostFdsAtRest + 2, 8_000);
    assert.ok(hostFdsAfter <= hostFdsAtRest + 2, `host holds ${hostFdsAfter} descriptors after the clients left (at rest ${hostFdsAtRest})`);
    const enclaveFdsAfter = await waitForOpenFilesAtMost(enclavePid, enclaveFdsAtRest + 2, 8_000);
    assert.ok(enclaveFdsAfter <= enclaveFdsAtRest + 2, `enclave holds ${enclaveFdsAfter} descriptors after the clients left (at rest ${enclaveFdsAtRest})`);

    // Service held once back.
    assert.ok(allAnswered(afterRecovery), `after recovery every probe must be answered: ${describeTally(afterRecovery)}`);
    assert.ok(ledger.acknowledgedCount > 10, `only ${ledger.acknowledgedCount} writes acknowledged`);
    const checked = await ledger.verify((record) => sendRequest(stack.port, { path: `/private-data/${record}`, token }));
    assert.equal(stack.host.child.exitCode, null, 'the host exited');
    assert.equal(stack.enclave.child.exitCode, null, 'the enclave exited');

    console.log(
      JSON.stringify({
        case: 'sigstop-enclave',
        durationMs: Date.now() - started,
        hostRssGrowthMiB: +hostGrowth.toFixed(1),
        enclaveRssGrowthMiB: +enclaveGrowth.toFixed(1),
        hostFds: { atRest: hostFdsAtRest, peakWhileStopped: hostFdPeakWhileStopped, peak: hostFdPeak, bound: fdBound, after: hostFdsAfter },
        enclaveFds: { atRest: enclaveFdsAtRest, after: enclaveFdsAfter },
        recoveryMs,
        slowestClientMs: slowest,
        probe: { beforeStop: describeTally(beforeStop), whileStopped: describeTally(whileStopped), afterRecovery: describeTally(afterRecovery) },
        connectors: summarize(connectorOutcomes),
        writers: summarize(writerOutcomes),
        acknowledgedWrites: ledger.acknowledgedCount,
        recordsChecked: checked,
      }),
    );
  } finally {
    if (enclaveStopped) process.kill(enclavePid, 'SIGCONT');
    // Loops first told to stop, then the stack stopped, so that a loop waiting on a request ends at once.
    const ending = loops.map((stop) => stop());
    await stack.stop();
    await Promise.all(ending);
  }
});

test(`(b) SIGSTOP of the host for ${HOST_STOP_MS} ms (STORAGE_TIMEOUT_MS=${STORAGE_TIMEOUT_MS}): the enclave answers 503 STORAGE_UNAVAILABLE in time and recovers by itself`, { timeout: 90_000 }, async () => {
  const stack = await startStack({
    hostEnv: { LOG_LEVEL: 'info' },
    enclaveEnv: { LOG_LEVEL: 'info', STORAGE_TIMEOUT_MS: String(STORAGE_TIMEOUT_MS) },
  });
  const hostPid = stack.host.child.pid ?? 0;
  const enclavePid = stack.enclave.child.pid ?? 0;
  const enclaveSocket = join(stack.dir, 'enclave.sock');
  let hostStopped = false;
  const started = Date.now();
  const loops: Array<() => Promise<unknown>> = [];
  try {
    const token = await newToken();
    const ledger = new WriteLedger();
    assert.equal((await sendDirect(enclaveSocket, { path: '/healthz' })).status, 200, 'the direct path to the enclave works');
    const hostMemory = sampleMemory(hostPid);
    const enclaveMemory = sampleMemory(enclavePid);
    const hostFdsAtRest = openFileCount(hostPid);
    const probe = startProbe({ port: stack.port, intervalMs: 200, timeoutMs: CLIENT_TIMEOUT_MS });
    loops.push(() => probe.stop());
    // Writers through the host with a long timeout: those in flight at the stop must get an answer once the host resumes.
    const writerOutcomes: Outcome[] = [];
    const writers = startWriters({ port: () => stack.port, token, ledger, timeoutMs: 30_000, outcomes: writerOutcomes });
    loops.push(() => writers.stop());
    await sleep(1_500);
    const beforeStop = probe.tally();
    assert.ok(allAnswered(beforeStop), `before the stop every probe must be answered: ${describeTally(beforeStop)}`);

    process.kill(hostPid, 'SIGSTOP');
    hostStopped = true;
    const stoppedAt = Date.now();
    probe.reset();

    // While the host is stopped, the enclave answers on its own: 503 within the storage timeout, on the first
    // connection, after it was replaced (2 timeouts), and on the replacement.
    const directOutcomes: Outcome[] = [];
    for (let round = 0; round < 3; round += 1) {
      const at = stoppedAt + 200 + round * (STORAGE_TIMEOUT_MS + 700);
      await sleep(Math.max(0, at - Date.now()));
      const asks: Array<[string, TestRequest]> = [
        ['PUT', { method: 'PUT', path: `/private-data/direct-${round}`, token, body: JSON.stringify({ round }), timeoutMs: 15_000 }],
        ['GET', { path: '/private-data/w0', token, timeoutMs: 15_000 }],
        ['healthz', { path: '/healthz', timeoutMs: 15_000 }],
      ];
      await Promise.all(
        asks.map(async ([name, ask]) => {
          const begun = Date.now();
          const answer = await sendDirect(enclaveSocket, ask);
          const elapsedMs = Date.now() - begun;
          directOutcomes.push({ what: `${name} ${outcomeOf(answer)}`, elapsedMs });
          assert.equal(answer.status, 503, `round ${round} ${name}: ${answer.status} ${answer.body.toString()}`);
          if (name === 'healthz') assert.deepEqual(answer.json(), { status: 'degraded', storage: 'unavailable' });
          else assert.equal(answer.errorCode(), 'STORAGE_UNAVAILABLE', `round ${round} ${name}`);
          assert.ok(elapsedMs <= STORAGE_TIMEOUT_MS + STORAGE_ANSWER_MARGIN_MS, `round ${round} ${name}: the 503 took ${elapsedMs} ms (storage timeout ${STORAGE_TIMEOUT_MS} ms)`);
        }),
      );
    }
    assert.ok(Date.now() < stoppedAt + HOST_STOP_MS, 'the direct rounds outlasted the stop');
    await sleep(stoppedAt + HOST_STOP_MS - Date.now());
    const whileStopped = probe.tally();
    // The storage client replaced the silent connection (storage-client.ts, #noteSilentTimeout).
    const replacements = stack.enclave.output().split('\n').filter((line) => line.includes('"storage connection silent; replacing it"')).length;
    assert.ok(replacements >= 1, 'the enclave never replaced its silent storage connection');

    process.kill(hostPid, 'SIGCONT');
    hostStopped = false;

    // The enclave recovers by itself: nobody restarts anything.
    const recoveryMs = await timeUntil(async () => (await sendDirect(enclaveSocket, { path: '/healthz', timeoutMs: 3_000 })).status === 200, 2 * STORAGE_TIMEOUT_MS + 3_000);
    assert.ok(recoveryMs !== undefined, 'the enclave did not recover its storage channel after SIGCONT');
    const put = await sendDirect(enclaveSocket, { method: 'PUT', path: '/private-data/after', token, body: '{"after":"sigcont"}' });
    assert.equal(put.status, 201, put.body.toString());
    ledger.sent('after', '{"after":"sigcont"}');
    ledger.acknowledged('after', '{"after":"sigcont"}', (put.json() as { version: number }).version);
    probe.reset();
    const throughHost = await timeUntil(async () => probe.tally().ok > 0, 5_000);
    assert.ok(throughHost !== undefined, `no probe answered through the host within 5 s of SIGCONT: ${describeTally(probe.tally())}`);
    // The probe in flight at this reset was sent after one was answered: from here on, service must hold.
    probe.reset();
    await sleep(3_000);
    const afterRecovery = await probe.stop();
    await writers.stop();
    const hostGrowth = hostMemory.stop();
    const enclaveGrowth = enclaveMemory.stop();

    // Requests in flight through the host got an HTTP answer (a 2xx, or the enclave's 503 delivered when the host resumed).
    const unanswered = writerOutcomes.filter((o) => !/^(200|201|503 STORAGE_UNAVAILABLE)$/.test(o.what));
    assert.deepEqual(unanswered, [], `writer requests without a proper answer: ${summarize(writerOutcomes)}`);
    // Every 503 the enclave made was made within the storage timeout (its own request log, including the
    // ones whose answer waited in the stopped host).
    const slow503 = stack.enclave
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes('"msg":"request"'))
      .map((line) => JSON.parse(line) as { status: number; ms: number; route: string })
      .filter((line) => line.status === 503 && line.ms > STORAGE_TIMEOUT_MS + STORAGE_ANSWER_MARGIN_MS);
    assert.deepEqual(slow503, [], 'the enclave made 503 answers later than the storage timeout');

    assert.ok(allAnswered(afterRecovery), `after recovery every probe must be answered: ${describeTally(afterRecovery)}`);
    assert.ok(hostGrowth < MAX_HOST_RSS_GROWTH_MIB, `host RSS grew by ${hostGrowth.toFixed(1)} MiB`);
    assert.ok(enclaveGrowth < MAX_ENCLAVE_RSS_GROWTH_MIB, `enclave RSS grew by ${enclaveGrowth.toFixed(1)} MiB`);
    const hostFdsAfter = await waitForOpenFilesAtMost(hostPid, hostFdsAtRest + 2, 8_000);
    assert.ok(hostFdsAfter <= hostFdsAtRest + 2, `host holds ${hostFdsAfter} descriptors after the clients left (at rest ${hostFdsAtRest})`);
    const checked = await ledger.verify((record) => sendRequest(stack.port, { path: `/private-data/${record}`, token }));
    assert.equal(stack.host.child.exitCode, null, 'the host exited');
    assert.equal(stack.enclave.child.exitCode, null, 'the enclave exited');

    console.log(
      JSON.stringify({
        case: 'sigstop-host',
        durationMs: Date.now() - started,
        hostRssGrowthMiB: +hostGrowth.toFixed(1),
        enclaveRssGrowthMiB: +enclaveGrowth.toFixed(1),
        hostFds: { atRest: hostFdsAtRest, after: hostFdsAfter },
        direct: directOutcomes.map((o) => `${o.what} in ${o.elapsedMs} ms`),
        storageConnectionReplacements: replacements,
        recoveryMs,
        probe: { beforeStop: describeTally(beforeStop), whileStopped: describeTally(whileStopped), afterRecovery: describeTally(afterRecovery) },
        writers: summarize(writerOutcomes),
        acknowledgedWrites: ledger.acknowledgedCount,
        recordsChecked: checked,
      }),
    );
  } finally {
    if (hostStopped) process.kill(hostPid, 'SIGCONT');
    // Loops first told to stop, then the stack stopped, so that a loop waiting on a request ends at once.
    const ending = loops.map((stop) => stop());
    await stack.stop();
    await Promise.all(ending);
  }
});
