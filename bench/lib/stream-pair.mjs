// The vsock addon's stream vs a plain Node unix socket (the `addon` test).
// Usage: node stream-pair.mjs <addon|plain> <up|down|pp> <amount> <runDir> <timeoutSec> <peerCpu|-> <msgBytes>
//   amount = bytes (up, down) or round trips (pp); peerCpu = CPU for the peer process (taskset), '-' = unpinned.
// Prints one JSON line: {kind, mode, bytes|rounds, seconds, MBps|rps, p50Us, p99Us, cpuSelfS, cpuPeerS, complete}.
//
// Two processes, one per end of one connected stream socket, like host and enclave:
//   addon: this process makes an AF_UNIX SOCK_STREAM pair with the addon's
//          socketPair(), keeps one end as socketFromFd(fd) and hands the other
//          to the peer as its fd 3, which the peer opens with socketFromFd(3):
//          the code path vsock sockets take (never an AF_VSOCK socket here);
//   plain: a net.Server on a unix path in the run's scratch directory; the peer
//          net.connect()s to it: Node's own unix sockets.
// Both ends end up on libuv Pipe handles either way; what differs is who made
// the fd and how it got into Node, which is what the comparison checks.
// Protocol (this side speaks first, 9-byte header = 1 command byte + uint64 BE):
//   'U' n: this side sends n bytes; the peer counts them and answers 'K'.
//   'D' n: the peer sends n bytes.
//   'P' n: n round trips of msgBytes: this side writes a message, the peer
//          echoes what it reads, the next message goes when the echo is whole.
// A short warm-up on the same connection (16 MiB up, 16 MiB down, 2,000 round
// trips; not timed) precedes the measured command. CPU = process.cpuUsage()
// (user + system, µs resolution) of each process over the measured command
// only, so Node's start-up and the warm-up are left out.

import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const VSOCK = join(HERE, '..', '..', 'packages', 'vsock', 'dist', 'index.js');
const CHUNK = Buffer.alloc(1 << 20, 0x62);
const WARM_BYTES = 16n << 20n;
const WARM_ROUNDS = 2000n;

const header = (cmd, n) => {
  const h = Buffer.alloc(9);
  h[0] = cmd.charCodeAt(0);
  h.writeBigUInt64BE(BigInt(n), 1);
  return h;
};
const cpuS = (since) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
};

/** Writes n bytes (1 MiB chunks), respecting back-pressure. */
function sendBytes(sock, n) {
  let left = n;
  const pump = () => {
    while (left > 0n) {
      const k = left >= BigInt(CHUNK.length) ? CHUNK.length : Number(left);
      left -= BigInt(k);
      if (!sock.write(k === CHUNK.length ? CHUNK : CHUNK.subarray(0, k))) {
        sock.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

// ------------------------------------------------------------------ peer
async function peer(kind, target) {
  let sock;
  if (kind === 'addon') {
    const { socketFromFd } = await import(VSOCK);
    sock = socketFromFd(3);
  } else {
    sock = connect({ path: target });
  }
  sock.on('error', (e) => {
    process.stderr.write(`stream-pair peer: ${e.code ?? e.message}\n`);
    process.exit(4);
  });
  let buf = Buffer.alloc(0);
  let mode = null;
  let remaining = 0n;
  let cpu0 = process.cpuUsage();
  const onData = (d) => {
    if (mode === null) {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      if (buf.length < 9) return;
      const cmd = String.fromCharCode(buf[0]);
      remaining = buf.readBigUInt64BE(1);
      const rest = buf.subarray(9);
      buf = Buffer.alloc(0);
      cpu0 = process.cpuUsage();
      mode = cmd;
      if (cmd === 'D') {
        sendBytes(sock, remaining);
        mode = null; // the next header comes after the driver has read everything
      }
      if (rest.length) onData(rest);
      return;
    }
    if (mode === 'U') {
      const take = BigInt(d.length) <= remaining ? d.length : Number(remaining);
      remaining -= BigInt(take);
      if (remaining === 0n) {
        mode = null;
        sock.write('K');
        if (take < d.length) onData(d.subarray(take));
      }
    } else if (mode === 'P') {
      // remaining = bytes still to echo in this command
      const take = BigInt(d.length) <= remaining ? d.length : Number(remaining);
      remaining -= BigInt(take);
      sock.write(take === d.length ? d : d.subarray(0, take));
      if (remaining === 0n) {
        mode = null;
        if (take < d.length) onData(d.subarray(take));
      }
    }
  };
  sock.on('data', onData);
  sock.on('end', () => {
    // CPU since the last (measured) command's header
    process.stdout.write(`${JSON.stringify({ cpuPeerS: cpuS(cpu0) })}\n`);
    sock.end();
  });
}

// ------------------------------------------------------------------ driver
async function driver(kind, mode, amountArg, runDir, timeoutSec, peerCpu, msgBytes) {
  const amount = BigInt(amountArg);
  const msg = Buffer.alloc(msgBytes, 0x6d);
  const peerArgv = (target) => {
    const a = [process.execPath, fileURLToPath(import.meta.url), '--peer', kind, target];
    return peerCpu === '-' ? a : ['taskset', '-c', peerCpu, ...a];
  };
  let sock;
  let child;
  let server;
  if (kind === 'addon') {
    const { socketPair, socketFromFd } = await import(VSOCK);
    const [a, b] = socketPair();
    const argv = peerArgv('-');
    child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit', b] });
    closeSync(b);
    sock = socketFromFd(a);
  } else {
    const path = join(runDir, `stream-pair-${process.pid}.sock`);
    server = createServer();
    await new Promise((resolve, reject) => server.once('error', reject).listen(path, resolve));
    const accepted = new Promise((resolve) => server.once('connection', resolve));
    const argv = peerArgv(path);
    child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    sock = await accepted;
    server.close();
  }
  let peerOut = '';
  child.stdout.on('data', (d) => (peerOut += d));
  const peerExit = new Promise((resolve) => child.on('close', resolve));
  sock.on('error', (e) => fail(`socket ${e.code ?? e.message}`));
  const timer = setTimeout(() => fail('timeout'), timeoutSec * 1000);
  timer.unref();
  function fail(why) {
    process.stdout.write(`${JSON.stringify({ kind, mode, error: why, complete: false })}\n`);
    child.kill('SIGKILL');
    process.exit(3);
  }

  // one command at a time; resolves { seconds, lat } when it is complete
  let onData = () => {};
  sock.on('data', (d) => onData(d));
  const command = (cmd, n, withLatency = false) =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      const done = (lat) => {
        onData = () => {};
        resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, lat });
      };
      if (cmd === 'U') {
        onData = (d) => {
          if (d.includes(0x4b)) done();
        };
        sock.write(header('U', n));
        sendBytes(sock, n);
      } else if (cmd === 'D') {
        let got = 0n;
        onData = (d) => {
          got += BigInt(d.length);
          if (got >= n) done();
        };
        sock.write(header('D', n));
      } else {
        const rounds = Number(n);
        const lat = withLatency ? new Float64Array(rounds) : undefined;
        let i = 0;
        let got = 0;
        let ts = process.hrtime.bigint();
        onData = (d) => {
          got += d.length;
          if (got < msgBytes) return;
          got -= msgBytes;
          const now = process.hrtime.bigint();
          if (lat) lat[i] = Number(now - ts) / 1e3;
          i += 1;
          if (i === rounds) return done(lat);
          ts = now;
          sock.write(msg);
        };
        sock.write(header('P', n * BigInt(msgBytes)));
        ts = process.hrtime.bigint();
        sock.write(msg);
      }
    });

  // warm-up, then the measured command
  await command('U', WARM_BYTES);
  await command('D', WARM_BYTES);
  await command('P', WARM_ROUNDS);
  const cmd = mode === 'up' ? 'U' : mode === 'down' ? 'D' : 'P';
  const cpu0 = process.cpuUsage();
  const r = await command(cmd, amount, true);
  const cpuSelfS = cpuS(cpu0);
  sock.end();
  await peerExit;
  let cpuPeerS = NaN;
  try {
    cpuPeerS = JSON.parse(peerOut.trim().split('\n').pop()).cpuPeerS;
  } catch {
    /* reported as NaN */
  }
  const out = { kind, mode, seconds: +r.seconds.toFixed(4), cpuSelfS: +cpuSelfS.toFixed(4), cpuPeerS: +cpuPeerS.toFixed(4), complete: true };
  if (cmd === 'P') {
    const v = Array.from(r.lat).sort((x, y) => x - y);
    out.rounds = Number(amount);
    out.msgBytes = msgBytes;
    out.rps = +(Number(amount) / r.seconds).toFixed(1);
    out.p50Us = +v[Math.floor(0.5 * (v.length - 1))].toFixed(2);
    out.p99Us = +v[Math.floor(0.99 * (v.length - 1))].toFixed(2);
  } else {
    out.bytes = Number(amount);
    out.MBps = +(Number(amount) / 1e6 / r.seconds).toFixed(1);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

const args = process.argv.slice(2);
if (args[0] === '--peer') {
  await peer(args[1], args[2]);
} else {
  const [kind, mode, amount, runDir, timeoutSec = '10', peerCpu = '-', msgBytes = '64'] = args;
  if (!['addon', 'plain'].includes(kind) || !['up', 'down', 'pp'].includes(mode) || !/^\d+$/.test(amount ?? '') || !runDir) {
    process.stderr.write('usage: node stream-pair.mjs <addon|plain> <up|down|pp> <amount> <runDir> [timeoutSec] [peerCpu|-] [msgBytes]\n');
    process.exit(2);
  }
  await driver(kind, mode, amount, runDir, Number(timeoutSec), peerCpu, Number(msgBytes));
}
