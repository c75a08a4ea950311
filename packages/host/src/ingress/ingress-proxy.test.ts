import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createConnection, createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { closeServer, closedWithin, collectingLogger, connectTcp, freePort, listenTcp, waitFor } from '../test-support.js';
import { createHostEvents } from '../observability/host-events.js';
import { subscribeHostEventLog } from '../observability/host-event-log.js';
import { startIngressProxy, type IngressProxy } from './ingress-proxy.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function proxyTo(
  upstreamPort: number,
  overrides: Partial<{ maxConnections: number; maxConnectionsPerSource: number; connectTimeoutMs: number; idleTimeoutMs: number }> = {},
): Promise<{ proxy: IngressProxy; port: number; lines: Array<Record<string, unknown>> }> {
  const { logger, lines } = collectingLogger();
  // The log lines come from the event subscriber, as in runHost.
  const events = createHostEvents();
  subscribeHostEventLog(events.instance, logger, { maxConnections: overrides.maxConnections ?? 100, maxConnectionsPerSource: overrides.maxConnectionsPerSource ?? 100 });
  const proxy = await startIngressProxy({
    listenAddress: { scheme: 'tcp', host: '127.0.0.1', port: 0 },
    enclaveAddress: { scheme: 'tcp', host: '127.0.0.1', port: upstreamPort },
    maxConnections: overrides.maxConnections ?? 100,
    maxConnectionsPerSource: overrides.maxConnectionsPerSource ?? 100,
    connectTimeoutMs: overrides.connectTimeoutMs ?? 2_000,
    idleTimeoutMs: overrides.idleTimeoutMs ?? 30_000,
    logger,
    events,
  });
  assert.equal(proxy.address.scheme, 'tcp');
  return { proxy, port: proxy.address.scheme === 'tcp' ? proxy.address.port : 0, lines };
}

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

test('bytes pass unchanged both ways (4 MiB, checksum) and the close line counts them', async () => {
  const { proxy, port, lines } = await proxyTo(echoPort);
  const payload = randomBytes(4 * 1024 * 1024);
  const client = await connectTcp(port);
  const received = readToEnd(client, 10_000);
  client.end(payload);
  const back = await received;
  assert.equal(back.length, payload.length);
  assert.equal(sha256(back), sha256(payload));
  await closedWithin(client, 2_000);
  await waitFor(() => lines.some((l) => l['msg'] === 'connection closed'), 2_000, 'close log line');
  const closeLine = lines.find((l) => l['msg'] === 'connection closed');
  assert.equal(closeLine?.['bytesFromClient'], payload.length);
  assert.equal(closeLine?.['bytesToClient'], payload.length);
  assert.equal(closeLine?.['reason'], 'closed');
  await proxy.close(1_000);
});

test('client half-close: the upstream answers after the FIN and the client gets the whole reply', async () => {
  const reply = randomBytes(1024 * 1024);
  let requestSeen = Buffer.alloc(0);
  const upstream = createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      requestSeen = Buffer.concat(chunks);
      s.end(reply);
    });
  });
  const { proxy, port } = await proxyTo(await listenTcp(upstream));
  const client = await connectTcp(port);
  const received = readToEnd(client, 10_000);
  client.end(Buffer.from('GET / HTTP/1.0\r\n\r\n'));
  const got = await received;
  assert.equal(requestSeen.toString(), 'GET / HTTP/1.0\r\n\r\n');
  assert.equal(sha256(got), sha256(reply));
  await proxy.close(1_000);
  await closeServer(upstream);
});

test('upstream half-close first: the client still sends, and the upstream gets every byte', async () => {
  const late = randomBytes(2 * 1024 * 1024);
  let upstreamGot: Buffer | undefined;
  const upstream = createServer({ allowHalfOpen: true }, (s) => {
    s.end('bye-first');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => (upstreamGot = Buffer.concat(chunks)));
  });
  const { proxy, port } = await proxyTo(await listenTcp(upstream));
  const client = await connectTcp(port);
  const fromUpstream = await readToEnd(client, 5_000);
  assert.equal(fromUpstream.toString(), 'bye-first');
  assert.equal(client.writable, true);
  client.end(late); // after the upstream's FIN arrived
  await waitFor(() => upstreamGot !== undefined, 5_000, 'upstream end');
  assert.equal(sha256(upstreamGot ?? Buffer.alloc(0)), sha256(late));
  await closedWithin(client, 2_000);
  await proxy.close(1_000);
  await closeServer(upstream);
});

test('upstream reset is passed on as a reset to the client', async () => {
  const upstream = createServer((s) => s.once('data', () => s.resetAndDestroy()));
  const { proxy, port, lines } = await proxyTo(await listenTcp(upstream));
  const client = await connectTcp(port);
  let clientError: string | undefined;
  client.on('error', (e: NodeJS.ErrnoException) => (clientError = e.code));
  client.write('x');
  await closedWithin(client, 2_000);
  await waitFor(() => client.closed, 2_000, 'client closed');
  assert.equal(clientError, 'ECONNRESET');
  await waitFor(() => lines.some((l) => l['msg'] === 'connection closed'), 2_000, 'close log line');
  assert.equal(lines.find((l) => l['msg'] === 'connection closed')?.['reason'], 'ECONNRESET');
  await proxy.close(1_000);
  await closeServer(upstream);
});

test('upstream down (refused): the client is closed at once and the warning names the code', async () => {
  const { proxy, port, lines } = await proxyTo(await freePort(), { connectTimeoutMs: 5_000 });
  const client = await connectTcp(port);
  client.on('error', () => undefined);
  const elapsed = await closedWithin(client, 1_000);
  assert.ok(elapsed < 1_000);
  const warn = lines.find((l) => l['msg'] === 'enclave connect failed; closing client connection');
  assert.equal(warn?.['code'], 'ECONNREFUSED');
  await proxy.close(1_000);
});

test('upstream silent (SYN never answered): the client is closed at the connect timeout', async (t) => {
  // A listener with backlog 0 that never accepts: once its queue holds one
  // connection, the kernel drops further SYNs and connect() hangs.
  const python = spawn('python3', ['-c', "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(0);print(s.getsockname()[1],flush=True);time.sleep(30)"]);
  const spawned = await new Promise<number | undefined>((resolve) => {
    python.once('error', () => resolve(undefined));
    python.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  if (spawned === undefined) {
    t.skip('python3 not available');
    return;
  }
  try {
    const filler = await connectTcp(spawned);
    const { proxy, port, lines } = await proxyTo(spawned, { connectTimeoutMs: 300 });
    const client = await connectTcp(port);
    client.on('error', () => undefined);
    const elapsed = await closedWithin(client, 2_000);
    assert.ok(elapsed >= 250 && elapsed < 1_500, `closed after ${elapsed} ms`);
    assert.equal(lines.find((l) => l['level'] === 'warn')?.['code'], 'TRANSPORT_CONNECT_TIMEOUT');
    filler.destroy();
    await proxy.close(1_000);
  } finally {
    python.kill('SIGKILL');
  }
});

test('max connections: the connection over the limit is closed; a slot frees up after a close', async () => {
  const { proxy, port, lines } = await proxyTo(echoPort, { maxConnections: 2 });
  const roundTrip = async (s: Socket, text: string): Promise<string> => {
    s.write(text);
    return new Promise((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
  };
  const a = await connectTcp(port);
  const b = await connectTcp(port);
  assert.equal(await roundTrip(a, 'a'), 'a');
  assert.equal(await roundTrip(b, 'b'), 'b');
  const c = await connectTcp(port);
  c.on('error', () => undefined);
  const got: Buffer[] = [];
  c.on('data', (d: Buffer) => got.push(d));
  c.write('c');
  await closedWithin(c, 2_000);
  assert.equal(Buffer.concat(got).length, 0);
  assert.equal(lines.find((l) => l['code'] === 'MAX_CONNECTIONS')?.['maxConnections'], 2);
  a.destroy();
  await waitFor(() => proxy.connectionCount === 1, 2_000, 'slot freed');
  const d = await connectTcp(port);
  assert.equal(await roundTrip(d, 'd'), 'd');
  b.destroy();
  d.destroy();
  await proxy.close(1_000);
});

test('idle timeout closes both sides of a silent connection', async () => {
  let upstreamEnded = false;
  let upstreamSocket: Socket | undefined;
  const upstream = createServer({ allowHalfOpen: true }, (s) => {
    upstreamSocket = s;
    s.on('end', () => (upstreamEnded = true)).resume();
  });
  const { proxy, port, lines } = await proxyTo(await listenTcp(upstream), { idleTimeoutMs: 300 });
  const client = await connectTcp(port);
  client.write('hello');
  const elapsed = await closedWithin(client, 3_000);
  assert.ok(elapsed >= 250, `closed after ${elapsed} ms`);
  await waitFor(() => upstreamEnded, 2_000, 'upstream side closed');
  await waitFor(() => lines.some((l) => l['msg'] === 'connection closed'), 2_000, 'close line');
  assert.equal(lines.find((l) => l['msg'] === 'connection closed')?.['reason'], 'idle');
  upstreamSocket?.destroy();
  await proxy.close(1_000);
  await closeServer(upstream);
});

test('close() drains: an open connection may finish, then the rest are destroyed at the deadline', async () => {
  const { proxy, port } = await proxyTo(echoPort);
  const client = await connectTcp(port);
  client.write('x');
  await new Promise((resolve) => client.once('data', resolve));
  const started = Date.now();
  await proxy.close(300);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 2_000, `drain took ${elapsed} ms`);
  await closedWithin(client, 1_000);
  await assert.rejects(connectTcp(port), { code: 'ECONNREFUSED' });
});

test('per-source limit (issue 9, finding 7): one address past its share is closed at accept, counted, and others still get in', async () => {
  const upstream = createServer((socket) => socket.pipe(socket));
  const upstreamPort = await listenTcp(upstream);
  const { proxy, port, lines } = await proxyTo(upstreamPort, { maxConnections: 100, maxConnectionsPerSource: 5 });
  const connectFrom = (localAddress: string): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port, localAddress });
      socket.once('error', reject).once('connect', () => resolve(socket));
    });
  const held: Socket[] = [];
  for (let index = 0; index < 5; index += 1) held.push(await connectFrom('127.0.0.1'));
  await waitFor(() => proxy.connectionCount === 5, 2_000, 'five connections from 127.0.0.1');
  // The sixth from the same address is closed at once, before any byte reaches the enclave.
  const extra = await connectFrom('127.0.0.1');
  await closedWithin(extra, 2_000);
  // Another source still gets in and is forwarded.
  const other = await connectFrom('127.0.0.2');
  other.write('ping');
  const echoed = await new Promise<string>((resolve) => other.once('data', (chunk: Buffer) => resolve(chunk.toString())));
  assert.equal(echoed, 'ping');
  const refusal = lines.find((line) => line['code'] === 'MAX_CONNECTIONS_PER_SOURCE');
  assert.ok(refusal !== undefined, 'the refusal is logged');
  assert.equal(refusal['source'], '127.0.0.1');
  // A slot freed by the source is usable again.
  held.pop()?.destroy();
  await waitFor(() => proxy.connectionCount === 5, 2_000, 'back to five');
  const again = await connectFrom('127.0.0.1');
  again.write('pong');
  assert.equal(await new Promise<string>((resolve) => again.once('data', (chunk: Buffer) => resolve(chunk.toString()))), 'pong');
  for (const socket of [...held, other, again]) socket.destroy();
  await proxy.close(100);
  await closeServer(upstream);
});
