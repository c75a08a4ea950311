// The API's request handler: routing, authentication, and the mapping of
// every failure to a JSON error with a stable code. Routes:
//
//   GET    /healthz                 liveness and whether storage answers
//   GET    /attestation?nonce=HEX   attestation document (public; attestation-endpoint.ts),
//          also at /.well-known/attestation; rate-limited (attestation-rate-limit.ts)
//   POST   /private-data            store the caller's default document
//   GET    /private-data            read it
//   PUT    /private-data/{name}     store a named document
//   GET    /private-data/{name}     read it
//   DELETE /private-data/{name}     delete it
//
// Names are 1-128 characters of A-Z a-z 0-9 . _ ~ - (no percent-decoding,
// so one name has exactly one spelling).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AttestationProvider } from '../attest/attestation-provider.js';
import type { AuthMode } from '../config.js';
import type { Logger } from '../log.js';
import type { PrivateDocuments } from '../records/private-documents.js';
import type { StorageClient } from '../storage/storage-client.js';
import { isAdminPath, serveAdmin, type AdminDeps } from './admin-endpoint.js';
import type { BodyMemoryBudget } from './body-memory-budget.js';
import { serveAttestation } from './attestation-endpoint.js';
import { AttestationRateLimit } from './attestation-rate-limit.js';
import { tokenFromHeaders } from './authenticate.js';
import { readJsonBody } from './read-json-body.js';
import { publishRequest, publishSeal, type RouteTemplate } from '../telemetry/enclave-events.js';
import { AttestationRateLimitedError, EnclaveError, InternalError, InvalidNameError, InvalidRequestError, MethodNotAllowedError, OverloadedError, RecordCreateRateLimitedError, RequestAbortedError, RouteNotFoundError, StorageIntegrityError, toApiError } from '../enclave-errors.js';

const DEFAULT_DOCUMENT_NAME = '';
/** Bytes of the seal's GCM tag in an ETag: 64 bits, so two sealings of one version collide with probability 2^-64. */
const ETAG_TAG_BYTES = 8;
const NAME_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/;
/** /healthz waits at most this long for the storage channel's PONG. */
const HEALTH_STORAGE_TIMEOUT_MS = 1000;

export interface ApiHandlerDeps {
  readonly documents: PrivateDocuments;
  readonly storage: StorageClient;
  readonly authMode: AuthMode;
  readonly maxBodyBytes: number;
  /** Bodies in memory at once across all connections (BODY_MEMORY_BUDGET_BYTES). */
  readonly bodyBudget: BodyMemoryBudget;
  readonly logger: Logger;
  /** undefined: GET /attestation answers 404 ATTESTATION_UNAVAILABLE. */
  readonly attestation: AttestationProvider | undefined;
  /** Keyring administration (/admin/keys/*); answers 404 unless ADMIN_TOKEN_SHA256 is set. */
  readonly admin: AdminDeps;
}

type Route =
  | { readonly kind: 'health' }
  | { readonly kind: 'attestation'; readonly template: RouteTemplate }
  | { readonly kind: 'admin'; readonly path: string }
  | { readonly kind: 'document'; readonly name: string; readonly template: RouteTemplate; readonly methods: readonly string[] };

function matchRoute(url: string | undefined): Route {
  const path = (url ?? '').split('?', 1)[0] ?? '';
  if (path === '/healthz') return { kind: 'health' };
  if (path === '/attestation' || path === '/.well-known/attestation') return { kind: 'attestation', template: path };
  if (isAdminPath(path)) return { kind: 'admin', path };
  if (path === '/private-data') return { kind: 'document', name: DEFAULT_DOCUMENT_NAME, template: '/private-data', methods: ['GET', 'POST'] };
  if (path.startsWith('/private-data/')) {
    const name = path.slice('/private-data/'.length);
    if (!NAME_PATTERN.test(name) || name === '.' || name === '..') throw new InvalidNameError();
    return { kind: 'document', name, template: '/private-data/{name}', methods: ['GET', 'PUT', 'DELETE'] };
  }
  throw new RouteNotFoundError();
}

/**
 * Pipelined requests on one connection are handled one after another, each
 * starting once the previous response has been handed to the socket
 * ('finish') or the connection closed. Node would otherwise run all their
 * handlers at once and queue every response in memory: a client that sends
 * 100 GETs and never reads would make the enclave (and the storage service)
 * produce all 100 documents. In series, a stalled reader stalls its own
 * connection and nothing else.
 *
 * The queue itself is bounded too (issue 9, finding 1: 100 000 pipelined
 * requests that were never read took the enclave to 3.7 GB). At
 * PAUSE_PIPELINE_AT queued requests the socket is paused, so no more bytes
 * are parsed; the parser may still finish the chunk it holds (at most one
 * read, 64 KiB), and past MAX_PIPELINED_REQUESTS the connection is closed:
 * no real client pipelines that deep without reading.
 */
export const PAUSE_PIPELINE_AT = 8;
/** After the last answer on a connection closed for a parse error: destroyed at the latest this much later. */
const CLOSE_AFTER_ANSWERS_LINGER_MS = 2_000;
/**
 * Queued requests per connection at most (see above). One socket read can
 * hold about 1 600 of the smallest requests (64 KiB), all parsed at once;
 * closing past 64 keeps what a connection can pin to 64 request objects.
 * Pipelining clients (wrk scripts, HTTP/1.1 proxies) use depths of 16 or less.
 */
export const MAX_PIPELINED_REQUESTS = 64;

interface ConnectionQueue {
  tail: Promise<void>;
  queued: number;
  pausedByUs: boolean;
  /** Set by a parse error after a complete request: close once every answer is out. */
  closeWhenAnswered: boolean;
  /** The latest request parsed on this connection, and its response. */
  lastRequest: IncomingMessage | undefined;
  lastResponse: ServerResponse | undefined;
  /** A request whose body failed to parse while earlier answers were owed: never handled. */
  skip: IncomingMessage | undefined;
}

const connectionQueues = new WeakMap<object, ConnectionQueue>();

/**
 * What to do about a parse error on `connection` (create-api-server.ts),
 * so that no request ever gets two answers, or another request's answer
 * (review D1 and its follow-up):
 *   - the bytes belong to the body of the last request, which was already
 *     answered (an early 401/413 while its body is discarded): close, no
 *     second answer ('handled');
 *   - they belong to the body of the last request, and earlier requests are
 *     still owed their answers: that request is skipped, the others are
 *     answered, then the connection closes ('handled');
 *   - they belong to the body of the only request in flight: it gets the
 *     400 ('answer');
 *   - they come after complete requests still being answered: those are
 *     answered, then the connection closes ('handled');
 *   - nothing is in flight: a malformed new request gets the 400 ('answer').
 */
export function settleParseError(connection: object & { end(): void; destroy(): void }): 'answer' | 'handled' {
  const state = connectionQueues.get(connection);
  if (state === undefined) return 'answer';
  const last = state.lastRequest;
  if (last !== undefined && !last.complete) {
    if (state.lastResponse?.headersSent === true) {
      connection.destroy();
      return 'handled';
    }
    if (state.queued > 1) {
      state.skip = last;
      state.closeWhenAnswered = true;
      return 'handled';
    }
    return 'answer';
  }
  if (state.queued === 0) return 'answer';
  state.closeWhenAnswered = true;
  return 'handled';
}

export function createApiHandler(deps: ApiHandlerDeps): (request: IncomingMessage, response: ServerResponse) => void {
  const handleOne = createSingleRequestHandler(deps);
  return (request, response) => {
    const connection = request.socket;
    let queue = connectionQueues.get(connection);
    if (queue === undefined) {
      queue = { tail: Promise.resolve(), queued: 0, pausedByUs: false, closeWhenAnswered: false, lastRequest: undefined, lastResponse: undefined, skip: undefined };
      connectionQueues.set(connection, queue);
    }
    const state = queue;
    state.lastRequest = request;
    state.lastResponse = response;
    state.queued += 1;
    if (state.queued > MAX_PIPELINED_REQUESTS) {
      if (!connection.destroyed) deps.logger.warn('too many pipelined requests on one connection; closing it', { queued: state.queued });
      connection.destroy();
      return;
    }
    if (state.queued >= PAUSE_PIPELINE_AT && !state.pausedByUs) {
      state.pausedByUs = true;
      connection.pause();
    }
    state.tail = state.tail.then(
      () =>
        new Promise<void>((resolve) => {
          let counted = false;
          const done = (): void => {
            if (counted) return; // 'finish' and then 'close' both come
            counted = true;
            state.queued -= 1;
            if (state.pausedByUs && state.queued < PAUSE_PIPELINE_AT) {
              state.pausedByUs = false;
              connection.resume();
            }
            if (state.closeWhenAnswered && state.queued === 0) {
              connection.end();
              setTimeout(() => connection.destroy(), CLOSE_AFTER_ANSWERS_LINGER_MS).unref();
            }
            resolve();
          };
          response.once('finish', done);
          response.once('close', done);
          if (connection.destroyed) {
            response.destroy();
            return;
          }
          if (state.skip === request) {
            done(); // its body failed to parse; the connection closes once the earlier answers are out
            return;
          }
          handleOne(request, response);
        }),
    );
  };
}

function createSingleRequestHandler(deps: ApiHandlerDeps): (request: IncomingMessage, response: ServerResponse) => void {
  const attestationRateLimit = new AttestationRateLimit();
  return (request, response) => {
    const started = process.hrtime.bigint();
    let template: RouteTemplate = 'unmatched';
    handle(request, response, deps, (t) => (template = t), attestationRateLimit)
      .catch((error: unknown) => {
        if (error instanceof RequestAbortedError) return;
        const apiError = toApiError(error);
        // Which check a blob from storage failed: a code for the log and the metrics (never sent).
        if (apiError instanceof StorageIntegrityError) publishSeal({ reason: apiError.reason });
        if (apiError instanceof InternalError) {
          // Log the class and code only: an unknown error's message may hold data.
          deps.logger.error('unexpected error', { error: error instanceof Error ? error.name : typeof error, code: codeOf(error) });
        }
        if (apiError instanceof MethodNotAllowedError) response.setHeader('allow', allowedFor(request.url));
        sendError(response, apiError);
      })
      .finally(() => {
        // The log line and the metrics subscribe (telemetry/enclave-events.ts).
        publishRequest({ route: template, method: request.method ?? 'OTHER', status: response.statusCode, durationMs: Number(process.hrtime.bigint() - started) / 1e6 });
      });
  };
}

/**
 * Reserves what the body may hold in memory (its Content-Length, or
 * MAX_BODY_BYTES when chunked) from the global budget, before it is read.
 * A length above MAX_BODY_BYTES is left to readJsonBody (413).
 */
function reserveBodyMemory(request: IncomingMessage, deps: ApiHandlerDeps): () => void {
  const declared = Number(request.headers['content-length']);
  const bytes = Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, deps.maxBodyBytes) : deps.maxBodyBytes;
  const release = deps.bodyBudget.tryReserve(bytes);
  if (release === undefined) throw new OverloadedError();
  return release;
}

/**
 * RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host header; a server
 * answers 400 to none or several. HTTP/1.0 may omit it (at most one still).
 */
/**
 * RFC 9112 §6.1: the only transfer coding we take is `chunked`, alone. Node's
 * parser refuses most others, but lets an empty Transfer-Encoding through
 * (then reads no body, and the body's bytes become a "next request"); that
 * framing is ambiguous: 400 and close.
 */
function checkTransferEncoding(request: IncomingMessage): void {
  const codings = request.headersDistinct['transfer-encoding'];
  if (codings === undefined) return;
  if (codings.length !== 1 || codings[0]?.trim().toLowerCase() !== 'chunked') throw new InvalidRequestError('the only transfer coding accepted is chunked');
}

function checkHostHeader(request: IncomingMessage): void {
  const hosts = request.headersDistinct['host'] ?? [];
  const required = request.httpVersionMajor > 1 || (request.httpVersionMajor === 1 && request.httpVersionMinor >= 1);
  if (hosts.length > 1 || (required && hosts.length === 0)) {
    throw new InvalidRequestError(hosts.length > 1 ? 'a request has at most one Host header' : 'an HTTP/1.1 request needs a Host header');
  }
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  deps: ApiHandlerDeps,
  setTemplate: (t: RouteTemplate) => void,
  attestationRateLimit: AttestationRateLimit,
): Promise<void> {
  checkHostHeader(request);
  checkTransferEncoding(request);
  const route = matchRoute(request.url);
  if (route.kind === 'health') {
    setTemplate('/healthz');
    if (request.method !== 'GET' && request.method !== 'HEAD') throw new MethodNotAllowedError();
    let storage = 'ok';
    try {
      await deps.storage.ping(HEALTH_STORAGE_TIMEOUT_MS);
    } catch {
      storage = 'unavailable';
    }
    sendJson(response, storage === 'ok' ? 200 : 503, { status: storage === 'ok' ? 'ok' : 'degraded', storage });
    return;
  }
  if (route.kind === 'attestation') {
    setTemplate(route.template);
    if (request.method !== 'GET') throw new MethodNotAllowedError();
    if (deps.attestation !== undefined && !attestationRateLimit.tryTake(request.socket)) {
      response.setHeader('retry-after', '1');
      throw new AttestationRateLimitedError();
    }
    await serveAttestation(request, response, deps.attestation);
    return;
  }
  if (route.kind === 'admin') {
    setTemplate('/admin/keys');
    await serveAdmin(route.path, request, response, deps.admin);
    return;
  }
  setTemplate(route.template);
  const method = request.method ?? '';
  if (!route.methods.includes(method)) throw new MethodNotAllowedError();
  const owner = deps.documents.ownerFromToken(tokenFromHeaders(request.headers, deps.authMode));
  switch (method) {
    case 'GET': {
      const document = await deps.documents.read(owner, route.name);
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': document.body.length,
        // The version and 8 bytes of the seal's GCM tag: after a whole-database
        // rollback a version number can come back with other content; the tag
        // keeps one ETag from naming two documents (issue 9, finding 9).
        etag: `"${document.version}-${document.sealTag.subarray(0, ETAG_TAG_BYTES).toString('hex')}"`,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      response.end(document.body);
      return;
    }
    case 'POST':
    case 'PUT': {
      const release = reserveBodyMemory(request, deps);
      try {
        const body = await readJsonBody(request, deps.maxBodyBytes, () => sendContinueIfAsked(request, response));
        const written = await deps.documents.write(owner, route.name, body);
        const status = method === 'POST' || written.created ? 201 : 200;
        sendJson(response, status, route.name === DEFAULT_DOCUMENT_NAME ? { version: written.version } : { name: route.name, version: written.version });
      } finally {
        release();
      }
      return;
    }
    case 'DELETE':
      await deps.documents.remove(owner, route.name);
      response.writeHead(204, { 'cache-control': 'no-store' });
      response.end();
      return;
  }
}

function allowedFor(url: string | undefined): string {
  try {
    const route = matchRoute(url);
    if (route.kind === 'health') return 'GET, HEAD';
    if (route.kind === 'admin') return route.path === '/admin/keys' ? 'GET' : 'POST';
    return route.kind === 'attestation' ? 'GET' : route.methods.join(', ');
  } catch {
    return 'GET';
  }
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  response.end(body);
}

/**
 * `Expect: 100-continue` (the server's checkContinue listener routes such
 * requests here without answering 100): the client is told to send its body
 * only once routing, authentication, content type, size and the memory
 * budget have accepted it (review D5: Node used to answer 100 before any of
 * that, inviting a 1 GiB upload it then refused).
 */
function sendContinueIfAsked(request: IncomingMessage, response: ServerResponse): void {
  if (request.headers['expect']?.toLowerCase() === '100-continue' && !response.headersSent) response.writeContinue();
}

function sendError(response: ServerResponse, error: EnclaveError): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  if (error instanceof RecordCreateRateLimitedError) response.setHeader('retry-after', String(error.retryAfterSeconds));
  if (error instanceof InvalidRequestError) {
    // The framing itself is in doubt: close after the answer.
    response.setHeader('connection', 'close');
  } else if (!response.req.complete && Number(response.req.headers['content-length'] ?? 0) > DISCARD_MAX_BYTES) {
    // Far more than we would read to throw away: close now.
    response.setHeader('connection', 'close');
  } else if (!response.req.complete) {
    // A body we did not read (413, 401, 415, 503 OVERLOADED before reading):
    // read and discard it, bounded, so that the client gets its answer.
    // Closing with unread bytes makes the kernel send a reset, which often
    // destroyed the answer before the client read it (review D4).
    if (response.shouldKeepAlive) {
      discardRestOfBody(response.req, () => response.req.socket.destroy());
    } else {
      // The client asked to close (or HTTP/1.0): the answer says so (RFC 9112
      // §9.6), and Node's close after it becomes a half-close that keeps
      // reading (and discarding) until the body is in, then destroys.
      const socket = response.req.socket;
      socket.destroySoon = () => {
        socket.end();
      };
      discardRestOfBody(response.req, () => socket.destroy(), () => socket.destroy());
    }
  }
  sendJson(response, error.status, { error: { code: error.code, message: error.message } });
}

/** Bytes of an unread body the enclave reads and throws away after an early answer; past them the connection is closed. */
const DISCARD_MAX_BYTES = 16 * 1024 * 1024;
/** Time the rest of an unread body may take to arrive after an early answer. */
const DISCARD_MAX_MS = 5_000;

/**
 * Lingering close, bounded (nginx's lingering_close does the same): the rest
 * of the body is read and dropped, at most DISCARD_MAX_BYTES within
 * DISCARD_MAX_MS; then the connection is destroyed. When the body ends in
 * time the connection stays usable.
 */
function discardRestOfBody(request: IncomingMessage, giveUp: () => void, whenDone?: () => void): void {
  let discarded = 0;
  const timer = setTimeout(giveUp, DISCARD_MAX_MS);
  timer.unref();
  request.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_MAX_BYTES) {
      clearTimeout(timer);
      giveUp();
    }
  });
  request.once('end', () => {
    clearTimeout(timer);
    whenDone?.();
  });
  request.once('close', () => clearTimeout(timer));
  request.resume();
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'NONE';
}
