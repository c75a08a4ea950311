// Readiness of the enclave as the host can see it: a connection over the
// same seam clients use (ENCLAVE_ADDR), then GET /healthz. The enclave
// speaks TLS with its own certificate, which the host neither trusts nor
// needs to: this asks "is it up and is its storage reachable", never "is it
// genuine" (clients attest). An enclave run with USE_TLS=false answers in
// plain HTTP: a TLS handshake that fails with a protocol error is tried once
// more in plain text.
//
// Bounded: one response of at most MAX_RESPONSE_BYTES, and one deadline
// (timeoutMs) over connecting, the TLS handshake and the answer together; at
// the deadline every socket of the probe is destroyed (a frozen enclave used
// to hold the handshake, and readiness with it, for ever).

import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { TransportAddress } from '@http-enclave/protocol';
import { connectTo } from '@http-enclave/transport';

const MAX_RESPONSE_BYTES = 4096;

export type EnclaveHealth = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Sends GET /healthz on `stream` and resolves with the status line's code and the body. */
function askHealth(stream: Duplex, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error('HEALTH_TIMEOUT')), timeoutMs);
    const finish = (result: Error | { status: number; body: string }): void => {
      clearTimeout(timer);
      stream.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    stream.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length > MAX_RESPONSE_BYTES) finish(new Error('HEALTH_RESPONSE_TOO_LARGE'));
    });
    stream.once('end', () => {
      const text = received.toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(text)?.[1] ?? NaN);
      if (!Number.isInteger(status)) finish(new Error('HEALTH_RESPONSE_MALFORMED'));
      else finish({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    stream.once('error', (error: NodeJS.ErrnoException) => finish(new Error(error.code ?? 'HEALTH_CONNECTION_ERROR')));
    stream.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  });
}

/** The sockets a probe opened, so its deadline can end them. */
type Tracked = <T extends Duplex>(stream: T) => T;

function overTls(address: TransportAddress, timeoutMs: number, track: Tracked): Promise<Duplex> {
  return connectTo(address, { timeoutMs }).then(
    (socket) =>
      new Promise<Duplex>((resolve, reject) => {
        track(socket);
        const tls: TLSSocket = track(tlsConnect({ socket, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }));
        tls.once('secureConnect', () => resolve(tls));
        tls.once('error', (error: NodeJS.ErrnoException) => {
          tls.destroy();
          reject(Object.assign(new Error(error.code ?? 'TLS_FAILED'), { tlsProtocol: /SSL|TLS|PROTOCOL|WRONG_VERSION/i.test(error.code ?? error.message) }));
        });
      }),
  );
}

export function probeEnclaveHealth(address: TransportAddress, timeoutMs: number): Promise<EnclaveHealth> {
  const opened = new Set<Duplex>();
  const track: Tracked = (stream) => {
    opened.add(stream);
    return stream;
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<EnclaveHealth>((resolve) => {
    timer = setTimeout(() => {
      for (const stream of opened) stream.destroy();
      resolve({ ok: false, reason: 'ENCLAVE_HEALTH_TIMEOUT' });
    }, timeoutMs);
  });
  return Promise.race([probe(address, timeoutMs, track), deadline]).finally(() => {
    clearTimeout(timer);
    for (const stream of opened) stream.destroy();
  });
}

async function probe(address: TransportAddress, timeoutMs: number, track: Tracked): Promise<EnclaveHealth> {
  let stream: Duplex;
  try {
    stream = await overTls(address, timeoutMs, track);
  } catch (error) {
    const protocolMismatch = error instanceof Error && (error as Error & { tlsProtocol?: boolean }).tlsProtocol === true;
    if (!protocolMismatch) return { ok: false, reason: error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : 'CONNECT_FAILED' };
    try {
      stream = track(await connectTo(address, { timeoutMs }));
    } catch (plainError) {
      return { ok: false, reason: (plainError as NodeJS.ErrnoException).code ?? 'CONNECT_FAILED' };
    }
  }
  try {
    const { status, body } = await askHealth(stream, timeoutMs);
    if (status === 200) return { ok: true };
    return { ok: false, reason: /"storage"\s*:\s*"unavailable"/.test(body) ? 'ENCLAVE_STORAGE_UNAVAILABLE' : `ENCLAVE_HEALTH_${status}` };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : 'HEALTH_FAILED' };
  }
}
