// The host's telemetry listener against peers other than the enclave (it is
// not authenticated): idle squatters give way to a new connection and time
// out, a flood of log lines is rate-limited and counted, a bad frame closes
// only its own connection.

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';

import { encodeTelemetryFrame } from '@http-enclave/protocol';
import { collectingLogger } from '../test-support.js';
import { LOG_LINES_PER_SECOND, MAX_TELEMETRY_CONNECTIONS, startTelemetryReceiver } from './telemetry-receiver.js';

const line = (msg: string): Buffer => encodeTelemetryFrame({ kind: 'log', time: '2026-12-02T00:00:00.000Z', level: 'info', msg, fields: {} });

async function open(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}

const waitFor = async (what: string, check: () => boolean, timeoutMs = 3_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

test('idle squatters give way to a new connection and time out; the newcomer is heard', async () => {
  const { logger, lines } = collectingLogger();
  const receiver = await startTelemetryReceiver({ listenAddress: { scheme: 'tcp', host: '127.0.0.1', port: 0 }, logger, onCounters: () => undefined, idleTimeoutMs: 500 });
  const port = receiver.address.scheme === 'tcp' ? receiver.address.port : 0;
  try {
    const squatters = await Promise.all(Array.from({ length: MAX_TELEMETRY_CONNECTIONS }, () => open(port)));
    const enclave = await open(port);
    await waitFor('the oldest squatter closed', () => squatters[0]?.destroyed === true || squatters[0]?.readableEnded === true || (squatters[0]?.closed ?? false));
    enclave.write(line('enclave listening'));
    await waitFor('the line', () => lines.some((l) => l['msg'] === 'enclave listening' && l['from'] === 'enclave'));
    await waitFor('the idle squatters closed', () => squatters.every((socket) => socket.closed), 2_000);
    enclave.destroy();
  } finally {
    await receiver.close();
  }
});

test('a flood of log lines is rate-limited and counted; a bad frame closes its connection only', async () => {
  const { logger, lines } = collectingLogger();
  const receiver = await startTelemetryReceiver({ listenAddress: { scheme: 'tcp', host: '127.0.0.1', port: 0 }, logger, onCounters: () => undefined });
  const port = receiver.address.scheme === 'tcp' ? receiver.address.port : 0;
  try {
    const flooder = await open(port);
    const flood = 5_000;
    flooder.write(Buffer.concat(Array.from({ length: flood }, (_, index) => line(`forged ${index}`))));
    await waitFor('every line seen or counted', () => lines.filter((l) => l['from'] === 'enclave').length + receiver.linesRateLimited === flood);
    const logged = lines.filter((l) => l['from'] === 'enclave').length;
    assert.ok(logged <= 2_000 + LOG_LINES_PER_SECOND, `${logged} lines logged`);
    assert.ok(receiver.linesRateLimited >= flood - 2_000 - LOG_LINES_PER_SECOND);
    const bad = await open(port);
    bad.write(Buffer.from([0, 0, 0, 5, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b]));
    await waitFor('the bad connection closed', () => bad.closed);
    assert.equal(receiver.framesRefused, 1);
    assert.equal(flooder.closed, false, 'the other connection stays');
    flooder.destroy();
  } finally {
    await receiver.close();
  }
});
