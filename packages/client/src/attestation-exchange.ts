// Asks for an attestation document over an already open TLS connection, so
// that the document is bound to the very connection whose certificate the
// client checks. One HTTP/1.1 request written by hand and one bounded
// response read by hand: Node's HTTP client cannot be given a socket for one
// request and then hand the same socket on to an agent, and this exchange
// must leave the connection open and clean for the requests that follow.
// The response must carry a Content-Length (the enclave always sends one);
// every size is bounded before it is buffered.

import type { TLSSocket } from 'node:tls';
import { AttestedClientError } from './client-errors.js';

/** Largest response head we read: the enclave's is ~250 bytes. */
const MAX_HEAD_BYTES = 16 * 1024;
/** Largest document body: the verifier caps documents at 20 KiB. */
const MAX_BODY_BYTES = 64 * 1024;

export interface AttestationExchangeOptions {
  readonly hostHeader: string;
  readonly nonce: Buffer;
  readonly timeoutMs: number;
}

export function requestAttestationOverSocket(socket: TLSSocket, options: AttestationExchangeOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => finish(fail('no attestation answer within the timeout')), options.timeoutMs);
    const fail = (message: string): AttestedClientError => new AttestedClientError('ATTESTATION_FETCH_FAILED', message);
    const finish = (result: Buffer | Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (result instanceof Error) {
        socket.destroy();
        reject(result);
      } else {
        resolve(result);
      }
    };
    const onClose = (): void => finish(fail('the server closed the connection before answering'));
    const onError = (error: NodeJS.ErrnoException): void => finish(fail(`connection error ${error.code ?? error.name}`));
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        if (received.length > MAX_HEAD_BYTES) finish(fail('response head too large'));
        return;
      }
      const head = received.subarray(0, headEnd).toString('latin1');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1];
      const lengthLine = headerLines.find((line) => /^content-length:/i.test(line));
      const length = lengthLine === undefined ? NaN : Number(lengthLine.slice(lengthLine.indexOf(':') + 1).trim());
      if (!Number.isSafeInteger(length) || length < 0 || length > MAX_BODY_BYTES) {
        finish(fail('attestation response without a usable Content-Length'));
        return;
      }
      const body = received.subarray(headEnd + 4);
      if (body.length < length) return;
      if (body.length > length) {
        finish(fail('the server sent more than the attestation response'));
        return;
      }
      if (status !== '200') {
        finish(fail(`the server answered ${status ?? 'garbage'} to GET /attestation${errorCodeSuffix(body)}`));
        return;
      }
      if (headerLines.some((line) => /^connection:\s*close/i.test(line))) {
        finish(fail('the server closed the attested connection'));
        return;
      }
      finish(Buffer.from(body));
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
    socket.write(
      `GET /attestation?nonce=${options.nonce.toString('hex')} HTTP/1.1\r\nHost: ${options.hostHeader}\r\nAccept: application/cbor\r\nConnection: keep-alive\r\n\r\n`,
    );
  });
}

/** The stable error code of a JSON error body, for the message; never the message text (it is the server's). */
function errorCodeSuffix(body: Buffer): string {
  try {
    const code = (JSON.parse(body.toString('utf8')) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' && /^[A-Z_]{1,64}$/.test(code) ? ` (${code})` : '';
  } catch {
    return '';
  }
}
