// resetOrDestroy on a socket whose end() is still in flight: Node 20 fails
// such a reset with EINVAL and never emits 'close', so the fd and the
// connection slot leaked (a hostile-client review found it: a request
// answered before its body was read, then EPIPE towards the enclave). The
// socket must close, whatever the order.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { resetOrDestroy } from './forward-connection.js';

test('a socket reset right after end() still closes (no leaked fd)', async () => {
  const accepted: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    socket.pause(); // never reads: the shutdown stays in flight
    accepted.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  try {
    for (const when of ['sync', 'nextTick', 'setImmediate'] as const) {
      const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      await once(client, 'connect');
      client.on('error', () => {});
      const closed = once(client, 'close');
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      if (when === 'sync') resetOrDestroy(client);
      else if (when === 'nextTick') process.nextTick(() => resetOrDestroy(client));
      else setImmediate(() => resetOrDestroy(client));
      const timeout = new Promise((_, reject) =>
        setTimeout(() => {
          client.unref(); // a leaked handle would keep the test process alive
          reject(new Error(`${when}: no 'close' within 2 s`));
        }, 2_000).unref(),
      );
      await Promise.race([closed, timeout]);
    }
  } finally {
    for (const socket of accepted) socket.destroy();
    server.close();
    server.unref();
  }
});

test('a socket reset before it ended is reset (RST) and closes', async () => {
  const server = createServer((socket) => socket.on('error', () => {}));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const gotReset = new Promise<string>((resolve) => {
    server.once('connection', (socket) => socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? '')));
  });
  const client = connect({ port, host: '127.0.0.1' });
  await once(client, 'connect');
  const closed = once(client, 'close');
  resetOrDestroy(client);
  await closed;
  assert.equal(await gotReset, 'ECONNRESET');
  server.close();
});
