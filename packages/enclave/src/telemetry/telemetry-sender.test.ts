// The telemetry sender against a real socket whose reader stops reading:
// the queue stays within its bounds, what does not fit is dropped and
// counted, memory does not follow the number of lines, and once the reader
// reads again the frames and the count of dropped lines arrive.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { TelemetryFrameReader, type TelemetryFrame } from '@http-enclave/protocol';
import { telemetryLogFrame } from './enclave-telemetry.js';
import { MAX_QUEUED_BYTES, MAX_QUEUED_FRAMES, TelemetrySender } from './telemetry-sender.js';

const dir = mkdtempSync(join(tmpdir(), 'telemetry-sender-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const waitFor = async (what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

test('a reader that stops reading costs dropped lines, never memory; when it reads again, the lines and the dropped count arrive', async () => {
  const path = join(dir, 'telemetry.sock');
  let peer: Socket | undefined;
  const received: TelemetryFrame[] = [];
  const reader = new TelemetryFrameReader();
  const server = createServer((socket) => {
    peer = socket;
    socket.pause(); // the host stops reading
    socket.on('data', (chunk: Buffer) => received.push(...reader.push(chunk)));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const sender = new TelemetrySender({ address: { scheme: 'unix', path } });
  sender.start();
  try {
    await waitFor('the connection', () => peer !== undefined);
    const heapBefore = process.memoryUsage().heapUsed;
    const lines = 200_000;
    const fields = { code: 'STORAGE_UNAVAILABLE', route: '/private-data/{name}', status: 503, ms: 12.5 };
    for (let index = 0; index < lines; index += 1) {
      sender.send(telemetryLogFrame(new Date().toISOString(), 'warn', 'request', fields));
      if (index % 20_000 === 0) await new Promise((resolve) => setImmediate(resolve)); // let the socket write what it can
    }
    assert.ok(sender.queuedFrames <= MAX_QUEUED_FRAMES, `${sender.queuedFrames} frames queued`);
    assert.ok(sender.droppedLines > lines / 2, `${sender.droppedLines} of ${lines} lines dropped`);
    const grownMiB = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    // 200 000 lines of ~190 bytes would be ~36 MiB if kept; the queue holds at most 1 MiB of them.
    assert.ok(grownMiB < 12, `heap grew ${grownMiB.toFixed(1)} MiB`);
    assert.ok(MAX_QUEUED_BYTES <= 1024 * 1024);

    peer?.resume(); // reading again
    await waitFor('the queue to drain', () => sender.queuedFrames === 0);
    sender.send({ kind: 'metrics', counters: [{ name: 'requests_total', labels: { route: '/healthz', method: 'GET', status: '200' }, value: 1 }] });
    const delivered = (): number => received.filter((frame) => frame.kind === 'log').length;
    await waitFor('every line delivered or counted, then the metrics frame', () => delivered() + sender.droppedLines === lines && received.some((frame) => frame.kind === 'metrics'), 10_000).catch((error: unknown) => {
      throw new Error(`${String(error)}: delivered ${delivered()}, dropped ${sender.droppedLines}, queued ${sender.queuedFrames}, frames ${received.length}`);
    });
    const dropped = received.filter((frame) => frame.kind === 'dropped').at(-1);
    assert.ok(dropped?.kind === 'dropped' && dropped.lines === sender.droppedLines, 'the count reaches the reader');
  } finally {
    await sender.close();
    server.close();
  }
});

test('no listener yet: frames wait (bounded) and go out once the host listens', async () => {
  const path = join(dir, 'late.sock');
  const sender = new TelemetrySender({ address: { scheme: 'unix', path } });
  sender.start();
  sender.send(telemetryLogFrame('2026-12-02T00:00:00.000Z', 'info', 'enclave listening', { address: 'vsock://any:5005', token: 'never-sent' }));
  const received: TelemetryFrame[] = [];
  const reader = new TelemetryFrameReader();
  const server = createServer((socket) => socket.on('data', (chunk: Buffer) => received.push(...reader.push(chunk))));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    await waitFor('the queued line', () => received.length > 0, 8_000);
    assert.deepEqual(received[0], {
      kind: 'log',
      time: '2026-12-02T00:00:00.000Z',
      level: 'info',
      msg: 'enclave listening',
      fields: { address: 'vsock://any:5005', fieldsLeftOut: 1 },
    });
  } finally {
    await sender.close();
    server.close();
  }
});
