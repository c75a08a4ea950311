// Slow clients against the real host and enclave (issue 9, "The suite"):
// six kinds of attacker connection, each alone, then all at once from one
// source address, then from several sources past every connection limit.
//
//   silent TCP     connects and sends nothing: the enclave's TLS handshake
//                  timeout (HANDSHAKE_TIMEOUT_MS) closes it;
//   silent TLS     completes the handshake and sends nothing: the headers
//                  timeout (HEADERS_TIMEOUT_MS) answers 408 and closes it;
//   slow headers   sends a request line, then a header line now and then:
//                  408 at HEADERS_TIMEOUT_MS;
//   slow body      sends a PUT declaring 1 MiB, then a byte now and then:
//                  408 at REQUEST_TIMEOUT_MS;
//   keep-alive     one request, its answer read, then nothing: closed at
//                  KEEP_ALIVE_TIMEOUT_MS;
//   slow reader    asks for an 8 MiB document and never reads: once the
//                  kernel buffers are full nothing moves, and the host's idle
//                  timeout (HOST_IDLE_TIMEOUT_MS) closes both sides.
//
// Every attacker ignores the server's FIN and keeps its socket open, as a
// real one would. The timeouts are lowered to a second or a few, the limits
// to HOST_MAX_CONNECTIONS_PER_SOURCE=40, HOST_MAX_CONNECTIONS=120 and the
// enclave's MAX_CONNECTIONS=100. Attackers connect from 127.0.0.1 (and
// 127.0.0.3-5 in the last phase); the probe, a well-behaved client reading a
// document every 150 ms, from 127.0.0.2. The host listens on 127.0.0.1 and
// counts sources by the peer address the kernel reports, so every loopback
// address is a source of its own (BIND_ADDR 0.0.0.0 is not needed).
//
// Asserted in each phase:
//   - each attacker the host accepted is ended by its own timeout (not
//     before it, and at most CHECK_INTERVAL_MS + SLACK_MS after it), with
//     the 408 JSON answer where one is due (and the 200 before the
//     keep-alive timeout); a slow reader's stream is cut
//     (it gets less than the document when it finally reads);
//   - past the per-source limit, the extra connections are closed at once;
//   - both programs' descriptors return to their baseline (no socket
//     leaked), within HOST_IDLE_TIMEOUT_MS and a margin (the host keeps a
//     connection whose client ignores the FIN until its idle timeout: D3);
//   - the host never holds more than HOST_MAX_CONNECTIONS client
//     connections, the enclave never more than MAX_CONNECTIONS;
//   - RSS growth of both programs stays under a bound;
//   - the probe from the other source is served every time while attackers
//     use one source (the per-source limit protects it), and again after the
//     many-source phase (where the design lets the total limit refuse it).
// And, as a known defect (TODO, see D3): once the enclave has closed the
// attackers' connections, the host frees their slots soon, not only at its
// own idle timeout.
// Bounded: about 600 attacker connections in all, each phase waits at most
// HOST_IDLE_TIMEOUT_MS + a few seconds; the file takes about 65 s.

import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { newToken, sendRequest } from '../support/https-request.js';
import { openFileCount, sampleOpenFiles, settledOpenFileCount } from '../support/open-files.js';
import { describeTally, startProbe, type Probe } from '../support/probe-client.js';
import { sampleMemory } from '../support/process-memory.js';
import { startStack, type Stack } from '../support/stack.js';

const ATTACKER = '127.0.0.1';
const PROBE_SOURCE = '127.0.0.2';
const OTHER_ATTACKERS = ['127.0.0.3', '127.0.0.4', '127.0.0.5'];

const PER_SOURCE = 40;
const HOST_TOTAL = 120;
const ENCLAVE_MAX = 100;
const HANDSHAKE_MS = 1_500;
const HEADERS_MS = 1_500;
const REQUEST_MS = 2_500;
const KEEP_ALIVE_MS = 1_500;
const HOST_IDLE_MS = 4_000;
/** Node checks header and request timeouts this often (create-api-server.ts): they fire up to this late. */
const CHECK_INTERVAL_MS = 1_000;
/** Margin on every "closed by its timeout" bound: scheduling on a loaded machine. */
const SLACK_MS = 1_500;
/** A connection the host refuses is closed well before the shortest timeout. */
const REFUSED_WITHIN_MS = 700;
/** How often a trickling attacker sends its next byte (below every timeout, so only the timeout can end it). */
const TRICKLE_MS = 400;
/** The slow readers' document: larger than what the kernel buffers hold between enclave and client (about 4 MiB on loopback). */
const DOC_BYTES = 8 * 1024 * 1024 - 64;
const SLOW_BODY_DECLARED = 1024 * 1024;
/**
 * RSS bounds. Idle and trickling connections cost tens of KiB each (about
 * 50 KiB per TLS connection in the enclave, README); 40 to 160 of them stay
 * far below CHEAP_MIB. A slow reader pins the part of its response the
 * kernel buffers cannot take (about 4 of the 8 MiB here) until the host's
 * idle timeout; reading the 8 MiB document on its way there costs each
 * program its storage frame, the plaintext and the TLS records: up to 3 x
 * 8 MiB of peak per reader (measured: 10 readers took the host up by
 * 150 MiB, the enclave by 225 MiB; 10 ordinary concurrent reads of the same
 * document, 150-200 MiB each), most of it garbage collected later.
 */
const CHEAP_MIB = 48;
const PER_SLOW_READER_MIB = 32;

type Kind = 'silent-tcp' | 'silent-tls' | 'slow-headers' | 'slow-body' | 'keep-alive' | 'slow-reader';

/** When each kind must be ended by the enclave, measured from its connect; undefined: not visible to the attacker. */
const DEADLINE: Record<Kind, { readonly after: number; readonly answer?: RegExp } | undefined> = {
  'silent-tcp': { after: HANDSHAKE_MS },
  'silent-tls': { after: HEADERS_MS, answer: /^HTTP\/1\.1 408 [^]*"REQUEST_TIMEOUT"/ },
  'slow-headers': { after: HEADERS_MS, answer: /^HTTP\/1\.1 408 [^]*"REQUEST_TIMEOUT"/ },
  'slow-body': { after: REQUEST_MS, answer: /^HTTP\/1\.1 408 [^]*"REQUEST_TIMEOUT"/ },
  'keep-alive': { after: KEEP_ALIVE_MS, answer: /^HTTP\/1\.1 200 [^]*"status":"ok"/ },
  'slow-reader': undefined,
};

interface Attacker {
  readonly kind: Kind;
  readonly source: string;
  /** The TLS handshake completed (TLS kinds), or the TCP connection stayed up past REFUSED_WITHIN_MS (silent TCP). */
  accepted: boolean;
  /** ms from the connect until the server ended (FIN) or reset the connection. */
  endedAfter: number | undefined;
  /** What the server sent, latin1, the first KiB. */
  answer: string;
  bytes: number;
  /** The slow reader starts reading: resolves with the bytes it then gets until the end. */
  drain(withinMs: number): Promise<number>;
  destroy(): void;
}

let stack: Stack;
let token: string;
let hostPid: number;
let enclavePid: number;

function attack(kind: Kind, source: string): Attacker {
  const started = Date.now();
  const tcp: Socket = netConnect({ host: '127.0.0.1', port: stack.port, localAddress: source, allowHalfOpen: true });
  let socket: Socket | TLSSocket = tcp;
  let trickle: NodeJS.Timeout | undefined;
  const attacker: Attacker = {
    kind,
    source,
    accepted: false,
    endedAfter: undefined,
    answer: '',
    bytes: 0,
    drain: (withinMs) =>
      new Promise((resolve) => {
        let got = 0;
        const done = (): void => {
          clearTimeout(timer);
          resolve(got);
        };
        const timer = setTimeout(() => resolve(-1), withinMs);
        socket.on('data', (chunk: Buffer) => (got += chunk.length));
        socket.once('end', done);
        socket.once('close', done);
        socket.resume();
      }),
    destroy() {
      clearInterval(trickle);
      socket.destroy();
      tcp.destroy();
    },
  };
  const ended = (): void => {
    attacker.endedAfter ??= Date.now() - started;
  };
  tcp.on('error', ended);
  if (kind === 'silent-tcp') {
    const refusedTimer = setTimeout(() => (attacker.accepted = attacker.endedAfter === undefined), REFUSED_WITHIN_MS);
    tcp.once('close', () => clearTimeout(refusedTimer));
  } else {
    // The TLS socket takes allowHalfOpen from the TCP socket under it: after the server's FIN the attacker keeps its socket, as a real one would.
    const tls = tlsConnect({ socket: tcp, servername: 'localhost', rejectUnauthorized: false });
    socket = tls;
    tls.on('error', ended);
    tls.once('secureConnect', () => {
      attacker.accepted = true;
      if (kind === 'slow-headers') {
        tls.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
        let n = 0;
        trickle = setInterval(() => tls.write(`X-Slow-${n++}: ${n}\r\n`), TRICKLE_MS);
      } else if (kind === 'slow-body') {
        tls.write(`PUT /private-data/slow HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${SLOW_BODY_DECLARED}\r\n\r\n[`);
        trickle = setInterval(() => tls.write('0,'), TRICKLE_MS);
      } else if (kind === 'keep-alive') {
        tls.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
      } else if (kind === 'slow-reader') {
        tls.write(`GET /private-data/big HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      }
    });
  }
  // Keep trickling after the server's FIN (the write then fails: that is the end of it).
  socket.on('end', ended);
  socket.on('close', () => {
    ended();
    clearInterval(trickle);
  });
  if (kind === 'slow-reader') {
    socket.pause(); // never reads
  } else {
    socket.on('data', (chunk: Buffer) => {
      attacker.bytes += chunk.length;
      if (attacker.answer.length < 1024) attacker.answer += chunk.toString('latin1');
    });
  }
  return attacker;
}

/** Opens the attackers in one go, the kinds interleaved (so that those past a limit are of every kind), source after source. */
function launch(plan: ReadonlyArray<readonly [Kind, number]>, sources: readonly string[] = [ATTACKER]): Attacker[] {
  const attackers: Attacker[] = [];
  const longest = Math.max(...plan.map(([, count]) => count));
  for (const source of sources) {
    for (let round = 0; round < longest; round += 1) {
      for (const [kind, count] of plan) if (round < count) attackers.push(attack(kind, source));
    }
  }
  return attackers;
}

async function waitFor(predicate: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Waits until both programs are back at (or below) their baselines; returns how long it took, or -1. */
async function backToBaseline(hostBase: number, enclaveBase: number, withinMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < withinMs) {
    if ((await settledOpenFileCount(hostPid, 300)) <= hostBase && (await settledOpenFileCount(enclavePid, 300)) <= enclaveBase) return Date.now() - started;
  }
  return -1;
}

interface PhaseResult {
  readonly attackers: Attacker[];
  readonly report: string;
  readonly hostPeakFds: number;
  readonly enclavePeakFds: number;
  readonly hostBase: number;
  readonly enclaveBase: number;
}

/**
 * Runs one phase: launches the attackers, waits until each is ended (or the
 * phase deadline), checks the per-kind timeouts, waits for both programs to
 * return to their descriptor baselines, checks memory, then destroys the
 * attackers' sockets.
 */
async function phase(
  name: string,
  plan: ReadonlyArray<readonly [Kind, number]>,
  sources: readonly string[],
  options: { readonly probe: 'always' | 'after'; readonly memoryBoundMiB: number; readonly expectRefused?: number },
): Promise<PhaseResult> {
  const hostBase = await settledOpenFileCount(hostPid, 600);
  const enclaveBase = await settledOpenFileCount(enclavePid, 600);
  const hostMemory = sampleMemory(hostPid, 50);
  const enclaveMemory = sampleMemory(enclavePid, 50);
  const hostFds = sampleOpenFiles(hostPid, 50);
  const enclaveFds = sampleOpenFiles(enclavePid, 50);
  const probe: Probe = startProbe({ port: stack.port, localAddress: PROBE_SOURCE, path: '/private-data/probe', token, intervalMs: 150, timeoutMs: 5_000 });
  const started = Date.now();
  const attackers = launch(plan, sources);
  try {
    // Each attacker is either in (handshake done; a silent TCP one still open after REFUSED_WITHIN_MS) or already closed.
    assert.ok(await waitFor(() => attackers.every((a) => a.accepted || a.endedAfter !== undefined), REFUSED_WITHIN_MS + SLACK_MS), `${name}: attackers neither in nor closed`);
    // Every attacker the enclave answers is ended by its timeout; the last of them by the longest.
    const visible = attackers.filter((a) => DEADLINE[a.kind] !== undefined);
    const longest = Math.max(0, ...visible.map((a) => DEADLINE[a.kind]?.after ?? 0));
    const allEnded = await waitFor(() => visible.every((a) => a.endedAfter !== undefined), longest + CHECK_INTERVAL_MS + SLACK_MS + 1_000);
    const open = visible.filter((a) => a.endedAfter === undefined);
    assert.ok(allEnded, `${name}: ${open.length} attackers still open after ${Date.now() - started} ms: ${[...new Set(open.map((a) => a.kind))].join(', ')}`);

    const refused = attackers.filter((a) => !a.accepted);
    if (options.expectRefused !== undefined) {
      assert.equal(refused.length, options.expectRefused, `${name}: connections closed at once (refused) past the per-source limit`);
      for (const a of refused) assert.ok((a.endedAfter ?? Infinity) < REFUSED_WITHIN_MS, `${name}: a refused ${a.kind} was closed only after ${a.endedAfter} ms`);
    }
    for (const a of attackers) {
      const deadline = DEADLINE[a.kind];
      if (deadline === undefined || !a.accepted) continue;
      const after = a.endedAfter ?? Infinity;
      assert.ok(after >= deadline.after - 200, `${name}: a ${a.kind} was closed after ${after} ms, before its timeout of ${deadline.after} ms`);
      assert.ok(after <= deadline.after + CHECK_INTERVAL_MS + SLACK_MS, `${name}: a ${a.kind} was closed only after ${after} ms (timeout ${deadline.after} ms)`);
      if (deadline.answer !== undefined) assert.match(a.answer, deadline.answer, `${name}: a ${a.kind} got ${JSON.stringify(a.answer.slice(0, 120))}`);
    }

    // Slow readers give no sign until the host's idle timeout closes them; then both programs are back to their baselines.
    const releasedAfter = await backToBaseline(hostBase, enclaveBase, HOST_IDLE_MS + 2 * SLACK_MS + 3_000);
    assert.ok(
      releasedAfter >= 0,
      `${name}: descriptors not back to baseline: host ${openFileCount(hostPid)} (baseline ${hostBase}), enclave ${openFileCount(enclavePid)} (baseline ${enclaveBase})`,
    );
    const readers = attackers.filter((a) => a.kind === 'slow-reader' && a.accepted);
    const drained = await Promise.all(readers.map((a) => a.drain(10_000)));
    for (const got of drained) {
      assert.ok(got >= 0, `${name}: a slow reader's stream did not end once it read`);
      assert.ok(got < DOC_BYTES, `${name}: a slow reader got the whole document (${got} bytes): it was never cut`);
    }

    const hostGrowth = hostMemory.stop();
    const enclaveGrowth = enclaveMemory.stop();
    const tally = await probe.stop();
    const report =
      `${name}: ${attackers.length} attackers (${refused.length} refused at once), ` +
      `descriptors peak host ${hostFds.stop()} / enclave ${enclaveFds.stop()} (baselines ${hostBase} / ${enclaveBase}), back after ${Date.now() - started} ms; ` +
      `RSS growth host ${hostGrowth.toFixed(1)} MiB, enclave ${enclaveGrowth.toFixed(1)} MiB; probe ${describeTally(tally)}; ` +
      `slow readers got ${drained.join(', ') || '-'} bytes`;
    assert.ok(hostGrowth < options.memoryBoundMiB, `${report}\nhost RSS grew by ${hostGrowth.toFixed(1)} MiB`);
    assert.ok(enclaveGrowth < options.memoryBoundMiB, `${report}\nenclave RSS grew by ${enclaveGrowth.toFixed(1)} MiB`);
    if (options.probe === 'always') {
      assert.ok(tally.sent >= 5, report);
      assert.equal(tally.ok, tally.sent, `${report}\nthe probe from ${PROBE_SOURCE} was not served every time`);
    } else {
      const served = await sendRequest(stack.port, { path: '/private-data/probe', token, localAddress: PROBE_SOURCE, timeoutMs: 5_000 });
      assert.equal(served.status, 200, `${report}\nthe probe is not served after the attack`);
    }
    return { attackers, report, hostPeakFds: hostFds.stop(), enclavePeakFds: enclaveFds.stop(), hostBase, enclaveBase };
  } finally {
    await probe.stop();
    hostMemory.stop();
    enclaveMemory.stop();
    hostFds.stop();
    enclaveFds.stop();
    for (const a of attackers) a.destroy();
  }
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
      REQUEST_TIMEOUT_MS: String(REQUEST_MS),
      KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS),
      MAX_BODY_BYTES: String(8 * 1024 * 1024),
    },
  });
  hostPid = stack.host.child.pid ?? 0;
  enclavePid = stack.enclave.child.pid ?? 0;
  token = await newToken();
  const big = Buffer.from(JSON.stringify({ pad: 'd'.repeat(DOC_BYTES - 10) }));
  assert.equal(big.length, DOC_BYTES);
  assert.equal((await sendRequest(stack.port, { method: 'PUT', path: '/private-data/big', token, body: big, timeoutMs: 30_000 })).status, 201);
  assert.equal((await sendRequest(stack.port, { method: 'PUT', path: '/private-data/probe', token, body: '{"probe":true}' })).status, 201);
});

after(async () => {
  await stack?.stop();
});

const ALONE: ReadonlyArray<readonly [Kind, number]> = [
  ['silent-tcp', PER_SOURCE + 10],
  ['silent-tls', PER_SOURCE + 10],
  ['slow-headers', PER_SOURCE + 10],
  ['slow-body', PER_SOURCE + 10],
  ['keep-alive', PER_SOURCE + 10],
  ['slow-reader', 10],
];

for (const [kind, count] of ALONE) {
  test(`alone: ${count} ${kind} from one source (per-source limit ${PER_SOURCE}): each ended by its timeout, the rest refused at once, nothing leaked, the probe from another source served`, async (t) => {
    const readers = kind === 'slow-reader' ? count : 0;
    const result = await phase(`${kind} alone`, [[kind, count]], [ATTACKER], {
      probe: 'always',
      memoryBoundMiB: CHEAP_MIB + readers * PER_SLOW_READER_MIB,
      expectRefused: Math.max(0, count - PER_SOURCE),
    });
    t.diagnostic(result.report);
  });
}

test(`all six at once from one source, past its limit: the probe from another source is served throughout`, async (t) => {
  const plan: ReadonlyArray<readonly [Kind, number]> = [
    ['silent-tcp', 10],
    ['silent-tls', 10],
    ['slow-headers', 10],
    ['slow-body', 10],
    ['keep-alive', 10],
    ['slow-reader', 4],
  ];
  const attempts = plan.reduce((sum, [, n]) => sum + n, 0);
  const result = await phase('all kinds, one source', plan, [ATTACKER], {
    probe: 'always',
    memoryBoundMiB: CHEAP_MIB + 4 * PER_SLOW_READER_MIB,
    expectRefused: attempts - PER_SOURCE,
  });
  t.diagnostic(result.report);
});

test(`all six at once from ${1 + OTHER_ATTACKERS.length} sources, past the host's total (${HOST_TOTAL}) and the enclave's MAX_CONNECTIONS (${ENCLAVE_MAX}): both caps hold, everything is released, service returns`, async (t) => {
  const plan: ReadonlyArray<readonly [Kind, number]> = [
    ['silent-tcp', 8],
    ['silent-tls', 8],
    ['slow-headers', 8],
    ['slow-body', 8],
    ['keep-alive', 7],
    ['slow-reader', 1],
  ];
  const sources = [ATTACKER, ...OTHER_ATTACKERS];
  const result = await phase('all kinds, four sources', plan, sources, { probe: 'after', memoryBoundMiB: 2 * CHEAP_MIB + sources.length * PER_SLOW_READER_MIB });
  t.diagnostic(result.report);
  const attempts = result.attackers.length;
  assert.ok(attempts > HOST_TOTAL);
  // The host never held more than its total (two descriptors per client connection), the enclave never more than its cap.
  assert.ok(result.hostPeakFds <= result.hostBase + 2 * HOST_TOTAL + 8, `host descriptors peaked at ${result.hostPeakFds} (baseline ${result.hostBase})`);
  assert.ok(result.enclavePeakFds <= result.enclaveBase + ENCLAVE_MAX + 4, `enclave descriptors peaked at ${result.enclavePeakFds} (baseline ${result.enclaveBase})`);
  assert.ok(result.attackers.filter((a) => !a.accepted).length >= attempts - HOST_TOTAL, 'connections past the total were not refused');
});

/**
 * D3 (fixed in forward-connection.ts: ENDED_GRACE_MS after the enclave's end
 * reached the client): the host kept a tunnel whose enclave side had closed for as long as
 * the client keeps its own side open, until HOST_IDLE_TIMEOUT_MS (300 s by
 * default): the enclave's HANDSHAKE/HEADERS/REQUEST timeouts free the
 * enclave's slots in seconds, but the host's per-source and total slots only
 * at its idle timeout. A client that ignores FIN (any attacker) so holds a
 * host slot for 300 s per connection, and a few source addresses hold all of
 * HOST_MAX_CONNECTIONS for 300 s with one idle TCP connection per slot.
 */
test('once the enclave has closed silent connections that fill the host, the host frees their slots soon (not only at HOST_IDLE_TIMEOUT_MS)', async (t) => {
  // A stack of its own with the default-like long host idle timeout, so the two timeouts cannot be confused.
  const longIdle = await startStack({
    hostEnv: { LOG_LEVEL: 'info', HOST_MAX_CONNECTIONS_PER_SOURCE: String(PER_SOURCE), HOST_MAX_CONNECTIONS: String(HOST_TOTAL), HOST_IDLE_TIMEOUT_MS: '60000' },
    enclaveEnv: { LOG_LEVEL: 'info', HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_MS) },
  });
  const attackers: Socket[] = [];
  try {
    const ended: number[] = [];
    const started = Date.now();
    for (const source of [ATTACKER, OTHER_ATTACKERS[0] ?? '127.0.0.3', OTHER_ATTACKERS[1] ?? '127.0.0.4']) {
      for (let i = 0; i < PER_SOURCE; i += 1) {
        const socket = netConnect({ host: '127.0.0.1', port: longIdle.port, localAddress: source, allowHalfOpen: true });
        socket.on('error', () => undefined);
        socket.on('end', () => ended.push(Date.now() - started));
        socket.resume();
        attackers.push(socket);
      }
    }
    // The enclave closes every one of them at its handshake timeout.
    assert.ok(await waitFor(() => ended.length === attackers.length, HANDSHAKE_MS + SLACK_MS + 1_000), `only ${ended.length} of ${attackers.length} were closed by the enclave`);
    // Now nobody holds an enclave connection; a client from another source must get in.
    const bound = HANDSHAKE_MS + SLACK_MS + 3_000;
    let servedAfter = -1;
    while (Date.now() - started < bound) {
      const answer = await sendRequest(longIdle.port, { path: '/healthz', localAddress: PROBE_SOURCE, timeoutMs: 2_000 }).catch(() => undefined);
      if (answer?.status === 200) {
        servedAfter = Date.now() - started;
        break;
      }
      await sleep(200);
    }
    t.diagnostic(`enclave closed all ${attackers.length} by ${Math.max(...ended)} ms; a client from another source was served ${servedAfter < 0 ? `not within ${bound} ms` : `after ${servedAfter} ms`}`);
    assert.ok(servedAfter >= 0, `the host still refused a client from another source ${bound} ms after the attack began, ${bound - Math.max(...ended)} ms after the enclave had closed every attacker connection`);
  } finally {
    for (const socket of attackers) socket.destroy();
    await longIdle.stop();
  }
});
