// The enclave's logs and metrics reach the host while the enclave's stdout
// and stderr are closed (issue 11): the real programs, the telemetry channel
// through a recording relay. A host that stops reading costs the enclave no
// memory and no service, and the dropped lines are counted and reported. A
// canary stored through the API never appears in the telemetry stream, the
// host's log or its metrics.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { newToken, sendRequest } from '../support/https-request.js';
import { rssMiB } from '../support/process-memory.js';
import { ENCLAVE_MAIN, HOST_MAIN, startProgram, type RunningProgram } from '../support/processes.js';

let dir: string;
let host: RunningProgram;
let enclave: RunningProgram;
let relay: Server;
let hostPort: number;
let adminPort: number;
let recorded = Buffer.alloc(0);
let enclaveSide: Socket | undefined;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'http-enclave-telemetry-'));
  host = startProgram(
    HOST_MAIN,
    {
      BIND_ADDR: '127.0.0.1:0',
      ENCLAVE_ADDR: `unix://${join(dir, 'enclave.sock')}`,
      STORAGE_LISTEN: `unix://${join(dir, 'storage.sock')}`,
      STORAGE_PATH: join(dir, 'store.db'),
      EGRESS_LISTEN: 'off',
      ADMIN_LISTEN: 'tcp://127.0.0.1:0',
      TELEMETRY_LISTEN: `unix://${join(dir, 'telemetry.sock')}`,
      LOG_LEVEL: 'debug',
    },
    dir,
  );
  const listening = await host.waitForLog('host listening');
  hostPort = Number(/:(\d+)$/.exec(String(listening['ingressAddress']))?.[1]);
  adminPort = Number(/:(\d+)$/.exec(String(listening['adminAddress']))?.[1]);
  // A relay on the telemetry channel: records every byte, and can stop reading from the enclave.
  relay = createServer((fromEnclave) => {
    enclaveSide = fromEnclave;
    const toHost = createConnection(join(dir, 'telemetry.sock'));
    fromEnclave.on('data', (chunk: Buffer) => {
      recorded = Buffer.concat([recorded, chunk]);
      toHost.write(chunk);
    });
    fromEnclave.on('close', () => toHost.end());
    fromEnclave.on('error', () => toHost.destroy());
    toHost.on('error', () => fromEnclave.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(join(dir, 'relay.sock'), resolve));
  enclave = startProgram(
    ENCLAVE_MAIN,
    {
      ENCLAVE_KEY_BASE64: randomBytes(32).toString('base64'),
      ENCLAVE_LISTEN: `unix://${join(dir, 'enclave.sock')}`,
      STORAGE_ADDR: `unix://${join(dir, 'storage.sock')}`,
      TELEMETRY_ADDR: `unix://${join(dir, 'relay.sock')}`,
      TLS_CERT_PATH: join(dir, 'absent-cert.pem'),
      TLS_KEY_PATH: join(dir, 'absent-key.pem'),
      LOG_LEVEL: 'debug',
    },
    dir,
  );
  // No console: both of the enclave's output pipes are closed under it (its writes get EPIPE).
  enclave.child.stdout?.destroy();
  enclave.child.stderr?.destroy();
  const started = await host.waitForLog('enclave listening');
  assert.equal(started['from'], 'enclave', 'the enclave line arrived through telemetry');
});

after(async () => {
  await Promise.all([enclave?.stop(), host?.stop()]);
  relay?.close();
  rmSync(dir, { recursive: true, force: true });
});

function metrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: adminPort, path: '/metrics', timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 12_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const sample = (text: string, pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? NaN);

test('with its stdout closed, the enclave\'s log lines and metrics reach the host; a canary reaches neither the stream nor the host', async () => {
  const canary = `canary-${randomBytes(16).toString('hex')}`;
  const token = await newToken();
  assert.equal((await sendRequest(hostPort, { method: 'PUT', path: '/private-data/t', token, body: JSON.stringify({ canary }) })).status, 201);
  assert.equal((await sendRequest(hostPort, { path: '/private-data/t', token })).status, 200);
  await waitFor('the request line from the enclave', () => /"msg":"request".*"route":"\/private-data\/\{name\}".*"from":"enclave"/.test(host.output()));
  // The host must not learn a client's status (200 or 404) from telemetry: no status field in the lines, no status label.
  const enclaveLines = host.output().split('\n').filter((l) => l.includes('"from":"enclave"') && l.includes('"msg":"request"'));
  assert.ok(enclaveLines.length >= 1 && enclaveLines.every((l) => !l.includes('"status"')), `request lines carry no status: ${enclaveLines.find((l) => l.includes('"status"')) ?? enclaveLines.length}`);
  await waitFor('the enclave counters in /metrics', async () =>
    sample(await metrics(), /^http_enclave_enclave_requests_total\{(?=.*method="PUT")(?=.*outcome="ok").*\} (\d+)$/m) >= 1,
  ).catch(async (error: unknown) => {
    throw new Error(`${String(error)}\n${(await metrics()).split('\n').filter((line) => /enclave_enclave|telemetry/.test(line)).join('\n')}\n${host.output().split('\n').filter((line) => /telemetry/.test(line)).join('\n')}`);
  });
  assert.equal(enclave.child.exitCode, null, 'still running with its output closed');
  for (const [where, text] of [['the telemetry stream', recorded.toString('latin1')], ['the host log', host.output()], ['the metrics', await metrics()]] as const) {
    assert.equal(text.includes(canary), false, `canary in ${where}`);
    assert.equal(text.includes(token), false, `token in ${where}`);
  }
});

test("the enclave's storage requests and a blob that fails to open reach the host's metrics by kind, reason and outcome", async () => {
  const token = await newToken();
  const databasePath = join(dir, 'store.db');
  const blobKeys = (): Set<string> => {
    const db = new Database(databasePath, { readonly: true, timeout: 5_000 });
    try {
      const rows = db.prepare('SELECT owner, record FROM records WHERE blob IS NOT NULL').all() as { owner: Buffer; record: Buffer }[];
      return new Set(rows.map((row) => `${row.owner.toString('hex')}:${row.record.toString('hex')}`));
    } finally {
      db.close();
    }
  };
  const before = blobKeys();
  assert.equal((await sendRequest(hostPort, { method: 'PUT', path: '/private-data/sealed', token, body: '{"n":1}' })).status, 201);
  assert.equal((await sendRequest(hostPort, { path: '/private-data/sealed', token })).status, 200);
  // The host is the adversary: it flips the last byte (the GCM tag) of the record just written.
  const [written] = [...blobKeys()].filter((key) => !before.has(key));
  assert.ok(written !== undefined, 'the PUT stored one new blob');
  const [owner = '', record = ''] = written.split(':');
  const db = new Database(databasePath, { timeout: 5_000 });
  try {
    const row = db.prepare('SELECT blob FROM records WHERE owner = ? AND record = ?').get(Buffer.from(owner, 'hex'), Buffer.from(record, 'hex')) as { blob: Buffer };
    const flipped = Buffer.from(row.blob);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 0x01;
    db.prepare('UPDATE records SET blob = ? WHERE owner = ? AND record = ?').run(flipped, Buffer.from(owner, 'hex'), Buffer.from(record, 'hex'));
  } finally {
    db.close();
  }
  const failed = await sendRequest(hostPort, { path: '/private-data/sealed', token });
  assert.equal(failed.status, 502);
  assert.equal(failed.errorCode(), 'STORAGE_INTEGRITY');

  const expected: [string, RegExp][] = [
    ['a PUT written', /^http_enclave_enclave_storage_requests_total\{(?=.*kind="put")(?=.*outcome="written").*\} (\d+)$/m],
    ['a GET found', /^http_enclave_enclave_storage_requests_total\{(?=.*kind="get")(?=.*outcome="found").*\} (\d+)$/m],
    ['the time of GETs', /^http_enclave_enclave_storage_request_duration_seconds_sum\{kind="get"\} ([0-9.e-]+)$/m],
    ['the blob that failed to open', /^http_enclave_enclave_seal_failures_total\{reason="AUTHENTICATION_FAILED"\} (\d+)$/m],
  ];
  await waitFor('the new enclave counters in /metrics', async () => {
    const text = await metrics();
    return expected.every(([, pattern]) => sample(text, pattern) > 0);
  }).catch(async (error: unknown) => {
    const text = await metrics();
    const missing = expected.filter(([, pattern]) => !(sample(text, pattern) > 0)).map(([what]) => what);
    throw new Error(`${String(error)}: missing ${missing.join(', ')}\n${text.split('\n').filter((line) => /enclave_enclave/.test(line)).join('\n')}`);
  });
  // The log line names the check that failed, as a code; the record's pseudonyms appear nowhere.
  await waitFor('the integrity line from the enclave', () => /"msg":"storage integrity failure[^"]*".*"reason":"AUTHENTICATION_FAILED".*"from":"enclave"/.test(host.output()));
  for (const [where, text] of [['the telemetry stream', recorded.toString('latin1')], ['the host log', host.output()], ['the metrics', await metrics()]] as const) {
    assert.equal(text.includes(record), false, `record pseudonym in ${where}`);
    assert.equal(text.includes(owner), false, `owner pseudonym in ${where}`);
  }
});

test('a host that stops reading costs the enclave no memory and no service; the dropped lines are counted and reported', async () => {
  assert.ok(enclaveSide !== undefined);
  const pid = enclave.child.pid ?? 0;
  // Each request is one debug line (~250 bytes) through telemetry.
  // Keep-alive connections: the load is requests (log lines), not handshakes.
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: false });
  const get = (): Promise<number> =>
    new Promise((resolve, reject) => {
      httpsGet({ host: '127.0.0.1', port: hostPort, path: '/healthz', agent, servername: 'localhost' }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject);
    });
  const load = async (count: number): Promise<Map<number, number>> => {
    let next = 0;
    const statuses = new Map<number, number>();
    const worker = async (): Promise<void> => {
      while (next < count) {
        next += 1;
        const status = await get();
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 8 }, () => worker()));
    return statuses;
  };
  await load(4_000); // warm-up with the host reading: the heap and JIT settle
  const reading = rssMiB(pid);
  assert.deepEqual([...(await load(12_000))], [[200, 12_000]]);
  const readingGrowth = rssMiB(pid) - reading; // the same load with the host reading: the reference
  const before = rssMiB(pid);
  enclaveSide.pause();
  // 12 000 lines: far more than the queue (2 000 frames, 1 MiB) and the socket buffers hold. The bound on
  // memory itself is shown with 200 000 lines in enclave/src/telemetry/telemetry-sender.test.ts.
  assert.deepEqual([...(await load(12_000))], [[200, 12_000]], 'served throughout');
  const grown = rssMiB(pid) - before;
  process.stdout.write(`# enclave RSS grew ${readingGrowth.toFixed(1)} MiB over 12 000 requests with the host reading, ${grown.toFixed(1)} MiB over 12 000 with it not reading\n`);
  // RSS is noisy; an unbounded queue would keep every line for good. A loose guard here, the tight bound in the unit test.
  assert.ok(grown < Math.max(readingGrowth, 0) + 32, `enclave RSS grew ${grown.toFixed(1)} MiB while the host did not read (${readingGrowth.toFixed(1)} MiB while it did)`);
  agent.destroy();
  enclaveSide.resume();
  await waitFor('the dropped count at the host', async () => sample(await metrics(), /^http_enclave_host_telemetry_enclave_lines_dropped (\d+)/m) > 0);
  const dropped = sample(await metrics(), /^http_enclave_host_telemetry_enclave_lines_dropped (\d+)/m);
  assert.ok(dropped > 5_000, `${dropped} lines reported dropped`);
  await waitFor("the enclave's own count in its metrics", async () => sample(await metrics(), /^http_enclave_enclave_telemetry_lines_dropped_total (\d+)/m) >= dropped);
});

test('on SIGTERM the enclave\'s last lines ("draining", "stopped") still reach the host before it exits', async () => {
  const code = await enclave.stop();
  assert.equal(code, 0);
  await waitFor('the last line', () => /"msg":"stopped".*"from":"enclave"/.test(host.output()), 3_000);
  assert.match(host.output(), /"msg":"draining".*"from":"enclave"/);
});
