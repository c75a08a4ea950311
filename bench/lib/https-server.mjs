// Bare Node `https` server: the reference TLS terminator for both the proxy
// keep-alive test (backend behind every path) and the enclave comparison.
// Adapted from ../shared/bench-kit/lib/https-server.js.
//
// Usage: node https-server.mjs <port> <cert.pem> <key.pem> <body-file>
// Answers every request with the bytes of <body-file> and the same response
// headers as the enclave's GET /private-data (content-type, content-length,
// etag, cache-control, x-content-type-options; keep-alive timeout 5 s as the
// enclave's default, so the "Keep-Alive: timeout=5" header is identical too):
// the response is byte-for-byte the same size as the enclave's.
//
// TLS session resumption is OFF: SSL_OP_NO_TICKET, and Node keeps no
// server-side session cache without 'newSession'/'resumeSession' listeners.
// wrk offers its previous session on reconnect, so a server that resumes
// would be measured with cheaper handshakes than a full one. The bench checks
// this with a two-connection probe and these counters.
// On SIGTERM/SIGINT it prints `STATS {"handshakes","resumed","requests"}` on
// stderr and exits.

import { constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [port, certPath, keyPath, bodyPath] = process.argv.slice(2);
if (!port || !certPath || !keyPath || !bodyPath) {
  process.stderr.write('usage: node https-server.mjs <port> <cert.pem> <key.pem> <body-file>\n');
  process.exit(2);
}
const body = readFileSync(bodyPath);
const stats = { handshakes: 0, resumed: 0, requests: 0 };

const server = createServer(
  {
    cert: readFileSync(certPath),
    key: readFileSync(keyPath),
    minVersion: 'TLSv1.2',
    ciphers: [
      // TLS 1.3 suites in OpenSSL's default order (the enclave keeps that default)
      'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256',
      'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
    ].join(':'),
    handshakeTimeout: 10_000,
    secureOptions: constants.SSL_OP_NO_TICKET,
    keepAliveTimeout: 5_000,
  },
  (req, res) => {
    stats.requests++;
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': body.length,
      etag: '"1"',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.end(body);
  },
);
server.keepAliveTimeout = 5_000;
server.headersTimeout = 10_000;
server.maxConnections = 20_000;
server.on('secureConnection', (s) => {
  stats.handshakes++;
  if (s.isSessionReused()) stats.resumed++;
});
server.on('tlsClientError', () => {});
server.listen(Number(port), '127.0.0.1', () => {
  process.stderr.write(`https-server listening on 127.0.0.1:${port} pid=${process.pid}\n`);
});

const bye = () => {
  process.stderr.write(`STATS ${JSON.stringify(stats)}\n`);
  process.exit(0);
};
process.on('SIGTERM', bye);
process.on('SIGINT', bye);
