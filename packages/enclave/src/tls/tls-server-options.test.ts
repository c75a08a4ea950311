// Real TLS handshakes against tls.createServer(buildTlsServerOptions(…)):
// generated P-256 identity over TLS 1.3 and 1.2, an OpenSSL RSA-2048 pair
// where a non-ECDHE suite is refused, old protocols and renegotiation refused.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';

import { generateEphemeralTlsIdentity } from './self-signed-certificate.js';
import type { TlsMaterial } from './self-signed-certificate.js';
import { loadTlsIdentity } from './tls-identity.js';
import { TLS_CIPHERS, buildTlsServerOptions } from './tls-server-options.js';

interface HandshakeResult {
  readonly ok: boolean;
  readonly clientErrorCode?: string;
  readonly serverErrorCode?: string;
  readonly cipher?: string;
  readonly protocol?: string | null;
  readonly echoed?: string;
}

/** Starts a server on an ephemeral port, connects once, echoes one message, closes. 5 s limit. */
async function handshake(identity: TlsMaterial, client: tls.ConnectionOptions, serverOverrides: tls.TlsOptions = {}): Promise<HandshakeResult> {
  let serverErrorCode: string | undefined;
  const server = tls.createServer({ ...buildTlsServerOptions(identity), ...serverOverrides }, (socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (data) => socket.write(data));
  });
  server.on('tlsClientError', (error: NodeJS.ErrnoException) => {
    serverErrorCode = error.code;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<HandshakeResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('handshake test timed out')), 5000);
      const socket = tls.connect({ host: '127.0.0.1', port, ca: identity.certPem, ...client }, () => {
        const cipher = socket.getCipher().name;
        const protocol = socket.getProtocol();
        socket.write('ping');
        socket.once('data', (data) => {
          clearTimeout(timer);
          socket.destroy();
          resolve({ ok: true, cipher, protocol, echoed: data.toString() });
        });
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        // let the server's tlsClientError arrive
        setTimeout(() => resolve({ ok: false, ...(error.code !== undefined ? { clientErrorCode: error.code } : {}), ...(serverErrorCode !== undefined ? { serverErrorCode } : {}) }), 50);
      });
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function withRsaIdentity(run: (identity: TlsMaterial) => Promise<void>): () => Promise<void> {
  return async () => {
    const directory = mkdtempSync(join(tmpdir(), 'he-tls-rsa-'));
    try {
      const certPath = join(directory, 'cert.pem');
      const keyPath = join(directory, 'key.pem');
      execFileSync('/usr/bin/openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-keyout', keyPath, '-out', certPath, '-days', '365', '-nodes', '-subj', '/CN=localhost'], { stdio: 'ignore' });
      const identity = loadTlsIdentity({ certPath, keyPath, now: new Date() });
      assert.equal(identity.source, 'files');
      await run(identity);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  };
}

const generated = generateEphemeralTlsIdentity({ now: new Date() });

test('options: TLS 1.2 floor, ECDHE+AEAD suites only, frozen', () => {
  const options = buildTlsServerOptions(generated);
  assert.equal(options.minVersion, 'TLSv1.2');
  assert.equal(options.honorCipherOrder, true);
  assert.equal(options.ecdhCurve, 'X25519:P-256:P-384');
  assert.ok(Object.isFrozen(options));
  for (const suite of TLS_CIPHERS.split(':')) assert.match(suite, /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
  assert.doesNotThrow(() => tls.createSecureContext(options));
});

test('generated identity: TLS 1.3 handshake verifying the certificate by name and by IP', async () => {
  const byName = await handshake(generated, { servername: 'localhost' });
  assert.equal(byName.ok, true);
  assert.equal(byName.protocol, 'TLSv1.3');
  assert.equal(byName.echoed, 'ping');
  const byIp = await handshake(generated, {}); // checkServerIdentity against the 127.0.0.1 SAN
  assert.equal(byIp.ok, true);
});

test('generated identity: TLS 1.2 negotiates ECDHE-ECDSA with AES-GCM', async () => {
  const result = await handshake(generated, { servername: 'localhost', maxVersion: 'TLSv1.2' });
  assert.equal(result.ok, true);
  assert.equal(result.protocol, 'TLSv1.2');
  assert.equal(result.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256');
});

test('RSA files: static-RSA AES128-GCM-SHA256 is refused, ECDHE-RSA-AES128-GCM-SHA256 works', withRsaIdentity(async (identity) => {
  const refused = await handshake(identity, { servername: 'localhost', ciphers: 'AES128-GCM-SHA256', maxVersion: 'TLSv1.2' });
  assert.equal(refused.ok, false);
  // OpenSSL 3.0 (Node 20) names the alert SSLV3_ALERT_…, OpenSSL 3.5 (Node 24) SSL/TLS_ALERT_…: the same handshake_failure alert.
  assert.match(refused.clientErrorCode ?? '', /^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_HANDSHAKE_FAILURE$/);
  assert.equal(refused.serverErrorCode, 'ERR_SSL_NO_SHARED_CIPHER');
  const accepted = await handshake(identity, { servername: 'localhost', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' });
  assert.equal(accepted.ok, true);
  assert.equal(accepted.cipher, 'ECDHE-RSA-AES128-GCM-SHA256');
}));

test('TLS 1.1 client is refused by the server', async () => {
  const result = await handshake(generated, { servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
  assert.equal(result.ok, false);
  assert.equal(result.serverErrorCode, 'ERR_SSL_UNSUPPORTED_PROTOCOL');
});

test('TLS 1.2 client-initiated renegotiation is refused (SSL_OP_NO_RENEGOTIATION)', async () => {
  const server = tls.createServer(buildTlsServerOptions(generated), (socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (data) => socket.write(data));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const failure = await new Promise<{ code: string | undefined; message: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('renegotiation test timed out')), 5000);
      const socket = tls.connect({ host: '127.0.0.1', port, ca: generated.certPem, servername: 'localhost', maxVersion: 'TLSv1.2' }, () => {
        socket.renegotiate({}, (error) => {
          if (error === null) { clearTimeout(timer); socket.destroy(); reject(new Error('renegotiation unexpectedly succeeded')); }
        });
        socket.write('ping'); // makes the client read the server's no_renegotiation alert
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        resolve({ code: error.code, message: error.message });
      });
    });
    // Observed: the server's no_renegotiation alert surfaces as ERR_SSL_NO_RENEGOTIATION when the
    // client reads it, or as EPROTO "…:no renegotiation:…" (OpenSSL 0A000153) when a write hits it first.
    assert.ok(failure.code === 'ERR_SSL_NO_RENEGOTIATION' || failure.code === 'EPROTO', `code ${String(failure.code)}`);
    assert.match(failure.message, /no renegotiation/);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
