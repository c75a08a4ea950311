// Connector side of the transport seam: open a stream to a transport address,
// with a connect timeout. Returns an ordinary net.Socket (backpressure,
// half-close, destroy, error/close events), whatever the scheme.

import { connect, type Socket } from 'node:net';
import { formatTransportAddress, type TransportAddress } from '@http-enclave/protocol';
import { connectVsock, isVsockAvailable } from '@http-enclave/vsock';
import { vsockUnsupported } from './listen-on.js';
import { TransportConnectTimeoutError } from './transport-errors.js';

export interface ConnectToOptions {
  /** Give up if the connection is not established within this time. */
  readonly timeoutMs: number;
  /** Keep the writable side open after the peer ends (needed to forward half-close). */
  readonly allowHalfOpen?: boolean;
  readonly noDelay?: boolean;
}

export function connectTo(address: TransportAddress, options: ConnectToOptions): Promise<Socket> {
  if (address.scheme === 'vsock') {
    if (!isVsockAvailable()) return Promise.reject(vsockUnsupported(address));
    if (address.cid === 'any') return Promise.reject(new TypeError(`${formatTransportAddress(address)}: CID "any" is for listening`));
    // The addon's connect waits on the threadpool with the timeout (no busy
    // polling); the connected fd becomes a net.Socket on a native handle.
    return connectVsock(address.cid, address.port, { timeoutMs: options.timeoutMs, allowHalfOpen: options.allowHalfOpen ?? false }).catch(
      (error: unknown) => {
        if ((error as { code?: unknown }).code === 'ETIMEDOUT') throw new TransportConnectTimeoutError(formatTransportAddress(address), options.timeoutMs);
        throw error;
      },
    );
  }
  return new Promise((resolve, reject) => {
    const socket =
      address.scheme === 'tcp'
        ? connect({ host: address.host, port: address.port, allowHalfOpen: options.allowHalfOpen ?? false, noDelay: options.noDelay ?? true })
        : connect({ path: address.path, allowHalfOpen: options.allowHalfOpen ?? false });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TransportConnectTimeoutError(formatTransportAddress(address), options.timeoutMs));
    }, options.timeoutMs);
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
