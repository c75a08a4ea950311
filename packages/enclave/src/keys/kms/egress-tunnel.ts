// The enclave's only way out: an HTTP CONNECT tunnel through the host's
// egress forwarder (host/src/egress), then TLS from inside the enclave to the
// destination, verified against the public CAs (or KMS_CA_PATH in
// development). The host relays ciphertext and learns the destination name.
//
// Exchange (RFC 9110 §9.3.6), what we send:
//   CONNECT host:port HTTP/1.1\r\n
//   Host: host:port\r\n
//   \r\n
// What we accept back: a status line `HTTP/1.1 2xx …` (or HTTP/1.0), header
// lines, an empty line, all within MAX_CONNECT_REPLY_BYTES and the timeout.
// Anything else (another status, no status line, an over-long head) is an
// EgressTunnelError and the socket is destroyed. Bytes after the head belong
// to the tunnel (the TLS server speaks first only after our ClientHello, so
// there are none in practice; any are given back to the stream).

import type { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { TransportAddress } from '@http-enclave/protocol';
import { connectTo } from '@http-enclave/transport';
import { EgressTunnelError, sanitizeOutsideText } from '../../enclave-errors.js';

/** The forwarder's reply head is a status line and a few headers: 4 KiB is plenty. */
export const MAX_CONNECT_REPLY_BYTES = 4096;

export interface OpenTlsTunnelOptions {
  readonly egressAddress: TransportAddress;
  readonly host: string;
  readonly port: number;
  /** PEM CAs replacing the public ones (development only); undefined = Node's bundled Mozilla CAs. */
  readonly ca: string | undefined;
  /** For connect, CONNECT and the TLS handshake together. */
  readonly timeoutMs: number;
}

/** Opens CONNECT host:port through the forwarder and returns the raw tunnel socket. */
export async function openEgressTunnel(egressAddress: TransportAddress, host: string, port: number, timeoutMs: number): Promise<Socket> {
  const socket = await connectTo(egressAddress, { timeoutMs, noDelay: true });
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise<Socket>((resolve, reject) => {
    let head = Buffer.alloc(0);
    const fail = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new EgressTunnelError(0, `egress forwarder did not answer CONNECT within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_CONNECT_REPLY_BYTES) fail(new EgressTunnelError(0, `egress forwarder reply head exceeds ${MAX_CONNECT_REPLY_BYTES} bytes`));
        return;
      }
      if (end + 4 > MAX_CONNECT_REPLY_BYTES) return fail(new EgressTunnelError(0, `egress forwarder reply head exceeds ${MAX_CONNECT_REPLY_BYTES} bytes`));
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const match = /^HTTP\/1\.[01] ([0-9]{3})(?: .*)?$/.exec(statusLine);
      if (match === null) return fail(new EgressTunnelError(0, 'egress forwarder sent no valid HTTP status line'));
      const status = Number(match[1]);
      if (status < 200 || status > 299) {
        return fail(new EgressTunnelError(status, `egress forwarder refused CONNECT ${authority}: ${sanitizeOutsideText(statusLine, 80)}`));
      }
      cleanup();
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const onError = (error: Error): void => fail(error);
    const onClose = (): void => fail(new EgressTunnelError(0, 'egress forwarder closed the connection during CONNECT'));
    function cleanup(): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    }
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

/** A verified TLS connection to host:port through the forwarder (TLS 1.2+, SNI, hostname checked). */
export async function openTlsTunnel(options: OpenTlsTunnelOptions): Promise<TLSSocket> {
  const started = Date.now();
  const raw = await openEgressTunnel(options.egressAddress, options.host, options.port, options.timeoutMs);
  const left = Math.max(1, options.timeoutMs - (Date.now() - started));
  return new Promise<TLSSocket>((resolve, reject) => {
    const tls = tlsConnect({
      socket: raw,
      servername: /^[0-9.]+$|:/.test(options.host) ? undefined : options.host,
      host: options.host,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    });
    const timer = setTimeout(() => {
      tls.destroy();
      reject(new EgressTunnelError(0, `TLS handshake with ${options.host} did not finish within ${options.timeoutMs} ms`));
    }, left);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      tls.off('error', onError);
      resolve(tls);
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      tls.destroy();
      reject(error);
    };
    tls.once('error', onError);
  });
}
