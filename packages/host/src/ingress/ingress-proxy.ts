// The L4 ingress proxy: accepts client connections on BIND_ADDR and forwards
// each one, byte for byte, to the enclave. The host never reads what flows:
// it holds no key and parses neither TLS nor HTTP.

import { createServer, type Server, type Socket } from 'node:net';
import { formatTransportAddress, type TransportAddress } from '@http-enclave/protocol';
import { connectTo, listenOn, listeningAddress } from '@http-enclave/transport';
import { errorCode, type Logger } from '../log.js';
import type { HostEvents } from '../observability/host-events.js';
import { connectionSourceKey } from './connection-source.js';
import { forwardConnection } from './forward-connection.js';

export interface IngressProxyOptions {
  readonly listenAddress: TransportAddress;
  readonly enclaveAddress: TransportAddress;
  readonly maxConnections: number;
  /** Connections one remote address may hold at once (HOST_MAX_CONNECTIONS_PER_SOURCE); more are closed at accept. */
  readonly maxConnectionsPerSource: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly logger: Logger;
  /** Where accepted, refused and closed connections are published (logging and metrics subscribe). */
  readonly events: HostEvents;
}

export interface IngressProxy {
  /** The address clients connect to (real port when port 0 was asked). */
  readonly address: TransportAddress;
  /** Client connections currently open (including those still connecting upstream). */
  readonly connectionCount: number;
  /** Stop accepting; let open connections finish for up to drainTimeoutMs; then destroy the rest. */
  close(drainTimeoutMs: number): Promise<void>;
}

export async function startIngressProxy(options: IngressProxyOptions): Promise<IngressProxy> {
  const { logger, events } = options;
  const connections = new Set<Socket>();
  let nextConnectionId = 1;
  // noDelay: no Nagle on client sockets (issue 9, finding 8: the first
  // request through the host took ~48 ms against ~4 ms direct). The upstream
  // side already connects with noDelay (transport's connectTo).
  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
  server.maxConnections = options.maxConnections;

  server.on('drop', () => events.ingress({ event: 'refused', reason: 'MAX_CONNECTIONS' }));

  // Per-source accounting (issue 9, finding 7: 1 000 slow sockets from one
  // address denied service to everyone). Keyed by connectionSourceKey: the
  // IPv4 address, or the /64 of an IPv6 one; unix-socket listeners have no
  // address and are not limited.
  const perSource = new Map<string, number>();

  server.on('connection', (downstream: Socket) => {
    const source = connectionSourceKey(downstream.remoteAddress);
    if (source !== undefined) {
      const held = perSource.get(source) ?? 0;
      if (held >= options.maxConnectionsPerSource) {
        downstream.destroy();
        events.ingress({ event: 'refused', reason: 'MAX_CONNECTIONS_PER_SOURCE', source });
        return;
      }
      perSource.set(source, held + 1);
      downstream.once('close', () => {
        const left = (perSource.get(source) ?? 1) - 1;
        if (left <= 0) perSource.delete(source);
        else perSource.set(source, left);
      });
    }
    const id = nextConnectionId++;
    const started = Date.now();
    connections.add(downstream);
    downstream.once('close', () => connections.delete(downstream));
    events.ingress({ event: 'accepted', connection: id });
    // Until forwarding starts, a client error only has to end this connection.
    const onEarlyError = (): void => void downstream.destroy();
    downstream.on('error', onEarlyError);
    const onEarlyIdle = (): void => void downstream.destroy();
    downstream.setTimeout(options.idleTimeoutMs, onEarlyIdle);

    connectTo(options.enclaveAddress, { timeoutMs: options.connectTimeoutMs, allowHalfOpen: true }).then(
      (upstream) => {
        downstream.off('error', onEarlyError);
        downstream.off('timeout', onEarlyIdle);
        if (downstream.destroyed) {
          upstream.destroy();
          events.ingress({ event: 'closed', connection: id, bytesFromClient: 0, bytesToClient: 0, reason: 'client-gone', durationMs: Date.now() - started });
          return;
        }
        void forwardConnection(downstream, upstream, options.idleTimeoutMs).then((result) => {
          events.ingress({
            event: 'closed',
            connection: id,
            bytesFromClient: result.bytesFromDownstream,
            bytesToClient: result.bytesFromUpstream,
            reason: result.reason,
            durationMs: Date.now() - started,
          });
        });
      },
      (error: unknown) => {
        events.ingress({ event: 'enclave-unreachable', connection: id, code: errorCode(error), enclave: formatTransportAddress(options.enclaveAddress) });
        downstream.destroy();
      },
    );
  });

  await listenOn(server, options.listenAddress);
  server.on('error', (error) => logger.error('ingress listener error', { code: errorCode(error) }));
  const address = listeningAddress(server, options.listenAddress);

  let closing: Promise<void> | undefined;
  return {
    address,
    get connectionCount() {
      return connections.size;
    },
    close(drainTimeoutMs: number): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        if (connections.size === 0) return;
        logger.info('draining client connections', { open: connections.size, drainTimeoutMs });
        const timer = setTimeout(() => {
          if (connections.size > 0) logger.warn('drain timeout; closing remaining connections', { open: connections.size });
          for (const socket of connections) socket.destroy();
        }, drainTimeoutMs);
        server.once('close', () => clearTimeout(timer));
      });
      return closing;
    },
  };
}
