// Listener side of the transport seam: make any net.Server (a plain TCP proxy
// listener, an https.Server, the storage service) listen on a transport
// address. Servers keep Node's own accept path, so TLS and HTTP run on native
// stream handles whatever the scheme.

import { lstatSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:net';
import { formatTransportAddress, type TransportAddress } from '@http-enclave/protocol';
import { TransportUnsupportedError } from './transport-errors.js';

/** Backlog of pending connections; Linux caps it at net.core.somaxconn (4096 on current kernels). */
const LISTEN_BACKLOG = 1024;

export interface ListenOnOptions {
  /** Remove a stale unix socket file left by a previous run (only if it is a socket). */
  readonly replaceStaleUnixSocket?: boolean;
}

export function listenOn(server: Server, address: TransportAddress, options: ListenOnOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    switch (address.scheme) {
      case 'tcp':
        server.once('error', onError).once('listening', onListening);
        server.listen({ host: address.host, port: address.port, backlog: LISTEN_BACKLOG });
        return;
      case 'unix':
        if (options.replaceStaleUnixSocket !== false) removeStaleUnixSocket(address.path);
        server.once('error', onError).once('listening', onListening);
        server.listen({ path: address.path, backlog: LISTEN_BACKLOG });
        return;
      case 'vsock':
        reject(new TransportUnsupportedError(`${formatTransportAddress(address)}: vsock support is not built into this installation`));
        return;
    }
  });
}

function removeStaleUnixSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** The address a server really listens on (after port 0 was resolved), in transport syntax. */
export function listeningAddress(server: Server, requested: TransportAddress): TransportAddress {
  const bound = server.address();
  if (requested.scheme === 'tcp' && bound !== null && typeof bound === 'object') {
    return { scheme: 'tcp', host: requested.host, port: bound.port };
  }
  return requested;
}
