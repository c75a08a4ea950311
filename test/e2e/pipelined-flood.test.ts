// Pipelined requests that are never read (issue 9, finding 1): one TLS
// connection writes tens of thousands of small requests in one go and never
// reads an answer. The enclave must hold a bounded number of them (pause the
// socket, close it past a hard limit), keep its memory bounded, and keep
// serving everyone else.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { sendRequest } from '../support/https-request.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number(/(\d+)/.exec(line)?.[1] ?? 0) / 1024;
}

function openTls(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => resolve(socket));
    socket.on('error', reject);
  });
}

test('40,000 pipelined requests on connections that never read: enclave memory stays bounded and /healthz keeps answering', async () => {
  const pid = stack.enclave.child.pid;
  assert.ok(pid !== undefined);
  const before = rssMiB(pid);
  const one = Buffer.from('GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const flood = Buffer.concat(Array.from({ length: 10_000 }, () => one));
  const sockets: TLSSocket[] = [];
  for (let index = 0; index < 4; index += 1) {
    const socket = await openTls(stack.port);
    socket.on('error', () => {});
    socket.pause(); // never reads
    socket.write(flood);
    sockets.push(socket);
  }
  let peak = before;
  const deadline = Date.now() + 4_000;
  while (Date.now() < deadline) {
    peak = Math.max(peak, rssMiB(pid));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const health = await sendRequest(stack.port, { path: '/healthz', timeoutMs: 5_000 });
  assert.equal(health.status, 200);
  for (const socket of sockets) socket.destroy();
  assert.ok(peak - before < 40, `enclave RSS grew by ${Math.round(peak - before)} MiB (from ${Math.round(before)} MiB)`);
});

test('pipelining within the limit still works: 50 requests in one write all get their answers', async () => {
  const socket = await openTls(stack.port);
  const request = (index: number): string => `GET /nope-${index} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.write(Array.from({ length: 50 }, (_, index) => request(index)).join(''));
  const deadline = Date.now() + 10_000;
  while ((text.match(/HTTP\/1\.1 404 /g) ?? []).length < 50 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  socket.destroy();
  assert.equal((text.match(/HTTP\/1\.1 404 /g) ?? []).length, 50);
});

test('past 64 queued requests the connection is closed', async () => {
  const socket = await openTls(stack.port);
  socket.on('error', () => {});
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Array.from({ length: 500 }, () => 'GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n').join(''));
  await closed;
  assert.ok((text.match(/HTTP\/1\.1 404 /g) ?? []).length < 500, 'the connection was closed before all were answered');
  assert.equal((await sendRequest(stack.port, { path: '/healthz' })).status, 200);
});
