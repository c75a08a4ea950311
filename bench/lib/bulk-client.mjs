// Bulk throughput client for tcp-backend.mjs, directly or through a proxy
// (from ../shared/bench-kit/lib/bulk-client.js).
// Usage: node bulk-client.mjs <host> <port> <bytes> <up|down> [timeoutSec]
// Prints one JSON line: {dir, bytes, seconds, MBps, complete}; MB = 10^6 bytes.
// The clock starts when the TCP connection is established and stops when the
// backend acknowledges the last byte (up) or the last byte arrives (down).
// On timeout it reports the partial rate with complete=false.

import { connect } from 'node:net';

const [host, port, bytesArg, dir = 'up', timeoutArg = '10'] = process.argv.slice(2);
const total = BigInt(bytesArg);
const CHUNK = Buffer.alloc(1 << 20, 0x62);
let t0 = process.hrtime.bigint();
let moved = 0n;
let finished = false;

function report(complete) {
  if (finished) return;
  finished = true;
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  const b = Number(moved);
  process.stdout.write(`${JSON.stringify({ dir, bytes: b, seconds: +sec.toFixed(4), MBps: +(b / 1e6 / sec).toFixed(1), complete })}\n`);
  sock.destroy();
  process.exitCode = complete ? 0 : 3;
  setImmediate(() => process.exit());
}

const sock = connect({ host, port: Number(port), noDelay: true }, () => {
  t0 = process.hrtime.bigint();
  const hdr = Buffer.alloc(9);
  hdr[0] = dir === 'up' ? 0x55 : 0x44;
  hdr.writeBigUInt64BE(total, 1);
  sock.write(hdr);
  if (dir === 'up') {
    const pump = () => {
      while (moved < total) {
        const n = total - moved >= BigInt(CHUNK.length) ? CHUNK.length : Number(total - moved);
        moved += BigInt(n);
        if (!sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          sock.once('drain', pump);
          return;
        }
      }
    };
    pump();
  }
});
sock.on('data', (d) => {
  if (dir === 'up') {
    if (d.includes(0x4b)) report(true);
    return;
  }
  moved += BigInt(d.length);
  if (moved >= total) report(true);
});
sock.on('error', (e) => {
  process.stderr.write(`bulk-client error: ${e.code}\n`);
  report(false);
});
sock.on('close', () => report(moved >= total && dir === 'down'));
setTimeout(() => report(false), Number(timeoutArg) * 1000).unref();
