// AF_VSOCK listeners, argument checks, the NSM device path, and real vsock
// connections (only where the vsock_loopback module is loaded: never connect
// an AF_VSOCK socket on a machine whose only vsock peer is its hypervisor).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import {
  VMADDR_CID_ANY,
  closeFd,
  getLocalCid,
  getPeerCid,
  isVsockAvailable,
  nsmOpen,
  nsmRequest,
  socketPair,
  vsockAbsenceReason,
  vsockConnect,
  vsockListen,
} from './native.js';
import { NsmDevice, isNsmAvailable } from './nsm-device.js';
import { connectVsock, listenVsock, vsockPeerCid } from './socket.js';

const skip = isVsockAvailable() ? false : `addon absent: ${vsockAbsenceReason() ?? ''}`;
const HAS_LOOPBACK = existsSync('/sys/module/vsock_loopback');
const VMADDR_CID_LOCAL = 1;

/** AF_VSOCK may be missing from the kernel entirely: then listener tests skip. */
function vsockFamilySkip(): string | false {
  if (skip !== false) return skip;
  try {
    closeFd(vsockListen(VMADDR_CID_ANY, highPort(), 1));
    return false;
  } catch (error) {
    if ((error as { code?: string }).code === 'EAFNOSUPPORT') return 'this kernel has no AF_VSOCK (EAFNOSUPPORT)';
    throw error;
  }
}
const highPort = (): number => 40_000 + Math.floor(Math.random() * 20_000);
const familySkip = vsockFamilySkip();

test('the addon is built on Linux (CI must not silently lose vsock)', { skip: process.platform !== 'linux' }, () => {
  assert.equal(isVsockAvailable(), true, vsockAbsenceReason());
  assert.equal(vsockAbsenceReason(), undefined);
});

test('arguments are checked in JS before the addon sees them', { skip }, async () => {
  assert.throws(() => vsockListen(-1, 5005, 16), RangeError);
  assert.throws(() => vsockListen(2 ** 32, 5005, 16), RangeError);
  assert.throws(() => vsockListen(VMADDR_CID_ANY, 1.5, 16), RangeError);
  assert.throws(() => vsockListen(VMADDR_CID_ANY, 5005, 0), RangeError);
  assert.throws(() => getPeerCid(-1), RangeError);
  // Rejected before any socket exists: no connect() is ever attempted here.
  await assert.rejects(vsockConnect(16, 5005, 0), RangeError);
  await assert.rejects(vsockConnect(16, -1, 1000), RangeError);
  await assert.rejects(vsockConnect(Number.NaN, 5005, 1000), RangeError);
  assert.throws(() => nsmOpen(''), RangeError);
  await assert.rejects(nsmRequest(0, Buffer.alloc(0)), RangeError);
  await assert.rejects(nsmRequest(0, Buffer.alloc(4097)), RangeError);
  await assert.rejects(nsmRequest(0, Buffer.from('x'), 0x3001), RangeError);
});

test('getPeerCid / getLocalCid on a non-vsock socket fail with EAFNOSUPPORT', { skip }, () => {
  const [a, b] = socketPair();
  try {
    assert.throws(() => getPeerCid(a), { code: 'EAFNOSUPPORT', syscall: 'getpeername' });
    assert.throws(() => getLocalCid(b), { code: 'EAFNOSUPPORT', syscall: 'getsockname' });
  } finally {
    closeFd(a);
    closeFd(b);
  }
});

test('vsock listener on CID any and a high port: created, bound, listening, closed; the port is then free again', { skip: familySkip }, async () => {
  const port = highPort();
  const server: Server = createServer(() => assert.fail('nobody connects here'));
  await listenVsock(server, 'any', port);
  assert.equal(server.listening, true);
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  assert.equal(getLocalCid(fd), VMADDR_CID_ANY);
  // A second listener on the same port fails like any bind would.
  await assert.rejects(listenVsock(createServer(), 'any', port), { code: 'EADDRINUSE', syscall: 'bind' });
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  const again = createServer();
  await listenVsock(again, 'any', port);
  await new Promise<void>((resolve) => again.close(() => resolve()));
});

test('NSM: opening a missing device fails with ENOENT; the ioctl path on a non-NSM fd fails with ENOTTY', { skip }, async () => {
  assert.throws(() => NsmDevice.open('/nonexistent/nsm'), { code: 'ENOENT', syscall: 'open' });
  // /dev/null refuses every ioctl: exercises the threadpool path end to end, safely.
  const device = NsmDevice.open('/dev/null');
  await assert.rejects(device.call(Buffer.from('6b44657363726962654e534d', 'hex')), { code: 'ENOTTY', syscall: 'ioctl' });
  await assert.rejects(device.call(Buffer.alloc(5000)), RangeError);
  await device.close();
  await assert.rejects(device.call(Buffer.from('x')), { code: 'NSM_DEVICE_CLOSED' });
  await device.close(); // idempotent
});

test('NSM: DescribeNSM and GetRandom on the real /dev/nsm', { skip: isNsmAvailable() ? false : 'no /dev/nsm (not inside a Nitro Enclave)' }, async () => {
  const device = NsmDevice.open();
  try {
    const describe = await device.call(Buffer.from('6b44657363726962654e534d', 'hex')); // "DescribeNSM"
    assert.equal(describe[0], 0xa1, 'a one-entry map {"DescribeNSM": {...}}');
    const random = await device.call(Buffer.from('6947657452616e646f6d', 'hex'));
    // {"GetRandom": {"random": bstr}}: the driver itself checks this prefix.
    assert.ok(random.subarray(0, 19).equals(Buffer.from('a16947657452616e646f6da16672616e646f6d', 'hex')));
  } finally {
    await device.close();
  }
});

test('real vsock: listen on any, connect to CID 1 (local), data both ways, half-close, peer CID, refused port', { skip: HAS_LOOPBACK && skip === false ? false : 'no /sys/module/vsock_loopback: real vsock connections are only tested in the QEMU guest' }, async () => {
  const port = highPort();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (got += d));
    socket.on('end', () => socket.end(`reply:${got}:${String(vsockPeerCid(socket))}`));
  });
  await listenVsock(server, 'any', port);
  try {
    const client = await connectVsock(VMADDR_CID_LOCAL, port, { timeoutMs: 2000, allowHalfOpen: true });
    assert.equal(vsockPeerCid(client), VMADDR_CID_LOCAL);
    let reply = '';
    client.setEncoding('utf8');
    client.on('data', (d: string) => (reply += d));
    client.end('hello');
    await new Promise((resolve) => client.once('end', resolve));
    assert.equal(reply, `reply:hello:${VMADDR_CID_LOCAL}`);
    await assert.rejects(connectVsock(VMADDR_CID_LOCAL, port + 1, { timeoutMs: 2000 }), (error: { code?: string }) =>
      ['ECONNREFUSED', 'ECONNRESET'].includes(error.code ?? ''),
    );
  } finally {
    server.close();
  }
});
