// Raw TCP backend for the bulk test (from ../shared/bench-kit/lib/tcp-backend.js).
// Usage: node tcp-backend.mjs <port>
// The client speaks first, a 9-byte header = 1 command byte + uint64 BE length:
//   'U' len : the client uploads <len> bytes; the server counts them and answers 'K'.
//   'D' len : the server sends <len> bytes.
// The protocol never relies on TCP half-close, so it works through any proxy.

import { createServer } from 'node:net';

const [port] = process.argv.slice(2);
const CHUNK = Buffer.alloc(1 << 20, 0x61);

const server = createServer({ noDelay: true }, (sock) => {
  let header = Buffer.alloc(0);
  let mode = null;
  let remaining = 0n;
  sock.on('error', () => {});

  const startDownload = (len) => {
    let left = len;
    const pump = () => {
      while (left > 0n) {
        const n = left >= BigInt(CHUNK.length) ? CHUNK.length : Number(left);
        left -= BigInt(n);
        if (!sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          sock.once('drain', pump);
          return;
        }
      }
    };
    pump();
  };

  sock.on('data', (chunk) => {
    if (mode === 'U') {
      remaining -= BigInt(chunk.length);
      if (remaining <= 0n) {
        mode = 'done';
        sock.write('K');
      }
      return;
    }
    if (mode !== null) return;
    header = header.length ? Buffer.concat([header, chunk]) : chunk;
    if (header.length < 9) return;
    const cmd = String.fromCharCode(header[0]);
    const len = header.readBigUInt64BE(1);
    const rest = header.subarray(9);
    header = Buffer.alloc(0);
    if (cmd === 'U') {
      mode = 'U';
      remaining = len - BigInt(rest.length);
      if (remaining <= 0n) {
        mode = 'done';
        sock.write('K');
      }
    } else if (cmd === 'D') {
      mode = 'D';
      startDownload(len);
    } else {
      sock.destroy();
    }
  });
});
server.maxConnections = 1000;
server.listen({ port: Number(port), host: '127.0.0.1', backlog: 1024 }, () => {
  process.stderr.write(`tcp-backend listening on 127.0.0.1:${port} pid=${process.pid}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
