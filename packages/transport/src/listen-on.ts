// Listener side of the transport seam: make any net.Server (a plain TCP proxy
// listener, an https.Server, the storage service) listen on a transport
// address. Servers keep Node's own accept path, so TLS and HTTP run on native
// stream handles whatever the scheme.

import { lstatSync, unlinkSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { formatTransportAddress, type TransportAddress } from '@http-enclave/protocol';
import { isVsockAvailable, listenVsock, vsockAbsenceReason } from '@http-enclave/vsock';
import { TransportUnsupportedError } from './transport-errors.js';

/** Backlog of pending connections; Linux caps it at net.core.somaxconn (4096 on current kernels). */
const LISTEN_BACKLOG = 1024;

export interface ListenOnOptions {
  /** Remove a stale unix socket file left by a previous run (only if it is a socket). */
  readonly replaceStaleUnixSocket?: boolean;
}

export async function listenOn(server: Server, address: TransportAddress, options: ListenOnOptions = {}): Promise<void> {
  if (address.scheme === 'vsock') {
    // The fd comes from the addon and is wrapped in Node's own TCP server
    // handle (@http-enclave/vsock socket.ts): accept, TLS and HTTP stay native.
    if (!isVsockAvailable()) throw vsockUnsupported(address);
    await listenVsock(server, address.cid, address.port);
    return;
  }
  if (address.scheme === 'unix' && options.replaceStaleUnixSocket !== false) await removeStaleUnixSocket(address.path);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError).once('listening', onListening);
    if (address.scheme === 'tcp') server.listen({ host: address.host, port: address.port, backlog: LISTEN_BACKLOG });
    else server.listen({ path: address.path, backlog: LISTEN_BACKLOG });
  });
}

/** TRANSPORT_UNSUPPORTED for a vsock address when the addon is absent, with the reason. */
export function vsockUnsupported(address: TransportAddress): TransportUnsupportedError {
  return new TransportUnsupportedError(
    `${formatTransportAddress(address)}: vsock support is not built into this installation (${vsockAbsenceReason() ?? 'addon absent'})`,
  );
}

/**
 * Removes a socket file left by a process that is gone: only a socket, and
 * only if nobody accepts on it (ECONNREFUSED). A live listener's socket is
 * left alone, so listening fails with EADDRINUSE instead of stealing it.
 */
async function removeStaleUnixSocket(path: string): Promise<void> {
  try {
    if (!lstatSync(path).isSocket()) return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code !== 'ECONNREFUSED'));
  });
  if (!live) unlinkSync(path);
}

/** The address a server really listens on (after port 0 was resolved), in transport syntax. */
export function listeningAddress(server: Server, requested: TransportAddress): TransportAddress {
  const bound = server.address();
  if (requested.scheme === 'tcp' && bound !== null && typeof bound === 'object') {
    return { scheme: 'tcp', host: requested.host, port: bound.port };
  }
  return requested;
}
