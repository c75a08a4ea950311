// Errors of the transport seam. Each has a stable `code`; messages name the
// address (never data that crossed it).

export class TransportConnectTimeoutError extends Error {
  readonly code = 'TRANSPORT_CONNECT_TIMEOUT';
  constructor(address: string, timeoutMs: number) {
    super(`connect to ${address} timed out after ${timeoutMs} ms`);
    this.name = 'TransportConnectTimeoutError';
  }
}

export class TransportUnsupportedError extends Error {
  readonly code = 'TRANSPORT_UNSUPPORTED';
  constructor(message: string) {
    super(message);
    this.name = 'TransportUnsupportedError';
  }
}
