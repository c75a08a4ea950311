// The egress forwarder with real sockets on 127.0.0.1: CONNECT tunnels (plain
// and a real TLS handshake through the tunnel), the strict head parser, the
// allow-list, refusals and their counters, backpressure and timeouts. The
// forwarder publishes refusals and tunnels as events; each test subscribes
// the real log (host-event-log.ts) and metrics (host-metrics.ts) to them.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as connectTls, createServer as createTlsServer } from 'node:tls';
import { EGRESS_CHANNEL, createHostEvents, subscribeHostChannel, type EgressEvent, type Published } from '../observability/host-events.js';
import { subscribeHostEventLog } from '../observability/host-event-log.js';
import { createHostMetrics } from '../observability/host-metrics.js';
import { closeServer, closedWithin, collectingLogger, connectTcp, freePort, listenTcp, makeTempDir, waitFor } from '../test-support.js';
import { MAX_EGRESS_WARNINGS_PER_INTERVAL } from '../observability/host-event-log.js';
import { parseEgressAllowList } from './egress-allow-list.js';
import { startEgressForwarder, type EgressForwarder, type EgressForwarderOptions } from './egress-forwarder.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Started {
  readonly forwarder: EgressForwarder;
  readonly port: number;
  /** Log lines: the forwarder's own and the event log's. */
  readonly lines: Array<Record<string, unknown>>;
  /** Egress events as published. */
  readonly events: EgressEvent[];
  /** One sample of the Prometheus text, e.g. sample('http_enclave_host_egress_refused_total{reason="not_allowed"}'); undefined when absent. */
  readonly sample: (series: string) => Promise<number | undefined>;
  /** Every (host, port) the forwarder asked to connect to, and the upstream sockets it got. */
  readonly connects: Array<readonly [string, number]>;
  readonly upstreams: Socket[];
}

type Overrides = Partial<Omit<EgressForwarderOptions, 'listenAddress' | 'allowList' | 'logger' | 'events'>> & { readonly allow?: string };

async function startForwarder(overrides: Overrides = {}): Promise<Started> {
  const { logger, lines } = collectingLogger();
  const hostEvents = createHostEvents();
  subscribeHostEventLog(hostEvents.instance, logger, { maxConnections: 1, maxConnectionsPerSource: 1 });
  const events: EgressEvent[] = [];
  subscribeHostChannel<Published<EgressEvent>>(EGRESS_CHANNEL, hostEvents.instance, ({ instance: _instance, ...event }) => void events.push(event as EgressEvent));
  const connects: Array<readonly [string, number]> = [];
  const upstreams: Socket[] = [];
  const forwarder = await startEgressForwarder({
    listenAddress: { scheme: 'tcp', host: '127.0.0.1', port: 0 },
    allowList: parseEgressAllowList(overrides.allow ?? `127.0.0.1:${echoPort}`),
    maxConnections: overrides.maxConnections ?? 16,
    connectTimeoutMs: overrides.connectTimeoutMs ?? 2_000,
    idleTimeoutMs: overrides.idleTimeoutMs ?? 30_000,
    ...(overrides.maxHeaderBytes === undefined ? {} : { maxHeaderBytes: overrides.maxHeaderBytes }),
    ...(overrides.headTimeoutMs === undefined ? {} : { headTimeoutMs: overrides.headTimeoutMs }),
    logger,
    events: hostEvents,
    connect: (host, port) => {
      connects.push([host, port]);
      const socket = overrides.connect?.(host, port) ?? connect({ host, port, allowHalfOpen: true, noDelay: true });
      upstreams.push(socket);
      return socket;
    },
  });
  assert.equal(forwarder.address.scheme, 'tcp');
  const metrics = createHostMetrics(hostEvents.instance, { openConnections: () => 0, storageEventsDropped: () => 0, egressStats: () => forwarder.stats() });
  const sample = async (series: string): Promise<number | undefined> => {
    const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  return { forwarder, port: forwarder.address.scheme === 'tcp' ? forwarder.address.port : 0, lines, events, sample, connects, upstreams };
}

/** Reads the reply head (up to CRLF CRLF); bytes after it are put back on the socket. */
function readReplyHead(socket: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error(`no reply head within ${timeoutMs} ms`)), timeoutMs);
    const done = (error: Error | undefined, head?: string): void => {
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('error', onEnd);
      socket.pause();
      if (error !== undefined) reject(error);
      else resolve(head ?? '');
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const rest = buffered.subarray(end + 4);
      done(undefined, buffered.subarray(0, end + 4).toString('latin1'));
      if (rest.length > 0) socket.unshift(rest);
    };
    const onEnd = (): void => done(new Error(`connection ended before a reply head (${buffered.length} bytes)`));
    socket.on('data', onData).once('end', onEnd).once('error', onEnd);
    socket.resume();
  });
}

/** Connects, sends `request` and returns the socket with the reply head read. */
async function sendHead(port: number, request: string | Buffer): Promise<{ socket: Socket; reply: string }> {
  const socket = await connectTcp(port);
  socket.on('error', () => undefined);
  socket.write(request);
  const reply = await readReplyHead(socket, 5_000);
  return { socket, reply };
}

const connectRequest = (target: string): string => `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`;

/** Reads everything until the peer's FIN. */
function readToEnd(socket: Socket, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error(`no end within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.once('error', reject);
    socket.resume();
  });
}

// Echo upstream: returns every byte, half-closes after the client's FIN.
const echo = createServer({ allowHalfOpen: true }, (s) => {
  s.on('error', () => undefined);
  s.pipe(s);
});
let echoPort = 0;
before(async () => {
  echoPort = await listenTcp(echo);
});
after(() => closeServer(echo));

test('allowed CONNECT: 200, bytes pipelined after the head go first, 2 MiB both ways, client half-close ends the tunnel', async () => {
  const { forwarder, port, connects, lines, events, sample } = await startForwarder();
  const socket = await connectTcp(port);
  socket.write(Buffer.concat([Buffer.from(connectRequest(`127.0.0.1:${echoPort}`)), Buffer.from('early-bytes|')]));
  assert.equal(await readReplyHead(socket, 5_000), 'HTTP/1.1 200 Connection Established\r\n\r\n');
  const payload = randomBytes(2 * 1024 * 1024);
  const received = readToEnd(socket, 10_000);
  socket.end(payload);
  const back = await received;
  assert.equal(back.subarray(0, 12).toString(), 'early-bytes|');
  assert.equal(sha256(back.subarray(12)), sha256(payload));
  await closedWithin(socket, 2_000);
  assert.deepEqual(connects, [['127.0.0.1', echoPort]]);
  await waitFor(() => forwarder.stats().active === 0, 2_000, 'connection closed');
  const stats = forwarder.stats();
  assert.equal(stats.accepted, 1);
  assert.equal(stats.forwarded, 1);
  assert.ok(Object.values(stats.refused).every((n) => n === 0));
  await waitFor(() => lines.some((l) => l['msg'] === 'egress connection closed'), 2_000, 'close line');
  const closeLine = lines.find((l) => l['msg'] === 'egress connection closed');
  assert.equal(closeLine?.['reason'], 'closed');
  assert.equal(closeLine?.['bytesToEnclave'], 12 + payload.length);
  const destination = `127.0.0.1:${echoPort}`;
  assert.deepEqual(events[0], { event: 'opened', connection: 1, destination });
  const closed = events[1];
  assert.ok(closed?.event === 'closed', JSON.stringify(closed));
  assert.deepEqual([closed.connection, closed.destination, closed.bytesToEnclave, closed.reason], [1, destination, 12 + payload.length, 'closed']);
  assert.ok(closed.bytesFromEnclave >= 12 + payload.length, `bytesFromEnclave ${closed.bytesFromEnclave}`);
  assert.equal(events.length, 2);
  assert.equal(await sample('http_enclave_host_egress_connections_forwarded_total'), 1);
  assert.equal(await sample('http_enclave_host_egress_bytes_total{direction="to_enclave"}'), 12 + payload.length);
  assert.equal(await sample('http_enclave_host_egress_refused_total{reason="not_allowed"}'), 0);
  await forwarder.close(1_000);
});

test('a real TLS handshake through the tunnel (self-signed P-256 certificate), and no tunnelled byte in any log line', async (t) => {
  const dir = makeTempDir();
  const generated = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
    { stdio: 'ignore' },
  );
  if (generated.error !== undefined || generated.status !== 0) {
    t.skip('openssl not available');
    return;
  }
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  const tlsEcho = createTlsServer({ cert, key }, (s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  const tlsPort = await listenTcp(tlsEcho);
  const { forwarder, port, lines } = await startForwarder({ allow: `127.0.0.1:${tlsPort}` });
  const { socket } = await sendHead(port, connectRequest(`127.0.0.1:${tlsPort}`));
  const tls = connectTls({ socket, servername: 'localhost', ca: cert });
  await new Promise<void>((resolve, reject) => tls.once('secureConnect', resolve).once('error', reject));
  assert.equal(tls.authorized, true);
  const canary = `canary-${randomBytes(8).toString('hex')}`;
  const echoed = new Promise<string>((resolve) => tls.once('data', (d: Buffer) => resolve(d.toString())));
  tls.write(canary);
  assert.equal(await echoed, canary);
  tls.end();
  await closedWithin(tls, 2_000);
  await waitFor(() => forwarder.stats().active === 0, 2_000, 'connection closed');
  assert.ok(!JSON.stringify(lines).includes(canary));
  assert.equal(forwarder.stats().forwarded, 1);
  await forwarder.close(1_000);
  await closeServer(tlsEcho);
});

test('upstream half-closes first: the enclave still sends, and the upstream gets every byte', async () => {
  const late = randomBytes(1024 * 1024);
  let upstreamGot: Buffer | undefined;
  const upstream = createServer({ allowHalfOpen: true }, (s) => {
    s.end('bye-first');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => (upstreamGot = Buffer.concat(chunks)));
  });
  const upstreamPort = await listenTcp(upstream);
  const { forwarder, port } = await startForwarder({ allow: `127.0.0.1:${upstreamPort}` });
  const { socket } = await sendHead(port, connectRequest(`127.0.0.1:${upstreamPort}`));
  assert.equal((await readToEnd(socket, 5_000)).toString(), 'bye-first');
  assert.equal(socket.writable, true);
  socket.end(late);
  await waitFor(() => upstreamGot !== undefined, 5_000, 'upstream end');
  assert.equal(sha256(upstreamGot ?? Buffer.alloc(0)), sha256(late));
  await closedWithin(socket, 2_000);
  await forwarder.close(1_000);
  await closeServer(upstream);
});

test('a name is checked normalised and connected by name; the default connector resolves it', async () => {
  const hooked = await startForwarder({ allow: 'kms.us-east-1.amazonaws.com:443', connect: () => connect({ host: '127.0.0.1', port: echoPort, allowHalfOpen: true }) });
  const { socket, reply } = await sendHead(hooked.port, connectRequest('KMS.us-east-1.AmazonAWS.com.:443'));
  assert.match(reply, /^HTTP\/1\.1 200 /);
  assert.deepEqual(hooked.connects, [['kms.us-east-1.amazonaws.com', 443]]);
  socket.destroy();
  await hooked.forwarder.close(500);

  // No hook: net.connect resolves "localhost" itself.
  const { logger } = collectingLogger();
  const forwarder = await startEgressForwarder({
    events: createHostEvents(),
    listenAddress: { scheme: 'tcp', host: '127.0.0.1', port: 0 },
    allowList: parseEgressAllowList(`localhost:${echoPort}`),
    maxConnections: 4,
    connectTimeoutMs: 2_000,
    idleTimeoutMs: 5_000,
    logger,
  });
  const port = forwarder.address.scheme === 'tcp' ? forwarder.address.port : 0;
  const tunnel = await sendHead(port, connectRequest(`localhost:${echoPort}`));
  assert.match(tunnel.reply, /^HTTP\/1\.1 200 /);
  const back = readToEnd(tunnel.socket, 5_000);
  tunnel.socket.end('by-name');
  assert.equal((await back).toString(), 'by-name');
  await forwarder.close(500);
});

test('a destination not allowed gets 403, is counted, and the warning holds the destination only', async () => {
  const { forwarder, port, lines, connects, events, sample } = await startForwarder();
  const canary = `canary-${randomBytes(8).toString('hex')}`;
  const { socket, reply } = await sendHead(
    port,
    `CONNECT Evil.Example.com:443 HTTP/1.1\r\nHost: evil.example.com:443\r\nProxy-Authorization: Basic ${canary}\r\n\r\n${canary}`,
  );
  assert.equal(reply, 'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  await closedWithin(socket, 2_000);
  assert.deepEqual(connects, []);
  assert.equal(forwarder.stats().refused.not_allowed, 1);
  assert.equal(forwarder.stats().forwarded, 0);
  const warnings = lines.filter((l) => l['level'] === 'warn');
  assert.equal(warnings.length, 1);
  assert.deepEqual(Object.keys(warnings[0] ?? {}).sort(), ['code', 'destination', 'level', 'msg', 'program', 'refusedTotal', 'time']);
  assert.equal(warnings[0]?.['code'], 'EGRESS_NOT_ALLOWED');
  assert.equal(warnings[0]?.['refusedTotal'], 1);
  assert.equal(warnings[0]?.['destination'], 'evil.example.com:443');
  assert.ok(!JSON.stringify(lines).includes(canary));
  assert.deepEqual(events, [{ event: 'refused', connection: 1, reason: 'not_allowed', destination: 'evil.example.com:443' }]);
  assert.equal(await sample('http_enclave_host_egress_refused_total{reason="not_allowed"}'), 1);
  assert.equal(await sample('http_enclave_host_egress_connections_forwarded_total'), 0);
  await forwarder.close(500);
});

test('malformed heads get 400 or 405, are counted by reason, and never reach an upstream', async () => {
  const target = `127.0.0.1:${echoPort}`;
  const cases: Array<[string, string, 'bad_request' | 'method_not_allowed']> = [
    [`GET / HTTP/1.1\r\nHost: ${target}\r\n\r\n`, '405 Method Not Allowed', 'method_not_allowed'],
    [`connect ${target} HTTP/1.1\r\n\r\n`, '405 Method Not Allowed', 'method_not_allowed'],
    ['CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n', '400 Bad Request', 'bad_request'],
    ['CONNECT 127.0.0.1: HTTP/1.1\r\n\r\n', '400 Bad Request', 'bad_request'],
    ['CONNECT 127.0.0.1:0 HTTP/1.1\r\n\r\n', '400 Bad Request', 'bad_request'],
    ['CONNECT 127.0.0.1:70000 HTTP/1.1\r\n\r\n', '400 Bad Request', 'bad_request'],
    [`CONNECT 127.0.0.1:0${echoPort} HTTP/1.1\r\n\r\n`, '400 Bad Request', 'bad_request'],
    ['CONNECT * HTTP/1.1\r\n\r\n', '400 Bad Request', 'bad_request'],
    ['CONNECT *:443 HTTP/1.1\r\n\r\n', '400 Bad Request', 'bad_request'],
    ['CONNECT / HTTP/1.1\r\n\r\n', '400 Bad Request', 'bad_request'],
    [`CONNECT http://${target}/ HTTP/1.1\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT user@${target} HTTP/1.1\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT ${target} HTTP/2.0\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT ${target} HTTP/1.1 extra\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT  ${target} HTTP/1.1\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`\r\nCONNECT ${target} HTTP/1.1\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT ${target} HTTP/1.1\r\nHost: a\nX: b\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT ${target} HTTP/1.1\r\nX: a\r\n folded\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT ${target} HTTP/1.1\r\nNo colon\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT ${target} HTTP/1.1\r\nX: a\0b\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT [::1:${echoPort} HTTP/1.1\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT [fe80::1%25eth0]:${echoPort} HTTP/1.1\r\n\r\n`, '400 Bad Request', 'bad_request'],
    [`CONNECT 127.1:${echoPort} HTTP/1.1\r\n\r\n`, '400 Bad Request', 'bad_request'],
  ];
  const { forwarder, port, connects, lines, sample } = await startForwarder();
  for (const [request, status, reason] of cases) {
    const { socket, reply } = await sendHead(port, request);
    assert.ok(reply.startsWith(`HTTP/1.1 ${status}\r\n`), `${JSON.stringify(request)} got ${JSON.stringify(reply)}`);
    if (reason === 'method_not_allowed') assert.match(reply, /\r\nAllow: CONNECT\r\n/);
    await closedWithin(socket, 2_000);
    socket.destroy(); // else the forwarder lingers on it (REFUSAL_LINGER_MS) and it counts against maxConnections
  }
  const { refused } = forwarder.stats();
  assert.equal(refused.method_not_allowed, 2);
  assert.equal(refused.bad_request, cases.length - 2);
  assert.deepEqual(connects, []);
  // The metric counts every refusal; the log stops at its budget (a looping enclave cannot flood it).
  assert.equal(await sample('http_enclave_host_egress_refused_total{reason="bad_request"}'), cases.length - 2);
  assert.equal(await sample('http_enclave_host_egress_refused_total{reason="method_not_allowed"}'), 2);
  assert.ok(cases.length > MAX_EGRESS_WARNINGS_PER_INTERVAL);
  const warnings = lines.filter((l) => l['level'] === 'warn');
  assert.equal(warnings.length, MAX_EGRESS_WARNINGS_PER_INTERVAL);
  assert.deepEqual(warnings.slice(0, 2).map((l) => [l['msg'], l['code'], l['refusedTotal']]), [
    ['egress request refused', 'EGRESS_METHOD_NOT_ALLOWED', 1],
    ['egress request refused', 'EGRESS_METHOD_NOT_ALLOWED', 2],
  ]);
  assert.deepEqual(warnings[2]?.['code'], 'EGRESS_BAD_REQUEST');
  await forwarder.close(500);
});

test('the head may arrive in many small chunks; a head of exactly maxHeaderBytes passes, one byte more is refused', async () => {
  const { forwarder, port } = await startForwarder({ maxHeaderBytes: 256 });
  const base = `CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nX-Pad: `;
  const exact = `${base}${'a'.repeat(256 - base.length - 4)}\r\n\r\n`;
  assert.equal(exact.length, 256);

  const trickled = await connectTcp(port);
  const replied = readReplyHead(trickled, 10_000);
  for (let i = 0; i < exact.length; i += 16) {
    trickled.write(exact.slice(i, i + 16));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.match(await replied, /^HTTP\/1\.1 200 /);
  trickled.destroy();

  const over = `${base}${'a'.repeat(256 - base.length - 3)}\r\n\r\n`;
  const { socket, reply } = await sendHead(port, over);
  assert.match(reply, /^HTTP\/1\.1 400 /);
  await closedWithin(socket, 2_000);
  // Far over the limit, with no end of head at all.
  const { socket: flood, reply: floodReply } = await sendHead(port, Buffer.alloc(64 * 1024, 0x41));
  assert.match(floodReply, /^HTTP\/1\.1 400 /);
  await closedWithin(flood, 2_000);
  assert.equal(forwarder.stats().refused.head_too_large, 2);
  await forwarder.close(500);
});

test('a head trickled past the head timeout gets 408; a connection closed before its head gets nothing', async () => {
  const { forwarder, port, events, lines, sample } = await startForwarder({ headTimeoutMs: 300 });
  const slow = await connectTcp(port);
  slow.on('error', () => undefined);
  const started = Date.now();
  let repliedAt: number | undefined;
  const replied = readReplyHead(slow, 5_000).finally(() => (repliedAt = Date.now()));
  const request = connectRequest(`127.0.0.1:${echoPort}`);
  // One byte every 50 ms: the timeout is total, so the trickle cannot extend it. Bounded by the request length and 2 s.
  for (let i = 0; i < request.length - 1 && repliedAt === undefined && Date.now() - started < 2_000; i += 1) {
    slow.write(request[i] ?? '');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const reply = await replied;
  const elapsed = (repliedAt ?? Date.now()) - started;
  assert.match(reply, /^HTTP\/1\.1 408 /);
  assert.ok(elapsed >= 250 && elapsed < 1_500, `408 after ${elapsed} ms`);
  await closedWithin(slow, 2_000);

  const quitter = await connectTcp(port);
  const got: Buffer[] = [];
  quitter.on('data', (d: Buffer) => got.push(d));
  quitter.end('CONNECT 127.0.0.1:');
  await closedWithin(quitter, 2_000);
  await waitFor(() => forwarder.stats().refused.head_incomplete === 1, 2_000, 'head_incomplete counted');
  assert.equal(Buffer.concat(got).length, 0);
  assert.equal(forwarder.stats().refused.head_timeout, 1);
  assert.deepEqual(events, [
    { event: 'refused', connection: 1, reason: 'head_timeout' },
    { event: 'refused', connection: 2, reason: 'head_incomplete' },
  ]);
  assert.equal(await sample('http_enclave_host_egress_refused_total{reason="head_timeout"}'), 1);
  assert.equal(await sample('http_enclave_host_egress_refused_total{reason="head_incomplete"}'), 1);
  // The enclave that left before asking is counted, not warned about.
  assert.deepEqual(lines.filter((l) => l['level'] === 'warn').map((l) => l['code']), ['EGRESS_HEAD_TIMEOUT']);
  await forwarder.close(500);
});

test('connection cap: the connection over the limit gets 503 and is counted; a slot frees up after a close', async () => {
  const { forwarder, port, lines, sample } = await startForwarder({ maxConnections: 2 });
  const a = await sendHead(port, connectRequest(`127.0.0.1:${echoPort}`));
  const b = await sendHead(port, connectRequest(`127.0.0.1:${echoPort}`));
  assert.match(a.reply, /^HTTP\/1\.1 200 /);
  assert.match(b.reply, /^HTTP\/1\.1 200 /);
  const c = await sendHead(port, connectRequest(`127.0.0.1:${echoPort}`));
  assert.match(c.reply, /^HTTP\/1\.1 503 /);
  await closedWithin(c.socket, 2_000);
  assert.equal(forwarder.stats().refused.over_capacity, 1);
  assert.equal(await sample('http_enclave_host_egress_refused_total{reason="over_capacity"}'), 1);
  const warning = lines.find((l) => l['code'] === 'EGRESS_MAX_CONNECTIONS');
  assert.equal(warning?.['msg'], 'egress connection limit reached; answering 503');
  assert.equal(warning?.['maxConnections'], 2);
  a.socket.destroy();
  await waitFor(() => forwarder.stats().active === 1, 2_000, 'slot freed');
  const d = await sendHead(port, connectRequest(`127.0.0.1:${echoPort}`));
  assert.match(d.reply, /^HTTP\/1\.1 200 /);
  b.socket.destroy();
  d.socket.destroy();
  assert.equal(forwarder.stats().forwarded, 3);
  assert.equal(await sample('http_enclave_host_egress_connections_forwarded_total'), 3);
  await forwarder.close(500);
});

test('upstream refuses: 502, counted, the warning names the errno and the destination', async () => {
  const deadPort = await freePort();
  const { forwarder, port, lines, events, sample } = await startForwarder({ allow: `127.0.0.1:${deadPort}` });
  const { socket, reply } = await sendHead(port, connectRequest(`127.0.0.1:${deadPort}`));
  assert.match(reply, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  await closedWithin(socket, 2_000);
  assert.equal(forwarder.stats().refused.upstream_failed, 1);
  const warning = lines.find((l) => l['msg'] === 'egress upstream connect failed');
  assert.equal(warning?.['code'], 'EGRESS_UPSTREAM_FAILED');
  assert.equal(warning?.['reason'], 'ECONNREFUSED');
  assert.equal(warning?.['destination'], `127.0.0.1:${deadPort}`);
  assert.deepEqual(events, [{ event: 'refused', connection: 1, reason: 'upstream_failed', destination: `127.0.0.1:${deadPort}`, cause: 'ECONNREFUSED' }]);
  assert.equal(await sample('http_enclave_host_egress_refused_total{reason="upstream_failed"}'), 1);
  await forwarder.close(500);
});

test('upstream never answers: 504 at the connect timeout, counted, and the pending upstream is destroyed', async () => {
  const { forwarder, port, upstreams, events, lines, sample } = await startForwarder({
    allow: 'kms.us-east-1.amazonaws.com:443',
    connectTimeoutMs: 300,
    connect: () => new Socket({ allowHalfOpen: true }), // never connects
  });
  const started = Date.now();
  const { socket, reply } = await sendHead(port, connectRequest('kms.us-east-1.amazonaws.com:443'));
  const elapsed = Date.now() - started;
  assert.match(reply, /^HTTP\/1\.1 504 Gateway Timeout\r\n/);
  assert.ok(elapsed >= 250 && elapsed < 1_500, `504 after ${elapsed} ms`);
  await closedWithin(socket, 2_000);
  assert.equal(forwarder.stats().refused.upstream_timeout, 1);
  assert.equal(upstreams[0]?.destroyed, true);
  assert.deepEqual(events, [{ event: 'refused', connection: 1, reason: 'upstream_timeout', destination: 'kms.us-east-1.amazonaws.com:443', limit: 300 }]);
  assert.equal(await sample('http_enclave_host_egress_refused_total{reason="upstream_timeout"}'), 1);
  const warning = lines.find((l) => l['code'] === 'EGRESS_CONNECT_TIMEOUT');
  assert.equal(warning?.['destination'], 'kms.us-east-1.amazonaws.com:443');
  assert.equal(warning?.['connectTimeoutMs'], 300);
  await forwarder.close(500);
});

test('the enclave leaves while the upstream is connecting: the pending upstream is destroyed, nothing is counted as forwarded', async () => {
  const { forwarder, port, upstreams } = await startForwarder({
    allow: 'kms.us-east-1.amazonaws.com:443',
    connectTimeoutMs: 5_000,
    connect: () => new Socket({ allowHalfOpen: true }), // never connects
  });
  const socket = await connectTcp(port);
  socket.write(connectRequest('kms.us-east-1.amazonaws.com:443'));
  await waitFor(() => upstreams.length === 1, 2_000, 'upstream connect started');
  socket.resetAndDestroy();
  await waitFor(() => upstreams[0]?.destroyed === true && forwarder.stats().active === 0, 2_000, 'upstream destroyed');
  assert.equal(forwarder.stats().forwarded, 0);
  await forwarder.close(500);
});

const CHUNK_BYTES = 1024 * 1024;
/** The most we write; the sender must stall long before (a few MiB of kernel buffers). */
const STREAM_BYTES = 128 * 1024 * 1024;
/** What the forwarder may hold in one socket's user-space buffer: a 16 KiB high-water mark plus one 64 KiB read. */
const MAX_FORWARDER_BUFFER_BYTES = 256 * 1024;
const MAX_RSS_GROWTH_BYTES = 48 * 1024 * 1024;

/** Writes up to `total` bytes with backpressure; `progress.sent` counts what the socket took. */
function streamInto(socket: Socket, total: number, progress: { sent: number }): void {
  const chunk = Buffer.alloc(CHUNK_BYTES, 0x5a);
  socket.on('error', () => undefined);
  const writeMore = (): void => {
    while (progress.sent < total && !socket.destroyed) {
      progress.sent += CHUNK_BYTES;
      if (!socket.write(chunk)) {
        socket.once('drain', writeMore);
        return;
      }
    }
    socket.end();
  };
  writeMore();
}

/** Waits until `progress.sent` stops moving for quietMs. */
async function waitForStall(progress: { sent: number }, quietMs: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    if (progress.sent !== last) {
      last = progress.sent;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sender never stalled (sent ${progress.sent} bytes)`);
}

for (const direction of ['enclave to a non-reading upstream', 'upstream to a non-reading enclave'] as const) {
  test(`backpressure, ${direction}: the sender stalls and the forwarder buffers a bounded amount`, { timeout: 60_000 }, async () => {
    const progress = { sent: 0 };
    let upstreamSide: Socket | undefined;
    const upstream = createServer({ allowHalfOpen: true }, (s) => {
      upstreamSide = s;
      s.on('error', () => undefined);
      if (direction === 'upstream to a non-reading enclave') streamInto(s, STREAM_BYTES, progress);
      else s.pause();
    });
    const upstreamPort = await listenTcp(upstream);
    const { forwarder, port, upstreams } = await startForwarder({ allow: `127.0.0.1:${upstreamPort}` });
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    const { socket } = await sendHead(port, connectRequest(`127.0.0.1:${upstreamPort}`));
    if (direction === 'enclave to a non-reading upstream') streamInto(socket, STREAM_BYTES, progress);
    else socket.pause();
    await waitFor(() => progress.sent > 0, 5_000, 'first bytes');
    await waitForStall(progress, 500, 20_000);
    const forwarderUpstream = upstreams[0];
    assert.ok(forwarderUpstream !== undefined);
    assert.ok(progress.sent < STREAM_BYTES / 2, `sender was not stalled: ${progress.sent} bytes`);
    // The forwarder's own socket towards the upstream: what it holds to write, and what it read but could not pass on.
    assert.ok(forwarderUpstream.writableLength <= MAX_FORWARDER_BUFFER_BYTES, `upstream writableLength ${forwarderUpstream.writableLength}`);
    assert.ok(forwarderUpstream.readableLength <= MAX_FORWARDER_BUFFER_BYTES, `upstream readableLength ${forwarderUpstream.readableLength}`);
    const growth = process.memoryUsage().rss - baseline;
    assert.ok(growth < MAX_RSS_GROWTH_BYTES, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
    // The reader reads now: every byte arrives and the stream ends.
    const reader = direction === 'enclave to a non-reading upstream' ? upstreamSide : socket;
    assert.ok(reader !== undefined);
    const received = await new Promise<number>((resolve, reject) => {
      let count = 0;
      const timer = setTimeout(() => reject(new Error(`only ${count} bytes`)), 30_000);
      reader.on('data', (c: Buffer) => (count += c.length));
      reader.once('end', () => {
        clearTimeout(timer);
        resolve(count);
      });
      reader.resume();
    });
    assert.equal(received, STREAM_BYTES);
    socket.destroy();
    upstreamSide?.destroy();
    await forwarder.close(500);
    await closeServer(upstream);
  });
}

test('idle timeout closes both sides of a silent tunnel', async () => {
  let upstreamEnded = false;
  const upstream = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.on('end', () => (upstreamEnded = true)).resume();
  });
  const upstreamPort = await listenTcp(upstream);
  const { forwarder, port, lines } = await startForwarder({ allow: `127.0.0.1:${upstreamPort}`, idleTimeoutMs: 300 });
  const { socket } = await sendHead(port, connectRequest(`127.0.0.1:${upstreamPort}`));
  const started = Date.now();
  socket.write('hello');
  await closedWithin(socket, 3_000);
  assert.ok(Date.now() - started >= 250, `closed after ${Date.now() - started} ms`);
  await waitFor(() => upstreamEnded, 2_000, 'upstream side closed');
  await waitFor(() => lines.some((l) => l['msg'] === 'egress connection closed'), 2_000, 'close line');
  assert.equal(lines.find((l) => l['msg'] === 'egress connection closed')?.['reason'], 'idle');
  await forwarder.close(500);
  await closeServer(upstream);
});

test('close() stops accepting and destroys open tunnels at the drain deadline', async () => {
  const { forwarder, port } = await startForwarder();
  const { socket } = await sendHead(port, connectRequest(`127.0.0.1:${echoPort}`));
  const started = Date.now();
  await forwarder.close(300);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 2_000, `drain took ${elapsed} ms`);
  await closedWithin(socket, 1_000);
  await assert.rejects(connectTcp(port), { code: 'ECONNREFUSED' });
  assert.equal(forwarder.stats().active, 0);
});
