// The host's admin listener (ADMIN_LISTEN; loopback by default, a port of
// its own, never the client port):
//
//   GET /healthz   200 {"status":"alive"}: the process runs its event loop
//   GET /readyz    200 {"status":"ready","enclave":"ok","storage":"ok"} when
//                  the enclave answers its /healthz through ENCLAVE_ADDR and
//                  the storage database takes a write; 503 with the failing
//                  parts (and their reason codes) otherwise, and 503
//                  {"status":"draining"} once the host is stopping
//   GET /metrics   Prometheus text format (host-metrics.ts)
//
// Everything else is 404 (405 for another method on these paths). Bounded:
// ADMIN_MAX_CONNECTIONS sockets, 5 s for a request, no body read; a readiness
// answer is cached for READINESS_CACHE_MS and computed by one probe at a
// time, so scraping cannot multiply the probes.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { TransportAddress } from '@http-enclave/protocol';
import { listenOn, listeningAddress } from '@http-enclave/transport';
import type { Registry } from 'prom-client';
import { specificCode } from '../host-errors.js';
import { errorCode, type Logger } from '../log.js';

export const ADMIN_MAX_CONNECTIONS = 64;
export const READINESS_CACHE_MS = 1_000;
/** Each readiness probe (enclave, storage) must answer within this. */
export const READINESS_PROBE_TIMEOUT_MS = 2_000;

export interface ReadinessProbes {
  /** True once the host is stopping. */
  readonly draining: () => boolean;
  readonly enclave: () => Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Resolves when storage took a write; rejects with a coded error. */
  readonly storage: () => Promise<void>;
}

export interface AdminServerOptions {
  readonly listenAddress: TransportAddress;
  readonly registry: Registry;
  readonly readiness: ReadinessProbes;
  readonly logger: Logger;
}

export interface AdminServer {
  readonly address: TransportAddress;
  close(): Promise<void>;
}

interface Readiness {
  readonly status: 200 | 503;
  readonly body: Record<string, string>;
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  let cached: { at: number; value: Readiness } | undefined;
  let inFlight: Promise<Readiness> | undefined;

  /** A probe's answer, or READINESS_TIMEOUT past the probe deadline and a margin: readiness never waits on a probe for ever. */
  const bounded = <T>(probe: Promise<T>): Promise<T | { ok: false; reason: string }> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ ok: false; reason: string }>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, reason: 'READINESS_TIMEOUT' }), READINESS_PROBE_TIMEOUT_MS + 500);
    });
    return Promise.race([probe, timeout]).finally(() => clearTimeout(timer));
  };
  const computeReadiness = async (): Promise<Readiness> => {
    const [enclave, storage] = await Promise.all([
      bounded(options.readiness.enclave().catch((error: unknown) => ({ ok: false as const, reason: errorCode(error) }))),
      bounded(
        options.readiness.storage().then(
          () => ({ ok: true as const }),
          (error: unknown) => ({ ok: false as const, reason: specificCode(error) }), // SQLITE_FULL, not STORAGE_PROBE_FAILED
        ),
      ),
    ]);
    const body: Record<string, string> = {
      status: enclave.ok && storage.ok ? 'ready' : 'not-ready',
      enclave: enclave.ok ? 'ok' : enclave.reason,
      storage: storage.ok ? 'ok' : storage.reason,
    };
    return { status: enclave.ok && storage.ok ? 200 : 503, body };
  };

  const readiness = async (): Promise<Readiness> => {
    if (options.readiness.draining()) return { status: 503, body: { status: 'draining' } };
    if (cached !== undefined && performance.now() - cached.at < READINESS_CACHE_MS) return cached.value;
    inFlight ??= computeReadiness().finally(() => {
      inFlight = undefined;
    });
    const value = await inFlight;
    cached = { at: performance.now(), value };
    return value;
  };

  const send = (response: ServerResponse, status: number, contentType: string, body: string): void => {
    response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    response.end(body);
  };
  const sendJson = (response: ServerResponse, status: number, body: unknown): void => send(response, status, 'application/json', JSON.stringify(body));

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/readyz' && path !== '/metrics') return sendJson(response, 404, { error: { code: 'NOT_FOUND' } });
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return sendJson(response, 405, { error: { code: 'METHOD_NOT_ALLOWED' } });
    }
    if (path === '/healthz') return sendJson(response, 200, { status: 'alive' });
    if (path === '/readyz') {
      const { status, body } = await readiness();
      return sendJson(response, status, body);
    }
    send(response, 200, options.registry.contentType, await options.registry.metrics());
  };

  // Timeouts checked every second (Node's default is every 30 s, which let 16
  // silent sockets hold every slot for 30 s); a socket idle 10 s is closed.
  const server: Server = createServer({ requestTimeout: 5_000, headersTimeout: 5_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000 }, (request, response) => {
    request.resume(); // no endpoint takes a body
    handle(request, response).catch((error: unknown) => {
      options.logger.error('admin request failed', { code: errorCode(error) });
      if (!response.headersSent) sendJson(response, 500, { error: { code: 'INTERNAL' } });
      else response.destroy();
    });
  });
  server.maxConnections = ADMIN_MAX_CONNECTIONS;
  server.timeout = 10_000;
  await listenOn(server, options.listenAddress);
  server.on('error', (error) => options.logger.error('admin listener error', { code: errorCode(error) }));
  const address = listeningAddress(server, options.listenAddress);

  let closing: Promise<void> | undefined;
  return {
    address,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
