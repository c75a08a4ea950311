// Backpressure through the real host program (main.js as a child process):
// a peer that does not read must stall the sender, not grow the proxy's memory (K4).

import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { closeServer, connectTcp, listenTcp, makeTempDir, readRssBytes, startHostChild, waitFor } from '../test-support.js';

const STREAM_BYTES = 256 * 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;
/** Pass criterion from the brief: the proxy's RSS may grow by less than this while a peer stalls. */
const MAX_RSS_GROWTH_BYTES = 64 * 1024 * 1024;

/** Writes `total` bytes with backpressure; `progress.sent` counts what the kernel took. */
function streamInto(socket: Socket, total: number, progress: { sent: number }): Promise<void> {
  const chunk = Buffer.alloc(CHUNK_BYTES, 0x5a);
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    const writeMore = (): void => {
      while (progress.sent < total) {
        progress.sent += CHUNK_BYTES;
        if (!socket.write(chunk)) {
          socket.once('drain', writeMore);
          return;
        }
      }
      socket.end(resolve);
    };
    writeMore();
  });
}

/** Waits until `progress.sent` stops moving for quietMs (the sender is stalled by backpressure). */
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

function countUntilEnd(socket: Socket, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let count = 0;
    const timer = setTimeout(() => reject(new Error(`only ${count} bytes after ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (c: Buffer) => (count += c.length));
    socket.once('end', () => {
      clearTimeout(timer);
      resolve(count);
    });
    socket.resume();
  });
}

for (const direction of ['download to a non-reading client', 'upload to a non-reading enclave'] as const) {
  test(`backpressure, ${direction}: 256 MiB, proxy RSS growth < 64 MiB, all bytes arrive after the stall`, { timeout: 60_000 }, async (t) => {
    const progress = { sent: 0 };
    let upstreamSocket: Socket | undefined;
    const upstream = createServer({ allowHalfOpen: true }, (s) => {
      upstreamSocket = s;
      if (direction === 'download to a non-reading client') void streamInto(s, STREAM_BYTES, progress);
      else s.pause();
    });
    const upstreamPort = await listenTcp(upstream);
    const dir = makeTempDir();
    const host = await startHostChild(
      {
        BIND_ADDR: '127.0.0.1:0',
        ENCLAVE_ADDR: `tcp://127.0.0.1:${upstreamPort}`,
        STORAGE_LISTEN: 'tcp://127.0.0.1:0',
        EGRESS_LISTEN: 'tcp://127.0.0.1:0',
        STORAGE_PATH: join(dir, 'db.sqlite'),
        HOST_DRAIN_TIMEOUT_MS: '2000',
        LOG_LEVEL: 'info', // the "host listening" line is info
      },
      10_000,
    );
    try {
      const pid = host.child.pid ?? 0;
      const baseline = await readRssBytes(pid);
      const client = await connectTcp(host.ingressPort);
      client.pause();
      let sending: Promise<void> | undefined;
      if (direction === 'upload to a non-reading enclave') sending = streamInto(client, STREAM_BYTES, progress);
      await waitFor(() => progress.sent > 0, 5_000, 'first bytes');
      await waitForStall(progress, 500, 20_000);
      const stalledRss = await readRssBytes(pid);
      assert.ok(progress.sent < STREAM_BYTES / 2, `sender was not stalled early: ${progress.sent} bytes sent`);
      t.diagnostic(`${direction}: stalled after ${(progress.sent / 1048576).toFixed(0)} MiB, RSS growth ${((stalledRss - baseline) / 1048576).toFixed(1)} MiB`);
      assert.ok(
        stalledRss - baseline < MAX_RSS_GROWTH_BYTES,
        `RSS grew by ${((stalledRss - baseline) / 1048576).toFixed(1)} MiB (baseline ${(baseline / 1048576).toFixed(1)} MiB)`,
      );
      // Now the reader reads: every byte must arrive, and the stream must end.
      const reader = direction === 'download to a non-reading client' ? client : upstreamSocket;
      assert.ok(reader !== undefined);
      const received = await countUntilEnd(reader, 30_000);
      await sending;
      assert.equal(received, STREAM_BYTES);
      // Close the other direction too, so the connection ends cleanly before SIGTERM.
      client.end();
      upstreamSocket?.end();
      await waitFor(() => client.closed || client.readableEnded, 5_000, 'client connection closed');
      client.destroy();
    } finally {
      const exit = await host.stop('SIGTERM', 5_000);
      assert.equal(exit, 0, host.stderr());
      await closeServer(upstream);
    }
  });
}
