// TLS server settings of the enclave: protocol floor, cipher policy, curves,
// session and handshake limits, built from a TLS identity.
//
// - TLS 1.2 suites: ECDHE (forward secrecy) + AEAD only, listed explicitly.
//   TLS 1.3 suites are all AEAD with (EC)DHE; Node keeps OpenSSL's default
//   `ciphersuites` (TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256,
//   TLS_AES_128_GCM_SHA256) because TLS_CIPHERS names no TLS_* suite.
// - Renegotiation: there is no tls.Server option for it. Node limits
//   client-initiated renegotiation to tls.CLIENT_RENEG_LIMIT (3) per
//   tls.CLIENT_RENEG_WINDOW (600 s) and then destroys the socket; on top of
//   that SSL_OP_NO_RENEGOTIATION (OpenSSL ≥ 1.1.0h) refuses every TLS 1.2
//   renegotiation with a no_renegotiation alert. TLS 1.3 has none.
// - Session tickets: Node generates the ticket keys inside this process
//   (random 48 bytes per server via OpenSSL); they never come from host
//   configuration, and they rotate when the process restarts.

import { constants as cryptoConstants } from 'node:crypto';
import type { TlsOptions } from 'node:tls';

import type { TlsMaterial } from './self-signed-certificate.js';

export const TLS_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const TLS_MIN_VERSION = 'TLSv1.2';
export const TLS_ECDH_CURVES = 'X25519:P-256:P-384';
/** TLS_SESSION_TIMEOUT_SECONDS = 300: resumption window (OpenSSL's default, set explicitly). */
export const TLS_SESSION_TIMEOUT_SECONDS = 300;
/** TLS_HANDSHAKE_TIMEOUT_MS = 10 s instead of Node's 120 s: TLS-layer slowloris (reference K5). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsServerOptions extends TlsOptions {
  readonly key: string;
  readonly cert: string;
  readonly minVersion: typeof TLS_MIN_VERSION;
  readonly ciphers: string;
  readonly honorCipherOrder: true;
  readonly ecdhCurve: string;
  readonly sessionTimeout: number;
  readonly handshakeTimeout: number;
  readonly secureOptions: number;
}

/** Options for tls.createServer / https.createServer. */
export function buildTlsServerOptions(identity: Pick<TlsMaterial, 'keyPem' | 'certPem'>): TlsServerOptions {
  return Object.freeze({
    key: identity.keyPem,
    cert: identity.certPem,
    minVersion: TLS_MIN_VERSION,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
    ecdhCurve: TLS_ECDH_CURVES,
    sessionTimeout: TLS_SESSION_TIMEOUT_SECONDS,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
  });
}
