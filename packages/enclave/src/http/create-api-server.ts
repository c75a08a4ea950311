// The enclave's HTTP(S) server with every limit set explicitly: TLS 1.2+
// with ECDHE+AEAD suites only (tls/tls-server-options.ts), a handshake
// timeout far below Node's 120 s default, header/request/keep-alive
// timeouts, a header size cap and a connection cap. Parser-level failures
// (bad HTTP, oversized headers, timeouts) get a JSON error too.

import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { EnclaveConfig } from '../config.js';
import { settleParseError } from './api-handler.js';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { publishConnection } from '../telemetry/enclave-events.js';
import { EnclaveError, ExpectationFailedError, HeadersTooLargeError, InvalidRequestError, RequestTimeoutError, errorBody } from '../enclave-errors.js';

/** How often Node checks header/request timeouts; the timeouts fire up to this late. */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;
/** After answering a client error, the connection is destroyed at the latest this much later. */
const CLIENT_ERROR_LINGER_MS = 2000;

export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

/** Errors already published as TLS handshake failures (see answerClientError). */
const tlsFailures = new WeakSet<Error>();

export function createApiServer(
  config: EnclaveConfig,
  tlsOptions: (SecureContextOptions & TlsOptions) | undefined,
  handler: RequestHandler,
): HttpServer {
  const httpOptions: ServerOptions = {
    maxHeaderSize: config.maxHeaderBytes,
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    insecureHTTPParser: false,
    // Checked in api-handler.ts instead, so that the 400 is our JSON error
    // and two Host headers are refused too (RFC 9112 §3.2).
    requireHostHeader: false,
    joinDuplicateHeaders: false,
  };
  const server =
    tlsOptions === undefined
      ? createHttpServer(httpOptions, handler)
      : createHttpsServer({ ...httpOptions, ...tlsOptions, handshakeTimeout: config.handshakeTimeoutMs, allowHalfOpen: false }, handler);
  server.maxConnections = config.maxConnections;
  // Node closes a connection past maxConnections at accept and says so with 'drop'.
  server.on('drop', () => publishConnection({ stage: 'refused', code: 'MAX_CONNECTIONS' }));
  // A client that sends its request and then half-closes (FIN, or TLS
  // close_notify) must still get the answer. Node's http layer aborts the
  // request on the client's end unless `httpAllowHalfOpen` is set (an
  // undocumented but long-standing property of http.Server, absent from the
  // types), and TLS sockets need `allowHalfOpen` as well (measured: the
  // answer is lost without either; for TLS it is switched on per socket
  // after the handshake, below). With both, Node ends the connection once
  // the last response is written.
  (server as HttpServer & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // TLS sockets start WITHOUT half-open: a peer that closes before or during
  // the handshake (a health checker, a port scan) is closed at once instead
  // of holding a MAX_CONNECTIONS slot until HANDSHAKE_TIMEOUT_MS (issue 9,
  // finding 4; with allowHalfOpen the socket sat in CLOSE-WAIT). Once the
  // handshake is done, half-open is switched on (Node reads the property at
  // the peer's FIN), so a request followed by FIN still gets its answer.
  if (tlsOptions !== undefined) {
    server.on('secureConnection', (socket: { allowHalfOpen: boolean }) => {
      socket.allowHalfOpen = true;
    });
  }
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket));
  // Expect: 100-continue: no automatic 100; the handler sends it once the
  // request is accepted, right before reading the body (api-handler.ts).
  server.on('checkContinue', handler);
  // Any other expectation: our JSON 417 (Node's default is a bare 417).
  server.on('checkExpectation', (_request: IncomingMessage, response: ServerResponse) => {
    const body = errorBody(new ExpectationFailedError());
    response.writeHead(417, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
    response.end(body);
  });
  if (tlsOptions !== undefined) {
    // Before https's own listener, which passes the error on as a clientError at once.
    server.prependListener('tlsClientError', (error: NodeJS.ErrnoException) => {
      tlsFailures.add(error);
      publishConnection({ stage: 'tls', code: error.code ?? 'UNKNOWN' });
    });
  }
  return server;
}

function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // Node's https server passes each tlsClientError on as a clientError: counted once, as tls.
  if (!tlsFailures.has(error)) publishConnection({ stage: 'http', code: error.code ?? 'UNKNOWN' });
  // Only HTTP-level failures get an HTTP answer. Anything else (a TLS
  // handshake timeout or failure, a reset) means there is no HTTP
  // conversation to answer in: writing would queue bytes on a socket that
  // never sends them and keep it open, so destroy it.
  const httpLevel = error.code?.startsWith('HPE_') === true || error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  if (!httpLevel || !socket.writable) {
    socket.destroy();
    return;
  }
  // Bytes after a complete request that is still being answered (after
  // Connection: close or HTTP/1.0, or a malformed next request): answer that
  // request, then close. A 400 written now would take its place (review D1).
  if (settleParseError(socket) === 'handled') return;
  let apiError: EnclaveError;
  if (error.code === 'HPE_HEADER_OVERFLOW') apiError = new HeadersTooLargeError();
  else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') apiError = new RequestTimeoutError();
  else apiError = new InvalidRequestError();
  const body = errorBody(apiError);
  const reason = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[apiError.status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${apiError.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // A peer that does not read its answer must not hold the socket open.
  setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS).unref();
}
